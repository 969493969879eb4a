using System.ComponentModel;
using System.Globalization;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Batch normalization lets a deep sigmoid MLP train with larger learning rates and reach a target training accuracy in
/// fewer SGD steps, each variant at its own best learning rate.
/// </summary>
public sealed class BatchNormSpeedup : Phenomenon<BatchNormSpeedup.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Hidden layers of the MLP.</summary>
        // One more than Ioffe and Szegedy's three: deep enough that the plain net's gradients vanish noticeably, and (in
        // a pilot run) still shallow enough for it to reach the target within the full tier's step budget, so the full
        // tier measures its speed instead of only bounding it.
        [Description("hidden layers of the sigmoid MLP (Ioffe and Szegedy's MNIST net had 3)")]
        public int HiddenLayers { get; init; } = 4;

        /// <summary>Units per hidden layer.</summary>
        [Description("units per hidden layer")]
        public int Width { get; init; } = 100;

        /// <summary>Training images per class (a stratified sample of Fashion-MNIST's training set).</summary>
        [Description("training images per class, a stratified sample of Fashion-MNIST's training set")]
        public int TrainPerClass { get; init; } = 100;

        /// <summary>Training images per class on which the training loss and accuracy are evaluated.</summary>
        [Description("images per class of the training sample on which training loss and accuracy are evaluated (a fixed stratified subset)")]
        public int EvalPerClass { get; init; } = 50;

        /// <summary>Examples per SGD step.</summary>
        [Description("examples per SGD step (Ioffe and Szegedy used 60)")]
        public int BatchSize { get; init; } = 60;

        /// <summary>SGD steps per run.</summary>
        [Description("plain SGD steps per run (the budget; a run that has not reached the target by then is censored)")]
        public int Steps { get; init; } = 250;

        /// <summary>Learning rates swept, for both variants.</summary>
        [Description("learning rates swept for both variants")]
        public double[] LearningRates { get; init; } = [0.1, 1, 10];

        /// <summary>The training accuracy whose first crossing is the speed measure.</summary>
        [Description("training accuracy (eval mode, on the evaluation part of the training sample) whose first crossing counts as reaching the target")]
        public double TargetAccuracy { get; init; } = 0.8;

        /// <summary>Steps between evaluations of the training accuracy.</summary>
        [Description("steps between evaluations of the training loss and accuracy (the resolution of steps-to-target)")]
        public int EvalEvery { get; init; } = 25;

        /// <summary>Steps between gradient-predictiveness probes (0: none).</summary>
        [Description("steps between probes of how much the gradient changes along the SGD step (Santurkar et al.); 0 turns them off")]
        public int ProbeEvery { get; init; } = 50;

        /// <summary>Smallest speed-up that counts.</summary>
        // Ioffe and Szegedy report 14× fewer steps for Inception (with a raised learning rate) and a several-fold lead
        // on their MNIST sigmoid net at one shared learning rate. Letting each variant use its own best rate removes part
        // of that lead, so we ask for a halving of the steps: a conservative reading of "batch norm speeds up SGD" that
        // stays well clear of the quantization of steps-to-target by the evaluation interval (one interval ≈ 10–20%).
        [Threshold, Description("the geometric-mean speed-up (steps without ÷ steps with batch norm, each at its best rate) must lie above this")]
        public double MinSpeedup { get; init; } = 2;

        /// <summary>How much larger, in decades, batch norm's largest stable learning rate must be.</summary>
        // The sweep's grid is at most a decade apart (half a decade in the full tier): 0.4 decades means "stable at
        // least one grid point higher" (a factor ≥ 3), the weakest statement of "batch norm allows higher learning rates".
        [Threshold, Description("log10 of (largest stable rate with ÷ without batch norm) must lie above this")]
        public double MinStableLrDecades { get; init; } = 0.4;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (HiddenLayers < 1 || HiddenLayers > 50) yield return $"hidden_layers must be between 1 and 50, found {HiddenLayers}";
            if (Width < 1 || Width > 4096) yield return $"width must be between 1 and 4096, found {Width}";
            if (TrainPerClass < 1 || TrainPerClass > 6000) yield return $"train_per_class must be between 1 and 6000, found {TrainPerClass}";
            if (EvalPerClass < 1 || EvalPerClass > TrainPerClass) yield return $"eval_per_class must be between 1 and train_per_class ({TrainPerClass}), found {EvalPerClass}";
            if (BatchSize < 2) yield return $"batch_size must be at least 2 (batch norm needs two examples), found {BatchSize}";
            if (BatchSize > 10 * TrainPerClass) yield return $"batch_size ({BatchSize}) must not exceed the training sample (10 × train_per_class = {10 * TrainPerClass})";
            if (Steps < 1) yield return $"steps must be positive, found {Steps}";
            if (LearningRates.Length < 1) yield return "learning_rates needs at least one rate";
            if (LearningRates.Any(r => !(r > 0) || !double.IsFinite(r))) yield return $"every learning rate must be positive and finite, found {string.Join(",", LearningRates)}";
            if (LearningRates.Distinct().Count() != LearningRates.Length) yield return "learning_rates must be distinct";
            if (!(TargetAccuracy > 0 && TargetAccuracy < 1)) yield return $"target_accuracy must lie in (0, 1), found {TargetAccuracy}";
            if (EvalEvery < 1) yield return $"eval_every must be positive, found {EvalEvery}";
            if (ProbeEvery < 0) yield return $"probe_every must be non-negative, found {ProbeEvery}";
        }
    }

    /// <summary>The variant without normalization.</summary>
    public const string Plain = "plain";

    /// <summary>The variant with a BatchNorm1d between every hidden Linear layer and its sigmoid.</summary>
    public const string BatchNorm = "batchnorm";

    /// <inheritdoc/>
    public override string Id => "batchnorm-speedup";

    /// <inheritdoc/>
    public override string Title => "Batch norm speeds up SGD and tolerates larger learning rates";

    /// <inheritdoc/>
    public override string Claim =>
        "Inserting batch normalization into a sigmoid MLP with four hidden layers lets SGD run stably at larger learning " +
        "rates and reach 80% training accuracy on Fashion-MNIST in at most half the steps, each variant at its own best " +
        "learning rate.";

    /// <inheritdoc/>
    public override string Method =>
        "A sigmoid MLP (PyTorch's default initialization) is trained on a stratified Fashion-MNIST sample with plain SGD, " +
        "with and without a BatchNorm1d before every hidden sigmoid, at every learning rate of a sweep; both variants of a " +
        "seed start from the same Linear weights and see the same minibatches. Every few steps the training loss and " +
        "accuracy on a fixed stratified part of the sample are evaluated in eval mode (batch norm uses its running statistics). A run is " +
        "stable, by a rule fixed in advance, when its loss stays finite and its final loss is below its initial loss; its " +
        "steps-to-target is the first evaluation at which the accuracy reaches the target (a stable run that never does is " +
        "censored at the budget plus one interval, which understates its slowness). Each variant's best learning rate is " +
        "the one with the fewest steps (geometric mean over seeds); the speed-up is the per-seed ratio of steps without to " +
        "steps with batch norm at those rates, with a t-interval on its logarithm. A second check compares the largest " +
        "stable rate of each seed. Santurkar et al.'s gradient predictiveness, ‖∇L(θ − η∇L) − ∇L(θ)‖/‖∇L(θ)‖ on the same " +
        "batch, is recorded alongside.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("S. Ioffe, C. Szegedy (2015), Batch normalization: accelerating deep network training by reducing internal covariate shift", ArXiv: "1502.03167"),
        new("S. Santurkar, D. Tsipras, A. Ilyas, A. Madry (2018), How does batch normalization help optimization?", ArXiv: "1805.11604"),
        new("B. Recht (2018), blog post: \"Phenomenon: Inserting Batch Norm layers speeds up SGD\""),
        new("A. Rahimi, B. Recht (2017), All in all is all we are, postscript to the NIPS 2017 test-of-time talk: \"we don't understand batch norm … but it works amazingly well in practice\""),
        new("N. Bjorck, C. Gomes, B. Selman, K. Weinberger (2018), Understanding batch normalization", ArXiv: "1806.02375"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.SignalPropagation.Predicts(Outcome.Held,
            "Without normalization the sigmoid's slope (at most ¼) shrinks the back-propagated gradient at every layer; batch norm resets each layer's scale, so the lower layers learn at once."),
        MentalModels.InternalCovariateShift.Predicts(Outcome.Held,
            "Each layer's inputs keep a fixed mean and variance while the layers below change, so every layer can take larger steps without chasing a moving input distribution."),
        MentalModels.SmootherLandscape.Predicts(Outcome.Held,
            "Batch norm makes the loss and its gradient more Lipschitz along the training path, so larger steps stay predictive and the best stable rate is larger."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new()
    {
        Seeds = 8,
        TrainPerClass = 1000,
        EvalPerClass = 100,
        Steps = 3000,
        EvalEvery = 25,
        ProbeEvery = 100,
        LearningRates = [0.03, 0.1, 0.3, 1, 3, 10, 30],
    };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) =>
        [.. new[] { Plain, BatchNorm }.SelectMany(v => p.LearningRates.Select(lr => ArmName(v, lr)))];

    /// <summary>The arm of <paramref name="variant"/> at learning rate <paramref name="lr"/>: "plain lr=0.1".</summary>
    public static string ArmName(string variant, double lr) => variant + " lr=" + lr.ToString("R", CultureInfo.InvariantCulture);

    private static (string Variant, double Lr) ParseArm(string arm)
    {
        int at = arm.IndexOf(" lr=", StringComparison.Ordinal);
        if (at < 0 || !double.TryParse(arm[(at + 4)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double lr) || arm[..at] is not (Plain or BatchNorm))
            throw new ArgumentException($"batchnorm-speedup: unknown arm '{arm}'; expected '{Plain} lr=<rate>' or '{BatchNorm} lr=<rate>'");
        return (arm[..at], lr);
    }

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        var (variant, lr) = ParseArm(run.Arm);
        var g = run.Generator;
        // Data, weights and minibatch order are drawn in this order from the seed's generator: the same for every arm.
        var sample = LabData.FlatSample(run.Data.FashionMnist.Train, p.TrainPerClass, g, "train_per_class");
        var (train, _) = LabData.Standardize(sample, sample);
        var evalSet = new Subset(train, Splits.StratifiedSample(train.Targets.ToArray<long>(), p.EvalPerClass, g)).GetAll();
        var probe = new TensorDataset(evalSet.Inputs, evalSet.Targets);
        var net = NN.Models.Mlp(LabData.Pixels, [.. Enumerable.Repeat(p.Width, p.HiddenLayers)], 10, activation: "sigmoid",
            batchNorm: variant == BatchNorm, generator: g);
        var loader = new DataLoader(train, p.BatchSize, shuffle: true, generator: g.Fork(), dropLast: true);
        var sgd = new SGD(net.Parameters(), lr: lr);

        double initialLoss = double.NaN, finalLoss = double.NaN, finalAccuracy = double.NaN;
        long stepsToTarget = -1;
        bool finite = true;
        var changes = new List<double>();
        var smoothness = new List<double>();
        int step = 0;
        void Evaluate()
        {
            var (loss, accuracy) = EvaluateOn(net, probe);
            run.Log("train_loss", step, loss);
            run.Log("train_accuracy", step, accuracy);
            if (step == 0) initialLoss = loss;
            if (!double.IsFinite(loss)) finite = false;
            if (stepsToTarget < 0 && accuracy >= p.TargetAccuracy) stepsToTarget = step;
            finalLoss = loss;
            finalAccuracy = accuracy;
        }

        Evaluate();
        while (step < p.Steps && finite)
        {
            foreach (var (x, y) in loader)
            {
                if (p.ProbeEvery > 0 && step % p.ProbeEvery == 0)
                {
                    var (change, beta) = GradientPredictiveness(net, x, y, lr);
                    if (double.IsFinite(change))
                    {
                        run.Log("gradient_change", step, change);
                        run.Log("effective_smoothness", step, beta);
                        changes.Add(change);
                        smoothness.Add(beta);
                    }
                }
                var loss = Losses.CrossEntropy(net.Forward(x), y);
                double value = loss.Item();
                if (!double.IsFinite(value)) { finite = false; break; }
                if (step % 5 == 0) run.Log("batch_loss", step, value);
                sgd.ZeroGrad();
                loss.Backward();
                sgd.Step();
                step++;
                if (step % p.EvalEvery == 0 || step == p.Steps) Evaluate();
                if (!finite || step >= p.Steps) break;
                if (step % 10 == 0) run.ReportProgress(step / (double)p.Steps);
            }
        }

        // The stability rule, fixed in advance: finite throughout, and the final loss below the initial loss. A net that
        // barely moves (a saturated plain sigmoid net) passes or fails it by a hair, which makes the rate check noisy.
        bool stable = finite && double.IsFinite(finalLoss) && finalLoss < initialLoss;
        run.Record("learning_rate", lr);
        run.Record("stable", stable ? 1 : 0);
        run.Record("reached_target", stable && stepsToTarget >= 0 ? 1 : 0);
        run.Record("steps_to_target", stable && stepsToTarget >= 0 ? stepsToTarget : Censored(p));
        run.Record("initial_loss", initialLoss);
        run.Record("final_loss", double.IsFinite(finalLoss) ? finalLoss : double.MaxValue);
        run.Record("final_accuracy", double.IsFinite(finalAccuracy) ? finalAccuracy : 0);
        run.Record("steps_run", step);
        if (changes.Count > 0)
        {
            run.Record("mean_gradient_change", changes.Average());
            run.Record("mean_effective_smoothness", smoothness.Average());
        }
        run.ReportProgress(1);
    }

    /// <summary>The steps-to-target recorded for a run that never reaches the target (or is unstable): budget + one interval.</summary>
    public static double Censored(Protocol p) => p.Steps + p.EvalEvery;

    // Loss and accuracy of a dataset in eval mode (batch norm with its running statistics), then back to training mode.
    private static (double Loss, double Accuracy) EvaluateOn(Module net, TensorDataset data)
    {
        using var _ = Autodiff.NoGrad();
        net.Eval();
        try
        {
            var logits = net.Forward(data.Inputs);
            double loss = Losses.CrossEntropy(logits, data.Targets).Item();
            var predicted = logits.ArgMax(1).ToArray<long>();
            var labels = data.Targets.ToArray<long>();
            int correct = 0;
            for (int i = 0; i < labels.Length; i++) if (predicted[i] == labels[i]) correct++;
            return (loss, correct / (double)labels.Length);
        }
        finally
        {
            net.Train();
        }
    }

    /// <summary>
    /// Santurkar et al.'s gradient predictiveness along one SGD step on a batch: with g = ∇L(θ) and g' = ∇L(θ − η·g) on
    /// the same batch (training mode), returns ‖g' − g‖/‖g‖ and the effective smoothness ‖g' − g‖/‖η·g‖. The
    /// network's parameters and buffers (batch norm's running statistics) are restored afterwards.
    /// </summary>
    public static (double Change, double Smoothness) GradientPredictiveness(Module net, Tensor x, Tensor y, double lr)
    {
        var saved = net.StateDict();
        var parameters = net.Parameters().ToList();
        try
        {
            var g = Autodiff.Grad([Losses.CrossEntropy(net.Forward(x), y)], parameters);
            using (Autodiff.NoGrad())
                for (int i = 0; i < parameters.Count; i++)
                    Ops.CopyInPlace(parameters[i], parameters[i] - g[i]! * lr);
            var moved = Autodiff.Grad([Losses.CrossEntropy(net.Forward(x), y)], parameters);
            double diff = 0, norm = 0;
            for (int i = 0; i < parameters.Count; i++)
            {
                var a = g[i]!.ToDoubleArray();
                var b = moved[i]!.ToDoubleArray();
                for (int j = 0; j < a.Length; j++)
                {
                    diff += (b[j] - a[j]) * (b[j] - a[j]);
                    norm += a[j] * a[j];
                }
            }
            diff = Math.Sqrt(diff);
            norm = Math.Sqrt(norm);
            return (diff / norm, diff / (lr * norm));
        }
        finally
        {
            net.LoadStateDict(saved);
        }
    }

    /// <summary>A variant's best learning rate: the fewest steps-to-target (geometric mean over seeds); ties go to the smaller rate.</summary>
    public static double BestLearningRate(Protocol p, RunSet runs, string variant) =>
        p.LearningRates.Order()
            .Select(lr => (Lr: lr, Steps: runs.Seeds.Average(s => Math.Log(Math.Max(1, runs.Get(ArmName(variant, lr), s).Result("steps_to_target"))))))
            .Aggregate((best, next) => next.Steps < best.Steps ? next : best).Lr;

    /// <summary>The largest rate of the sweep at which a seed's run of <paramref name="variant"/> was stable (the smallest rate if none was: a conservative floor).</summary>
    public static double LargestStableRate(Protocol p, RunSet runs, string variant, int seed)
    {
        var stable = p.LearningRates.Where(lr => runs.Get(ArmName(variant, lr), seed).Result("stable") == 1).ToList();
        return stable.Count > 0 ? stable.Max() : p.LearningRates.Min();
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double plainLr = BestLearningRate(p, runs, Plain), bnLr = BestLearningRate(p, runs, BatchNorm);
        // A target met before the first step (possible only with a trivial target) counts as one step.
        double[] plainSteps = [.. runs.Results(ArmName(Plain, plainLr), "steps_to_target").Select(v => Math.Max(v, 1))];
        double[] bnSteps = [.. runs.Results(ArmName(BatchNorm, bnLr), "steps_to_target").Select(v => Math.Max(v, 1))];
        var logSpeedup = Estimate.Mean("log10 speed-up", [.. plainSteps.Zip(bnSteps, (a, b) => Math.Log10(a / b))]);
        // Back to a ratio: the geometric mean with its interval.
        var speedup = new Estimate(
            $"speed-up: steps to {Percent(p.TargetAccuracy)}, plain (lr {G(plainLr)}) ÷ batchnorm (lr {G(bnLr)})",
            Math.Pow(10, logSpeedup.Value), Math.Pow(10, logSpeedup.Low), Math.Pow(10, logSpeedup.High), logSpeedup.N,
            "geometric mean, t-interval on log10");
        var lrDecades = Estimate.Mean("log10 largest stable lr, batchnorm ÷ plain",
            [.. runs.Seeds.Select(s => Math.Log10(LargestStableRate(p, runs, BatchNorm, s) / LargestStableRate(p, runs, Plain, s)))]);

        var extra = new List<Estimate>
        {
            Estimate.Mean($"{ArmName(Plain, plainLr)}: steps to target", plainSteps),
            Estimate.Mean($"{ArmName(BatchNorm, bnLr)}: steps to target", bnSteps),
            Estimate.Mean($"{ArmName(Plain, plainLr)}: fraction reaching the target", runs.Results(ArmName(Plain, plainLr), "reached_target")),
            Estimate.Mean($"{ArmName(BatchNorm, bnLr)}: fraction reaching the target", runs.Results(ArmName(BatchNorm, bnLr), "reached_target")),
            Estimate.Mean($"{ArmName(Plain, plainLr)}: final training accuracy", runs.Results(ArmName(Plain, plainLr), "final_accuracy")),
            Estimate.Mean($"{ArmName(BatchNorm, bnLr)}: final training accuracy", runs.Results(ArmName(BatchNorm, bnLr), "final_accuracy")),
        };
        // Santurkar et al.'s measure at a rate both variants ran: the plain variant's best.
        if (runs.Runs.All(r => r.Results.ContainsKey("mean_gradient_change")))
            extra.Add(Estimate.Mean($"lr {G(plainLr)}: log10 gradient change along the step, plain ÷ batchnorm",
                [.. runs.Seeds.Select(s => Math.Log10(runs.Get(ArmName(Plain, plainLr), s).Result("mean_gradient_change")
                                                      / runs.Get(ArmName(BatchNorm, plainLr), s).Result("mean_gradient_change")))]));
        return Verdict.From(speedup, Check.Above(speedup, p.MinSpeedup), Check.Above(lrDecades, p.MinStableLrDecades))
            .WithExtra([.. extra]);
    }

    private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    private static string Percent(double v) => (100 * v).ToString("G3", CultureInfo.InvariantCulture) + "%";

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var lrs = p.LearningRates.Order().ToArray();
        var series = new List<Series>();
        foreach (var variant in new[] { Plain, BatchNorm })
        {
            foreach (int s in runs.Seeds)
                series.Add(new Series(variant, lrs, [.. lrs.Select(lr => runs.Get(ArmName(variant, lr), s).Result("steps_to_target"))], SeriesStyle.Markers));
            series.Add(new Series(variant, lrs,
                [.. lrs.Select(lr => Math.Exp(runs.Seeds.Average(s => Math.Log(runs.Get(ArmName(variant, lr), s).Result("steps_to_target")))))],
                SeriesStyle.LineAndMarkers));
        }
        yield return new Figure("steps-vs-lr", $"Steps to {Percent(p.TargetAccuracy)} training accuracy against learning rate",
            "learning rate", "steps to target", series, LogX: true, LogY: true,
            Caption: $"Markers are seeds, lines their geometric mean. Runs that were unstable or never reached the target sit at the censoring line {Censored(p)} (budget + one evaluation interval).");

        double plainLr = BestLearningRate(p, runs, Plain), bnLr = BestLearningRate(p, runs, BatchNorm);
        var curves = new List<Series>();
        foreach (var (variant, lr) in new[] { (Plain, plainLr), (BatchNorm, bnLr) })
            foreach (int s in runs.Seeds)
                if (runs.Get(ArmName(variant, lr), s).Metrics.TryGetValue("train_accuracy", out var pts))
                    curves.Add(new Series($"{variant} (lr {G(lr)})", [.. pts.Select(q => (double)q.Step)], [.. pts.Select(q => q.Value)]));
        yield return new Figure("accuracy-at-best-lr", "Training accuracy at each variant's best learning rate", "step", "training accuracy (eval mode)",
            curves, Caption: $"One line per seed. The target, {Percent(p.TargetAccuracy)}, is where steps-to-target is read off.");

        var stable = new List<Series>();
        foreach (var variant in new[] { Plain, BatchNorm })
            stable.Add(new Series(variant, lrs, [.. lrs.Select(lr => runs.Results(ArmName(variant, lr), "stable").Average())], SeriesStyle.LineAndMarkers));
        yield return new Figure("stability-vs-lr", "Fraction of seeds stable at each learning rate", "learning rate", "fraction stable",
            stable, LogX: true, Caption: "Stable: the loss stays finite and ends below its initial value (a rule fixed before any run).");
    }
}
