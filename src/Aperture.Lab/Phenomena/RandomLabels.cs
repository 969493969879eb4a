using System.ComponentModel;
using System.Globalization;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// An MLP memorizes Fashion-MNIST whatever its labels or pixels: true labels, random labels, shuffled pixels and
/// Gaussian noise are all fit to ~100% training accuracy, but only true labels generalize (Zhang et al. 2016).
/// </summary>
public sealed class RandomLabels : Phenomenon<RandomLabels.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Training images per class.</summary>
        [Description("training images per class, a stratified sample drawn per seed (the shipped subset has 600 per class)")]
        public int TrainPerClass { get; init; } = 50;

        /// <summary>Test images per class.</summary>
        [Description("test images per class, a stratified sample drawn per seed (the shipped subset has 100 per class)")]
        public int TestPerClass { get; init; } = 100;

        /// <summary>The MLP's hidden widths.</summary>
        [Description("hidden layer widths of the ReLU MLP (784 → … → 10)")]
        public int[] Hidden { get; init; } = [128];

        /// <summary>Adam's learning rate.</summary>
        [Description("Adam learning rate (no weight decay, no dropout, no augmentation: nothing regularizes)")]
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>Minibatch size.</summary>
        [Description("minibatch size")]
        public int BatchSize { get; init; } = 64;

        /// <summary>The fractions of training labels replaced by random ones, one arm each.</summary>
        [Description("fractions p of training labels replaced by uniformly random classes, one arm each (must include 0 and 1)")]
        public double[] LabelCorruption { get; init; } = [0, 0.2, 0.5, 0.8, 1.0];

        /// <summary>Whether to run the input-corruption arms.</summary>
        [Description("also run the input corruptions with true labels: a fixed pixel permutation, a per-image permutation, Gaussian inputs")]
        public bool InputCorruptions { get; init; } = true;

        /// <summary>Training accuracy that counts as fitted; training stops there.</summary>
        [Description("training accuracy (evaluation mode, whole training set, after an epoch) at which a run counts as fitted and stops")]
        public double FitAccuracy { get; init; } = 0.99;

        /// <summary>How often the test set is evaluated.</summary>
        [Description("evaluate the test set every this many epochs (and at the first and last); the training set is evaluated every epoch")]
        public int TestEvery { get; init; } = 5;

        /// <summary>The epoch cap.</summary>
        [Description("epochs after which a run that has not fitted stops (recorded as not fitted)")]
        public int MaxEpochs { get; init; } = 150;

        // Thresholds. Stated before any run; the reasons are the literature's claim and the protocol's noise.

        /// <summary>Every arm's final training accuracy must lie above this.</summary>
        // Runs stop at fit_accuracy (0.99); seeds stop a little above it, so a mean over five seeds of runs that all
        // fitted has a t-interval reaching at most ~0.005 below 0.99. 0.98 leaves that margin, and a run stuck at
        // the cap well below 0.99 still pulls the interval under it.
        [Threshold, Description("every arm's mean final training accuracy must lie above this (it fitted)")]
        public double MinTrainAccuracy { get; init; } = 0.98;

        /// <summary>The true-label arm's test accuracy must lie above this.</summary>
        // Chance is 0.10. MLPs trained on all 60,000 images reach 0.87–0.89 (Xiao et al. 2017's benchmark); a sample of
        // tens to hundreds of images per class costs several points. 0.70 is "well above chance" with room for the small
        // sample, and far above anything a net that memorized random labels could reach.
        [Threshold, Description("test accuracy with true labels must lie above this (it generalizes)")]
        public double MinTrueTestAccuracy { get; init; } = 0.70;

        /// <summary>Lower edge of the chance band for random labels.</summary>
        // Test labels are true; with p = 1 the net's predictions are independent of them, so accuracy is 1/10 in
        // expectation. One evaluation on 1000 images has a standard error of √(0.1·0.9/1000) ≈ 0.0095: ±0.03 is
        // three of them, wide enough for the mean over seeds, narrow enough to exclude real generalization.
        [Threshold, Description("test accuracy with random labels must lie at or above this (chance is 0.1)")]
        public double ChanceLow { get; init; } = 0.07;

        /// <summary>Upper edge of the chance band for random labels.</summary>
        [Threshold, Description("test accuracy with random labels must lie at or below this (chance is 0.1)")]
        public double ChanceHigh { get; init; } = 0.13;

        /// <summary>The slope of epochs-to-fit against the corrupted fraction must lie above this.</summary>
        // The claim is only that fitting takes longer as p grows (Zhang et al.'s figure 1b): any positive slope, in
        // epochs per unit of p, with its interval wholly above zero.
        [Threshold, Description("slope of epochs-to-fit against the corrupted-label fraction p must lie above this (epochs per unit p)")]
        public double MinFitSlope { get; init; } = 0;

        /// <summary>Largest |test-accuracy difference| between a fixed pixel permutation and the true images.</summary>
        // A fixed permutation only reorders the MLP's inputs, and the first layer's initial weights are exchangeable,
        // so both arms are the same experiment in distribution. Seed-to-seed test accuracy varies by about 0.01;
        // ±0.03 is an equivalence margin of about three of those.
        [Threshold, Description("fixed-permutation minus true-image test accuracy (paired by seed) must lie within ± this")]
        public double PermutationMargin { get; init; } = 0.03;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (TrainPerClass < 1 || TrainPerClass > 6000) yield return $"train_per_class must be between 1 and 6000, found {TrainPerClass}";
            if (TestPerClass < 1 || TestPerClass > 1000) yield return $"test_per_class must be between 1 and 1000, found {TestPerClass}";
            if (Hidden.Length == 0 || Hidden.Any(h => h < 1 || h > 8192)) yield return $"hidden needs one or more widths between 1 and 8192, found [{string.Join(",", Hidden)}]";
            if (!(LearningRate > 0 && LearningRate < 1)) yield return $"learning_rate must lie in (0, 1), found {LearningRate}";
            if (BatchSize < 1) yield return $"batch_size must be positive, found {BatchSize}";
            if (LabelCorruption.Any(f => !(f >= 0 && f <= 1))) yield return $"every label_corruption must lie in [0, 1], found {string.Join(",", LabelCorruption)}";
            if (LabelCorruption.Distinct().Count() != LabelCorruption.Length) yield return "label_corruption values must be distinct";
            if (!LabelCorruption.Contains(0) || !LabelCorruption.Contains(1))
                yield return $"label_corruption must include 0 (true labels) and 1 (random labels), found {string.Join(",", LabelCorruption)}";
            if (!(FitAccuracy > 0.1 && FitAccuracy <= 1)) yield return $"fit_accuracy must lie in (0.1, 1], found {FitAccuracy}";
            if (MaxEpochs < 1 || MaxEpochs > 100_000) yield return $"max_epochs must be between 1 and 100000, found {MaxEpochs}";
            if (TestEvery < 1) yield return $"test_every must be positive, found {TestEvery}";
            if (!(ChanceLow <= ChanceHigh)) yield return $"chance_low must not exceed chance_high, found {ChanceLow} > {ChanceHigh}";
            if (!(PermutationMargin >= 0)) yield return $"permutation_margin must be non-negative, found {PermutationMargin}";
        }
    }

    /// <summary>The arm with every label true (p = 0).</summary>
    public const string TrueLabels = "true-labels";

    /// <summary>The arm with every label replaced by a random class (p = 1).</summary>
    public const string RandomLabelsArm = "random-labels";

    /// <summary>True labels; every image's pixels permuted by one permutation (test images too).</summary>
    public const string ShuffledPixels = "shuffled-pixels";

    /// <summary>True labels; every image's pixels permuted by a permutation of its own.</summary>
    public const string RandomPixels = "random-pixels";

    /// <summary>True labels; every image replaced by Gaussian noise with the data's mean and variance.</summary>
    public const string GaussianInputs = "gaussian";

    /// <summary>The arm name of label-corruption fraction <paramref name="p"/>: true-labels, labels-0.2, …, random-labels.</summary>
    public static string LabelArm(double p) => p == 0 ? TrueLabels : p == 1 ? RandomLabelsArm
        : "labels-" + p.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override string Id => "random-labels";

    /// <inheritdoc/>
    public override string Title => "Nets memorize random labels, and yet they generalize";

    /// <inheritdoc/>
    public override string Claim =>
        "An MLP fits Fashion-MNIST to ~100% training accuracy with true labels, partly or wholly random labels, shuffled " +
        "pixels or Gaussian inputs alike; test accuracy is high for true labels and at chance for random ones, and the " +
        "time to fit grows with the fraction of random labels.";

    /// <inheritdoc/>
    public override string Method =>
        "Per seed, a stratified sample of Fashion-MNIST training images (standardized) and a stratified test sample. Arms " +
        "replace a fraction p of the training labels by uniformly random classes (Aperture.Data.Corruptions.RandomLabels: " +
        "drawn once, fixed across epochs), or keep true labels and permute every image's pixels by one permutation (train " +
        "and test alike), by a fresh permutation per image, or replace the images by Gaussian noise with the data's mean " +
        "and variance. A ReLU MLP from the same initial weights (per seed) is trained with Adam, minibatches in the same " +
        "order, no regularization, until its training accuracy (evaluation mode, whole training set, after an epoch) " +
        "reaches fit_accuracy or max_epochs pass. The verdict joins three pre-stated parts, each a set of 95% intervals " +
        "over seeds against a band: (1) every arm fitted — each arm's final training accuracy above min_train_accuracy; " +
        "(2) only true labels generalize — test accuracy with true labels above min_true_test_accuracy, with random labels " +
        "inside the chance band, and (when input corruptions run) the fixed permutation within ± permutation_margin of the " +
        "true images, paired by seed, because an MLP cannot see a fixed permutation; (3) fitting slows with corruption — " +
        "the per-seed least-squares slope of epochs-to-fit against p above min_fit_slope. Held only if every interval lies " +
        "in its band; did not hold if any lies wholly outside; inconclusive otherwise.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals (2016), Understanding deep learning requires rethinking generalization, ICLR 2017", ArXiv: "1611.03530"),
        new("D. Arpit, S. Jastrzębski, N. Ballas, D. Krueger, E. Bengio, M. Kanwal, T. Maharaj, A. Fischer, A. Courville, Y. Bengio, S. Lacoste-Julien (2017), A closer look at memorization in deep networks", ArXiv: "1706.05394"),
        new("H. Xiao, K. Rasul, R. Vollgraf (2017), Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms", ArXiv: "1708.07747"),
        new("Reference code for Zhang et al.: fitting-random-labels", Url: "https://github.com/pluskid/fitting-random-labels"),
        new("A. Rahimi (2018), Lessons from optics, the other deep learning, argmin.net: the phenomenon \"deep nets can memorize random labels, and yet, they generalize\"",
            Url: "http://www.argmin.net/2018/01/25/optics/"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.CapacityControlsGeneralization.Predicts(Outcome.DidNotHold,
            "A net that fits random labels has the largest capacity there is on this sample, so capacity cannot explain why the same net generalizes with true labels: either it should fail to fit noise or fail to generalize."),
        MentalModels.PatternsBeforeMemorization.Predicts(Outcome.Held,
            "True labels share structure the net picks up quickly; random labels can only be memorized one by one, so fitting slows as p grows while the true-label part still generalizes."),
        MentalModels.UniversalApproximator.Predicts(Outcome.Held,
            "A net with more parameters than examples can represent any labelling of them, so it fits noise as readily as signal."),
    ];

    /// <inheritdoc/>
    // Quick: 500 training images, a 784-128-10 MLP (100k parameters, 200 per example), p ∈ {0, ½, 1}; five seeds, because
    // the chance band for random labels needs them (a t-interval over three seeds is ±4.3·σ/√3, about the band's width).
    public override Protocol Quick => new() { Seeds = 5, LabelCorruption = [0, 0.5, 1] };

    /// <inheritdoc/>
    // Full: 2000 training images, a 784-512-10 MLP (Zhang et al.'s one-hidden-layer MLP), every p of their figure 1;
    // 500 test images per class need Debian's copy of Fashion-MNIST (the shipped subset has 100).
    public override Protocol Full => new() { Seeds = 5, TrainPerClass = 200, TestPerClass = 500, Hidden = [512], MaxEpochs = 300 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) =>
        [.. p.LabelCorruption.Order().Select(LabelArm), .. p.InputCorruptions ? new[] { ShuffledPixels, RandomPixels, GaussianInputs } : []];

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        // One stream per purpose, forked in a fixed order: every arm of a seed draws the same samples, the same initial
        // weights and the same minibatch order, and differs only in its corruption.
        var g = run.Generator;
        Generator sampling = g.Fork(), init = g.Fork(), order = g.Fork(), corruption = g.Fork();
        var data = run.Data.FashionMnist;
        var train = LabData.FlatSample(data.Train, p.TrainPerClass, sampling, "random-labels: train_per_class");
        var test = LabData.FlatSample(data.Test, p.TestPerClass, sampling, "random-labels: test_per_class");
        (train, test) = LabData.Standardize(train, test);
        var trueLabels = train.Targets.ToArray<long>();

        double fraction = 0;
        switch (run.Arm)
        {
            case ShuffledPixels:
                // The same permutation for train and test: two generators in the same state.
                var perm = corruption.Fork();
                train = Corruptions.ShufflePixels(train, perImage: false, new Generator(perm.Seed, perm.Stream));
                test = Corruptions.ShufflePixels(test, perImage: false, new Generator(perm.Seed, perm.Stream));
                break;
            case RandomPixels:
                train = Corruptions.ShufflePixels(train, perImage: true, corruption);
                test = Corruptions.ShufflePixels(test, perImage: true, corruption);
                break;
            case GaussianInputs:
                train = Corruptions.GaussianInputs(train, corruption);
                test = Corruptions.GaussianInputs(test, corruption);
                break;
            default:
                fraction = p.LabelCorruption.Single(f => LabelArm(f) == run.Arm);
                train = Corruptions.RandomLabels(train, fraction, FashionMnist.ClassNames.Count, corruption);
                break;
        }
        var labels = train.Targets.ToArray<long>();
        run.Record("label_corruption", fraction);
        run.Record("labels_changed", labels.Zip(trueLabels).Count(t => t.First != t.Second) / (double)labels.Length);

        var model = NN.Models.Mlp(LabData.Pixels, p.Hidden, FashionMnist.ClassNames.Count, generator: init);
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: p.LearningRate), (o, t) => Losses.CrossEntropy(o, t));
        var loader = new DataLoader(train, p.BatchSize, shuffle: true, generator: order);
        var trainEval = new DataLoader(train, 1000);
        var testEval = new DataLoader(test, 1000);

        int epochsToFit = -1, epoch = 0;
        var tr = trainer.Evaluate(trainEval);
        var te = trainer.Evaluate(testEval);
        Log(run, "train", 0, tr);
        Log(run, "test", 0, te);
        double progress = 0;
        while (epoch < p.MaxEpochs)
        {
            trainer.Fit(loader, 1);
            epoch++;
            tr = trainer.Evaluate(trainEval);
            Log(run, "train", epoch, tr);
            if (tr.Accuracy >= p.FitAccuracy) { epochsToFit = epoch; break; }
            if (epoch % p.TestEvery == 0) Log(run, "test", epoch, trainer.Evaluate(testEval));
            // The cap bounds the work; the approach to fit_accuracy usually ends it sooner.
            progress = Math.Max(progress, Math.Max(epoch / (double)p.MaxEpochs, 0.9 * (tr.Accuracy!.Value - 0.1) / (p.FitAccuracy - 0.1)));
            run.ReportProgress(progress);
        }
        te = trainer.Evaluate(testEval);
        if (epoch % p.TestEvery != 0 || epochsToFit > 0) Log(run, "test", epoch, te);
        bool fitted = epochsToFit > 0;
        run.Record("fitted", fitted ? 1 : 0);
        run.Record("epochs_to_fit", fitted ? epochsToFit : p.MaxEpochs);
        run.Record("steps_to_fit", trainer.GlobalStep);
        run.Record("train_accuracy", tr.Accuracy!.Value);
        run.Record("train_loss", tr.Loss);
        run.Record("test_accuracy", te.Accuracy!.Value);
        run.Record("test_loss", te.Loss);
        // Accuracy on the training images against their true labels: what the net learned of the real task.
        run.Record("train_accuracy_true_labels", TrueLabelAccuracy(model, train, trueLabels));
        run.ReportProgress(1);
    }

    private static void Log(RunContext run, string set, int epoch, EvaluationResult r)
    {
        run.Log(set + "_accuracy", epoch, r.Accuracy!.Value);
        run.Log(set + "_loss", epoch, r.Loss);
    }

    private static double TrueLabelAccuracy(Module model, TensorDataset train, long[] trueLabels)
    {
        model.Eval();
        using var _ = Autodiff.NoGrad();
        var predicted = Ops.ArgMax(model.Forward(train.Inputs), 1).ToArray<long>();
        return predicted.Zip(trueLabels).Count(t => t.First == t.Second) / (double)trueLabels.Length;
    }

    /// <summary>
    /// One seed's least-squares slope of epochs-to-fit against the corrupted-label fraction p, over the label arms. A run
    /// that hit the cap counts the cap, a lower bound on its time to fit (and fails the fitting check anyway).
    /// </summary>
    public static double FitSlope(Protocol p, RunSet runs, int seed)
    {
        var ps = p.LabelCorruption.Order().ToArray();
        var epochs = ps.Select(f => runs.Get(LabelArm(f), seed).Result("epochs_to_fit")).ToArray();
        return Statistics.Stats.LinearFit(ps, epochs).Slope;
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var arms = ArmNames(p);
        var slope = Estimate.Mean("slope of epochs-to-fit against corrupted fraction p (epochs per unit p)",
            [.. runs.Seeds.Select(s => FitSlope(p, runs, s))]);
        var checks = new List<Check>();
        // (1) Every arm fits.
        foreach (var arm in arms)
            checks.Add(Check.Above(Estimate.Mean($"training accuracy, {arm}", runs.Results(arm, "train_accuracy")), p.MinTrainAccuracy));
        // (2) Only true labels generalize.
        checks.Add(Check.Above(Estimate.Mean("test accuracy, true labels", runs.Results(TrueLabels, "test_accuracy")), p.MinTrueTestAccuracy));
        checks.Add(Check.Within(Estimate.Mean("test accuracy, random labels", runs.Results(RandomLabelsArm, "test_accuracy")), p.ChanceLow, p.ChanceHigh));
        if (p.InputCorruptions)
            checks.Add(Check.Within(Estimate.MeanDifference("test accuracy, fixed pixel permutation − true images (paired by seed)",
                runs.Results(ShuffledPixels, "test_accuracy"), runs.Results(TrueLabels, "test_accuracy")), -p.PermutationMargin, p.PermutationMargin));
        // (3) Fitting slows as more labels are random.
        checks.Add(Check.Above(slope, p.MinFitSlope));

        var extra = new List<Estimate>();
        foreach (var arm in arms)
            extra.Add(Estimate.Mean($"epochs to fit, {arm}", runs.Results(arm, "epochs_to_fit")));
        foreach (var arm in arms.Where(a => a != TrueLabels && a != RandomLabelsArm))
            extra.Add(Estimate.Mean($"test accuracy, {arm}", runs.Results(arm, "test_accuracy")));
        extra.Add(Estimate.Mean("slow-down: epochs to fit random / true labels",
            [.. runs.Seeds.Select(s => runs.Get(RandomLabelsArm, s).Result("epochs_to_fit") / runs.Get(TrueLabels, s).Result("epochs_to_fit"))]));
        extra.Add(Estimate.Mean("random labels: training images classified as their true class",
            runs.Results(RandomLabelsArm, "train_accuracy_true_labels")));
        return Verdict.From(slope, [.. checks]).WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var ps = p.LabelCorruption.Order().ToArray();
        double[] Mean(string key) => [.. ps.Select(f => runs.Results(LabelArm(f), key).Average())];
        var seeds = runs.Seeds.Select(s => new Series("one seed", ps, [.. ps.Select(f => runs.Get(LabelArm(f), s).Result("epochs_to_fit"))], SeriesStyle.Markers));
        yield return new Figure("time-to-fit", "Epochs to fit against the fraction of random labels", "fraction of labels corrupted, p",
            $"epochs to training accuracy ≥ {p.FitAccuracy:G3}", [.. seeds, new Series("mean over seeds", ps, Mean("epochs_to_fit"), SeriesStyle.LineAndMarkers)],
            Caption: "The more labels are random, the longer the net takes to memorize them; a run that hits the epoch cap is drawn at the cap.");
        yield return new Figure("accuracy-vs-corruption", "Final training and test accuracy against the fraction of random labels",
            "fraction of labels corrupted, p", "accuracy",
            [
                new Series("training accuracy", ps, Mean("train_accuracy"), SeriesStyle.LineAndMarkers),
                new Series("test accuracy", ps, Mean("test_accuracy"), SeriesStyle.LineAndMarkers),
                new Series("chance", [0, 1], [0.1, 0.1], SeriesStyle.Dashed),
            ],
            Caption: "Training accuracy stays at the fit level for every p; test accuracy falls towards chance as the labels become random.");
    }
}
