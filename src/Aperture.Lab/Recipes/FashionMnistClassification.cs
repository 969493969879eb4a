using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>The network a Fashion-MNIST run trains: built from one generator, fed flat standardized images [n, 784].</summary>
public abstract record ClassifierSpec
{
    /// <summary>Builds the network, drawing every initial value from <paramref name="init"/> in layer order.</summary>
    public abstract Module Build(Generator init);

    /// <summary>The network's inputs from flat images [n, 784] (LeNet-5 wants [n, 1, 28, 28]).</summary>
    public virtual Tensor Prepare(Tensor flat) => flat;
}

/// <summary>A multilayer perceptron 784 → <paramref name="Hidden"/> → 10 (<see cref="Models.Mlp"/>).</summary>
/// <param name="Hidden">Hidden widths.</param>
/// <param name="Activation">The hidden activation (relu, sigmoid, tanh, …).</param>
/// <param name="BatchNorm">A BatchNorm1d between every hidden Linear layer and its activation.</param>
/// <param name="Dropout">Dropout probability after every hidden activation (0: none).</param>
/// <param name="WeightInit">The weights' initializer (null: PyTorch's Linear default).</param>
public sealed record MlpSpec(int[] Hidden, string Activation = "relu", bool BatchNorm = false, double Dropout = 0, Initializer? WeightInit = null) : ClassifierSpec
{
    /// <inheritdoc/>
    public override Module Build(Generator init) =>
        Models.Mlp(LabData.Pixels, Hidden, FashionMnist.ClassNames.Count, Activation, Dropout, batchNorm: BatchNorm, weightInit: WeightInit, generator: init);
}

/// <summary>LeNet-5 (<see cref="Models.LeNet5"/>) on 28×28 single-channel images.</summary>
public sealed record LeNet5Spec : ClassifierSpec
{
    /// <inheritdoc/>
    public override Module Build(Generator init) => Models.LeNet5(FashionMnist.ClassNames.Count, generator: init);

    /// <inheritdoc/>
    public override Tensor Prepare(Tensor flat) => flat.Reshape(flat.Shape[0], 1, 28, 28);
}

/// <summary>
/// The independent random streams of one run, forked from the run's generator in this fixed order: the data sample,
/// the initial weights, the minibatch order, and one for whatever the phenomenon varies (corruptions, probes). Every
/// arm of a seed therefore draws the same sample, weights and order, whatever it does with <see cref="Extra"/>.
/// </summary>
/// <param name="Sampling">Draws the stratified samples.</param>
/// <param name="Init">Draws the initial weights.</param>
/// <param name="Order">Shuffles the minibatches.</param>
/// <param name="Extra">For the phenomenon's own draws.</param>
public sealed record RunStreams(Generator Sampling, Generator Init, Generator Order, Generator Extra)
{
    /// <summary>Forks the four streams from <paramref name="g"/>, in order.</summary>
    public static RunStreams Fork(Generator g)
    {
        ArgumentNullException.ThrowIfNull(g);
        Generator sampling = g.Fork(), init = g.Fork(), order = g.Fork(), extra = g.Fork();
        return new(sampling, init, order, extra);
    }
}

/// <summary>A model's loss and accuracy on a dataset, in evaluation mode (from <see cref="Classification.Logits"/>).</summary>
/// <param name="Loss">Mean cross-entropy (NaN or ∞ when the logits are not finite).</param>
/// <param name="Accuracy">Fraction classified correctly (a NaN row counts as wrong).</param>
/// <param name="Correct">How many were classified correctly.</param>
/// <param name="Count">How many examples.</param>
public readonly record struct Evaluation(double Loss, double Accuracy, int Correct, int Count);

/// <summary>How a training run ended.</summary>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="Epochs">Whole passes over the training set completed.</param>
/// <param name="Stopped">Whether an observation hook asked to stop before the budget was spent.</param>
/// <param name="NonFinite">Whether a batch loss was NaN or ∞ (training stops at once).</param>
public readonly record struct TrainingEnd(long Steps, int Epochs, bool Stopped, bool NonFinite);

/// <summary>What to observe during training. A hook returns true to stop training there.</summary>
public sealed record TrainingHooks
{
    /// <summary>Call <see cref="OnSteps"/> at step 0 and every this many steps (0: never).</summary>
    public int EverySteps { get; init; }

    /// <summary>Receives the number of steps taken so far; true stops training.</summary>
    public Func<long, bool>? OnSteps { get; init; }

    /// <summary>Call <see cref="OnEpochs"/> at epoch 0 and after every this many epochs (0: never).</summary>
    public int EveryEpochs { get; init; }

    /// <summary>Receives the number of epochs completed; true stops training.</summary>
    public Func<int, bool>? OnEpochs { get; init; }

    /// <summary>Called before each step with (steps taken, batch inputs, batch targets): for probes of the step about to be taken.</summary>
    public Action<long, Tensor, Tensor>? BeforeStep { get; init; }
}

/// <summary>
/// The training recipe the Fashion-MNIST phenomena share: stratified flat samples drawn from the run's data,
/// standardized by the training sample's statistics, a network from a <see cref="ClassifierSpec"/>, minibatches in an
/// order drawn from its own stream, one <see cref="TrainStep"/> per batch (cross-entropy), and evaluation through
/// <see cref="Classification"/>. Hooks observe every n steps or epochs and may stop the run.
/// </summary>
public sealed class FashionMnistClassification
{
    /// <summary>
    /// A stratified sample of <paramref name="trainPerClass"/> training and <paramref name="testPerClass"/> test images
    /// per class (0: an empty test set), both drawn from <paramref name="sampling"/> (train first), flattened and standardized
    /// by the training sample's mean and standard deviation. <paramref name="who"/> prefixes the setting names in errors.
    /// With <paramref name="testFoldOf"/> (a seed s), the test set is instead fold s mod k of <see cref="TestFold"/>'s
    /// partition into k folds, so that k consecutive seeds are tested on disjoint images.
    /// </summary>
    public static (TensorDataset Train, TensorDataset Test) Sample(LabData data, int trainPerClass, int testPerClass, Generator sampling, string who, int? testFoldOf = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var train = LabData.FlatSample(data.FashionMnist.Train, trainPerClass, sampling, $"{who}: train_per_class");
        if (testPerClass <= 0) return (LabData.StandardizeBy(train, train)[0], new TensorDataset(Tensor.Zeros([0, LabData.Pixels]), Tensor.Zeros([0], DType.Int64)));
        var test = testFoldOf is { } seed
            ? TestFold(data.FashionMnist.Test, testPerClass, seed % Math.Max(1, TestFolds(data.FashionMnist.Test, testPerClass)), $"{who}: test_per_class")
            : LabData.FlatSample(data.FashionMnist.Test, testPerClass, sampling, $"{who}: test_per_class");
        var (tr, te) = LabData.Standardize(train, test);
        return (tr, te);
    }

    /// <summary>
    /// Fold <paramref name="fold"/> of a fixed partition of <paramref name="test"/>: for each class, its images in the
    /// dataset's order cut into consecutive blocks of <paramref name="perClass"/>; fold k takes block k of every class.
    /// Different folds share no image, so seeds given different folds are judged on independent test images. Flat
    /// [n, 784], in the dataset's order, not standardized. An error when a class has fewer than (fold + 1) × perClass images.
    /// </summary>
    public static TensorDataset TestFold(TensorDataset test, int perClass, int fold, string who)
    {
        ArgumentNullException.ThrowIfNull(test);
        var labels = test.Targets.ToArray<long>();
        var byClass = labels.Select((l, i) => (l, i)).GroupBy(t => t.l).ToList();
        int fewest = byClass.Count == 0 ? 0 : byClass.Min(c => c.Count());
        if (perClass < 1 || (fold + 1) * perClass > fewest)
            throw new LabConfigException($"{who}: test fold {fold} of {perClass} images per class needs {(fold + 1) * perClass} test images per class; the data has {fewest}");
        var indices = byClass.SelectMany(c => c.Skip(fold * perClass).Take(perClass).Select(t => t.i)).Order().ToArray();
        var (x, y) = new Subset(test, indices).GetAll();
        return new TensorDataset(x.Reshape(indices.Length, LabData.Pixels), y);
    }

    /// <summary>How many disjoint folds of <paramref name="perClass"/> images per class <paramref name="test"/> holds.</summary>
    public static int TestFolds(TensorDataset test, int perClass) =>
        perClass < 1 ? 0 : test.Targets.ToArray<long>().GroupBy(l => l).Min(c => c.Count()) / perClass;

    /// <summary>Sets up training of <paramref name="spec"/>'s network (initial weights from <paramref name="init"/>) on <paramref name="train"/>.</summary>
    /// <param name="spec">The network.</param>
    /// <param name="optimizer">Builds the optimizer over the network's parameters.</param>
    /// <param name="train">Flat standardized images [n, 784] with int64 labels.</param>
    /// <param name="batchSize">Examples per step.</param>
    /// <param name="init">The initial weights' stream.</param>
    /// <param name="order">The minibatch order's stream.</param>
    /// <param name="dropLast">Drop an incomplete last batch (batch norm needs two examples).</param>
    public FashionMnistClassification(ClassifierSpec spec, Func<Module, GradientOptimizer> optimizer, TensorDataset train, int batchSize,
        Generator init, Generator order, bool dropLast = false)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(train);
        Spec = spec;
        Model = spec.Build(init);
        Train = new TensorDataset(spec.Prepare(train.Inputs), train.Targets);
        Step = new TrainStep(Model, optimizer(Model), (o, t) => Losses.CrossEntropy(o, t));
        Loader = new DataLoader(Train, batchSize, shuffle: true, generator: order, dropLast: dropLast);
    }

    /// <summary>The network's description.</summary>
    public ClassifierSpec Spec { get; }

    /// <summary>The network.</summary>
    public Module Model { get; }

    /// <summary>The training set as the network sees it.</summary>
    public TensorDataset Train { get; }

    /// <summary>The training step (model, optimizer, loss).</summary>
    public TrainStep Step { get; }

    /// <summary>The minibatches.</summary>
    public DataLoader Loader { get; }

    /// <summary>Optimizer steps taken.</summary>
    public long Steps => Step.Steps;

    /// <summary>Whole epochs completed.</summary>
    public int Epochs { get; private set; }

    /// <summary>
    /// Trains until <paramref name="maxSteps"/> steps or <paramref name="maxEpochs"/> epochs (whichever comes first;
    /// 0 means no limit of that kind, and at least one must be set), a hook asks to stop, or a batch loss is not
    /// finite. Step hooks run at step 0, every <see cref="TrainingHooks.EverySteps"/> steps and at the last step;
    /// epoch hooks at epoch 0 and every <see cref="TrainingHooks.EveryEpochs"/> epochs.
    /// </summary>
    public TrainingEnd Run(long maxSteps, int maxEpochs, TrainingHooks? hooks = null, CancellationToken cancel = default)
    {
        if (maxSteps <= 0 && maxEpochs <= 0) throw new ArgumentException("FashionMnistClassification.Run: set a step or an epoch budget");
        hooks ??= new TrainingHooks();
        bool StepHook() => hooks.EverySteps > 0 && hooks.OnSteps is { } f && f(Steps);
        bool EpochHook() => hooks.EveryEpochs > 0 && hooks.OnEpochs is { } f && f(Epochs);
        if (StepHook() | EpochHook()) return new(Steps, Epochs, true, false);
        while (maxEpochs <= 0 || Epochs < maxEpochs)
        {
            foreach (var (x, y) in Loader)
            {
                cancel.ThrowIfCancellationRequested();
                hooks.BeforeStep?.Invoke(Steps, x, y);
                var outcome = Step.Run(x, y);
                if (!double.IsFinite(outcome.Loss)) return new(Steps, Epochs, false, true);
                bool last = maxSteps > 0 && Steps >= maxSteps;
                if ((hooks.EverySteps > 0 && (Steps % hooks.EverySteps == 0 || last)) && StepHook()) return new(Steps, Epochs, true, false);
                if (last) return new(Steps, Epochs, false, false);
            }
            Epochs++;
            if (Epochs % Math.Max(hooks.EveryEpochs, 1) == 0 && EpochHook()) return new(Steps, Epochs, true, false);
        }
        return new(Steps, Epochs, false, false);
    }

    /// <summary>The network's loss and accuracy on flat images [n, 784] with int64 labels, in evaluation mode.</summary>
    public Evaluation Evaluate(TensorDataset flat) => Evaluate(Model, new TensorDataset(Spec.Prepare(flat.Inputs), flat.Targets));

    /// <summary>The loss and accuracy of <paramref name="model"/> on <paramref name="data"/> as the model reads it, from one forward pass.</summary>
    public static Evaluation Evaluate(Module model, TensorDataset data)
    {
        var logits = Classification.Logits(model, data);
        double loss;
        using (Autodiff.NoGrad()) loss = Losses.CrossEntropy(logits, data.Targets).Item();
        int n = (int)data.Targets.Shape[0];
        double accuracy = Metrics.Accuracy(logits, data.Targets);
        return new(loss, accuracy, (int)Math.Round(accuracy * n), n);
    }
}
