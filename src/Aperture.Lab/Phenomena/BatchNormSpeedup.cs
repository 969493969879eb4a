using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Batch normalization lets a deep sigmoid MLP reach a target training accuracy in fewer SGD steps and tolerate larger
/// learning rates, each variant at its own best learning rate, against both the default and a good sigmoid initialization.
/// </summary>
[LogsMetric("train_loss", AxisKind.Step, "training loss (cross-entropy)", Low = 0)]
[LogsMetric("train_accuracy", AxisKind.Step, "training accuracy (batch)", Low = 0, High = 1)]
[LogsMetric("gradient_change", AxisKind.Step, "gradient change ‖∇L(θ − η∇L) − ∇L‖ / ‖∇L‖", Low = 0)]
public sealed class BatchNormSpeedup : Phenomenon<BatchNormSpeedup.Protocol, BatchNormSpeedup.Arm>
{
    /// <summary>The network variants compared.</summary>
    public enum Variant
    {
        /// <summary>The plain sigmoid MLP with PyTorch's default initialization.</summary>
        Plain,
        /// <summary>The control: the plain sigmoid MLP with Glorot's initialization scaled for the sigmoid (gain 4).</summary>
        PlainGlorot,
        /// <summary>A BatchNorm1d between every hidden Linear layer and its sigmoid (default initialization).</summary>
        BatchNorm,
    }
    /// <summary>One variant (<paramref name="Variant"/>) at one SGD learning rate (<paramref name="LearningRate"/>).</summary>
    public sealed record Arm(Variant Variant, double LearningRate) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => $"{Label(Variant)} lr={LearningRate.ToString("R", CultureInfo.InvariantCulture)}";
        /// <inheritdoc/>
        public override ArmCell? Cell => new(Label(Variant), $"lr={LearningRate.ToString("R", CultureInfo.InvariantCulture)}");
    }
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Hidden layers.</summary>
        [Description("hidden layers of the sigmoid MLP (Ioffe and Szegedy's MNIST net had 3)"), Range(1, 50)]
        public int HiddenLayers { get; init; } = 4;
        /// <summary>Units per hidden layer.</summary>
        [Description("units per hidden layer"), Range(1, 4096)]
        public int Width { get; init; } = 100;
        /// <summary>Training images per class.</summary>
        [Description("training images per class, a stratified sample of Fashion-MNIST's training set"), Range(1, 6000)]
        public int TrainPerClass { get; init; } = 100;
        /// <summary>Images per class of the training sample on which training accuracy is evaluated.</summary>
        [Description("images per class of the training sample on which the training loss and accuracy are evaluated (eval mode)"), Range(1, 6000)]
        public int EvalPerClass { get; init; } = 50;
        /// <summary>Examples per SGD step.</summary>
        [Description("examples per SGD step (Ioffe and Szegedy used 60)"), Range(2, 60000)]
        public int BatchSize { get; init; } = 60;
        /// <summary>The step budget.</summary>
        [Description("plain SGD steps per run; a run that has not reached the target by then is censored there"), Range(1, 1_000_000)]
        public int Steps { get; init; } = 250;
        /// <summary>Learning rates swept for every variant.</summary>
        [Description("learning rates swept for every variant"), Range(1e-6, 1e6)]
        public double[] LearningRates { get; init; } = [0.1, 1, 10];
        /// <summary>The training accuracy whose first crossing is the speed measure.</summary>
        [Description("training accuracy (eval mode) whose first crossing counts as reaching the target"), Range(0.01, 0.99)]
        public double TargetAccuracy { get; init; } = 0.8;
        /// <summary>Steps between evaluations.</summary>
        [Description("steps between evaluations of training loss and accuracy (the resolution of steps-to-target)"), Range(1, 1_000_000)]
        public int EvalEvery { get; init; } = 25;
        /// <summary>Divergence: the evaluated loss above this multiple of the initial loss, or not finite.</summary>
        // Cross-entropy starts near ln 10 ≈ 2.3; a run whose loss more than doubles has left the region SGD descends in
        // (a non-finite loss always counts). Stated before any run.
        [Description("a run diverged when an evaluated training loss exceeds this multiple of its initial loss or is not finite"), Range(1.01, 1000)]
        public double DivergenceFactor { get; init; } = 2;
        /// <summary>Steps between gradient-predictiveness probes (0: none).</summary>
        [Description("steps between probes of Santurkar et al.'s gradient predictiveness; 0 turns them off"), Range(0, 1_000_000)]
        public int ProbeEvery { get; init; } = 50;
        /// <summary>The speed-up a seed must show to count.</summary>
        // Ioffe and Szegedy report several-fold fewer steps on their MNIST sigmoid net; at each variant's own best rate
        // we ask only for half the steps, well clear of the evaluation interval's quantization (10–20% of a time).
        [Threshold, Description("a seed counts as faster with batch norm when it needs at most 1/this of the steps (a censored run counts as ≥ the budget)"), Range(1, 100)]
        public double Speedup { get; init; } = 2;
        /// <summary>The geometric-mean speed-up over the control below which the claim is contradicted.</summary>
        // 1×: batch norm no faster than the well-initialized plain net at all. Between 1× and `speedup` is an indifference zone.
        [Threshold, Description("the speed-up over the Glorot control (geometric mean of per-seed step ratios) contradicts the claim below this"), Range(0.01, 100)]
        public double NoSpeedup { get; init; } = 1;
        /// <summary>The share of seeds above which the claim is supported.</summary>
        // "Usually": a majority of seeds. With 6 seeds, 6/6 gives a Clopper–Pearson interval [0.54, 1], which clears it.
        [Threshold, Description("the share of seeds where batch norm wins must lie above this"), Range(0, 1)]
        public double MajorityShare { get; init; } = 0.5;
        /// <summary>The share of seeds below which the claim is contradicted.</summary>
        // No advantage would leave wins to the occasional lucky seed: at most about one in five.
        [Threshold, Description("the claim is contradicted when the share of seeds where batch norm wins lies below this"), Range(0, 1)]
        public double RareShare { get; init; } = 0.2;
        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            if (EvalPerClass > TrainPerClass) yield return $"eval_per_class ({EvalPerClass}) must not exceed train_per_class ({TrainPerClass})";
            if (BatchSize > 10 * TrainPerClass) yield return $"batch_size ({BatchSize}) must not exceed the training sample (10 × train_per_class = {10 * TrainPerClass})";
            if (LearningRates.Length < 2 || LearningRates.Distinct().Count() != LearningRates.Length) yield return "learning_rates needs two or more distinct rates";
            if (!(RareShare < MajorityShare)) yield return $"rare_share ({RareShare}) must lie below majority_share ({MajorityShare})";
        }
    }

    /// <inheritdoc/>
    public override string Id => "batchnorm-speedup";
    /// <inheritdoc/>
    public override string Title => "Batch norm speeds up SGD and tolerates larger learning rates";
    /// <inheritdoc/>
    // 3: against the control, a paired log-scale speed-up (v2's share of seeds did not replicate; docs/phenomena.md).
    public override int Version => 3;
    /// <inheritdoc/>
    public override string Claim =>
        "On most seeds, inserting batch normalization into a four-hidden-layer sigmoid MLP lets SGD reach 80% training accuracy on " +
        "Fashion-MNIST in at most half the steps of the plain net, with the default or a good sigmoid initialization, each at its own " +
        "best learning rate, and lets it run at a larger learning rate than the well-initialized plain net without diverging.";
    /// <inheritdoc/>
    public override string Method =>
        "Three variants — the plain sigmoid MLP (PyTorch's default initialization), the control with Glorot's initialization scaled " +
        "for the sigmoid (normal, gain 4), and the default-initialized MLP with a BatchNorm1d before every hidden sigmoid — train with " +
        "plain SGD at every rate of a sweep on a stratified Fashion-MNIST sample (a seed's arms share sample and minibatches; plain and " +
        "batch norm share weights). Every eval_every steps the loss and accuracy on a fixed part of the sample are evaluated in eval " +
        "mode; a run diverged (and stops) when that loss exceeds divergence_factor × its initial loss or is not finite. Steps-to-target " +
        "is the first evaluation at the target; a run that never gets there is censored at the budget. Each variant's rate for seed s " +
        "is chosen on the other seeds (leave-one-seed-out, least Kaplan–Meier median steps), so no seed picks its own rate. Per seed, " +
        "batch norm wins on speed when it reaches the target in ≤ 1/speedup of the other's steps (a censored run took more than the " +
        "budget), and on stability when its largest non-diverging rate exceeds the Glorot-initialized net's. Three checks (Holm): the shares " +
        "of seeds (Clopper–Pearson) that batch norm wins against the plain net and on stability, held above majority_share and " +
        "contradicted below rare_share; and the speed-up over the control, the geometric mean of per-seed step ratios control ÷ batch " +
        "norm with a t-interval on the log scale, held above speedup and contradicted below no_speedup. A censored control counts at " +
        "the budget (a lower bound on its ratio); a censored batch-norm run makes the check undecidable.";
    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("S. Ioffe, C. Szegedy (2015), Batch normalization: accelerating deep network training by reducing internal covariate shift", ArXiv: "1502.03167"),
        new("S. Santurkar, D. Tsipras, A. Ilyas, A. Madry (2018), How does batch normalization help optimization?", ArXiv: "1805.11604"),
        new("X. Glorot, Y. Bengio (2010), Understanding the difficulty of training deep feedforward neural networks, AISTATS", Url: "https://proceedings.mlr.press/v9/glorot10a.html"),
        new("B. Recht (2018), blog post: \"Phenomenon: Inserting Batch Norm layers speeds up SGD\""),
    ];
    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.SignalPropagation.Predicts(Outcome.DidNotHold,
            "If batch norm helps by restoring each layer's scale, a good sigmoid initialization closes most of the gap, so batch norm does not win against the control."),
        MentalModels.InternalCovariateShift.Predicts(Outcome.Held,
            "Each layer's inputs keep a fixed mean and variance while the layers below change, so every layer can take larger steps."),
        MentalModels.SmootherLandscape.Predicts(Outcome.Held,
            "Batch norm makes the loss and its gradient more Lipschitz along the path, so larger steps stay predictive and the best stable rate is larger."),
    ];
    /// <inheritdoc/>
    // Six seeds: the fewest for which a share of 6/6 has a Clopper–Pearson interval above 0.5.
    public override Protocol Quick => new() { Seeds = 6 };
    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, TrainPerClass = 1000, EvalPerClass = 100, Steps = 3000, ProbeEvery = 100, LearningRates = [0.03, 0.1, 0.3, 1, 3, 10, 30] };
    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;
    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [.. Enum.GetValues<Variant>().SelectMany(v => p.LearningRates.Select(lr => new Arm(v, lr)))];
    /// <summary>A variant's label: plain, plain-glorot, batch-norm.</summary>
    public static string Label(Variant v) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(v.ToString());
    private static string Percent(double v) => (100 * v).ToString("G3", CultureInfo.InvariantCulture) + "%";
    /// <summary>The network of a variant.</summary>
    public static MlpSpec Network(Protocol p, Variant v) => new([.. Enumerable.Repeat(p.Width, p.HiddenLayers)], "sigmoid", BatchNorm: v == Variant.BatchNorm, WeightInit: v == Variant.PlainGlorot ? Init.XavierNormal(gain: 4) : null);
    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        var s = RunStreams.Fork(run.Generator);
        var (train, _) = FashionMnistClassification.Sample(run.Data, p.TrainPerClass, 0, s.Sampling, Id);
        var (ex, ey) = new Subset(train, Splits.StratifiedSample(train.Targets.ToArray<long>(), p.EvalPerClass, s.Sampling)).GetAll();
        var evalSet = new TensorDataset(ex, ey);
        var fit = new FashionMnistClassification(Network(p, arm.Variant), m => new SGD(m.Parameters(), lr: arm.LearningRate), train, p.BatchSize, s.Init, s.Order, dropLast: true);
        double initial = double.NaN; long toTarget = -1; bool diverged = false;
        var changes = new List<double>();
        var end = fit.Run(p.Steps, 0, new TrainingHooks
        {
            EverySteps = p.EvalEvery,
            OnSteps = step =>
            {
                var e = fit.Evaluate(evalSet);
                run.Log("train_loss", step, e.Loss);
                run.Log("train_accuracy", step, e.Accuracy);
                if (step == 0) initial = e.Loss;
                if (toTarget < 0 && e.Accuracy >= p.TargetAccuracy) toTarget = step;
                run.ReportProgress(step / (double)p.Steps);
                return diverged = !double.IsFinite(e.Loss) || e.Loss > p.DivergenceFactor * initial;
            },
            BeforeStep = (step, x, y) =>
            {
                if (p.ProbeEvery == 0 || step % p.ProbeEvery != 0) return;
                var c = GradientPredictiveness.Measure(fit.Model, x, y, arm.LearningRate);
                if (double.IsFinite(c.Change)) { run.Log("gradient_change", step, c.Change); changes.Add(c.Change); }
            },
        }, run.Cancellation);
        diverged |= end.NonFinite;
        run.Record("diverged", diverged ? 1 : 0);
        run.Record("reached_target", toTarget >= 0 ? 1 : 0);
        // A run that never reached the target is censored at the budget (a diverged one would never get there).
        run.Record("steps_to_target", toTarget >= 0 ? toTarget : p.Steps);
        run.Record("steps_run", end.Steps);
        if (changes.Count > 0) run.Record("mean_gradient_change", changes.Average());
    }
    /// <summary>The steps-to-target of <paramref name="v"/> at <paramref name="lr"/> on a seed, censored at the budget when not reached.</summary>
    public static CensoredTime Time(RunSet runs, Variant v, double lr, int seed) =>
        new(Math.Max(1, runs.Get(new Arm(v, lr).Name, seed).Result("steps_to_target")), runs.Get(new Arm(v, lr).Name, seed).Result("reached_target") == 1);
    /// <summary>The rate of <paramref name="v"/> for <paramref name="seed"/>, chosen on the other seeds (<see cref="CensoredTime.ChooseLeavingOut"/>).</summary>
    public static double ChosenRate(Protocol p, RunSet runs, Variant v, int seed) =>
        CensoredTime.ChooseLeavingOut(p.LearningRates, runs.Seeds, seed, (lr, s) => Time(runs, v, lr, s));
    /// <summary>The largest rate at which a seed's run of <paramref name="v"/> did not diverge (0 when every rate diverged).</summary>
    public static double LargestStableRate(Protocol p, RunSet runs, Variant v, int seed) =>
        p.LearningRates.Where(lr => runs.Get(new Arm(v, lr).Name, seed).Result("diverged") == 0).DefaultIfEmpty(0).Max();
    /// <summary>Whether batch norm, at its chosen rate, reached the target in at most 1/speedup of <paramref name="other"/>'s steps on a seed.</summary>
    public static bool FasterOnSeed(Protocol p, RunSet runs, Variant other, int seed) =>
        Time(runs, Variant.BatchNorm, ChosenRate(p, runs, Variant.BatchNorm, seed), seed).FasterBy(p.Speedup, Time(runs, other, ChosenRate(p, runs, other, seed), seed));

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        string x = p.Speedup.ToString("G3", CultureInfo.InvariantCulture);
        var vsPlain = Estimate.Share($"share of seeds where batch norm reaches the target in ≤ 1/{x} of the plain net's steps",
            [.. runs.Seeds.Select(s => FasterOnSeed(p, runs, Variant.Plain, s))]);
        var vsGlorot = SpeedupOverControl(p, runs);
        // Against the control: the default-initialized plain net learns too little to diverge (a pilot on seeds 1,000,000+).
        var stable = Estimate.Share("share of seeds where batch norm's largest non-diverging rate exceeds the Glorot-initialized plain net's",
            [.. runs.Seeds.Select(s => LargestStableRate(p, runs, Variant.BatchNorm, s) > LargestStableRate(p, runs, Variant.PlainGlorot, s))]);
        var extra = Enum.GetValues<Variant>().Select(v => Estimate.MedianTime($"{Label(v)}: steps to {Percent(p.TargetAccuracy)} at the rate chosen on the other seeds (Kaplan–Meier median)", Unit.Steps,
            [.. runs.Seeds.Select(s => Time(runs, v, ChosenRate(p, runs, v, s), s)).Select(t => (t.Time, t.Reached))])).ToList();
        if (runs.Runs.All(r => r.Results.ContainsKey("mean_gradient_change")))
            foreach (var v in Enum.GetValues<Variant>())
                extra.Add(Estimate.Ratio($"{Label(v)} lr={p.LearningRates.Min()}: mean gradient change along the step (Santurkar et al.)",
                    runs.Results(new Arm(v, p.LearningRates.Min()).Name, "mean_gradient_change")));
        return Verdict.From(vsGlorot,
            Check.Above(vsPlain, p.MajorityShare, p.RareShare), Check.Above(vsGlorot, p.Speedup, p.NoSpeedup), Check.Above(stable, p.MajorityShare, p.RareShare))
            .WithExtra([.. extra]);
    }

    /// <summary>The speed-up over the control, per seed at each variant's rate chosen on the other seeds (<see cref="CensoredTime.Speedup"/>).</summary>
    public static Estimate SpeedupOverControl(Protocol p, RunSet runs) => CensoredTime.Speedup(
        "speed-up over the Glorot-initialized control: its steps ÷ batch norm's (geometric mean over seeds)",
        [.. runs.Seeds.Select(s => (Time(runs, Variant.BatchNorm, ChosenRate(p, runs, Variant.BatchNorm, s), s),
            Time(runs, Variant.PlainGlorot, ChosenRate(p, runs, Variant.PlainGlorot, s), s)))]);

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var lrs = p.LearningRates.Order().ToArray();
        yield return new Figure("steps-vs-lr", $"Steps to {Percent(p.TargetAccuracy)} training accuracy against learning rate (Kaplan–Meier median over seeds)",
            "learning rate", "median steps to target", [.. Enum.GetValues<Variant>().Select(v =>
            {
                var medians = lrs.Select(lr => CensoredTime.Median([.. runs.Seeds.Select(s => Time(runs, v, lr, s))])).ToArray();
                return new Series(Label(v), lrs, [.. medians.Select(m => Math.Min(2.0 * p.Steps, m))], SeriesStyle.LineAndMarkers)
                    { Censored = [.. medians.Select(m => !(m <= p.Steps))] };
            })], LogX: true, Caption: $"A median not reached within the budget ({p.Steps} steps) is censored: drawn at twice the budget and circled.") { YRange = ValueRange.NonNegative };
        yield return new Figure("divergence-vs-lr", "Share of seeds that diverged at each learning rate", "learning rate", "share diverged",
            [.. Enum.GetValues<Variant>().Select(v => new Series(Label(v), lrs, [.. lrs.Select(lr => runs.Results(new Arm(v, lr).Name, "diverged").Average())], SeriesStyle.LineAndMarkers))], LogX: true, Caption: $"Diverged: an evaluated loss above {p.DivergenceFactor} × the initial loss, or not finite.") { YRange = ValueRange.Fraction };
    }
}
