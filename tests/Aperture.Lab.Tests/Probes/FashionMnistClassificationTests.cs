using Aperture.Data;
using Aperture.Lab.Recipes;
using Aperture.Optim;

namespace Aperture.Lab.Tests.Probes;

public class FashionMnistClassificationTests
{
    private static (TensorDataset Train, TensorDataset? Test) Sample(ulong seed) =>
        FashionMnistClassification.Sample(Tiny.Subset, 4, 2, RunStreams.Fork(new Generator(seed)).Sampling, "test");

    [Fact]
    public void SamplesAreStratifiedFlatAndStandardizedByTheTrainingSample()
    {
        var (train, test) = Sample(1);
        Assert.Equal([40, 784], train.Inputs.Shape.ToArray());
        Assert.Equal([20, 784], test!.Inputs.Shape.ToArray());
        Assert.All(train.Targets.ToArray<long>().GroupBy(l => l), g => Assert.Equal(4, g.Count()));
        var v = train.Inputs.ToDoubleArray();
        Assert.Equal(0, v.Average(), 4);
        Assert.Equal(0, FashionMnistClassification.Sample(Tiny.Subset, 4, 0, new Generator(1), "test").Test.Targets.Numel);
    }

    [Fact]
    public void TestFoldsAreDisjointAndRefuseWhatTheDataCannotHold()
    {
        var data = Tiny.Subset.FashionMnist.Test;
        Assert.Equal(10, FashionMnistClassification.TestFolds(data, 10));
        var a = FashionMnistClassification.TestFold(data, 10, 0, "t");
        var b = FashionMnistClassification.TestFold(data, 10, 9, "t");
        Assert.All(a.Targets.ToArray<long>().GroupBy(l => l), g => Assert.Equal(10, g.Count()));
        var rowsA = Enumerable.Range(0, 100).Select(i => string.Join(",", a.Inputs.ToDoubleArray().Skip(784 * i).Take(784))).ToHashSet();
        Assert.DoesNotContain(Enumerable.Range(0, 100).Select(i => string.Join(",", b.Inputs.ToDoubleArray().Skip(784 * i).Take(784))), rowsA.Contains);
        var e = Assert.Throws<LabConfigException>(() => FashionMnistClassification.TestFold(data, 10, 10, "who"));
        Assert.StartsWith("who: test fold 10", e.Message);
    }

    private static (List<long> Steps, FashionMnistClassification Fit, TrainingEnd End) Train(ulong seed, int maxSteps, Func<long, bool>? stop = null)
    {
        var s = RunStreams.Fork(new Generator(seed));
        var (train, _) = FashionMnistClassification.Sample(Tiny.Subset, 4, 0, s.Sampling, "test");
        var fit = new FashionMnistClassification(new MlpSpec([8], "sigmoid", BatchNorm: true), m => new SGD(m.Parameters(), lr: 0.1), train, 12, s.Init, s.Order, dropLast: true);
        var steps = new List<long>();
        var end = fit.Run(maxSteps, 0, new TrainingHooks { EverySteps = 3, OnSteps = k => { steps.Add(k); return stop?.Invoke(k) ?? false; } });
        return (steps, fit, end);
    }

    [Fact]
    public void StepHooksRunAtZeroEveryNAndTheLastStepAndMayStop()
    {
        var (steps, fit, end) = Train(2, 7);
        Assert.Equal([0L, 3, 6, 7], steps);
        Assert.Equal(7, end.Steps);
        // 40 examples in batches of 12 (the last dropped): three steps an epoch.
        Assert.Equal(2, end.Epochs);
        Assert.False(end.Stopped);
        var stopped = Train(2, 100, k => k >= 3);
        Assert.Equal((3L, true), (stopped.End.Steps, stopped.End.Stopped));
        // Same seed, same bits.
        Assert.Equal(fit.Evaluate(fit.Train).Loss, Train(2, 7).Fit.Evaluate(Train(2, 7).Fit.Train).Loss);
    }

    [Fact]
    public void EpochHooksAndLeNetInputs()
    {
        var s = RunStreams.Fork(new Generator(3));
        var (train, test) = FashionMnistClassification.Sample(Tiny.Subset, 2, 1, s.Sampling, "test");
        var fit = new FashionMnistClassification(new LeNet5Spec(), m => new Adam(m.Parameters(), lr: 1e-3), train, 10, s.Init, s.Order);
        Assert.Equal([20, 1, 28, 28], fit.Train.Inputs.Shape.ToArray());
        var epochs = new List<int>();
        var end = fit.Run(0, 2, new TrainingHooks { EveryEpochs = 1, OnEpochs = e => { epochs.Add(e); return false; } });
        Assert.Equal([0, 1, 2], epochs);
        Assert.Equal((4L, 2), (end.Steps, end.Epochs));
        var e = fit.Evaluate(test!);
        Assert.Equal(10, e.Count);
        Assert.Equal(e.Accuracy, e.Correct / 10.0, 12);
    }
}
