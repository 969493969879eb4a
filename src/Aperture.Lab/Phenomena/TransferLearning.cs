using System.ComponentModel;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Transfer learning (Yosinski et al. 2014): which layers of a LeNet-5 pretrained on five Fashion-MNIST classes help it
/// learn the other five from a few labelled images — the convolutional layers (general features) or the whole body
/// (including the fully connected layers, specific to the source task) — against the same net trained from scratch.
/// </summary>
public sealed class TransferLearning : Phenomenon<TransferLearning.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>The classes the body is pretrained on; the other five are the target task.</summary>
        [Description("the five Fashion-MNIST classes (0–9) the body is pretrained on; the other five are the target task")]
        public int[] SourceClasses { get; init; } = [0, 2, 4, 6, 8];

        /// <summary>Pretraining images per source class.</summary>
        [Description("pretraining images per source class, a stratified sample drawn per seed")]
        public int SourcePerClass { get; init; } = 600;

        /// <summary>Pretraining epochs.</summary>
        [Description("passes over the source images when pretraining")]
        public int SourceEpochs { get; init; } = 5;

        /// <summary>Labelled training images per target class: the small dataset.</summary>
        [Description("labelled training images per target class (the small dataset the target task has)")]
        public int TargetPerClass { get; init; } = 10;

        /// <summary>Test images per target class.</summary>
        [Description("test images per target class, a stratified sample drawn per seed")]
        public int TestPerClass { get; init; } = 100;

        /// <summary>Epochs on the target images, the same for every arm.</summary>
        [Description("passes over the target images, the same for every arm; the test accuracy judged is the last one's")]
        public int TargetEpochs { get; init; } = 100;

        /// <summary>Adam's learning rate for pretraining and for every layer but the head on the target task.</summary>
        [Description("Adam learning rate for pretraining, and for the layers below the head on the target task (in the arms that train them)")]
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>Adam's learning rate for the head on the target task, in every arm.</summary>
        [Description("Adam learning rate for the new five-way head on the target task, the same in every arm")]
        public double HeadLearningRate { get; init; } = 1e-2;

        /// <summary>Minibatch size.</summary>
        [Description("minibatch size")]
        public int BatchSize { get; init; } = 25;

        // Thresholds. Stated before any run.

        /// <summary>The smallest gain in target test accuracy that counts.</summary>
        // Both parts of the claim are ordinal (general layers help, specific layers help less), so any difference counts
        // if its 95% interval, paired by seed, lies wholly on the claimed side of zero.
        [Threshold, Description("frozen-conv − scratch must lie above this, and frozen-body − frozen-conv below minus this (target test accuracy, paired by seed)")]
        public double MinGain { get; init; } = 0;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (SourceClasses.Length != 5 || SourceClasses.Distinct().Count() != 5 || SourceClasses.Any(c => c < 0 || c > 9))
                yield return $"source_classes must be five distinct classes in 0..9, found [{string.Join(",", SourceClasses)}]";
            if (SourcePerClass < 1 || SourcePerClass > 6000) yield return $"source_per_class must be between 1 and 6000, found {SourcePerClass}";
            if (SourceEpochs < 1 || SourceEpochs > 1000) yield return $"source_epochs must be between 1 and 1000, found {SourceEpochs}";
            if (TargetPerClass < 1 || TargetPerClass > 6000) yield return $"target_per_class must be between 1 and 6000, found {TargetPerClass}";
            if (TestPerClass < 1 || TestPerClass > 1000) yield return $"test_per_class must be between 1 and 1000, found {TestPerClass}";
            if (TargetEpochs < 1 || TargetEpochs > 100_000) yield return $"target_epochs must be between 1 and 100000, found {TargetEpochs}";
            if (!(LearningRate > 0 && LearningRate < 1)) yield return $"learning_rate must lie in (0, 1), found {LearningRate}";
            if (!(HeadLearningRate > 0 && HeadLearningRate < 1)) yield return $"head_learning_rate must lie in (0, 1), found {HeadLearningRate}";
            if (BatchSize < 1) yield return $"batch_size must be positive, found {BatchSize}";
        }

        /// <summary>The target task's classes: the five not in <see cref="SourceClasses"/>, in order.</summary>
        public int[] TargetClasses => [.. Enumerable.Range(0, 10).Where(c => !SourceClasses.Contains(c))];
    }

    /// <summary>The whole net trained on the target images from its random initialization.</summary>
    public const string Scratch = "scratch";

    /// <summary>The pretrained convolutional layers, frozen; the fully connected layers start afresh and learn.</summary>
    public const string FrozenConv = "frozen-conv";

    /// <summary>The pretrained body, frozen; only the new head is trained.</summary>
    public const string Frozen = "frozen-body";

    /// <summary>The pretrained body and the new head, all trained.</summary>
    public const string FineTune = "fine-tune";

    /// <summary>The index of LeNet-5's last layer (the classifier head) in its <see cref="Sequential"/>.</summary>
    private const string Head = "11";

    /// <summary>The index of a layer of LeNet-5's <see cref="Sequential"/> from its name ("0", "3", …).</summary>
    private static int Layer(string name) => int.Parse(name, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The layers of LeNet-5 (indices in its <see cref="Sequential"/>) an arm takes from the pretrained net.</summary>
    private static bool Transferred(string arm, int layer) => arm switch
    {
        FrozenConv => layer < 6,                   // conv, relu, pool, conv, relu, pool
        Frozen or FineTune => layer < 11,          // everything but the head
        _ => false,
    };

    /// <inheritdoc/>
    public override string Id => "transfer-learning";

    /// <inheritdoc/>
    public override string Title => "Lower layers transfer to a new task; upper layers are specific";

    /// <inheritdoc/>
    public override string Claim =>
        "The convolutional layers of a LeNet-5 pretrained on five Fashion-MNIST classes are general: frozen, with fresh fully " +
        "connected layers trained on ten labelled images of each of the other five classes, they give a higher test accuracy " +
        "on those classes than the same net trained from scratch. Its fully connected layers are specific: freezing them too " +
        "gives a lower test accuracy than freezing the convolutional layers alone.";

    /// <inheritdoc/>
    public override string Method =>
        "Per seed, the ten classes are split into a source task (source_classes) and a target task (the other five). " +
        "A LeNet-5 with a five-way head is pretrained with Adam on a stratified sample of source images. A second LeNet-5, " +
        "initialized from a seed shared by every arm, is then trained on a few labelled images per target class for a fixed " +
        "number of epochs, with the same minibatch order in every arm, in four arms: from scratch; with its two " +
        "convolutional layers taken from the pretrained net and frozen (frozen-conv); with every layer but the head taken " +
        "and frozen (frozen-body, a linear probe); and with every layer but the head taken and all trained (fine-tune). In " +
        "every arm the head learns at head_learning_rate and the other trainable layers at learning_rate. All images are " +
        "standardized by the source sample's statistics. The claim is judged on the target test accuracy after the last " +
        "epoch by two differences paired by seed: frozen-conv − scratch must lie above min_gain and frozen-body − frozen-conv " +
        "below −min_gain (95% t-intervals); held if both do, did not hold if either lies wholly on the wrong side, " +
        "inconclusive otherwise. Fine-tuning's difference from scratch is reported alongside.";

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
        MentalModels.GenericFeatures.Predicts(Outcome.Held,
            "Edge and texture detectors learned on shirts and bags serve trousers and shoes too, while the top layers encode the source classes themselves."),
        MentalModels.CapacityControlsGeneralization.Predicts(Outcome.DidNotHold,
            "Freezing more layers leaves fewer parameters to fit 50 images, so the frozen body, the smallest model, should generalize best."),
    ];

    /// <inheritdoc/>
    // Quick: 3000 source images, five epochs, eight seeds, ten target images per class and 100 epochs on them (200 steps):
    // about a minute on 2 cores. Pilot runs settled the training lengths: at 40 target epochs and one learning rate for
    // every layer, the frozen body's head had not fitted even its 50 training images, which judged the optimizer, not
    // the features. Full: the whole source half of the training set (30,000 images) and more seeds.
    public override Protocol Quick => new() { Seeds = 8 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 12, SourcePerClass = 6000, SourceEpochs = 5 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) => [Scratch, FrozenConv, Frozen, FineTune];

    private sealed record Pretrained(IReadOnlyDictionary<string, Tensor> Body, double SourceTrainAccuracy, double SourceTestAccuracy);

    // The settings the pretraining stage depends on: any change makes it another stage.
    private static string PretrainKey(Protocol p) => string.Join(';', "source_classes=" + string.Join(',', p.SourceClasses),
        "source_per_class=" + p.SourcePerClass, "source_epochs=" + p.SourceEpochs, "test_per_class=" + p.TestPerClass,
        "learning_rate=" + p.LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "batch_size=" + p.BatchSize);

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        // One stream per purpose, forked in a fixed order, so every arm of a seed has the same data, the same initial
        // weights for the target net and the same minibatch order.
        var g = run.Generator;
        Generator sampling = g.Fork(), pretrainInit = g.Fork(), pretrainOrder = g.Fork(), init = g.Fork(), order = g.Fork();
        var data = run.Data.FashionMnist;
        var (sourceTrain, sourceTest) = (ClassSample(data.Train, p.SourceClasses, p.SourcePerClass, sampling, "source_per_class"),
            ClassSample(data.Test, p.SourceClasses, p.TestPerClass, sampling, "test_per_class"));
        var (targetTrain, targetTest) = (ClassSample(data.Train, p.TargetClasses, p.TargetPerClass, sampling, "target_per_class"),
            ClassSample(data.Test, p.TargetClasses, p.TestPerClass, sampling, "test_per_class"));
        var scaled = LabData.StandardizeBy(sourceTrain, sourceTrain, sourceTest, targetTrain, targetTest);
        (sourceTrain, sourceTest, targetTrain, targetTest) = (scaled[0], scaled[1], scaled[2], scaled[3]);

        var model = NN.Models.LeNet5(classes: 5, generator: init);
        if (run.Arm != Scratch)
        {
            // Pretraining is a stage the three transfer arms of a seed share, stored with its own identity so that any
            // process (or machine) running one of them reuses it.
            var pretrained = Unpack(run.Stage("pretrained-body", PretrainKey(p), () => Pack(Pretrain(p, sourceTrain, sourceTest, pretrainInit, pretrainOrder))));
            var taken = pretrained.Body.Where(kv => Transferred(run.Arm, Layer(kv.Key[..kv.Key.IndexOf('.')]))).ToDictionary();
            model.LoadStateDict(taken, strict: false);
            if (run.Arm != FineTune)
                foreach (var (name, child) in model.NamedChildren())
                    if (Transferred(run.Arm, Layer(name))) child.Freeze();
            run.Record("source_train_accuracy", pretrained.SourceTrainAccuracy);
            run.Record("source_test_accuracy", pretrained.SourceTestAccuracy);
            run.Record("transferred_parameters", taken.Values.Sum(t => (double)t.Numel));
        }

        // The head learns at its own rate in every arm; the layers below it at learning_rate where they learn at all.
        var head = model.GetSubmodule(Head).Parameters().ToHashSet();
        var optimizer = new Adam([new ParamGroup(model.Parameters().Where(t => !head.Contains(t))) { ["lr"] = p.LearningRate },
            new ParamGroup(head) { ["lr"] = p.HeadLearningRate }]);
        var trainer = new Trainer(model, optimizer, (o, t) => Losses.CrossEntropy(o, t));
        var loader = new DataLoader(targetTrain, p.BatchSize, shuffle: true, generator: order);
        var trainEval = new DataLoader(targetTrain, 500);
        var testEval = new DataLoader(targetTest, 500);
        int every = Math.Max(1, p.TargetEpochs / 10);
        EvaluationResult tr = trainer.Evaluate(trainEval), te = trainer.Evaluate(testEval);
        run.Log("test_accuracy", 0, te.Accuracy!.Value);
        for (int epoch = 1; epoch <= p.TargetEpochs; epoch++)
        {
            var record = trainer.Fit(loader, 1).Last!;
            run.Log("train_loss", epoch, record.TrainLoss);
            if (epoch % every == 0 || epoch == p.TargetEpochs)
            {
                te = trainer.Evaluate(testEval);
                run.Log("test_accuracy", epoch, te.Accuracy!.Value);
            }
            run.ReportProgress(epoch / (double)p.TargetEpochs);
        }
        tr = trainer.Evaluate(trainEval);
        run.Record("train_accuracy", tr.Accuracy!.Value);
        run.Record("test_accuracy", te.Accuracy!.Value);
        run.Record("test_loss", te.Loss);
        run.Record("trainable_parameters", model.Parameters().Where(t => t.RequiresGrad).Sum(t => (double)t.Numel));
    }

    /// <summary>Trains a LeNet-5 on the source task and keeps every layer but its head.</summary>
    private static Pretrained Pretrain(Protocol p, TensorDataset train, TensorDataset test, Generator init, Generator order)
    {
        var model = NN.Models.LeNet5(classes: 5, generator: init);
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: p.LearningRate), (o, t) => Losses.CrossEntropy(o, t));
        trainer.Fit(new DataLoader(train, p.BatchSize * 2, shuffle: true, generator: order), p.SourceEpochs);
        double trainAccuracy = trainer.Evaluate(new DataLoader(train, 500)).Accuracy!.Value;
        double testAccuracy = trainer.Evaluate(new DataLoader(test, 500)).Accuracy!.Value;
        var body = model.StateDict().Where(kv => !kv.Key.StartsWith(Head + ".", StringComparison.Ordinal)).ToDictionary();
        return new Pretrained(body, trainAccuracy, testAccuracy);
    }

    private static byte[] Pack(Pretrained p) => Aperture.IO.SafeTensors.Serialize(p.Body, new Dictionary<string, string>
    {
        ["source_train_accuracy"] = p.SourceTrainAccuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        ["source_test_accuracy"] = p.SourceTestAccuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    });

    private static Pretrained Unpack(byte[] bytes)
    {
        var file = Aperture.IO.SafeTensors.Load(bytes, "pretrained-body stage");
        double Read(string key) => double.Parse(file.Metadata[key], System.Globalization.CultureInfo.InvariantCulture);
        return new Pretrained(file.Tensors, Read("source_train_accuracy"), Read("source_test_accuracy"));
    }

    /// <summary>
    /// <paramref name="perClass"/> images of each of <paramref name="classes"/> as [n, 1, 28, 28], labelled 0..4 by
    /// their position in <paramref name="classes"/>.
    /// </summary>
    private static TensorDataset ClassSample(TensorDataset split, int[] classes, int perClass, Generator sampling, string setting)
    {
        var flat = LabData.FlatSample(split, perClass, sampling, "transfer-learning: " + setting);
        var labels = flat.Targets.ToArray<long>();
        var keep = new List<long>();
        var relabelled = new List<long>();
        for (int i = 0; i < labels.Length; i++)
        {
            int at = Array.IndexOf(classes, (int)labels[i]);
            if (at < 0) continue;
            keep.Add(i);
            relabelled.Add(at);
        }
        using var _ = Autodiff.NoGrad();
        var x = Ops.IndexSelect(flat.Inputs, 0, Tensor.FromArray(keep.ToArray()));
        return new TensorDataset(x.Reshape(keep.Count, 1, 28, 28), Tensor.FromArray(relabelled.ToArray()));
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] Test(string arm) => runs.Results(arm, "test_accuracy");
        var general = Estimate.MeanDifference("target test accuracy, frozen-conv − scratch (paired by seed)", Test(FrozenConv), Test(Scratch));
        var specific = Estimate.MeanDifference("target test accuracy, frozen-body − frozen-conv (paired by seed)", Test(Frozen), Test(FrozenConv));
        var extra = new List<Estimate>();
        foreach (var arm in ArmNames(p)) extra.Add(Estimate.Mean($"target test accuracy, {arm}", Test(arm)));
        foreach (var arm in ArmNames(p)) extra.Add(Estimate.Mean($"target training accuracy, {arm}", runs.Results(arm, "train_accuracy")));
        extra.Add(Estimate.MeanDifference("target test accuracy, fine-tune − scratch (paired by seed)", Test(FineTune), Test(Scratch)));
        extra.Add(Estimate.MeanDifference("target test accuracy, frozen-body − scratch (paired by seed)", Test(Frozen), Test(Scratch)));
        extra.Add(Estimate.Mean("source test accuracy of the pretrained net", runs.Results(Frozen, "source_test_accuracy")));
        // 0 − min_gain, not −min_gain: a zero threshold then reads 0 in the report, not −0.
        return Verdict.From(general, Check.Above(general, p.MinGain), Check.Below(specific, 0 - p.MinGain)).WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var arms = ArmNames(p);
        double[] xs = [.. Enumerable.Range(0, arms.Count).Select(i => (double)i)];
        var series = new List<Series>();
        foreach (var s in runs.Seeds)
            series.Add(new Series("one seed", xs, [.. arms.Select(a => runs.Get(a, s).Result("test_accuracy"))], SeriesStyle.LineAndMarkers));
        series.Add(new Series("mean over seeds", xs, [.. arms.Select(a => runs.Results(a, "test_accuracy").Average())], SeriesStyle.Markers));
        yield return new Figure("test-accuracy-by-arm", "Target test accuracy per arm, each seed joined across arms",
            "arm: " + string.Join(", ", arms.Select((a, i) => $"{i} {a}")), "target test accuracy (last epoch)", series,
            Caption: "Each line is one seed: the same target images, initial head and minibatch order in every arm.");

        var curves = new List<Series>();
        foreach (var arm in arms)
        {
            var first = runs.Get(arm, runs.Seeds[0]).Metrics["test_accuracy"];
            double[] epochs = [.. first.Select(q => (double)q.Step)];
            curves.Add(new Series(arm, epochs,
                [.. Enumerable.Range(0, epochs.Length).Select(i => runs.Seeds.Average(s => runs.Get(arm, s).Metrics["test_accuracy"][i].Value))],
                SeriesStyle.LineAndMarkers));
        }
        yield return new Figure("test-curves", "Target test accuracy during training, mean over seeds", "epoch on the target images",
            "target test accuracy", curves,
            Caption: "Transferred layers start the target task with features the scratch net must find in a few dozen images; whether they help depends on how task-specific they are.");
    }
}
