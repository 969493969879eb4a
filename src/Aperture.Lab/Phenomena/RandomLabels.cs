using Aperture.Data;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// An MLP memorizes Fashion-MNIST whatever its labels or pixels: true labels, random labels, shuffled pixels and
/// Gaussian noise are all fit, but only true labels generalize, and fitting slows as more labels are random (Zhang et al. 2016).
/// </summary>
[LogsMetric("train_accuracy", AxisKind.Epoch, "training accuracy on the labels trained on", Low = 0, High = 1)]
[LogsMetric("train_loss", AxisKind.Epoch, "training loss (cross-entropy)", Low = 0)]
public sealed class RandomLabels : Phenomenon<RandomLabels.Protocol, RandomLabels.Arm>
{
    /// <summary>What an arm corrupts: a fraction of labels, or (with true labels) pixels by one permutation, pixels per image, or images by Gaussian noise.</summary>
    public enum Corruption { /** <summary>Labels.</summary> */ Labels, /** <summary>One pixel permutation.</summary> */ ShuffledPixels, /** <summary>A permutation per image.</summary> */ RandomPixels, /** <summary>Gaussian inputs.</summary> */ Gaussian }
    /// <summary>The network: one (shallow) or three (deep) hidden ReLU layers of <c>hidden</c> units.</summary>
    public enum Architecture { /** <summary>One hidden layer.</summary> */ Shallow, /** <summary>Three hidden layers.</summary> */ Deep }
    /// <summary>One corruption (<paramref name="Kind"/>, with <paramref name="Fraction"/> of labels for <see cref="Corruption.Labels"/>) on one network.</summary>
    public sealed record Arm(Corruption Kind, double Fraction, Architecture Architecture) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => (Kind == Corruption.Labels
            ? Fraction == 0 ? "true-labels" : Fraction == 1 ? "random-labels" : "labels-" + Fraction.ToString("R", CultureInfo.InvariantCulture)
            : System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(Kind.ToString())) + (Architecture == Architecture.Deep ? " deep" : "");
        /// <inheritdoc/>
        public override ArmCell? Cell => Kind == Corruption.Labels ? new($"{Architecture.ToString().ToLowerInvariant()} net", $"p = {Fraction.ToString("R", CultureInfo.InvariantCulture)} ({Name})") : null;
    }
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>The images each seed draws.</summary>
        [Description("seed s is tested on fold s mod (folds) of a fixed partition of the test split, so a block's seeds share no test image")]
        public ImageSample Sample { get; init; } = new() { TrainPerClass = 50, TestPerClass = 15 };
        /// <summary>Units per hidden layer.</summary>
        [Description("units per hidden ReLU layer (one layer shallow, three deep)"), Range(1, 8192)]
        public int Hidden { get; init; } = 128;
        /// <summary>The optimizer's learning rate and batch size.</summary>
        [Description("Adam; no weight decay, dropout or augmentation: nothing regularizes")]
        public Minibatches Training { get; init; } = new() { LearningRate = 1e-3, BatchSize = 64 };
        /// <summary>The corrupted label fractions, one arm each.</summary>
        [Description("fractions p of training labels replaced by random classes, one arm each per architecture (must include 0 and 1)"), Range(0, 1)]
        public double[] LabelCorruption { get; init; } = [0, 0.5, 1];
        /// <summary>Whether to run the input corruptions (shallow network only).</summary>
        [Description("also run the input corruptions with true labels on the shallow network: fixed and per-image pixel permutations, Gaussian inputs")]
        public bool InputCorruptions { get; init; } = true;
        /// <summary>Training accuracy that counts as fitted.</summary>
        [Description("training accuracy (eval mode, whole training sample, after an epoch) at which a run counts as fitted and stops"), Range(0.11, 1)]
        public double FitAccuracy { get; init; } = 0.99;
        /// <summary>The epoch cap.</summary>
        [Description("epochs after which a run that has not fitted stops; its epochs-to-fit is censored there"), Range(1, 100_000)]
        public int MaxEpochs { get; init; } = 150;

        /// <summary>The share of seeds above which a claim about seeds (fitted, slower) is supported.</summary>
        // "Usually": a majority of seeds. With 6 seeds, 6/6 gives a Clopper–Pearson interval [0.54, 1], which clears it.
        [Threshold, Description("shares of seeds (fitted; fitting slower with more random labels) must lie above this"), Range(0, 1)]
        public double MajorityShare { get; init; } = 0.5;
        /// <summary>The share of seeds below which such a claim is contradicted.</summary>
        // A claim that fails would leave at most the occasional seed: one in five.
        [Threshold, Description("such a share below this contradicts the claim"), Range(0, 1)]
        public double RareShare { get; init; } = 0.2;
        /// <summary>The true-label arm's test accuracy must lie above this.</summary>
        // MLPs trained on all 60,000 images reach 0.87–0.89 (Xiao et al. 2017); 50 images per class cost several points.
        // 0.70 is "well above chance" with room for the small sample; below 0.5 would not be generalization worth the name.
        [Threshold, Description("test accuracy with true labels must lie above this (it generalizes)"), Range(0, 1)]
        public double MinTrueTestAccuracy { get; init; } = 0.70;
        /// <summary>Below this, true-label test accuracy contradicts the claim.</summary>
        [Threshold, Description("test accuracy with true labels below this contradicts the claim"), Range(0, 1)]
        public double TrueTestContradict { get; init; } = 0.5;
        /// <summary>Half-width of the chance band around 1/10 for random labels.</summary>
        // The pooled count over 6 seeds × 150 disjoint test images has a binomial standard error of about 0.01 at 0.1;
        // ±0.04 is that SE four times over, while even weak generalization (0.2+) lies far outside it.
        [Threshold, Description("pooled test accuracy with random labels must lie within 0.1 ± this"), Range(0, 0.9)]
        public double ChanceMargin { get; init; } = 0.04;
        /// <summary>Equivalence margin for a fixed pixel permutation against true images.</summary>
        // A fixed permutation only reorders an MLP's inputs (exchangeable initial weights): the same experiment in
        // distribution. A paired difference of two nets on 150 images has a per-seed SD of about 0.04; ±0.05 allows it.
        [Threshold, Description("fixed-permutation minus true-image test accuracy (paired by seed) must lie within ± this"), Range(0, 1)]
        public double PermutationMargin { get; init; } = 0.05;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            if (!LabelCorruption.Contains(0) || !LabelCorruption.Contains(1) || LabelCorruption.Distinct().Count() != LabelCorruption.Length)
                yield return $"label_corruption must be distinct and include 0 (true labels) and 1 (random labels), found {string.Join(",", LabelCorruption)}";
            if (!(RareShare < MajorityShare)) yield return $"rare_share ({RareShare}) must lie below majority_share ({MajorityShare})";
            if (!(TrueTestContradict <= MinTrueTestAccuracy)) yield return $"true_test_contradict must not exceed min_true_test_accuracy";
        }
    }

    /// <inheritdoc/>
    public override string Id => "random-labels";
    /// <inheritdoc/>
    public override string Title => "Nets memorize random labels, and yet they generalize";
    /// <inheritdoc/>
    public override int Version => 2;
    /// <inheritdoc/>
    public override string Claim =>
        "A one- and a three-hidden-layer MLP each fit Fashion-MNIST with true labels, partly or wholly random labels, shuffled pixels or " +
        "Gaussian inputs; test accuracy is high with true labels and at chance with random ones, and fitting takes longer as more labels are random.";
    /// <inheritdoc/>
    public override string Method =>
        "Per seed, a stratified sample of training images (standardized) and fold s mod k of a fixed partition of the test set, so a " +
        "block's seeds are tested on disjoint images. Arms replace a fraction p of training labels by random classes (drawn once, fixed " +
        "across epochs) or keep true labels and permute pixels by one permutation (train and test), per image, or replace images by " +
        "Gaussian noise; label arms run on a one- and a three-hidden-layer ReLU MLP, input corruptions on the first. Every arm of a seed " +
        "shares the sample, initial weights (per architecture) and minibatch order. Adam, no regularization, until the training accuracy " +
        "reaches fit_accuracy or max_epochs (epochs-to-fit censored there). Checks: each arm fitted on a majority of seeds (share, " +
        "Clopper–Pearson); true-label test accuracy above min_true_test_accuracy (t); random-label test accuracy, pooled correct/total over " +
        "the block's disjoint test folds, within 0.1 ± chance_margin (exact binomial); fixed permutation within ± permutation_margin of " +
        "true images (paired t); on a majority of seeds fitting strictly slows with each step up in p, censoring-aware (a run that never " +
        "fitted took longer than any that did; two unfitted runs are not ordered). Held when every interval lies in its support, did not " +
        "hold when Holm finds one in its contradicting region.";
    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals (2016), Understanding deep learning requires rethinking generalization, ICLR 2017", ArXiv: "1611.03530"),
        new("H. Xiao, K. Rasul, R. Vollgraf (2017), Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms", ArXiv: "1708.07747"),
        new("Reference code for Zhang et al.: fitting-random-labels", Url: "https://github.com/pluskid/fitting-random-labels"),
    ];
    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.CapacityControlsGeneralization.Predicts(Outcome.DidNotHold,
            "A net that fits random labels has the largest capacity there is on this sample, so capacity cannot explain why the same net generalizes with true labels."),
        MentalModels.PatternsBeforeMemorization.Predicts(Outcome.Held,
            "True labels share structure the net picks up quickly; random labels can only be memorized one by one, so fitting slows as p grows."),
        MentalModels.UniversalApproximator.Predicts(Outcome.Held,
            "A net with more parameters than examples can represent any labelling of them, so it fits noise as readily as signal."),
    ];
    /// <inheritdoc/>
    // Six seeds: the fewest for which 6/6 has a Clopper–Pearson interval above 0.5; 6 × 15 per class leaves the 100 test
    // images per class of the shipped subset in disjoint folds.
    public override Protocol Quick => new() { Seeds = 6 };
    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, Sample = new() { TrainPerClass = 200, TestPerClass = 100 }, Hidden = 512, MaxEpochs = 300, LabelCorruption = [0, 0.2, 0.4, 0.6, 0.8, 1] };
    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;
    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) =>
    [
        .. Enum.GetValues<Architecture>().SelectMany(a => p.LabelCorruption.Order().Select(f => new Arm(Corruption.Labels, f, a))),
        .. p.InputCorruptions ? new[] { Corruption.ShuffledPixels, Corruption.RandomPixels, Corruption.Gaussian }.Select(k => new Arm(k, 0, Architecture.Shallow)) : [],
    ];

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        var s = RunStreams.Fork(run.Generator);
        var (train, test) = FashionMnistClassification.Sample(run.Data, p.Sample.TrainPerClass, p.Sample.TestPerClass, s.Sampling, Id, testFoldOf: run.Seed);
        var trueLabels = train.Targets.ToArray<long>();
        var c = s.Extra;
        (train, test) = arm.Kind switch
        {
            // The same permutation for train and test: two generators in the same state.
            Corruption.ShuffledPixels => (Corruptions.ShufflePixels(train, false, new Generator(c.Seed, c.Stream)), Corruptions.ShufflePixels(test, false, new Generator(c.Seed, c.Stream))),
            Corruption.RandomPixels => (Corruptions.ShufflePixels(train, true, c), Corruptions.ShufflePixels(test, true, c)),
            Corruption.Gaussian => (Corruptions.GaussianInputs(train, c), Corruptions.GaussianInputs(test, c)),
            _ => (Corruptions.RandomLabels(train, arm.Fraction, FashionMnist.ClassNames.Count, c), test),
        };
        run.Record("labels_changed", train.Targets.ToArray<long>().Zip(trueLabels).Count(t => t.First != t.Second) / (double)trueLabels.Length);
        var net = new MlpSpec([.. Enumerable.Repeat(p.Hidden, arm.Architecture == Architecture.Deep ? 3 : 1)]);
        var fit = new FashionMnistClassification(net, m => new Adam(m.Parameters(), lr: p.Training.LearningRate), train, p.Training.BatchSize, s.Init, s.Order);
        int fittedAt = -1;
        fit.Run(0, p.MaxEpochs, new TrainingHooks
        {
            EveryEpochs = 1,
            OnEpochs = epoch =>
            {
                var e = fit.Evaluate(train);
                run.Log("train_accuracy", epoch, e.Accuracy);
                run.Log("train_loss", epoch, e.Loss);
                run.ReportProgress(Math.Max(epoch / (double)p.MaxEpochs, 0.9 * (e.Accuracy - 0.1) / (p.FitAccuracy - 0.1)));
                if (e.Accuracy >= p.FitAccuracy) fittedAt = epoch;
                return fittedAt >= 0;
            },
        }, run.Cancellation);
        var tested = fit.Evaluate(test);
        foreach (var (key, value) in new[] { ("fitted", fittedAt >= 0 ? 1 : 0), ("epochs_to_fit", fittedAt >= 0 ? fittedAt : p.MaxEpochs), ("train_accuracy", fit.Evaluate(train).Accuracy),
                     ("test_accuracy", tested.Accuracy), ("test_correct", tested.Correct), ("test_count", (double)tested.Count) })
            run.Record(key, value);
        // The training images against their true labels: what the net learned of the real task.
        run.Record("train_accuracy_true_labels", fit.Evaluate(new TensorDataset(train.Inputs, Tensor.FromArray(trueLabels, [trueLabels.Length]))).Accuracy);
    }

    /// <summary>A run's epochs-to-fit, censored at the cap when it never fitted.</summary>
    public static CensoredTime EpochsToFit(RunSet runs, Arm arm, int seed) =>
        new(runs.Get(arm.Name, seed).Result("epochs_to_fit"), runs.Get(arm.Name, seed).Result("fitted") == 1);

    /// <summary>
    /// Whether, on a seed, fitting strictly slowed with every step up in the corrupted fraction p: each lower p fitted,
    /// and strictly sooner than the next (a run that never fitted took longer than the cap).
    /// </summary>
    public static bool SlowsOnSeed(Protocol p, RunSet runs, Architecture a, int seed)
    {
        var times = p.LabelCorruption.Order().Select(f => EpochsToFit(runs, new Arm(Corruption.Labels, f, a), seed)).ToList();
        return times.Zip(times.Skip(1)).All(t => t.First.Reached && (t.Second.Reached ? t.First.Time < t.Second.Time : t.First.Time <= t.Second.Time));
    }

    /// <summary>The pooled share of test images classified correctly over a block's seeds, with its exact (Clopper–Pearson) interval.</summary>
    public static Estimate PooledAccuracy(string name, RunSet runs, Arm arm)
    {
        int k = (int)runs.Results(arm.Name, "test_correct").Sum(), n = (int)runs.Results(arm.Name, "test_count").Sum();
        var i = Binomial.ClopperPearson(k, n);
        return new(name, i.Value, i.Low, i.High, runs.Seeds.Count, $"exact binomial on the pooled count, {k} of {n}") { IntervalAt = c => Binomial.ClopperPearson(k, n, c), Unit = Unit.Accuracy };
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var checks = new List<Check>();
        foreach (var arm in Arms(p))
            checks.Add(Check.Above(Estimate.Share($"share of seeds fitted, {arm.Name}", [.. runs.Results(arm.Name, "fitted").Select(f => f == 1)]), p.MajorityShare, p.RareShare));
        foreach (var a in Enum.GetValues<Architecture>())
        {
            string net = a == Architecture.Deep ? "deep" : "shallow";
            checks.Add(Check.Above(Estimate.Mean($"test accuracy, true labels, {net}", Unit.Accuracy, runs.Results(new Arm(Corruption.Labels, 0, a).Name, "test_accuracy")), p.MinTrueTestAccuracy, p.TrueTestContradict));
            checks.Add(Check.Within(PooledAccuracy($"test accuracy, random labels, {net} (pooled over seeds)", runs, new Arm(Corruption.Labels, 1, a)), 0.1 - p.ChanceMargin, 0.1 + p.ChanceMargin));
            checks.Add(Check.Above(Estimate.Share($"share of seeds where fitting slows with every step up in p, {net}", [.. runs.Seeds.Select(s => SlowsOnSeed(p, runs, a, s))]), p.MajorityShare, p.RareShare));
        }
        if (p.InputCorruptions)
            checks.Add(Check.Within(Estimate.MeanDifference("test accuracy, fixed pixel permutation − true images (paired by seed)", Unit.Accuracy,
                runs.Results(new Arm(Corruption.ShuffledPixels, 0, Architecture.Shallow).Name, "test_accuracy"), runs.Results(new Arm(Corruption.Labels, 0, Architecture.Shallow).Name, "test_accuracy")),
                -p.PermutationMargin, p.PermutationMargin));
        var extra = Arms(p).Select(arm => Estimate.MedianTime($"epochs to fit, {arm.Name} (Kaplan–Meier median)", Unit.Epochs,
            [.. runs.Seeds.Select(s => EpochsToFit(runs, arm, s)).Select(t => (t.Time, t.Reached))])).ToList();
        var slows = checks.First(c => c.Estimate.Name.StartsWith("share of seeds where fitting slows", StringComparison.Ordinal)).Estimate;
        return Verdict.From(slows, [.. checks]).WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var ps = p.LabelCorruption.Order().ToArray();
        Series Mean(Architecture a, string key, string label) => Series.MeanOverSeeds($"{label}, {a.ToString().ToLowerInvariant()}", ps,
            [.. ps.Select(f => runs.Results(new Arm(Corruption.Labels, f, a).Name, key))], range: key.EndsWith("accuracy", StringComparison.Ordinal) ? ValueRange.Fraction : ValueRange.NonNegative)
            with { Hue = $"{a.ToString().ToLowerInvariant()} net" };  // training and test share their architecture's hue, its hue in every figure
        yield return new Figure("accuracy-vs-corruption", "Training and test accuracy against the fraction of random labels", "fraction of labels corrupted, p", "accuracy",
            [.. Enum.GetValues<Architecture>().SelectMany(a => new[] { Mean(a, "train_accuracy", "training"), Mean(a, "test_accuracy", "test") }),
                new Series("chance (0.1)", [0, 1], [0.1, 0.1], SeriesStyle.Dashed)],
            Caption: "Means over seeds with their 95% intervals; each architecture has one colour, training accuracy dark with circles, test accuracy light with squares. Training accuracy stays at the fit level; test accuracy falls to chance as the labels become random.")
            { YRange = ValueRange.Fraction };
        var fits = Enum.GetValues<Architecture>().Select(a => Mean(a, "epochs_to_fit", "epochs to fit")).ToList();
        yield return new Figure("epochs-vs-corruption", "Epochs to fit the training labels against the fraction of random labels",
            "fraction of labels corrupted, p", "epochs to fit",
            // The cap is drawn only where a mean comes near it; far above the data it would squeeze them to the bottom.
            [.. fits, .. fits.Any(f => f.Y.Any(y => y >= 0.5 * p.MaxEpochs)) ? [new Series($"cap ({p.MaxEpochs} epochs)", [0, 1], [p.MaxEpochs, p.MaxEpochs], SeriesStyle.Dashed)] : Array.Empty<Series>()],
            Caption: $"Means over seeds with their 95% intervals: random labels take longer to fit. A run that reaches the cap ({p.MaxEpochs} epochs) without fitting is censored and counted at the cap, so a mean at the cap is a lower bound.")
            { YRange = ValueRange.NonNegative };
    }
}
