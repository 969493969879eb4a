using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class RunComparisonTests
{
    [Fact]
    public void BitwiseEqualityTellsZerosAndNaNPayloadsApart()
    {
        Assert.True(RunComparison.BitwiseEqual([1f, 2f], [1f, 2f]));
        Assert.False(RunComparison.BitwiseEqual([0f], [-0f]));
        Assert.True(0f == -0f);
        float nan = float.NaN, other = BitConverter.Int32BitsToSingle(0x7fc00001);
        Assert.True(float.IsNaN(other));
        Assert.True(RunComparison.BitwiseEqual([nan], [nan]));
        Assert.False(RunComparison.BitwiseEqual([nan], [other]));
        Assert.False(RunComparison.BitwiseEqual([1f], [1f, 2f]));
    }

    [Fact]
    public void DistanceIsInFloat64()
    {
        Assert.Equal(5, RunComparison.Distance([0f, 0f], [3f, 4f]));
        Assert.Equal(0, RunComparison.Distance([0f], [-0f]));
        // 1 + 2⁻²³ − 1 is exact in float64.
        Assert.Equal(Math.Pow(2, -23), RunComparison.Distance([1f + float.Epsilon * 0 + MathF.Pow(2, -23)], [1f]));
        Assert.True(double.IsNaN(RunComparison.Distance([float.NaN], [1f])));
        Assert.Throws<ArgumentException>(() => RunComparison.Distance([1f], [1f, 2f]));
    }

    [Fact]
    public void AllFiniteAndDisagreement()
    {
        Assert.True(RunComparison.AllFinite([1f, -0f, float.MaxValue]));
        Assert.False(RunComparison.AllFinite([1f, float.NaN]));
        Assert.False(RunComparison.AllFinite([float.NegativeInfinity]));
        Assert.Equal(0.5, RunComparison.Disagreement([1L, 2, 3, 4], [1L, 0, 3, 0]));
        Assert.Equal(0, RunComparison.Disagreement([7L], [7L]));
    }

    [Fact]
    public void SnapshotFlattensIntoOneReusedBuffer()
    {
        var model = new Linear(2, 2, generator: new Generator(1));
        var snapshot = new ParameterSnapshot(model);
        Assert.Equal(6, snapshot.Length);
        ProbeHelpers.Set(model.GetParameter("weight"), 1, 2, 3, 4);
        ProbeHelpers.Set(model.GetParameter("bias"), 5, -0.0);
        var first = snapshot.Take();
        Assert.Equal([1f, 2, 3, 4, 5, -0f], first);
        Assert.True(float.IsNegative(first[5]));
        ProbeHelpers.Set(model.GetParameter("bias"), 5, 6);
        var second = snapshot.Take();
        Assert.Same(first, second);
        Assert.Equal(6f, second[5]);
        Assert.Equal(second, ParameterSnapshot.Flatten(snapshot.Parameters));
    }

    [Fact]
    public void ModelsDisagreeWhereTheirArgMaxesDiffer()
    {
        // a predicts the larger input, b the smaller: they disagree wherever the two inputs differ.
        var a = new Linear(2, 2, bias: false, generator: new Generator(0));
        var b = new Linear(2, 2, bias: false, generator: new Generator(0));
        ProbeHelpers.Set(a.GetParameter("weight"), 1, 0, 0, 1);
        ProbeHelpers.Set(b.GetParameter("weight"), -1, 0, 0, -1);
        var x = Tensor.FromArray(new float[] { 1, 0, 0, 1, 2, 2, 3, 1 }, [4, 2]);
        var data = new TensorDataset(x, Tensor.Zeros([4], DType.Int64));
        Assert.Equal(0.75, RunComparison.Disagreement(a, b, data));
        Assert.Equal(0, RunComparison.Disagreement(a, a, data));
    }
}
