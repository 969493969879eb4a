using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// An exact rerun of SGD is bitwise identical, but summing the per-example gradients in another order, or flipping the
/// last bit of one initial weight, makes the run diverge from the original until the two disagree on test predictions
/// about as much as runs from different seeds (Summers and Dinneen 2021).
/// </summary>
public sealed class AccumulationOrder : Phenomenon<AccumulationOrder.Protocol>
{
    /// <summary>Which layer's weight has its last bit flipped.</summary>
    public enum FlipLayer
    {
        /// <summary>A weight of the output layer: every logit of every example depends on it.</summary>
        Output,
        /// <summary>A weight of the first layer: it multiplies one pixel.</summary>
        Input,
    }

    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Training images per class.</summary>
        [Description("Fashion-MNIST training images per class (stratified sample; the built-in subset has 600)")]
        public int TrainPerClass { get; init; } = 100;

        /// <summary>Test images per class.</summary>
        [Description("Fashion-MNIST test images per class (the built-in subset has 100)")]
        public int TestPerClass { get; init; } = 100;

        /// <summary>Hidden layer widths of the MLP.</summary>
        [Description("hidden layer widths of the ReLU MLP (float32)")]
        public int[] Hidden { get; init; } = [64];

        /// <summary>Minibatch size.</summary>
        [Description("minibatch size (the last short batch of an epoch is dropped)")]
        public int BatchSize { get; init; } = 32;

        /// <summary>Passes over the training sample.</summary>
        [Description("epochs (passes over the training sample)")]
        public int Epochs { get; init; } = 15;

        /// <summary>The peak learning rate of the judged arms.</summary>
        // 0.1 with momentum 0.9 and cosine annealing is the common recipe for SGD on image classifiers. For this small MLP
        // it is on the high side (0.05 trains better); the full tier repeats the perturbations at 0.05 as a control,
        // because how far a perturbation grows depends on how unstable the step size makes training.
        [Description("SGD's learning rate, annealed to 0 by a cosine schedule over the run")]
        public double LearningRate { get; init; } = 0.1;

        /// <summary>Heavy-ball momentum.</summary>
        [Description("SGD's momentum")]
        public double Momentum { get; init; } = 0.9;

        /// <summary>Further learning rates at which the three perturbations are repeated, reported but not judged.</summary>
        [Description("further peak learning rates at which bit-flip, reversed-order and different-seed are repeated (reported, not judged)")]
        public double[] ControlLearningRates { get; init; } = [];

        /// <summary>The layer whose weight is flipped.</summary>
        [Description("the layer holding the weight whose last mantissa bit is flipped (output or input)")]
        public FlipLayer FlipIn { get; init; } = FlipLayer.Output;

        /// <summary>Share of seeds on which the exact rerun must be bitwise identical.</summary>
        // Aperture promises the same bits for the same seed; a single seed that differs breaks the promise.
        [Threshold, Description("share of seeds on which the exact rerun must be bitwise identical at every step")]
        public double MinIdenticalShare { get; init; } = 1.0;

        /// <summary>Smallest ratio of a perturbation's test disagreement to a different seed's that counts as diverged.</summary>
        // Summers and Dinneen find every source of nondeterminism, a one-bit change included, gives about the same
        // disagreement as a new seed (a ratio near 1). Half of it still means the perturbation grew into a different
        // model rather than a slightly different copy; below half, the runs stayed measurably closer than independent ones.
        [Threshold, Description("smallest (perturbed-run disagreement) / (different-seed disagreement), paired by seed, that counts as diverging like a new seed")]
        public double MinDisagreementRatio { get; init; } = 0.5;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (TrainPerClass < 1 || TrainPerClass > 6000) yield return $"train_per_class must be between 1 and 6000, found {TrainPerClass}";
            if (TestPerClass < 1 || TestPerClass > 1000) yield return $"test_per_class must be between 1 and 1000, found {TestPerClass}";
            if (Hidden.Length == 0 || Hidden.Any(h => h < 1 || h > 4096)) yield return $"hidden needs one or more widths between 1 and 4096, found {string.Join(",", Hidden)}";
            if (BatchSize < 1 || BatchSize > 10 * TrainPerClass) yield return $"batch_size must be between 1 and the training sample's size {10 * TrainPerClass}, found {BatchSize}";
            if (Epochs < 1 || Epochs > 1000) yield return $"epochs must be between 1 and 1000, found {Epochs}";
            if (!(LearningRate > 0 && LearningRate <= 10)) yield return $"learning_rate must lie in (0, 10], found {LearningRate}";
            if (!(Momentum >= 0 && Momentum < 1)) yield return $"momentum must lie in [0, 1), found {Momentum}";
            if (ControlLearningRates.Any(v => !(v > 0 && v <= 10))) yield return $"every control learning rate must lie in (0, 10], found {string.Join(",", ControlLearningRates)}";
            if (ControlLearningRates.Distinct().Count() != ControlLearningRates.Length || ControlLearningRates.Contains(LearningRate))
                yield return "control_learning_rates must be distinct and differ from learning_rate";
        }
    }

    /// <summary>The same seed trained twice, nothing changed.</summary>
    public const string ExactRerun = "exact-rerun";

    /// <summary>The last mantissa bit of one initial weight flipped.</summary>
    public const string BitFlip = "bit-flip";

    /// <summary>Every reduction of the backward pass summed right to left (the per-example gradient sums among them).</summary>
    public const string ReversedOrder = "reversed-order";

    /// <summary>Another seed for the initial weights and the minibatch order (same data).</summary>
    public const string DifferentSeed = "different-seed";

    /// <summary>An arm's name at a control learning rate.</summary>
    public static string AtRate(string arm, double lr) => arm + "@" + lr.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override string Id => "accumulation-order";

    /// <inheritdoc/>
    public override string Title => "Summing gradients in another order, or flipping one bit, changes what SGD learns";

    /// <inheritdoc/>
    public override string Claim =>
        "Minibatch SGD with momentum rerun exactly gives the same bits, but the same seed run with its per-example gradients " +
        "summed in another order, or with the last bit of one initial weight flipped, diverges from the original run until the " +
        "two networks disagree on about as many test predictions as networks trained from different seeds.";

    /// <inheritdoc/>
    public override string Method =>
        "Each run trains an original network and a second one in lockstep: a ReLU MLP (float32) on a stratified Fashion-MNIST " +
        "sample, SGD with momentum and a cosine learning-rate schedule. The second network is the same seed rerun (exact " +
        "rerun); the same seed with the last mantissa bit of one initial weight flipped (bit flip; a weight of the output " +
        "layer drawn from the seed); the same seed with every reduction of the backward pass, the per-example sums of each " +
        "weight and bias gradient among them, summed right to left instead of in Aperture's default order (reversed order); " +
        "or another seed for initial weights and minibatch order, same data (different seed). Recorded: ‖θ_a − θ_b‖ per " +
        "step, the share of test images on which the two networks' predictions disagree and both accuracies per epoch. " +
        "Held if the exact rerun is bitwise identical on the stated share of seeds and each perturbation's final " +
        "disagreement, divided by the different-seed disagreement of the same seed, has a 95% t-interval above the stated ratio. " +
        "Control learning rates, when set, repeat the three perturbations at other peak rates; they are reported, not judged.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("C. Summers, M. Dinneen (2021), Nondeterminism and instability in neural network optimization, ICML", ArXiv: "2103.04514"),
        new("Deep learning's optics (blog post, 2018): \"small changes in how gradients are accumulated can result in vastly different performance on the test set\""),
        new("tensorflow/tensorflow issue #2226: different results on CPU and GPU", Url: "https://github.com/tensorflow/tensorflow/issues/2226"),
        new("tensorflow/tensorflow issue #2732: non-deterministic reductions on the GPU", Url: "https://github.com/tensorflow/tensorflow/issues/2732"),
        new("D. Goldberg (1991), What every computer scientist should know about floating-point arithmetic, ACM Computing Surveys 23(1)",
            Url: "https://doi.org/10.1145/103162.103163"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.TrainingIsChaotic.Predicts(Outcome.Held,
            "A difference of one rounding error grows exponentially during training until it is as large as any other source of randomness."),
        MentalModels.NumericsAreTransparent.Predicts(Outcome.DidNotHold,
            "A one-ulp difference is far below anything the data or the loss can see, so the two runs should stay together."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, TrainPerClass = 300, ControlLearningRates = [0.05] };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) =>
    [
        ExactRerun, BitFlip, ReversedOrder, DifferentSeed,
        .. p.ControlLearningRates.SelectMany(lr => new[] { AtRate(BitFlip, lr), AtRate(ReversedOrder, lr), AtRate(DifferentSeed, lr) }),
    ];

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        string kind = run.Arm.Split('@')[0];
        double lr = run.Arm.Contains('@') ? double.Parse(run.Arm[(run.Arm.IndexOf('@') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture) : p.LearningRate;

        // The data: drawn from the seed's generator, the same for both networks and every arm.
        var fm = run.Data.FashionMnist;
        var (train, test) = LabData.Standardize(
            LabData.FlatSample(fm.Train, p.TrainPerClass, run.Generator, "train_per_class"),
            LabData.FlatSample(fm.Test, p.TestPerClass, run.Generator, "test_per_class"));
        int stepsPerEpoch = train.Count / p.BatchSize, totalSteps = stepsPerEpoch * p.Epochs;

        // The original draws its weights from stream 1 of the seed and its minibatch order from stream 2; "another seed"
        // uses streams 3 and 4, which are independent of them.
        ulong seed = (ulong)run.Seed;
        var a = new Trainee(p, train, lr, new Generator(seed, 1), new Generator(seed, 2), totalSteps);
        var b = kind == DifferentSeed
            ? new Trainee(p, train, lr, new Generator(seed, 3), new Generator(seed, 4), totalSteps)
            : new Trainee(p, train, lr, new Generator(seed, 1), new Generator(seed, 2), totalSteps);
        if (kind == ReversedOrder) b.Backward = new NumericsPolicy { Order = ReductionOrder.Reversed };
        if (kind == BitFlip) FlipLastBit(p, b.Model, new Generator(seed, 5), run);

        var wa = a.Weights();
        var wb = b.Weights();
        long firstDifference = BitwiseEqual(wa, wb) ? -1 : 0;
        bool identical = firstDifference < 0;
        double maxDistance = Distance(wa, wb);
        LogDistance(run, 0, maxDistance);
        long step = 0;
        (long[] Predictions, double Accuracy) finalA = ([], 0), finalB = ([], 0);
        for (int epoch = 1; epoch <= p.Epochs; epoch++)
        {
            using var ea = a.Loader.GetEnumerator();
            using var eb = b.Loader.GetEnumerator();
            while (ea.MoveNext() && eb.MoveNext())
            {
                a.Step(ea.Current);
                b.Step(eb.Current);
                step++;
                // Compared bit for bit at every step while the runs are still identical; once they differ, their
                // distance is taken every few steps.
                bool log = step <= 20 || step % 5 == 0 || step == totalSteps;
                if (!identical && !log) continue;
                wa = a.Weights();
                wb = b.Weights();
                if (identical && !BitwiseEqual(wa, wb))
                {
                    identical = false;
                    firstDifference = step;
                }
                double d = Distance(wa, wb);
                maxDistance = Math.Max(maxDistance, d);
                if (log) LogDistance(run, step, d);
                if (step % 20 == 0) run.ReportProgress(step / (double)totalSteps);
            }
            // Evaluating both networks on the test set costs about what 30 training steps do: every fifth epoch and the last.
            if (epoch % 5 == 0 || epoch == p.Epochs)
            {
                finalA = Predict(a.Model, test);
                finalB = Predict(b.Model, test);
                run.Log("test_disagreement", epoch, Disagreement(finalA.Predictions, finalB.Predictions));
                run.Log("test_accuracy_original", epoch, finalA.Accuracy);
                run.Log("test_accuracy_second", epoch, finalB.Accuracy);
            }
        }
        wa = a.Weights();
        wb = b.Weights();

        double accuracyA = finalA.Accuracy, accuracyB = finalB.Accuracy;
        double normA = Math.Sqrt(wa.Sum(v => (double)v * v));
        run.Record("identical", identical ? 1 : 0);
        run.Record("first_difference_step", firstDifference);
        run.Record("final_distance", Distance(wa, wb));
        run.Record("final_relative_distance", Distance(wa, wb) / normA);
        run.Record("max_distance", maxDistance);
        run.Record("disagreement", Disagreement(finalA.Predictions, finalB.Predictions));
        run.Record("accuracy_original", accuracyA);
        run.Record("accuracy_second", accuracyB);
        run.Record("accuracy_difference", accuracyB - accuracyA);
        run.Record("abs_accuracy_difference", Math.Abs(accuracyB - accuracyA));
        run.Record("learning_rate", lr);
        run.Record("steps", step);
        run.ReportProgress(1);
    }

    // Distances are logged only when positive, so that the report can draw them on a log axis; an exact rerun logs none.
    private static void LogDistance(RunContext run, long step, double d)
    {
        if (d > 0) run.Log("weight_distance", step, d);
    }

    /// <summary>
    /// Flips the least significant mantissa bit of one weight of the chosen layer (row and column drawn from
    /// <paramref name="g"/>): a change of one unit in the last place, about 6·10⁻⁸ of the weight.
    /// </summary>
    /// <remarks>
    /// The output layer is the default because every logit of every example is computed from each of its weights, so
    /// the flip reaches the loss at the first forward pass. A first-layer weight multiplies a single pixel: its one-ulp
    /// change is usually lost when the 784 products are rounded into the pre-activation sum, and again in the softmax,
    /// so it may take many steps before it changes any computed value at all (set <c>flip_in=input</c> to see that).
    /// </remarks>
    public static (int Row, int Column, float Before, float After) FlipLastBit(Protocol p, Sequential model, Generator g, RunContext? run = null)
    {
        var linears = model.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        var weight = (p.FlipIn == FlipLayer.Output ? linears[^1] : linears[0]).Weight;
        int row = (int)g.NextLong(weight.Size(0)), column = (int)g.NextLong(weight.Size(1));
        float before = (float)weight.At(row, column);
        float after = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(before) ^ 1);
        using (Autodiff.NoGrad()) weight.SetAt(after, row, column);
        run?.Record("flipped_weight_before", before);
        run?.Record("flipped_weight_after", after);
        return (row, column, before, after);
    }

    /// <summary>One network being trained: model, optimizer, schedule, minibatch order and the numerics of its backward pass.</summary>
    private sealed class Trainee
    {
        public Trainee(Protocol p, TensorDataset train, double lr, Generator init, Generator order, int totalSteps)
        {
            Model = NN.Models.Mlp(LabData.Pixels, p.Hidden, 10, generator: init);
            Parameters = [.. Model.Parameters()];
            Optimizer = new SGD(Parameters, lr: lr, momentum: p.Momentum);
            Schedule = new CosineAnnealingLR(Optimizer, totalSteps);
            Loader = new DataLoader(train, p.BatchSize, shuffle: true, generator: order, dropLast: true);
        }

        public Sequential Model { get; }
        public IReadOnlyList<Tensor> Parameters { get; }
        public SGD Optimizer { get; }
        public CosineAnnealingLR Schedule { get; }
        public DataLoader Loader { get; }
        public NumericsPolicy? Backward { get; set; }

        public void Step((Tensor Inputs, Tensor Targets) batch)
        {
            Optimizer.ZeroGrad();
            var loss = Losses.CrossEntropy(Model.Forward(batch.Inputs), batch.Targets);
            if (Backward is null) loss.Backward();
            else using (NumericsPolicy.Use(Backward)) loss.Backward();
            Optimizer.Step();
            Schedule.Step();
        }

        /// <summary>Every parameter, flattened and concatenated, in one buffer reused from call to call.</summary>
        public float[] Weights()
        {
            _weights ??= new float[Parameters.Sum(t => t.Numel)];
            int offset = 0;
            foreach (var t in Parameters)
            {
                t.CopyTo<float>(_weights.AsSpan(offset));
                offset += t.Numel;
            }
            return _weights;
        }

        private float[]? _weights;
    }

    // Bit for bit: unlike ==, tells −0 from +0 and a NaN from itself.
    private static bool BitwiseEqual(float[] a, float[] b) =>
        MemoryMarshal.Cast<float, int>(a.AsSpan()).SequenceEqual(MemoryMarshal.Cast<float, int>(b.AsSpan()));

    private static double Distance(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            s += d * d;
        }
        return Math.Sqrt(s);
    }

    private static (long[] Predictions, double Accuracy) Predict(Module model, TensorDataset test)
    {
        using var _ = Autodiff.NoGrad();
        var predictions = Ops.ArgMax(model.Forward(test.Inputs), 1).ToArray<long>();
        var y = test.Targets.ToArray<long>();
        int correct = 0;
        for (int i = 0; i < y.Length; i++) if (predictions[i] == y[i]) correct++;
        return (predictions, correct / (double)y.Length);
    }

    private static double Disagreement(long[] a, long[] b)
    {
        int differ = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) differ++;
        return differ / (double)a.Length;
    }

    /// <summary>Per seed, a perturbation's final disagreement divided by the different-seed disagreement at the same learning rate.</summary>
    public static double[] DisagreementRatio(RunSet runs, string arm, string differentSeed) =>
        [.. runs.Results(arm, "disagreement").Zip(runs.Results(differentSeed, "disagreement"), (x, s) => x / s)];

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var identical = Estimate.Mean("share of seeds on which the exact rerun was bitwise identical at every step", runs.Results(ExactRerun, "identical"));
        var flip = Estimate.Mean("bit-flip disagreement / different-seed disagreement", DisagreementRatio(runs, BitFlip, DifferentSeed));
        var reversed = Estimate.Mean("reversed-order disagreement / different-seed disagreement", DisagreementRatio(runs, ReversedOrder, DifferentSeed));
        var extra = new List<Estimate>();
        foreach (var arm in new[] { ExactRerun, BitFlip, ReversedOrder, DifferentSeed })
            extra.Add(Estimate.Mean($"test disagreement, {arm}", runs.Results(arm, "disagreement")));
        foreach (var arm in new[] { BitFlip, ReversedOrder, DifferentSeed })
            extra.Add(Estimate.MeanBootstrap($"|accuracy difference| between the two runs, {arm}", runs.Results(arm, "abs_accuracy_difference")));
        foreach (var arm in new[] { BitFlip, ReversedOrder, DifferentSeed })
            extra.Add(Estimate.MeanBootstrap($"final ‖θ_a − θ_b‖, {arm}", runs.Results(arm, "final_distance")));
        // The spread of final accuracy across seeds of the original network, for scale.
        extra.Add(Estimate.Mean("test accuracy of the original network", runs.Results(DifferentSeed, "accuracy_original")));
        foreach (var lr in p.ControlLearningRates)
        {
            string seedArm = AtRate(DifferentSeed, lr);
            extra.Add(Estimate.Mean($"bit-flip / different-seed disagreement at learning rate {G(lr)}", DisagreementRatio(runs, AtRate(BitFlip, lr), seedArm)));
            extra.Add(Estimate.Mean($"reversed-order / different-seed disagreement at learning rate {G(lr)}", DisagreementRatio(runs, AtRate(ReversedOrder, lr), seedArm)));
            extra.Add(Estimate.Mean($"test disagreement, different seed, at learning rate {G(lr)}", runs.Results(seedArm, "disagreement")));
            extra.Add(Estimate.Mean($"test accuracy of the original network at learning rate {G(lr)}", runs.Results(seedArm, "accuracy_original")));
        }
        return Verdict.From(flip,
                Check.Above(identical, p.MinIdenticalShare),
                Check.Above(flip, p.MinDisagreementRatio),
                Check.Above(reversed, p.MinDisagreementRatio))
            .WithExtra([.. extra]);
    }

    private static string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var distance = new List<Series>();
        foreach (var arm in ArmNames(p).Where(a => a != ExactRerun))
            foreach (var s in runs.Seeds)
                if (runs.Get(arm, s).Metrics.TryGetValue("weight_distance", out var points))
                    distance.Add(new Series(arm, [.. points.Select(q => (double)q.Step)], [.. points.Select(q => q.Value)]));
        yield return new Figure("weight-distance", "Distance between the two runs' weights", "step", "‖θ_a − θ_b‖₂", distance, LogY: true,
            Caption: "One line per seed. A flipped bit starts one ulp apart and a reversed summation order one rounding error per " +
                     "step apart; both grow exponentially while the learning rate is large, then stop as it anneals (arms marked @ run " +
                     "at a control learning rate). The exact rerun is at distance 0 at every step, which a log axis cannot show.");

        var disagreement = new List<Series>();
        foreach (var arm in ArmNames(p))
            foreach (var s in runs.Seeds)
                if (runs.Get(arm, s).Metrics.TryGetValue("test_disagreement", out var points))
                    disagreement.Add(new Series(arm, [.. points.Select(q => (double)q.Step)], [.. points.Select(q => q.Value)]));
        yield return new Figure("disagreement", "Share of test images on which the two runs disagree", "epoch", "test disagreement", disagreement,
            Caption: "One line per seed. Perturbed runs start in full agreement and, once the perturbation has grown, disagree about as much as a different seed.");

        var pairs = new List<Series>();
        foreach (var arm in new[] { ExactRerun, BitFlip, ReversedOrder, DifferentSeed })
            pairs.Add(new Series(arm, runs.Results(arm, "accuracy_original"), runs.Results(arm, "accuracy_second"), SeriesStyle.Markers));
        var all = pairs.SelectMany(s => s.X.Concat(s.Y)).ToList();
        pairs.Add(new Series("equal accuracy", [all.Min(), all.Max()], [all.Min(), all.Max()], SeriesStyle.Dashed));
        yield return new Figure("accuracy-pairs", "Final test accuracy of the second run against the original", "original run's accuracy",
            "second run's accuracy", pairs,
            Caption: "One marker per seed. The exact rerun lies on the diagonal; the spread of the perturbed runs about it is the run-to-run variability a one-bit change creates.");
    }
}
