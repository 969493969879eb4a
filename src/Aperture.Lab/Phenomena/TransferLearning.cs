using Aperture.Data;
using Aperture.NN;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Transfer learning swept by depth as Yosinski et al. (2014) do: the first n layers of a LeNet-5 pretrained on five
/// Fashion-MNIST classes, frozen (AnB) or fine-tuned (AnB+), under fresh upper layers trained on a few images of the other five.
/// </summary>
[LogsMetric("validation_accuracy_by_decay", AxisKind.Setting, "validation accuracy", XLabel = "weight-decay candidate (index in the protocol's weight_decays)", Low = 0, High = 1)]
public sealed class TransferLearning : Phenomenon<TransferLearning.Protocol, TransferLearning.Transfer>
{
    /// <summary>Whether the transferred layers are frozen or trained on the target task.</summary>
    public enum Layers
    {
        /// <summary>Frozen (Yosinski's AnB); with depth 0 nothing is transferred: the scratch baseline.</summary>
        Frozen,
        /// <summary>Trained with the rest (Yosinski's AnB+).</summary>
        FineTuned
    }

    /// <summary>One arm: the first <paramref name="Depth"/> layers of the pretrained net, frozen or fine-tuned.</summary>
    /// <param name="Depth">How many layers are transferred: 0 none (scratch), 1 conv1, 2 conv1–2, 3 up to fc1, 4 up to fc2 (all but the head).</param>
    /// <param name="Mode">Whether they are frozen or fine-tuned.</param>
    public sealed record Transfer(int Depth, Layers Mode) : Arm
    {
        /// <inheritdoc/>
        public override string Name => Depth == 0 ? "scratch" : Mode == Layers.Frozen ? $"frozen d={Depth}" : $"fine-tuned d={Depth}";
        /// <inheritdoc/>
        public override ArmCell? Cell => Depth == 0 ? null : new(Mode == Layers.Frozen ? "frozen" : "fine-tuned", $"d={Depth}");
    }

    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>The classes the body is pretrained on; the other five are the target task.</summary>
        [Description("the five Fashion-MNIST classes (0–9) the body is pretrained on; the other five are the target task"), Range(0, 9)]
        public int[] SourceClasses { get; init; } = [0, 2, 4, 6, 8];

        /// <summary>Pretraining images per source class.</summary>
        [Description("pretraining images per source class, a stratified sample drawn per seed"), Range(1, 6000)]
        public int SourcePerClass { get; init; } = 300;

        /// <summary>Pretraining epochs.</summary>
        [Description("passes over the source images when pretraining (Adam 1e-3, batch 50)"), Range(1, 1000)]
        public int SourceEpochs { get; init; } = 3;

        /// <summary>Labelled training images per target class.</summary>
        [Description("labelled training images per target class (the small dataset the target task has)"), Range(1, 5000)]
        public int TargetPerClass { get; init; } = 15;

        /// <summary>Labelled validation images per target class, disjoint from the training images.</summary>
        [Description("validation images per target class, disjoint from the training images: they choose the weight decay"), Range(1, 1000)]
        public int ValidationPerClass { get; init; } = 10;

        /// <summary>Test images per target class.</summary>
        [Description("test images per class drawn per seed from the test split (the quick tier's subset has 100 per class: every seed tests on all of them)"), Range(1, 1000)]
        public int TestPerClass { get; init; } = 100;

        /// <summary>The frozen depths swept.</summary>
        [Description("depths of the frozen arms (AnB), 1–4; the scratch arm (depth 0) always runs"), Range(1, 4)]
        public int[] FrozenDepths { get; init; } = [1, 2, 3, 4];

        /// <summary>The fine-tuned depths.</summary>
        [Description("depths of the fine-tuned arms (AnB+), 1–4"), Range(1, 4)]
        public int[] FineTunedDepths { get; init; } = [4];

        /// <summary>The weight decays tried for the trained layers; validation chooses one per run.</summary>
        [Description("L2 weight decays tried for the trained layers; each run keeps the one with the best validation accuracy"), Range(0, 1)]
        public double[] WeightDecays { get; init; } = [1e-3, 1e-2];

        /// <summary>Epochs on the target images for every fit.</summary>
        [Description("epochs on the target training images for each weight decay (enough for the training loss to settle)"), Range(1, 100_000)]
        public int TargetEpochs { get; init; } = 40;

        /// <summary>The optimizer's learning rate and batch size.</summary>
        [Description("Adam on the target task, for every trained layer")]
        public Minibatches Training { get; init; } = new() { LearningRate = 3e-3, BatchSize = 25 };


        // Thresholds, stated before any run. Yosinski et al.'s gains from transfer were one to two points and their losses from
        // upper layers several; paired per-seed differences on 500 test images spread by 1–1.5 points, so half a point is the
        // smallest difference a few dozen seeds resolve, and anything smaller counts as none.

        /// <summary>The gain that supports a difference.</summary>
        [Threshold, Description("frozen d=2 − scratch supports the claim above this, frozen d=4 − frozen d=2 below minus this")]
        public double SupportGain { get; init; } = 0.01;

        /// <summary>The equivalence margin.</summary>
        [Threshold, Description("equivalence margin: frozen d=2 − scratch wholly below this, or frozen d=4 − frozen d=2 wholly above minus this, contradicts the claim")]
        public double EquivalenceMargin { get; init; } = 0.005;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (SourceClasses.Length != 5 || SourceClasses.Distinct().Count() != 5)
                yield return $"source_classes must be five distinct classes in 0..9, found [{string.Join(",", SourceClasses)}]";
            if (!FrozenDepths.Contains(2) || !FrozenDepths.Contains(4) || WeightDecays.Length == 0) yield return "frozen_depths must include 2 and 4 (the judged arms) and weight_decays a value";
            if (!(EquivalenceMargin <= SupportGain)) yield return $"equivalence_margin ({EquivalenceMargin}) must not exceed support_gain ({SupportGain})";
        }

        /// <summary>The target task's classes: the five not in <see cref="SourceClasses"/>, in order.</summary>
        public int[] TargetClasses => [.. Enumerable.Range(0, 10).Where(c => !SourceClasses.Contains(c))];
    }

    /// <inheritdoc/>
    public override int Version => 2;

    /// <inheritdoc/>
    public override string Id => "transfer-learning";

    /// <inheritdoc/>
    public override string Title => "Lower layers transfer to a new task; upper layers are specific";

    /// <inheritdoc/>
    public override string Claim =>
        "The convolutional layers of a LeNet-5 pretrained on five Fashion-MNIST classes are general: frozen, under fresh upper " +
        "layers fitted to 15 labelled images of each of the other five classes, they give a test accuracy at least a point " +
        "higher than the same net trained from scratch. Its fully connected layers are specific: freezing them too gives a " +
        "test accuracy at least a point lower than freezing the convolutional layers alone.";

    /// <inheritdoc/>
    public override string Method =>
        "Yosinski et al.'s (2014) sweep of the frozen depth, on LeNet-5. Per seed the ten classes split into a source task " +
        "(source_classes) and a target task (the other five). A LeNet-5 with a five-way head is pretrained with Adam on a " +
        "stratified source sample: a stored stage the transfer arms of a seed share. A second LeNet-5, initialized from a seed " +
        "shared by every arm, takes the pretrained net's first d layers (d = 1: conv1; 2: conv1–2 with pooling; 3: up to fc1; " +
        "4: all but the head), frozen (AnB) or fine-tuned (AnB+); d = 0 is scratch. Its trainable layers are fitted with Adam " +
        "for target_epochs on target_per_class images per target class under each L2 weight decay of weight_decays, from the " +
        "same initial state and minibatch orders, and each run keeps the decay with the best accuracy on a disjoint validation " +
        "sample of validation_per_class images per class (ties: the lower validation loss); the test set chooses nothing. " +
        "Images are standardized by the source sample. In the quick tier every seed tests on all 500 shipped test images of " +
        "the target classes, so the estimand is conditional on that test set; the full tier draws each seed's test sample. " +
        "Two differences of test accuracy, paired by seed: frozen d=2 − scratch (general layers help) supports the claim above " +
        "support_gain and contradicts it wholly below equivalence_margin; frozen d=4 − frozen d=2 (specific layers help less) " +
        "supports it below −support_gain and contradicts it wholly above −equivalence_margin. Held if both support it (95% " +
        "t-intervals), did not hold if Holm's procedure over the two finds one contradicted, inconclusive otherwise.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("J. Yosinski, J. Clune, Y. Bengio, H. Lipson (2014), How transferable are features in deep neural networks?, NeurIPS", ArXiv: "1411.1792"),
        new("Lecture 3: Deep neural nets, course notes, 31 January 2021: transfer learning resolves small training datasets by fine-tuning a network learned on another task"),
        new("H. Xiao, K. Rasul, R. Vollgraf (2017), Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms", ArXiv: "1708.07747"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.GenericFeatures.Predicts(Outcome.Held, "Edge and texture detectors learned on shirts and bags serve trousers and shoes too, while the top layers encode the source classes themselves."),
        MentalModels.CapacityControlsGeneralization.Predicts(Outcome.DidNotHold, "Freezing more layers leaves fewer parameters to fit 75 images, so the deepest frozen body, the smallest model, should generalize best."),
    ];

    /// <inheritdoc/>
    // Quick: 1500 source images, three epochs; 75 target images, 40 epochs per weight decay, two decays; six arms.
    // Full: the whole source half of the training set, every fine-tuned depth, three decays and more seeds.
    public override Protocol Quick => new() { Seeds = 8 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 16, SourcePerClass = 6000, SourceEpochs = 5, FineTunedDepths = [1, 2, 3, 4], WeightDecays = [1e-4, 1e-3, 1e-2], TargetEpochs = 80 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<Transfer> Arms(Protocol p) =>
        [new(0, Layers.Frozen), .. p.FrozenDepths.Order().Select(d => new Transfer(d, Layers.Frozen)), .. p.FineTunedDepths.Order().Select(d => new Transfer(d, Layers.FineTuned))];

    // The settings the pretraining stage depends on: any change makes it another stage.
    private static string PretrainKey(Protocol p) => string.Join(';', "source_classes=" + string.Join(',', p.SourceClasses),
        "source_per_class=" + p.SourcePerClass, "source_epochs=" + p.SourceEpochs, "test_per_class=" + p.TestPerClass);

    /// <inheritdoc/>
    public override void Run(Protocol p, Transfer arm, RunContext run)
    {
        // One stream per purpose, forked in a fixed order: every arm of a seed has the same data, initial weights and minibatch orders.
        var g = run.Generator;
        Generator sampling = g.Fork(), pretrainInit = g.Fork(), pretrainOrder = g.Fork(), init = g.Fork(), order = g.Fork();
        var data = run.Data.FashionMnist;
        var sourceTrain = TransferStages.ClassSample(data.Train, p.SourceClasses, p.SourcePerClass, sampling, "transfer-learning: source_per_class");
        var sourceTest = TransferStages.ClassSample(data.Test, p.SourceClasses, p.TestPerClass, sampling, "transfer-learning: test_per_class");
        var targetPool = TransferStages.ClassSample(data.Train, p.TargetClasses, p.TargetPerClass + p.ValidationPerClass, sampling, "transfer-learning: target_per_class + validation_per_class");
        var targetTest = TransferStages.ClassSample(data.Test, p.TargetClasses, p.TestPerClass, sampling, "transfer-learning: test_per_class");
        var (trainPart, validationPart) = Splits.Stratified(targetPool, p.ValidationPerClass / (double)(p.TargetPerClass + p.ValidationPerClass), sampling);
        var s = LabData.StandardizeBy(sourceTrain, sourceTrain, sourceTest, Tensors(trainPart), Tensors(validationPart), targetTest);

        var model = NN.Models.LeNet5(classes: 5, generator: init);
        int cut = TransferStages.Cut(arm.Depth);
        if (arm.Depth > 0)
        {
            var pretrained = PretrainedBody.Unpack(run.Stage("pretrained-body", PretrainKey(p),
                () => TransferStages.Pretrain(s[0], s[1], 5, 1e-3, 50, p.SourceEpochs, pretrainInit, pretrainOrder).Pack()));
            var taken = pretrained.Body.Where(kv => int.Parse(kv.Key[..kv.Key.IndexOf('.')], System.Globalization.CultureInfo.InvariantCulture) < cut).ToDictionary();
            model.LoadStateDict(taken, strict: false);
            run.Record("source_test_accuracy", pretrained.SourceTestAccuracy);
            run.Record("transferred_parameters", taken.Values.Sum(t => (double)t.Numel));
        }
        // A frozen body runs once over every image; only the layers above it train, on its features.
        bool frozen = arm.Mode == Layers.Frozen && cut > 0;
        Module trained = frozen ? TransferStages.Layers(model, cut, model.Count) : model;
        var body = TransferStages.Layers(model, 0, frozen ? cut : 0);
        var (train, validation, test) = (TransferStages.Features(body, s[2]), TransferStages.Features(body, s[3]), TransferStages.Features(body, s[4]));
        var fit = WeightDecaySelection.Fit(trained, train, validation, test, p.WeightDecays, p.TargetEpochs, p.Training.BatchSize, p.Training.LearningRate, order, run.ReportProgress);
        for (int k = 0; k < fit.Fits.Count; k++) run.Log("validation_accuracy_by_decay", k, fit.Fits[k].ValidationAccuracy);
        run.Record("weight_decay", fit.Best.WeightDecay);
        run.Record("validation_accuracy", fit.Best.ValidationAccuracy);
        run.Record("train_accuracy", fit.Best.TrainAccuracy);
        run.Record("train_loss_change", fit.Best.TrainLossChange);
        run.Record("test_accuracy", fit.Best.TestAccuracy);
        run.Record("trainable_parameters", trained.Parameters().Sum(t => (double)t.Numel));
    }

    private static TensorDataset Tensors(Subset s) => s.GetAll() is var (x, y) ? new TensorDataset(x, y) : throw new InvalidOperationException();
    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] Test(Transfer a) => runs.Results(a.Name, "test_accuracy");
        Transfer scratch = new(0, Layers.Frozen), conv = new(2, Layers.Frozen), body = new(4, Layers.Frozen);
        var general = Estimate.MeanDifference("test accuracy, frozen d=2 − scratch (paired by seed)", Unit.Accuracy, Test(conv), Test(scratch));
        var specific = Estimate.MeanDifference("test accuracy, frozen d=4 − frozen d=2 (paired by seed)", Unit.Accuracy, Test(body), Test(conv));
        var extra = new List<Estimate>();
        foreach (var a in Arms(p)) extra.Add(Estimate.Mean($"test accuracy, {a.Name}", Unit.Accuracy, Test(a)));
        foreach (var a in Arms(p).Skip(1)) extra.Add(Estimate.MeanDifference($"test accuracy, {a.Name} − scratch (paired by seed)", Unit.Accuracy, Test(a), Test(scratch)));
        foreach (var a in Arms(p)) extra.Add(Estimate.Mean($"training accuracy, {a.Name}", Unit.Accuracy, runs.Results(a.Name, "train_accuracy")));
        foreach (var a in Arms(p)) extra.Add(Estimate.Mean($"log10 weight decay chosen on validation, {a.Name}", Unit.Log10, [.. runs.Results(a.Name, "weight_decay").Select(w => Math.Log10(Math.Max(w, 1e-12)))]));
        extra.Add(Estimate.Mean("source test accuracy of the pretrained net", Unit.Accuracy, runs.Results(body.Name, "source_test_accuracy")));
        return Verdict.From(general, Check.Above(general, p.SupportGain, p.EquivalenceMargin),
            Check.Below(specific, 0 - p.SupportGain, 0 - p.EquivalenceMargin)).WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        foreach (var mode in new[] { Layers.Frozen, Layers.FineTuned })
        {
            var arms = Arms(p).Where(a => a.Depth == 0 || a.Mode == mode).ToList();
            if (arms.Count < 2) continue;
            double[] xs = [.. arms.Select(a => (double)a.Depth)];
            var series = runs.Seeds.Select(s => new Series("mean over seeds, 95% interval", xs, [.. arms.Select(a => runs.Get(a.Name, s).Result("test_accuracy"))]) { Faint = true }).ToList();
            series.Add(Series.MeanOverSeeds("mean over seeds, 95% interval", xs, [.. arms.Select(a => runs.Results(a.Name, "test_accuracy"))]));
            yield return new Figure("test-accuracy-by-depth-" + (mode == Layers.Frozen ? "frozen" : "fine-tuned"), "Target test accuracy against the depth transferred, " + (mode == Layers.Frozen ? "frozen (AnB)" : "fine-tuned (AnB+)"),
                "layers transferred (0 = scratch)", "target test accuracy", series,
                Caption: "Yosinski et al.'s figure, on LeNet-5: the mean over seeds with its 95% interval; pale lines: single seeds, each with the same target images, initial weights and minibatch orders at every depth.")
            { YRange = ValueRange.Fraction, YSpan = Figure.SpanOf(Arms(p).SelectMany(a => runs.Results(a.Name, "test_accuracy"))) };
        }
        yield return WeightDecaySelection.ValidationFigure("validation_accuracy_by_decay", p.WeightDecays, runs, Arms(p).Select(a => a.Name));
    }
}
