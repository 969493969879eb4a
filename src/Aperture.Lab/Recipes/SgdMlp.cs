using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>A stratified Fashion-MNIST sample, flattened and standardized by its training part's statistics.</summary>
/// <param name="Train">The training images [n, 784] and labels.</param>
/// <param name="Validation">Held-out training-split images, disjoint from <paramref name="Train"/> (empty when none were asked for).</param>
/// <param name="Test">Test-split images.</param>
public sealed record FlatSplits(TensorDataset Train, TensorDataset Validation, TensorDataset Test)
{
    /// <summary>
    /// Draws <paramref name="trainPerClass"/> + <paramref name="validationPerClass"/> training images per class and
    /// <paramref name="testPerClass"/> test images per class from <paramref name="generator"/> (in that order), splits
    /// the training draw by class (each class's first <paramref name="validationPerClass"/> images, in dataset order,
    /// are the validation part: the draw is random, so the split is too) and standardizes all three by the training
    /// part's mean and standard deviation.
    /// </summary>
    public static FlatSplits Draw(FashionMnist data, int trainPerClass, int validationPerClass, int testPerClass, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(data);
        var pool = LabData.FlatSample(data.Train, trainPerClass + validationPerClass, generator, "train_per_class + validation_per_class");
        var test = LabData.FlatSample(data.Test, testPerClass, generator, "test_per_class");
        var labels = pool.Targets.ToArray<long>();
        var seen = new Dictionary<long, int>();
        var (trainRows, validationRows) = (new List<int>(), new List<int>());
        for (int i = 0; i < labels.Length; i++)
        {
            int k = seen.GetValueOrDefault(labels[i]);
            seen[labels[i]] = k + 1;
            (k < validationPerClass ? validationRows : trainRows).Add(i);
        }
        TensorDataset Rows(List<int> rows)
        {
            var (x, y) = new Subset(pool, rows.ToArray()).GetAll();
            return new TensorDataset(x.Reshape(rows.Count, LabData.Pixels), y);
        }
        var train = Rows(trainRows);
        var scaled = LabData.StandardizeBy(train, train, Rows(validationRows), test);
        return new FlatSplits(scaled[0], scaled[1], scaled[2]);
    }
}

/// <summary>
/// One ReLU MLP (float32, 784 inputs, 10 classes) trained by minibatch SGD with heavy-ball momentum and a per-step
/// cosine schedule from the peak rate to 0, one <see cref="TrainStep"/> per minibatch (the last short batch of an
/// epoch dropped). Two of them stepped in lockstep compare runs that differ in one thing.
/// </summary>
public sealed class SgdMlp
{
    /// <summary>Builds the network from <paramref name="init"/> and its minibatch order from <paramref name="order"/>.</summary>
    /// <param name="train">The training set.</param>
    /// <param name="hidden">Hidden widths.</param>
    /// <param name="learningRate">The peak learning rate.</param>
    /// <param name="momentum">Heavy-ball momentum.</param>
    /// <param name="batchSize">Minibatch size.</param>
    /// <param name="epochs">Passes over the training set (the schedule's length).</param>
    /// <param name="init">The generator of the initial weights.</param>
    /// <param name="order">The generator of the minibatch order.</param>
    public SgdMlp(TensorDataset train, IReadOnlyList<int> hidden, double learningRate, double momentum, int batchSize, int epochs,
        Generator init, Generator order)
    {
        Model = Models.Mlp(LabData.Pixels, hidden, 10, generator: init);
        var sgd = new SGD(Model.Parameters(), lr: learningRate, momentum: momentum);
        Loader = new DataLoader(train, batchSize, shuffle: true, generator: order, dropLast: true);
        TotalSteps = Loader.BatchesPerEpoch * epochs;
        Step = new TrainStep(Model, sgd, (o, t) => Losses.CrossEntropy(o, t)) { Scheduler = new CosineAnnealingLR(sgd, TotalSteps) };
        Weights = new ParameterSnapshot(Model);
    }

    /// <summary>The network.</summary>
    public Sequential Model { get; }

    /// <summary>Its training step (set <see cref="TrainStep.Backward"/> to change the backward pass's numerics).</summary>
    public TrainStep Step { get; }

    /// <summary>The minibatches of one epoch.</summary>
    public DataLoader Loader { get; }

    /// <summary>Steps in the whole run (the cosine schedule's length).</summary>
    public int TotalSteps { get; }

    /// <summary>Its parameters, flattened (one reused buffer).</summary>
    public ParameterSnapshot Weights { get; }

    /// <summary>A generator that will draw what <paramref name="g"/> draws next (same seed, stream and offset).</summary>
    public static Generator Replica(Generator g)
    {
        ArgumentNullException.ThrowIfNull(g);
        return new Generator(g.Seed, g.Stream) { Offset = g.Offset };
    }

    /// <summary>
    /// Flips the least significant mantissa bit of one weight of the <paramref name="layer"/>-th linear layer (0 the
    /// first, −1 the last), its row and column drawn from <paramref name="g"/>: a change of one unit in the last
    /// place, about 6·10⁻⁸ of the weight.
    /// </summary>
    public (int Row, int Column, float Before, float After) FlipLastBit(int layer, Generator g) => FlipLastBit(Model, layer, g);

    /// <summary>As <see cref="FlipLastBit(int, Generator)"/>, for any model made of <see cref="Linear"/> layers.</summary>
    public static (int Row, int Column, float Before, float After) FlipLastBit(Module model, int layer, Generator g)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(g);
        var linears = model.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        var weight = linears[layer < 0 ? linears.Count + layer : layer].Weight;
        int row = (int)g.NextLong(weight.Size(0)), column = (int)g.NextLong(weight.Size(1));
        float before = (float)weight.At(row, column);
        float after = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(before) ^ 1);
        using (Autodiff.NoGrad()) weight.SetAt(after, row, column);
        return (row, column, before, after);
    }
}
