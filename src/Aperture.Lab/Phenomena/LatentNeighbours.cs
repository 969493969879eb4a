using Aperture.Data;
using Aperture.Latent;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Neighbours in a trained net's last hidden layer share what predicts the target and ignore nuisance features, better
/// than neighbours in the raw features or in an untrained net's last hidden layer: synthetic bonds and Fashion-MNIST.
/// </summary>
public sealed class LatentNeighbours : Phenomenon<LatentNeighbours.Protocol, LatentNeighbours.Search>
{
    /// <summary>The items searched.</summary>
    public enum Domain
    {
        /// <summary>Held-out synthetic bonds (<see cref="Synthetic.BondMarket"/>), each against the others.</summary>
        Bonds,
        /// <summary>Fashion-MNIST test images against the training images.</summary>
        FashionMnist,
    }

    /// <summary>The space distances are taken in: the standardized inputs, or the net's last hidden layer at its initial weights or after training.</summary>
    public enum Space
    {
        /// <summary>The standardized inputs (bond features, pixels).</summary>
        Raw,
        /// <summary>The untrained net.</summary>
        RandomNet,
        /// <summary>The trained net.</summary>
        TrainedNet,
    }

    /// <summary>One arm: a neighbour search over one domain in one space.</summary>
    /// <param name="Domain">The items.</param>
    /// <param name="Space">The representation.</param>
    public sealed record Search(Domain Domain, Space Space) : Arm
    {
        /// <inheritdoc/>
        public override string Name => (Domain == Domain.Bonds ? "bonds" : "fashion-mnist") + ": "
            + Space switch { Space.Raw => Domain == Domain.Bonds ? "raw features" : "pixels", Space.RandomNet => "random net", _ => "trained net" };
    }

    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Bonds the price net trains on.</summary>
        [Description("bonds of each seed's market the price net trains on"), Range(10, 1_000_000)]
        public int TrainBonds { get; init; } = 4000;
        /// <summary>Held-out bonds searched.</summary>
        [Description("held-out bonds of the same market, each searched against the others (leave-one-out)"), Range(20, 100_000)]
        public int HeldBonds { get; init; } = 1000;
        /// <summary>Nuisance columns.</summary>
        [Description("standard-normal bond features nothing depends on"), Range(1, 100)]
        public int Nuisance { get; init; } = 4;
        /// <summary>Price noise.</summary>
        [Description("Gaussian noise on the training prices, per 100 face (the scored factors are exact)"), Range(0, 10)]
        public double PriceNoise { get; init; } = 0.25;
        /// <summary>Independent bond markets per seed.</summary>
        [Description("independent bond markets per seed (each its own draw of bonds, initial weights and minibatch order); a seed's bond scores are their means, so the bond checks' precision grows without re-running the image arms"), Range(1, 1000)]
        public int BondMarkets { get; init; } = 12;
        /// <summary>Hidden widths of the price net.</summary>
        [Description("hidden widths of the bond price MLP (ReLU); the last is the latent layer"), Range(1, 4096)]
        public int[] BondHidden { get; init; } = [64, 32];
        /// <summary>Epochs of price training.</summary>
        [Description("passes over the training bonds (Adam, MSE on standardized price)"), Range(1, 10_000)]
        public int BondEpochs { get; init; } = 30;
        /// <summary>Training images per class.</summary>
        [Description("Fashion-MNIST training images per class: the classifier's training set and the searched items"), Range(1, 6000)]
        public int TrainPerClass { get; init; } = 500;
        /// <summary>Test images per class.</summary>
        [Description("Fashion-MNIST test images per class: the queries"), Range(1, 1000)]
        public int TestPerClass { get; init; } = 100;
        /// <summary>Hidden widths of the classifier.</summary>
        [Description("hidden widths of the Fashion-MNIST MLP (ReLU); the last is the latent layer"), Range(1, 4096)]
        public int[] ImageHidden { get; init; } = [256, 64];
        /// <summary>Epochs of classifier training.</summary>
        [Description("passes over the training images (Adam, cross-entropy)"), Range(1, 1000)]
        public int ImageEpochs { get; init; } = 8;
        /// <summary>Optimizer settings shared by both nets.</summary>
        [Description("Adam's learning rate and the minibatch size of both nets")]
        public Minibatches Training { get; init; } = new() { LearningRate = 1e-3, BatchSize = 64 };
        /// <summary>Neighbours per query.</summary>
        [Description("neighbours per query (k of precision@k)"), Range(1, 1000)]
        public int K { get; init; } = 10;
        /// <summary>The distance.</summary>
        [Description("the distance searched by: l2 or cosine")]
        public Distance Metric { get; init; } = Distance.L2;

        // Thresholds, stated before any run. Relative spreads are ratios of mean absolute differences (1 = random pairs).
        // A tenth of the scale is the smallest gain worth calling "better" for a retrieval tool; no gain at all contradicts.
        /// <summary>Support for the driving-factor ratios.</summary>
        [Threshold, Description("trained net's driving-factor spread over raw's (and over the random net's): supports the claim below this (neighbours at least 20% closer in yield, coupon and maturity)")] public double SupportRatio { get; init; } = 0.8;
        /// <summary>Contradiction of the driving-factor ratios.</summary>
        [Threshold, Description("…and contradicts it wholly above this (no closer than raw or random)")] public double ContradictRatio { get; init; } = 1.0;
        /// <summary>Support for the nuisance differences.</summary>
        [Threshold, Description("trained − raw (and trained − random) relative spread of the nuisance columns: supports above this, contradicts wholly below 0")] public double NuisanceGain { get; init; } = 0.1;
        /// <summary>Support for the precision differences.</summary>
        [Threshold, Description("Fashion-MNIST precision@k, trained − pixels and trained − random: supports above this (two points), contradicts wholly below 0")] public double PrecisionGain { get; init; } = 0.02;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (!(SupportRatio < ContradictRatio)) yield return $"support_ratio ({SupportRatio}) must be below contradict_ratio ({ContradictRatio})";
            if (K >= HeldBonds) yield return $"k ({K}) must be below held_bonds ({HeldBonds})";
            if (BondHidden.Length == 0 || ImageHidden.Length == 0) yield return "bond_hidden and image_hidden need at least one layer";
        }
    }

    /// <inheritdoc/>
    public override int Version => 3;
    /// <inheritdoc/>
    public override string Id => "latent-neighbours";
    /// <inheritdoc/>
    public override string Title => "Latent neighbours share what predicts the target";

    /// <inheritdoc/>
    public override string Claim =>
        "Nearest neighbours in a trained net's last hidden layer share the factors that drive the target and ignore nuisance " +
        "features, better than nearest neighbours in the standardized raw features and in the same net's last hidden layer at " +
        "its initial weights: on synthetic bonds (yield, coupon and maturity drive the price) and on Fashion-MNIST (class).";

    /// <inheritdoc/>
    public override string Method =>
        "Bonds: per seed bond_markets independent synthetic markets (Synthetic.BondMarket: rating, coupon, maturity, sector one-hot and nuisance columns; " +
        "the price is the discounted cash flows at a yield set by the curve, rating and sector). Per market an MLP (bond_hidden, ReLU) is " +
        "trained with Adam on train_bonds to predict price (features and price standardized by the training bonds). Each of " +
        "held_bonds held-out bonds is searched against the others (exact, metric) in three spaces: the standardized features, " +
        "the net's last hidden layer at its initial weights, and after training. Score per attribute: mean |Δ| between a bond " +
        "and its k neighbours over mean |Δ| between two random held-out bonds (1 = ignored). Driving spread = mean of the " +
        "yield, coupon and maturity scores; nuisance spread = mean over the nuisance columns; a seed's scores are the means over its markets. Fashion-MNIST: per seed " +
        "train_per_class training images per class (the items, and the classifier's training set) and test_per_class test images " +
        "(the queries); an MLP (image_hidden) trained with Adam on cross-entropy; precision@k of the test images' neighbours " +
        "among the training images in pixels, the untrained and the trained last hidden layer. Checks, per seed paired: the " +
        "trained net's driving spread over raw's and over the random net's (geometric mean, t on logs) supports below " +
        "support_ratio, contradicts wholly above contradict_ratio; its nuisance spread minus raw's and minus the random net's " +
        "supports above nuisance_gain, contradicts wholly below 0; its precision@k minus the pixels' and minus the random net's " +
        "supports above precision_gain, contradicts wholly below 0. Held if all six support (95% intervals), did not hold if " +
        "Holm's procedure finds one contradicted. Pixel k-NN accuracy is reported as a sanity anchor (Xiao et al. 2017: " +
        "0.85–0.86 on the full data). Training settings were fixed before the verdict seeds ran; none were tuned on them.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("Lecture notes on deep nets: on the last hidden layer a net is a linear model, so nearby latent codes are inputs the net treats alike; the bond-comparison example"),
        new("H. Xiao, K. Rasul, R. Vollgraf (2017), Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms (k-NN baselines 0.85–0.86)", ArXiv: "1708.07747"),
        new("Y. Bengio, A. Courville, P. Vincent (2013), Representation learning: a review and new perspectives, IEEE TPAMI", ArXiv: "1206.5538"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.LatentSimilarity.Predicts(Outcome.Held, "Training shapes the last hidden layer so the target is linear in it; directions the target ignores lose weight relative to those it uses."),
        MentalModels.RandomInitSuffices.Predicts(Outcome.DidNotHold, "If random features were as good as learned ones, an untrained net's codes would find neighbours as well as the trained net's."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 6 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 8, TrainBonds = 20_000, HeldBonds = 2000, TrainPerClass = 5400, TestPerClass = 1000, ImageEpochs = 10 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<Search> Arms(Protocol p) =>
        [.. new[] { Domain.Bonds, Domain.FashionMnist }.SelectMany(d => new[] { Space.Raw, Space.RandomNet, Space.TrainedNet }.Select(s => new Search(d, s)))];

    /// <inheritdoc/>
    public override void Run(Protocol p, Search arm, RunContext run)
    {
        // Fixed fork order: the data, the net's initial weights and the minibatch order, the same for every arm of a seed.
        Generator data = run.Generator.Fork(), init = run.Generator.Fork(), order = run.Generator.Fork();
        if (arm.Domain == Domain.Bonds)
        {
            // Market 0 uses the first three forks; each further market forks three more, in the same order for every arm.
            var bondKind = arm.Space switch { Space.Raw => BondRepresentation.RawFeatures, Space.RandomNet => BondRepresentation.RandomNet, _ => BondRepresentation.TrainedNet };
            var sums = new double[BondSimilarity.MeasureKeys.Count];
            for (int m = 0; m < p.BondMarkets; m++)
            {
                if (m > 0) (data, init, order) = (run.Generator.Fork(), run.Generator.Fork(), run.Generator.Fork());
                var (train, held) = BondSimilarity.Split(Synthetic.BondMarket(p.TrainBonds + p.HeldBonds, data, nuisance: p.Nuisance, priceNoise: p.PriceNoise), p.TrainBonds);
                var net = arm.Space != Space.TrainedNet ? BondSimilarity.Untrained(train.Data, p.BondHidden, init)
                    : BondSimilarity.Train(train.Data, p.BondHidden, p.BondEpochs, p.Training.BatchSize, p.Training.LearningRate, init, order, f => run.ReportProgress((m + f) / p.BondMarkets));
                var values = BondSimilarity.Measure(bondKind, net, held, p.K, p.Metric, out var codes);
                for (int i = 0; i < values.Length; i++) sums[i] += values[i];
                if (m == 0) run.SaveArtifact(Report.NeighbourGallery.ArtifactName, Similarity.List("bonds", arm.Name, codes, 0, p.K, p.Metric, Similarity.Bonds(held)).ToJson());
            }
            for (int i = 0; i < sums.Length; i++) run.Record(BondSimilarity.MeasureKeys[i], sums[i] / p.BondMarkets);
            return;
        }
        var fm = run.Data.FashionMnist;
        var trainRaw = LabData.FlatSample(fm.Train, p.TrainPerClass, data, "latent-neighbours: train_per_class");
        var testRaw = LabData.FlatSample(fm.Test, p.TestPerClass, data, "latent-neighbours: test_per_class");
        var (trainSet, testSet) = LabData.Standardize(trainRaw, testRaw);
        var model = ImageNeighbours.Model(p.ImageHidden, init);
        if (arm.Space == Space.TrainedNet)
            ImageNeighbours.Train(model, trainSet, p.ImageEpochs, p.Training.BatchSize, p.Training.LearningRate, order, run.ReportProgress);
        var kind = arm.Space switch { Space.Raw => ImageRepresentation.Pixels, Space.RandomNet => ImageRepresentation.RandomNet, _ => ImageRepresentation.TrainedNet };
        var (items, queries) = (ImageNeighbours.Represent(kind, model, trainSet), ImageNeighbours.Represent(kind, model, testSet));
        var r = ImageNeighbours.Score(items, trainSet.Targets, queries, testSet.Targets, p.K, p.Metric);
        foreach (var (key, v) in new[] { ("precision_at_k", r.PrecisionAtK), ("recall_at_k", r.RecallAtK), ("knn_accuracy", r.KnnAccuracy) }) run.Record(key, v);
        run.Record("test_accuracy", Probes.Classification.Accuracy(model, testSet));
        // The report's gallery: the first test image and its neighbours among the training images.
        var images = Similarity.GreyBytes(trainRaw.Inputs, 1.0);
        var query = new NeighbourEntry(0, 0, testSet.Targets.ToArray<long>()[0], Image: Convert.ToBase64String(Similarity.GreyBytes(Ops.Slice(testRaw.Inputs, 0, 0, 1), 1.0)));
        run.SaveArtifact(Report.NeighbourGallery.ArtifactName, Similarity.ListAgainst("fashion-mnist", arm.Name, items, Ops.Slice(queries, 0, 0, 1).Contiguous(), query, p.K, p.Metric,
            new ItemDescriptions(Labels: trainSet.Targets.ToArray<long>(), Images: images, ImageSide: 28, ClassNames: Similarity.FashionMnistClasses)).ToJson());
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] R(Domain d, Space s, string key) => runs.Results(new Search(d, s).Name, key);
        double[] Ratio(double[] a, double[] b) => [.. a.Zip(b, (x, y) => x / y)];
        var trained = R(Domain.Bonds, Space.TrainedNet, "driving_spread");
        var overRaw = Estimate.Ratio("bonds: driving-factor spread, trained net / raw features (paired by seed)", Ratio(trained, R(Domain.Bonds, Space.Raw, "driving_spread")));
        var overRandom = Estimate.Ratio("bonds: driving-factor spread, trained net / random net (paired by seed)", Ratio(trained, R(Domain.Bonds, Space.RandomNet, "driving_spread")));
        var nuis = R(Domain.Bonds, Space.TrainedNet, "nuisance_spread");
        var nuisRaw = Estimate.MeanDifference("bonds: nuisance spread, trained net − raw features", Unit.Ratio, nuis, R(Domain.Bonds, Space.Raw, "nuisance_spread"));
        var nuisRandom = Estimate.MeanDifference("bonds: nuisance spread, trained net − random net", Unit.Ratio, nuis, R(Domain.Bonds, Space.RandomNet, "nuisance_spread"));
        var prec = R(Domain.FashionMnist, Space.TrainedNet, "precision_at_k");
        var precPixels = Estimate.MeanDifference($"fashion-mnist: precision@{p.K}, trained net − pixels", Unit.Share, prec, R(Domain.FashionMnist, Space.Raw, "precision_at_k"));
        var precRandom = Estimate.MeanDifference($"fashion-mnist: precision@{p.K}, trained net − random net", Unit.Share, prec, R(Domain.FashionMnist, Space.RandomNet, "precision_at_k"));
        var extra = Arms(p).SelectMany(a => (a.Domain == Domain.Bonds ? BondSimilarity.MeasureKeys.SkipLast(1) : ["precision_at_k", "recall_at_k", "knn_accuracy"])
            .Select(key => Estimate.Mean($"{a.Name}: {key.Replace('_', ' ')}", key.EndsWith("_spread", StringComparison.Ordinal) ? Unit.Ratio : Unit.Share, runs.Results(a.Name, key)))).ToList();
        extra.Add(Estimate.Mean("bonds: trained net's held-out price RMSE (per 100 face)", new Unit("price per 100 face"), R(Domain.Bonds, Space.TrainedNet, "held_price_rmse")));
        extra.Add(Estimate.Mean("fashion-mnist: trained net's test accuracy", Unit.Accuracy, R(Domain.FashionMnist, Space.TrainedNet, "test_accuracy")));
        return Verdict.From(overRaw, Check.Below(overRaw, p.SupportRatio, p.ContradictRatio), Check.Below(overRandom, p.SupportRatio, p.ContradictRatio),
            Check.Above(nuisRaw, p.NuisanceGain, 0), Check.Above(nuisRandom, p.NuisanceGain, 0), Check.Above(precPixels, p.PrecisionGain, 0), Check.Above(precRandom, p.PrecisionGain, 0))
            .WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        string[] keys = ["yield_spread", "coupon_spread", "maturity_spread", "price_spread", "nuisance_spread"];
        double[] xs = [.. Enumerable.Range(0, keys.Length).Select(i => (double)i)];
        var series = Arms(p).Where(a => a.Domain == Domain.Bonds).Select(a => Series.MeanOverSeeds(a.Name, xs, [.. keys.Select(k => runs.Results(a.Name, k))], SeriesStyle.Markers)).ToList();
        yield return new Figure("bond-spreads", "Bonds: neighbours' distance from the query per attribute", "attribute",
            "neighbour |Δ| / random-pair |Δ|", series, Caption: "Means over seeds, with their 95% intervals, of mean |Δ| to the k neighbours over mean |Δ| between random bonds. 0: neighbours share the value; 1: the search ignores it.") { XCategories = ["yield", "coupon", "maturity", "price", "nuisance (mean)"], YRange = ValueRange.NonNegative };
        var fm = Arms(p).Where(a => a.Domain == Domain.FashionMnist).ToList();
        double[] ax = [.. Enumerable.Range(0, fm.Count).Select(i => (double)i)];
        yield return new Figure("image-precision", $"Fashion-MNIST: precision@{p.K} by space", "space", $"precision@{p.K}",
            [.. runs.Seeds.Select(s => new Series("mean over seeds, 95% interval", ax, [.. fm.Select(a => runs.Get(a.Name, s).Result("precision_at_k"))]) { Faint = true }),
                Series.MeanOverSeeds("mean over seeds, 95% interval", ax, [.. fm.Select(a => runs.Results(a.Name, "precision_at_k"))], SeriesStyle.Markers)],
            Caption: "Markers: the mean over seeds with its 95% interval; pale lines: single seeds, each with the same images in every space.") { XCategories = ["pixels", "random net", "trained net"], YRange = ValueRange.Fraction };
    }
}
