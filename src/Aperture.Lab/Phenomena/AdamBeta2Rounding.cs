using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Stored in bfloat16 with round-to-nearest-even, Adam's β2 = 0.999 becomes 1: the bias correction 1 − β2^t is 0 and
/// the update is NaN (or zero) from the first step. With truncation it becomes 0.99609375 and training works.
/// </summary>
public sealed class AdamBeta2Rounding : Phenomenon<AdamBeta2Rounding.Protocol>
{
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
        [Description("hidden layer widths of the ReLU MLP (float32 parameters)")]
        public int[] Hidden { get; init; } = [64];

        /// <summary>Minibatch size.</summary>
        [Description("minibatch size")]
        public int BatchSize { get; init; } = 50;

        /// <summary>Passes over the training sample.</summary>
        [Description("epochs (passes over the training sample)")]
        public int Epochs { get; init; } = 8;

        /// <summary>Adam's learning rate (kept in float64 in every arm).</summary>
        [Description("Adam's learning rate (not rounded in any arm)")]
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>Adam's β1 as written in the code.</summary>
        [Description("Adam's β1 as written, before any storage rounding")]
        public double Beta1 { get; init; } = 0.9;

        /// <summary>Adam's β2 as written in the code.</summary>
        [Description("Adam's β2 as written, before any storage rounding")]
        public double Beta2 { get; init; } = 0.999;

        /// <summary>A second β2, for the arm that shows float16 rounding it to 1.</summary>
        [Description("a longer-memory β2 written for the float16 arm that rounds it to 1")]
        public double LongBeta2 { get; init; } = 0.9999;

        /// <summary>Adam's ε as written in the code.</summary>
        [Description("Adam's ε as written, before any storage rounding")]
        public double Eps { get; init; } = 1e-8;

        /// <summary>The share of seeds that must show the failure for it to count as reproduced.</summary>
        // The failure is arithmetic, not statistical: 1 − 1^t = 0 on every seed. Anything short of every seed would mean
        // the mechanism is not the one claimed.
        [Threshold, Description("share of seeds on which round-to-nearest must break Adam (NaN, or frozen in the folded form) and validation must refuse β2 = 1")]
        public double MinBrokenShare { get; init; } = 1.0;

        /// <summary>The largest test-accuracy difference from float64 Adam that still counts as "training works".</summary>
        // Truncation changes β2 from 0.999 to 0.99609375 (a 256-step instead of a 1000-step memory for v) and β1 from 0.9
        // to 0.8984375. Over a few hundred steps that should matter about as little as a different seed's trajectory does
        // on 1000 test images: two runs of the same seed differ by one to two points there. Three points is the band.
        [Threshold, Description("largest |test accuracy difference| from float64 Adam, paired by seed, that counts as training working")]
        public double MaxAccuracyGap { get; init; } = 0.03;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (TrainPerClass < 1 || TrainPerClass > 6000) yield return $"train_per_class must be between 1 and 6000, found {TrainPerClass}";
            if (TestPerClass < 1 || TestPerClass > 1000) yield return $"test_per_class must be between 1 and 1000, found {TestPerClass}";
            if (Hidden.Length == 0 || Hidden.Any(h => h < 1 || h > 4096)) yield return $"hidden needs one or more widths between 1 and 4096, found {string.Join(",", Hidden)}";
            if (BatchSize < 1) yield return $"batch_size must be positive, found {BatchSize}";
            if (Epochs < 1 || Epochs > 1000) yield return $"epochs must be between 1 and 1000, found {Epochs}";
            if (!(LearningRate > 0 && LearningRate < 1)) yield return $"learning_rate must lie in (0, 1), found {LearningRate}";
            if (!(Beta1 >= 0 && Beta1 < 1)) yield return $"beta1 must lie in [0, 1), found {Beta1}";
            // β2 as written must be valid: the experiment is about what storage rounding does to a valid value.
            if (!(Beta2 >= 0 && Beta2 < 1)) yield return $"beta2 must lie in [0, 1), found {Beta2}";
            if (!(LongBeta2 >= 0 && LongBeta2 < 1)) yield return $"long_beta2 must lie in [0, 1), found {LongBeta2}";
            if (!(Eps > 0 && Eps < 1)) yield return $"eps must lie in (0, 1), found {Eps}";
        }
    }

    /// <summary>Hyper-parameters used as written (float64).</summary>
    public const string Float64 = "float64";

    /// <summary>β1, β2, ε stored in bfloat16, rounded toward zero (truncated).</summary>
    public const string BFloat16TowardZero = "bfloat16-toward-zero";

    /// <summary>β1, β2, ε stored in bfloat16, rounded to nearest even; PyTorch's form of the update.</summary>
    public const string BFloat16Nearest = "bfloat16-nearest";

    /// <summary>As <see cref="BFloat16Nearest"/>, with the corrections folded into the step size.</summary>
    public const string BFloat16NearestFolded = "bfloat16-nearest-folded";

    /// <summary>β1, β2, ε stored in float16, rounded to nearest even.</summary>
    public const string Float16Nearest = "float16-nearest";

    /// <summary>As <see cref="Float16Nearest"/> with the longer-memory β2 (0.9999).</summary>
    public const string Float16NearestLongBeta2 = "float16-nearest-long-beta2";

    /// <summary>β2 = 1 handed to Adam directly: the engine's validation must refuse it.</summary>
    public const string Validation = "beta2-one-refused";

    /// <inheritdoc/>
    public override string Id => "adam-beta2-rounding";

    /// <inheritdoc/>
    public override string Title => "Rounding Adam's β2 to bfloat16 turns 0.999 into 1 and breaks Adam";

    /// <inheritdoc/>
    public override string Claim =>
        "Stored in bfloat16 with round-to-nearest-even, Adam's β2 = 0.999 becomes exactly 1, so the bias correction " +
        "1 − β2^t is 0 and Adam's update is NaN from the first step (PyTorch's form) or zero forever (the form that folds the " +
        "corrections into the step size); stored with truncation it becomes 0.99609375 and training works as in float64.";

    /// <inheritdoc/>
    public override string Method =>
        "A ReLU MLP (float32) is trained on a stratified Fashion-MNIST sample with minibatch Adam. The arms differ only in how " +
        "β1, β2 and ε are stored when each step is computed (Adam's HyperParameterFormat and Rounding): float64 as written; " +
        "bfloat16 truncated; bfloat16 rounded to nearest even, in PyTorch's form and in the folded form; float16 rounded to " +
        "nearest with β2 = 0.999 and with β2 = 0.9999. A last arm hands β2 = 1 to Adam directly and records whether the " +
        "engine refuses it, at construction and at a step. A run records the effective hyper-parameters, whether the " +
        "parameters are non-finite after step 1, whether any parameter ever changed, the loss per step and the test accuracy. " +
        "Held if, on the stated share of seeds, round-to-nearest gives NaN after step 1 (PyTorch's form) and no change at all " +
        "(folded form) and validation refuses β2 = 1, and if the truncated arm's test accuracy, paired by seed with float64 " +
        "Adam's, differs by less than the stated gap (95% t-intervals over seeds).";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("A. Rahimi, B. Recht (2017), An addendum to alchemy (postscript to the NIPS 2017 test-of-time talk): \"The change " +
            "in the rounding procedure causes the β2 parameter of Adam to get rounded from 0.999 to 1\""),
        new("D. Kingma, J. Ba (2015), Adam: a method for stochastic optimization (Algorithm 1 and its note on folding the bias corrections into the step size)", ArXiv: "1412.6980"),
        new("keras-team/keras pull request #21238: caps beta_2 under bfloat16, where 0.999 casts to 1 and Adam's update becomes NaN",
            Url: "https://github.com/keras-team/keras/pull/21238"),
        new("tenstorrent/tt-metal issue #55935: bfloat16 truncation turns β2 = 0.999 into 0.99609 (a 256-step instead of a 1000-step memory) and makes 0.999 and 0.9999 indistinguishable",
            Url: "https://github.com/tenstorrent/tt-metal/issues/55935"),
        new("IEEE 754-2019, Standard for floating-point arithmetic (round to nearest, ties to even)", Url: "https://doi.org/10.1109/IEEESTD.2019.8766229"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.NumericsAreTransparent.Predicts(Outcome.DidNotHold,
            "Storing 0.999 in a 16-bit format moves it by at most 0.004, a rounding error that should change training by a comparably small amount."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, TrainPerClass = 500, Hidden = [128], BatchSize = 100, Epochs = 6 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) =>
        [Float64, BFloat16TowardZero, BFloat16Nearest, BFloat16NearestFolded, Float16Nearest, Float16NearestLongBeta2, Validation];

    /// <summary>How an arm stores Adam's hyper-parameters, and which β2 and form it uses.</summary>
    public static (StorageFormat Format, RoundingMode Rounding, AdamForm Form, double Beta2) Setting(Protocol p, string arm) => arm switch
    {
        Float64 => (StorageFormat.Native, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2),
        BFloat16TowardZero => (StorageFormat.BFloat16, RoundingMode.TowardZero, AdamForm.Standard, p.Beta2),
        BFloat16Nearest => (StorageFormat.BFloat16, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2),
        BFloat16NearestFolded => (StorageFormat.BFloat16, RoundingMode.NearestEven, AdamForm.Folded, p.Beta2),
        Float16Nearest => (StorageFormat.Float16, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2),
        Float16NearestLongBeta2 => (StorageFormat.Float16, RoundingMode.NearestEven, AdamForm.Standard, p.LongBeta2),
        _ => throw new ArgumentException($"adam-beta2-rounding: unknown arm '{arm}'", nameof(arm)),
    };

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        if (run.Arm == Validation)
        {
            RunValidation(p, run);
            return;
        }
        var (format, rounding, form, beta2) = Setting(p, run.Arm);

        // Data and initial weights come from the seed's generator in the same order in every arm.
        var fm = run.Data.FashionMnist;
        var (train, test) = LabData.Standardize(
            LabData.FlatSample(fm.Train, p.TrainPerClass, run.Generator, "train_per_class"),
            LabData.FlatSample(fm.Test, p.TestPerClass, run.Generator, "test_per_class"));
        var model = NN.Models.Mlp(LabData.Pixels, p.Hidden, 10, generator: run.Generator);
        var loader = new DataLoader(train, p.BatchSize, shuffle: true, generator: run.Generator.Fork());
        var parameters = model.Parameters().ToList();
        var adam = new Adam(parameters, lr: p.LearningRate, beta1: p.Beta1, beta2: beta2, eps: p.Eps, form: form)
        {
            HyperParameterFormat = format,
            Rounding = rounding,
        };

        double b1 = adam.Effective(p.Beta1), b2 = adam.Effective(beta2), eps = adam.Effective(p.Eps);
        run.Record("effective_beta1", b1);
        run.Record("effective_beta2", b2);
        run.Record("effective_eps", eps);
        run.Record("effective_beta2_is_one", b2 == 1 ? 1 : 0);
        // 1/(1 − β2): the number of steps the second moment averages over (none when β2 = 1: v never leaves 0).
        if (b2 < 1) run.Record("second_moment_memory_steps", 1 / (1 - b2));
        run.Record("bias_correction2_at_step1", 1 - b2);

        var initial = Snapshot(parameters, null);
        var previous = Snapshot(parameters, null);
        var now = new float[initial.Length];
        long step = 0, firstNonFinite = -1, steps = (long)p.Epochs * loader.BatchesPerEpoch;
        double lastLoss = double.NaN;
        bool changed = false;
        double accuracy = double.NaN;
        for (int epoch = 0; epoch < p.Epochs; epoch++)
        {
            model.Train();
            foreach (var (x, y) in loader)
            {
                adam.ZeroGrad();
                var loss = Losses.CrossEntropy(model.Forward(x), y);
                lastLoss = loss.Item();
                if (double.IsFinite(lastLoss)) run.Log("train_loss", step, lastLoss);
                loss.Backward();
                // With ε stored as 0, a coordinate whose gradient is exactly 0 (a ReLU unit inactive on the whole
                // batch) has m = v = 0, and m/(√v + ε) is 0/0: count them at the first step.
                if (step == 0) run.Record("zero_gradient_elements_at_step1", parameters.Sum(t => t.Grad is null ? t.Numel : t.Grad.ToArray<float>().Count(g => g == 0)));
                adam.Step();
                step++;
                Snapshot(parameters, now);
                changed |= !BitwiseEqual(now, previous);
                bool finite = AllFinite(now);
                if (!finite && firstNonFinite < 0) firstNonFinite = step;
                if (step == 1) run.Record("nonfinite_after_step1", finite ? 0 : 1);
                // The size of this step's update; a NaN update is not logged (the report plots finite values).
                double update = Distance(now, previous);
                if (double.IsFinite(update)) run.Log("update_norm", step, update);
                (previous, now) = (now, previous);
                if (step % 10 == 0) run.ReportProgress(step / (double)steps);
            }
            accuracy = Accuracy(model, test);
            run.Log("test_accuracy", epoch + 1, accuracy);
        }

        run.Record("first_nonfinite_step", firstNonFinite);
        run.Record("nonfinite_at_end", AllFinite(previous) ? 0 : 1);
        // Frozen: no step changed a single bit of any parameter.
        run.Record("frozen", changed ? 0 : 1);
        run.Record("distance_from_start", Distance(previous, initial));
        run.Record("final_train_loss", lastLoss);
        run.Record("test_accuracy", accuracy);
        run.Record("steps", step);
        run.ReportProgress(1);
    }

    // β2 = 1 given as written: the engine must refuse it both when Adam is built and when a group is changed to it later.
    private static void RunValidation(Protocol p, RunContext run)
    {
        var model = NN.Models.Mlp(LabData.Pixels, p.Hidden, 10, generator: run.Generator);
        var messages = new List<string>();
        bool Refused(Action act)
        {
            try
            {
                act();
                return false;
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == "beta2")
            {
                messages.Add(e.Message);
                return true;
            }
        }
        bool atConstruction = Refused(() => _ = new Adam(model.Parameters(), lr: p.LearningRate, beta2: 1.0));
        var adam = new Adam(model.Parameters(), lr: p.LearningRate, beta2: p.Beta2);
        adam.ParamGroups[0]["beta2"] = 1.0;
        var before = Snapshot([.. model.Parameters()], null);
        bool atStep = Refused(() =>
        {
            adam.ZeroGrad();
            Losses.CrossEntropy(model.Forward(Tensor.Zeros([1, LabData.Pixels])), Tensor.FromArray([0L], [1])).Backward();
            adam.Step();
        });
        run.Record("refused_at_construction", atConstruction ? 1 : 0);
        run.Record("refused_at_step", atStep ? 1 : 0);
        run.Record("refused", atConstruction && atStep ? 1 : 0);
        // A refused step must leave the parameters as they were.
        run.Record("parameters_unchanged", BitwiseEqual(Snapshot([.. model.Parameters()], null), before) ? 1 : 0);
        run.Record("message_explains", messages.Count == 2 && messages.All(m => m.Contains("beta2", StringComparison.Ordinal) && m.Contains("[0, 1)", StringComparison.Ordinal)) ? 1 : 0);
        run.SaveArtifact("messages.txt", string.Join(Environment.NewLine, messages));
        run.ReportProgress(1);
    }

    // Every (float32) parameter, flattened and concatenated, into `into` (a new buffer when null).
    private static float[] Snapshot(IReadOnlyList<Tensor> parameters, float[]? into)
    {
        into ??= new float[parameters.Sum(t => t.Numel)];
        int offset = 0;
        foreach (var t in parameters)
        {
            t.CopyTo<float>(into.AsSpan(offset));
            offset += t.Numel;
        }
        return into;
    }

    private static bool AllFinite(float[] values)
    {
        foreach (float v in values)
            if (!float.IsFinite(v)) return false;
        return true;
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

    // Test accuracy; a row of logits with a NaN counts as wrong (argmax of NaN is meaningless).
    private static double Accuracy(Module model, TensorDataset test)
    {
        model.Eval();
        using var _ = Autodiff.NoGrad();
        var logits = model.Forward(test.Inputs);
        var z = logits.ToDoubleArray();
        var y = test.Targets.ToArray<long>();
        int classes = logits.Size(1), correct = 0;
        for (int i = 0; i < y.Length; i++)
        {
            var row = z.AsSpan(i * classes, classes);
            bool finite = true;
            int best = 0;
            for (int c = 0; c < classes; c++)
            {
                finite &= double.IsFinite(row[c]);
                if (row[c] > row[best]) best = c;
            }
            if (finite && best == y[i]) correct++;
        }
        return correct / (double)y.Length;
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var nan = Estimate.Mean("share of seeds whose parameters are NaN after step 1 (bfloat16, nearest, PyTorch's form)",
            runs.Results(BFloat16Nearest, "nonfinite_after_step1"));
        var frozen = Estimate.Mean("share of seeds on which no parameter ever changed (bfloat16, nearest, folded form)",
            runs.Results(BFloat16NearestFolded, "frozen"));
        var refused = Estimate.Mean("share of seeds on which validation refused β2 = 1 (construction and step)",
            runs.Results(Validation, "refused"));
        var gap = Estimate.MeanDifference("test accuracy, bfloat16 truncated − float64 (paired by seed)",
            runs.Results(BFloat16TowardZero, "test_accuracy"), runs.Results(Float64, "test_accuracy"));
        return Verdict.From(nan,
                Check.Above(nan, p.MinBrokenShare),
                Check.Above(frozen, p.MinBrokenShare),
                Check.Above(refused, p.MinBrokenShare),
                Check.Within(gap, -p.MaxAccuracyGap, p.MaxAccuracyGap))
            .WithExtra(
                // Accuracies and shares are bounded and, for the broken arms, piled at an end: bootstrap intervals.
                Estimate.MeanBootstrap("test accuracy, float64 hyper-parameters", runs.Results(Float64, "test_accuracy")),
                Estimate.MeanBootstrap("test accuracy, bfloat16 truncated", runs.Results(BFloat16TowardZero, "test_accuracy")),
                Estimate.MeanBootstrap("test accuracy, bfloat16 nearest (PyTorch's form)", runs.Results(BFloat16Nearest, "test_accuracy")),
                Estimate.MeanBootstrap("test accuracy, bfloat16 nearest (folded form)", runs.Results(BFloat16NearestFolded, "test_accuracy")),
                Estimate.MeanBootstrap("test accuracy, float16 nearest, β2 = " + G(p.Beta2), runs.Results(Float16Nearest, "test_accuracy")),
                Estimate.MeanBootstrap("test accuracy, float16 nearest, β2 = " + G(p.LongBeta2), runs.Results(Float16NearestLongBeta2, "test_accuracy")),
                Estimate.MeanBootstrap("share of seeds NaN after step 1, float16 nearest, β2 = " + G(p.Beta2), runs.Results(Float16Nearest, "nonfinite_after_step1")),
                Estimate.MeanBootstrap("share of seeds NaN at the end, float16 nearest, β2 = " + G(p.Beta2), runs.Results(Float16Nearest, "nonfinite_at_end")),
                Estimate.MeanBootstrap("gradient elements exactly 0 at step 1 (0/0 when ε is stored as 0)", runs.Results(Float16Nearest, "zero_gradient_elements_at_step1")),
                Estimate.MeanBootstrap("share of seeds NaN after step 1, float16 nearest, β2 = " + G(p.LongBeta2), runs.Results(Float16NearestLongBeta2, "nonfinite_after_step1")),
                Estimate.MeanBootstrap("share of seeds on which the validation message names beta2 and [0, 1)", runs.Results(Validation, "message_explains")));
    }

    private static string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        // The bias correction 1 − β2^t that PyTorch's form divides by (under a square root), for each arm's effective β2.
        int seed = runs.Seeds[0];
        var t = Enumerable.Range(1, 2000).Select(i => (double)i).ToArray();
        var series = new List<Series>();
        foreach (var arm in ArmNames(p).Where(a => a != Validation))
        {
            double b2 = runs.Get(arm, seed).Result("effective_beta2");
            series.Add(new Series($"{arm}: β2 = {b2.ToString("G8", CultureInfo.InvariantCulture)}", t, [.. t.Select(s => 1 - Math.Pow(b2, s))]));
        }
        yield return new Figure("bias-correction", "The second-moment bias correction 1 − β2^t for each arm's stored β2", "step t",
            "1 − β2^t", series, LogX: true,
            Caption: "Where β2 was stored as exactly 1 the correction is 0 at every step: PyTorch's form divides 0 by 0 (NaN), the " +
                     "folded form multiplies the step by 0. Truncated to 0.99609375, β2 forgets after about 256 steps instead of 1000; " +
                     "float16's 0.99902344 is indistinguishable from 0.999 here.");
    }
}
