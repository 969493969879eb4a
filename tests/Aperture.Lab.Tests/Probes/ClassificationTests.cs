using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class ClassificationTests
{
    [Fact]
    public void MetricsCountNaNRowsAsWrongAndTheFirstMaximumWins()
    {
        var logits = Tensor.FromArray(new double[] { double.NaN, 1, 0, double.NaN, 1, 1, double.NegativeInfinity, 0, 2, 1 }, [5, 2]);
        var labels = Tensor.FromArray(new long[] { 0, 1, 0, 1, 0 }, [5]);
        // Row 0 and 1 hold a NaN (wrong, even where the NaN sits at the label); row 2 ties (class 0 wins); row 3 is masked by −∞.
        Assert.Equal(3, Metrics.CountCorrect(logits, labels));
        Assert.Equal(0.6, Metrics.Accuracy(logits, labels));
        Assert.Equal(0.6, Metrics.Accuracy(logits.To(DType.Float32), labels));
        // Strided (transposed) logits read the same.
        Assert.Equal(3, Metrics.CountCorrect(Ops.Transpose(logits.T.Contiguous(), 0, 1), labels));
        Assert.Throws<DTypeMismatchException>(() => Metrics.Accuracy(logits, labels.To(DType.Float32)));
        Assert.Throws<ShapeMismatchException>(() => Metrics.Accuracy(logits, Tensor.Zeros([4], DType.Int64)));
    }

    [Fact]
    public void ProbeUsesEvalModeAndNaNRowsAreWrong()
    {
        // The identity map: the inputs are the logits.
        var model = new Linear(2, 2, bias: false, generator: new Generator(0));
        ProbeHelpers.Set(model.GetParameter("weight"), 1, 0, 0, 1);
        var x = Tensor.FromArray(new float[] { 3, 1, 0, 2, float.NaN, 0, 1, 4 }, [4, 2]);
        var data = new TensorDataset(x, Tensor.FromArray(new long[] { 0, 1, 0, 0 }, [4]));
        Assert.True(model.Training);
        var (predictions, accuracy) = Classification.Evaluate(model, data);
        Assert.True(model.Training); // restored
        // Row 2 is all NaN (NaN·0 = NaN): arg-max picks its first NaN, class 0 = the label, yet it counts as wrong.
        Assert.Equal([0L, 1, 0, 1], predictions);
        Assert.Equal(0.5, accuracy);
        Assert.Equal(predictions, Classification.Predictions(model, data));
        Assert.Equal(accuracy, Classification.Accuracy(model, data));
        model.Eval();
        Classification.Accuracy(model, data);
        Assert.False(model.Training);
    }
}
