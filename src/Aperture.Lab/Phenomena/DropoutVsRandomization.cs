using System.ComponentModel;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Dropout against other ways of training with noise — Gaussian dropout of matched variance, DropConnect, additive
/// input noise — and against no regularization, on a Fashion-MNIST sample small enough to overfit.
/// </summary>
public sealed class DropoutVsRandomization : Phenomenon<DropoutVsRandomization.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Training images per class.</summary>
        [Description("training images per class, a stratified sample drawn per seed (the shipped subset has 600 per class)")]
        public int TrainPerClass { get; init; } = 100;

        /// <summary>Test images per class.</summary>
        [Description("test images per class, a stratified sample drawn per seed (the shipped subset has 100 per class)")]
        public int TestPerClass { get; init; } = 100;

        /// <summary>The MLP's hidden widths.</summary>
        [Description("hidden layer widths of the ReLU MLP (784 → … → 10)")]
        public int[] Hidden { get; init; } = [128, 128];

        /// <summary>Adam's learning rate.</summary>
        [Description("Adam learning rate (no weight decay, no early stopping: the randomization is the only regularizer)")]
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>Minibatch size.</summary>
        [Description("minibatch size")]
        public int BatchSize { get; init; } = 32;

        /// <summary>Training epochs, the same for every arm.</summary>
        [Description("training epochs, the same for every arm; the test accuracy judged is the last epoch's")]
        public int Epochs { get; init; } = 12;

        /// <summary>How often the test set is evaluated for the curves.</summary>
        [Description("evaluate the training and test sets every this many epochs for the curves (and after the last)")]
        public int EvalEvery { get; init; } = 4;

        /// <summary>The drop probability of dropout, Gaussian dropout and DropConnect.</summary>
        [Description("drop probability p of dropout (after each hidden layer), Gaussian dropout (variance p/(1−p)) and DropConnect (each hidden layer's weights)")]
        public double DropRate { get; init; } = 0.5;

        /// <summary>The standard deviation of the additive input noise, in units of the inputs' standard deviation.</summary>
        [Description("standard deviation of additive Gaussian input noise, in units of the standardized inputs' standard deviation")]
        public double InputNoise { get; init; } = 0.5;

        // Thresholds. Stated before any run.

        /// <summary>The smallest gain in test accuracy that counts as "better".</summary>
        // The claim is ordinal ("works better"), so any gain counts, provided its 95% interval (paired by seed) lies
        // wholly above zero. On MNIST, Srivastava et al.'s MLPs gained a few tenths of a point of test error from dropout
        // (1.60% → 1.25–1.35%) and Wan et al.'s DropConnect came within about a tenth of a point of dropout: gains of that
        // size sit near the seed noise of a 1000-image test sample (about ±0.01 per run), which is why the check is an
        // interval over seeds, not a mean.
        [Threshold, Description("dropout's test-accuracy gain over each other arm (paired by seed) must lie above this")]
        public double MinGain { get; init; } = 0;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (TrainPerClass < 1 || TrainPerClass > 6000) yield return $"train_per_class must be between 1 and 6000, found {TrainPerClass}";
            if (TestPerClass < 1 || TestPerClass > 1000) yield return $"test_per_class must be between 1 and 1000, found {TestPerClass}";
            if (Hidden.Length == 0 || Hidden.Any(h => h < 1 || h > 8192)) yield return $"hidden needs one or more widths between 1 and 8192, found [{string.Join(",", Hidden)}]";
            if (!(LearningRate > 0 && LearningRate < 1)) yield return $"learning_rate must lie in (0, 1), found {LearningRate}";
            if (BatchSize < 1) yield return $"batch_size must be positive, found {BatchSize}";
            if (Epochs < 1 || Epochs > 100_000) yield return $"epochs must be between 1 and 100000, found {Epochs}";
            if (EvalEvery < 1) yield return $"eval_every must be positive, found {EvalEvery}";
            if (!(DropRate > 0 && DropRate < 1)) yield return $"drop_rate must lie in (0, 1), found {DropRate}";
            if (!(InputNoise > 0 && double.IsFinite(InputNoise))) yield return $"input_noise must be positive, found {InputNoise}";
        }
    }

    /// <summary>No regularization.</summary>
    public const string None = "none";

    /// <summary>Bernoulli dropout after each hidden layer.</summary>
    public const string Dropout = "dropout";

    /// <summary>Multiplicative Gaussian noise N(1, p/(1−p)) after each hidden layer: dropout's mean and variance.</summary>
    public const string GaussianDropout = "gaussian-dropout";

    /// <summary>Each hidden layer's weights dropped, one mask per minibatch.</summary>
    public const string DropConnect = "dropconnect";

    /// <summary>Additive Gaussian noise on the inputs, fresh every epoch.</summary>
    public const string InputNoise = "input-noise";

    /// <summary>The randomizations dropout is compared with.</summary>
    public static IReadOnlyList<string> Others { get; } = [GaussianDropout, DropConnect, InputNoise];

    /// <inheritdoc/>
    public override string Id => "dropout-vs-randomization";

    /// <inheritdoc/>
    public override string Title => "Dropout works better than other randomization strategies";

    /// <inheritdoc/>
    public override string Claim =>
        "On a Fashion-MNIST training set small enough to overfit, an MLP trained with dropout reaches a higher test accuracy " +
        "than the same MLP without regularization and than with Gaussian dropout of matched variance, DropConnect or " +
        "additive input noise.";

    /// <inheritdoc/>
    public override string Method =>
        "Per seed, a stratified sample of Fashion-MNIST training images (standardized) and a stratified test sample; every arm " +
        "starts from the same initial weights and sees the minibatches in the same order. A two-hidden-layer ReLU MLP is " +
        "trained with Adam for a fixed number of epochs and no other regularizer, in five arms: none; dropout (rate p after " +
        "each hidden layer, survivors scaled by 1/(1−p)); Gaussian dropout (multiplicative N(1, p/(1−p)) noise, the same mean " +
        "and variance); DropConnect (each weight into a hidden layer dropped with probability p, one mask per minibatch " +
        "shared by its examples, a cheaper variant of Wan et al.'s per-example masks; full weights at test time); and " +
        "additive Gaussian input noise of standard deviation σ (in standardized units; σ = 0.5 adds the variance that input " +
        "dropout at Srivastava et al.'s input rate 0.2 would, (0.2/0.8)·E[x²]), drawn afresh every epoch. The claim is " +
        "judged on the last epoch's test accuracy by four paired differences (by seed): dropout − none, dropout − Gaussian " +
        "dropout, dropout − DropConnect, dropout − input noise; held if every 95% t-interval lies above min_gain, did not " +
        "hold if any lies wholly below it, inconclusive otherwise. Each arm's test accuracy and train–test gap, and each " +
        "randomization's gain over none, are reported with intervals.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov (2014), Dropout: a simple way to prevent neural networks from overfitting, JMLR 15",
            Url: "https://jmlr.org/papers/v15/srivastava14a.html"),
        new("L. Wan, M. Zeiler, S. Zhang, Y. LeCun, R. Fergus (2013), Regularization of neural networks using DropConnect, ICML",
            Url: "https://proceedings.mlr.press/v28/wan13.html"),
        new("G. Hinton, N. Srivastava, A. Krizhevsky, I. Sutskever, R. Salakhutdinov (2012), Improving neural networks by preventing co-adaptation of feature detectors", ArXiv: "1207.0580"),
        new("C. Bishop (1995), Training with noise is equivalent to Tikhonov regularization, Neural Computation 7(1)",
            Url: "https://doi.org/10.1162/neco.1995.7.1.108"),
        new("S. Wager, S. Wang, P. Liang (2013), Dropout training as adaptive regularization", ArXiv: "1307.1493"),
        new("A. Rahimi (2018), Lessons from optics, the other deep learning, argmin.net: the phenomenon \"dropout works better than other randomization strategies\"",
            Url: "http://www.argmin.net/2018/01/25/optics/"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.DropoutPreventsCoadaptation.Predicts(Outcome.Held,
            "Only dropout (and, weight by weight, DropConnect) removes whole units; noise that keeps every unit alive leaves co-adaptation in place."),
        MentalModels.NoiseIsRegularization.Predicts(Outcome.DidNotHold,
            "Gaussian dropout has dropout's mean and variance, so to second order it is the same penalty: dropout should not beat it."),
    ];

    /// <inheritdoc/>
    // Quick: 1000 training images (Srivastava et al. found no gain from dropout at 100–500 MNIST images and a clear one
    // from 1000 up), a 784-128-128-10 MLP, 12 epochs of 32 steps: what a minute on 2 cores allows. The unregularized net
    // reaches about 95% training accuracy by then (against about 78% on the test set) and the noisy arms are still
    // improving, so the quick tier compares them early in training; the full tier trains longer, on more data, with a
    // wider net.
    public override Protocol Quick => new() { Seeds = 4 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 6, TrainPerClass = 200, Hidden = [256, 256], Epochs = 50, EvalEvery = 5 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) => [None, Dropout, GaussianDropout, DropConnect, InputNoise];

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        // One stream per purpose, forked in a fixed order, so every arm of a seed has the same data, initial weights
        // (Models.Mlp draws them before any dropout generator) and minibatch order.
        var g = run.Generator;
        Generator sampling = g.Fork(), init = g.Fork(), order = g.Fork(), noise = g.Fork();
        var data = run.Data.FashionMnist;
        var train = LabData.FlatSample(data.Train, p.TrainPerClass, sampling, "dropout-vs-randomization: train_per_class");
        var test = LabData.FlatSample(data.Test, p.TestPerClass, sampling, "dropout-vs-randomization: test_per_class");
        (train, test) = LabData.Standardize(train, test);

        var (rate, kind) = run.Arm switch
        {
            Dropout => (p.DropRate, "dropout"),
            GaussianDropout => (p.DropRate, "gaussian"),
            DropConnect => (p.DropRate, "dropconnect"),
            _ => (0.0, "dropout"),
        };
        var model = NN.Models.Mlp(LabData.Pixels, p.Hidden, FashionMnist.ClassNames.Count, dropout: rate, dropoutKind: kind, generator: init);
        Dataset fed = run.Arm == InputNoise
            ? new TransformedDataset(train, new GaussianNoise(p.InputNoise), (ulong)noise.NextLong(long.MaxValue))
            : train;
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: p.LearningRate), (o, t) => Losses.CrossEntropy(o, t));
        var loader = new DataLoader(fed, p.BatchSize, shuffle: true, generator: order);
        var trainEval = new DataLoader(train, 1000);
        var testEval = new DataLoader(test, 1000);

        EvaluationResult tr = trainer.Evaluate(trainEval), te = trainer.Evaluate(testEval);
        Log(run, 0, tr, te);
        for (int epoch = 1; epoch <= p.Epochs; epoch++)
        {
            var record = trainer.Fit(loader, 1).Last!;
            // The loss the optimizer saw, noise included: how hard each randomization makes the training task.
            run.Log("noisy_train_loss", epoch, record.TrainLoss);
            if (epoch % p.EvalEvery == 0 || epoch == p.Epochs)
            {
                tr = trainer.Evaluate(trainEval);
                te = trainer.Evaluate(testEval);
                Log(run, epoch, tr, te);
            }
            run.ReportProgress(epoch / (double)p.Epochs);
        }
        // Final values, in evaluation mode (no noise) on the clean training set and on the test set.
        run.Record("train_accuracy", tr.Accuracy!.Value);
        run.Record("train_loss", tr.Loss);
        run.Record("test_accuracy", te.Accuracy!.Value);
        run.Record("test_loss", te.Loss);
        run.Record("generalization_gap", tr.Accuracy!.Value - te.Accuracy!.Value);
    }

    private static void Log(RunContext run, int epoch, EvaluationResult train, EvaluationResult test)
    {
        run.Log("train_accuracy", epoch, train.Accuracy!.Value);
        run.Log("train_loss", epoch, train.Loss);
        run.Log("test_accuracy", epoch, test.Accuracy!.Value);
        run.Log("test_loss", epoch, test.Loss);
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] Test(string arm) => runs.Results(arm, "test_accuracy");
        var overNone = Estimate.MeanDifference("test accuracy, dropout − none (paired by seed)", Test(Dropout), Test(None));
        var checks = new List<Check> { Check.Above(overNone, p.MinGain) };
        foreach (var other in Others)
            checks.Add(Check.Above(Estimate.MeanDifference($"test accuracy, dropout − {other} (paired by seed)", Test(Dropout), Test(other)), p.MinGain));

        var extra = new List<Estimate>();
        foreach (var arm in ArmNames(p))
            extra.Add(Estimate.Mean($"test accuracy, {arm}", Test(arm)));
        foreach (var arm in ArmNames(p))
            extra.Add(Estimate.Mean($"train − test accuracy gap, {arm}", runs.Results(arm, "generalization_gap")));
        foreach (var other in Others)
            extra.Add(Estimate.MeanDifference($"test accuracy, {other} − none (paired by seed)", Test(other), Test(None)));
        return Verdict.From(overNone, [.. checks]).WithExtra([.. extra]);
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
        yield return new Figure("test-accuracy-by-arm", "Test accuracy per arm, each seed joined across arms",
            "arm: " + string.Join(", ", arms.Select((a, i) => $"{i} {a}")), "test accuracy (last epoch)", series,
            Caption: "Each line is one seed (the same data, initial weights and minibatch order in every arm); lines that keep their shape across seeds show a difference larger than seed noise.");

        var gap = new List<Series>();
        foreach (var arm in arms)
        {
            var first = runs.Get(arm, runs.Seeds[0]).Metrics["test_accuracy"];
            double[] epochs = [.. first.Select(q => (double)q.Step)];
            double[] Mean(string key) => [.. Enumerable.Range(0, epochs.Length).Select(i => runs.Seeds.Average(s => runs.Get(arm, s).Metrics[key][i].Value))];
            var trainAcc = Mean("train_accuracy");
            var testAcc = Mean("test_accuracy");
            gap.Add(new Series(arm, epochs, [.. trainAcc.Zip(testAcc, (a, b) => a - b)], SeriesStyle.LineAndMarkers));
        }
        yield return new Figure("gap-curves", "Train − test accuracy gap during training, mean over seeds", "epoch", "train − test accuracy",
            gap, Caption: "Without regularization the gap opens as the net memorizes its small training set; each randomization holds it lower by a different amount.");
    }
}
