using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.Lab.Recipes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Tests.Recipes;

public class EarlyStoppedTrainingTests
{
    private static (TensorDataset Train, TensorDataset Validation, TensorDataset Test) Blobs()
    {
        var task = Synthetic.GaussianMixture(120, 3, 4, new Generator(5), radius: 1.5);
        var (x, y) = (task.Data.Inputs, task.Data.Targets);
        TensorDataset Part(int from, int to)
        {
            var index = Tensor.FromArray(Enumerable.Range(from, to - from).Select(i => (long)i).ToArray());
            return new TensorDataset(Ops.IndexSelect(x, 0, index), Ops.IndexSelect(y, 0, index));
        }
        return (Part(0, 60), Part(60, 90), Part(90, 120));
    }

    [Fact]
    public void KeepsTheFirstEpochWithTheBestValidationAccuracyAndTestsItsWeights()
    {
        var (train, validation, test) = Blobs();
        var model = Models.Mlp(4, [16], 3, generator: new Generator(1));
        var step = new TrainStep(model, new Adam(model.Parameters(), lr: 0.05), (o, t) => Losses.CrossEntropy(o, t));
        var seen = new List<StoppingEpoch>();
        var result = EarlyStoppedTraining.Fit(step, train, train, validation, test, 8, 10, new Generator(2), seen.Add);
        Assert.Equal(8, result.Epochs.Count);
        Assert.Equal(result.Epochs, seen);
        double best = result.Epochs.Max(e => e.ValidationAccuracy);
        Assert.Equal(best, result.ValidationAccuracy);
        Assert.Equal(result.Epochs.First(e => e.ValidationAccuracy == best).Epoch, result.BestEpoch);
        // The model is left with the chosen epoch's weights: the validation and test accuracies read again agree.
        Assert.Equal(best, Classification.Accuracy(model, validation));
        Assert.Equal(result.TestAccuracy, Classification.Accuracy(model, test));
        Assert.Equal(result.TrainAccuracy, Classification.Accuracy(model, train));
        Assert.Equal(48, step.Steps);
    }

    [Fact]
    public void TheSameSeedsGiveTheSameBits()
    {
        var (train, validation, test) = Blobs();
        EarlyStoppedResult Once()
        {
            var model = Models.Mlp(4, [16], 3, dropout: 0.3, generator: new Generator(1));
            var step = new TrainStep(model, new Adam(model.Parameters(), lr: 0.05), (o, t) => Losses.CrossEntropy(o, t));
            return EarlyStoppedTraining.Fit(step, train, train, validation, test, 4, 10, new Generator(2));
        }
        var (a, b) = (Once(), Once());
        Assert.Equal(a.Epochs, b.Epochs);
        Assert.Equal((a.BestEpoch, a.TestAccuracy, a.LastTestAccuracy), (b.BestEpoch, b.TestAccuracy, b.LastTestAccuracy));
    }
}
