using Aperture.Data;
using Aperture.Lab.Recipes;

namespace Aperture.Lab.Tests.Recipes;

public class ConstantInitTrainingTests
{
    // 40 random inputs of 13 features in 3 classes: small, yet enough for SGD to move every weight.
    private static TensorDataset Data()
    {
        var g = new Generator(5);
        var x = new float[40 * 13];
        for (int i = 0; i < x.Length; i++) x[i] = (float)g.NextNormal();
        var y = Enumerable.Range(0, 40).Select(i => (long)(i % 3)).ToArray();
        return new TensorDataset(Tensor.FromArray(x, [40, 13]), Tensor.FromArray(y, [40]));
    }

    private static readonly ConstantInitSettings Settings = new(HiddenLayers: 2, Width: 9, Value: 0.05, Steps: 25, LearningRate: 0.2, BatchSize: 8);

    [Fact]
    public void TrainsYetEveryHiddenLayerStaysOneUnitWide()
    {
        var log = new List<(string Key, long Step, double Value)>();
        var o = ConstantInitTraining.Train(Data(), 3, Settings, new Generator(1), (k, s, v) => log.Add((k, s, v)));
        Assert.True(o.StayedSymmetric);
        Assert.Equal(1, o.DistinctUnits);
        Assert.Equal(0, o.MaxWeightUnitDifference);
        Assert.Equal(0, o.MaxActivationUnitDifference);
        Assert.True(o.MaxWeightChange > 0);
        Assert.True(o.FinalLoss < o.InitialLoss, $"loss {o.InitialLoss} → {o.FinalLoss}");
        Assert.Equal(25, log.Count(e => e.Key == "train_loss"));
        Assert.Equal([0L, 10, 20, 25], log.Where(e => e.Key == "max_unit_difference").Select(e => e.Step));
    }

    [Fact]
    public void SameGeneratorSameBits()
    {
        var a = ConstantInitTraining.Train(Data(), 3, Settings, new Generator(2));
        var b = ConstantInitTraining.Train(Data(), 3, Settings, new Generator(2));
        Assert.Equal(a, b);
    }

    [Fact]
    public void AnUntrainedNetIsNotEvidenceOfSymmetry()
    {
        var o = ConstantInitTraining.Train(Data(), 3, Settings with { LearningRate = 1e-300 }, new Generator(1));
        Assert.Equal(0, o.MaxWeightChange);
        Assert.False(o.StayedSymmetric);
    }
}
