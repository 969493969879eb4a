using Aperture.NN;

namespace Aperture.Tests.NN;

public class InitTests
{
    private static double Variance(Tensor t)
    {
        var v = t.ToDoubleArray();
        double mean = v.Average();
        return v.Select(x => (x - mean) * (x - mean)).Average();
    }

    // A [400, 300] draw has 120k elements: the sample variance is within ~1.3% (4 standard errors) of the target.
    private static void AssertVariance(double expected, Tensor t) =>
        Assert.InRange(Variance(t), expected * 0.985, expected * 1.015);

    [Fact]
    public void VarianceScalingInitializersHaveTheirVariance()
    {
        int[] shape = [400, 300]; // fan_out 400, fan_in 300
        var g = new Generator(0);
        AssertVariance(2.0 / 700, Init.XavierUniform().Sample(shape, DType.Float64, g));
        AssertVariance(2.0 / 700, Init.XavierNormal().Sample(shape, DType.Float64, g));
        AssertVariance(25.0 / 9 * 2.0 / 700, Init.XavierUniform(Init.Gain("tanh")).Sample(shape, DType.Float64, g));
        AssertVariance(2.0 / 300, Init.KaimingUniform(nonlinearity: "relu").Sample(shape, DType.Float64, g));
        AssertVariance(2.0 / 300, Init.HeNormal().Sample(shape, DType.Float64, g));
        AssertVariance(2.0 / 400, Init.KaimingNormal(mode: FanMode.FanOut, nonlinearity: "relu").Sample(shape, DType.Float64, g));
        AssertVariance(1.0 / 300, Init.LeCunNormal().Sample(shape, DType.Float64, g));
        AssertVariance(1.0 / 300, Init.LeCunUniform().Sample(shape, DType.Float64, g));
        AssertVariance(1.0 / 900, Init.KaimingUniform(a: Math.Sqrt(5)).Sample(shape, DType.Float64, g)); // PyTorch's Linear default
    }

    [Fact]
    public void UniformInitializersRespectTheirBounds()
    {
        var w = Init.XavierUniform().Sample([20, 30], DType.Float32, new Generator(1));
        double bound = Math.Sqrt(6.0 / 50);
        Assert.All(w.ToFloatArray(), v => Assert.InRange(v, -bound, bound));
        Assert.All(Init.Uniform(2, 3).Sample([100], DType.Float32, new Fans(1, 1), new Generator(1)).ToFloatArray(), v => Assert.InRange(v, 2, 3));
    }

    [Fact]
    public void GainsAreTorchs()
    {
        Assert.Equal(1, Init.Gain("linear"));
        Assert.Equal(1, Init.Gain("sigmoid"));
        Assert.Equal(5.0 / 3, Init.Gain("tanh"));
        Assert.Equal(Math.Sqrt(2), Init.Gain("relu"));
        Assert.Equal(Math.Sqrt(2 / (1 + 0.01 * 0.01)), Init.Gain("leaky_relu"));
        Assert.Equal(Math.Sqrt(2 / 1.04), Init.Gain("leaky_relu", 0.2), 15);
        Assert.Equal(0.75, Init.Gain("selu"));
        Assert.Throws<ArgumentException>(() => Init.Gain("swish"));
    }

    [Fact]
    public void FansOfAConvolutionWeightIncludeTheReceptiveField()
    {
        Assert.Equal(new Fans(3 * 5 * 5, 16 * 5 * 5), Fans.Of([16, 3, 5, 5]));
        Assert.Equal(new Fans(784, 256), Fans.Of([256, 784]));
        Assert.Throws<ArgumentException>(() => Fans.Of([5]));
    }

    [Theory]
    [InlineData(6, 6)]
    [InlineData(10, 4)]
    [InlineData(3, 8)]
    [InlineData(1, 1)]
    public void OrthogonalInitIsOrthogonal(int rows, int cols)
    {
        var w = Init.Orthogonal(gain: 2).Sample([rows, cols], DType.Float64, new Generator(4));
        // The smaller Gram matrix is gain²·I.
        var gram = rows >= cols ? w.T.MatMul(w) : w.MatMul(w.T);
        int k = Math.Min(rows, cols);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                Assert.Equal(i == j ? 4 : 0, gram.At(i, j), 10);
    }

    [Fact]
    public void OrthogonalInitFlattensTrailingDimensions()
    {
        var w = Init.Orthogonal().Sample([4, 2, 3, 3], DType.Float32, new Generator(0));
        var flat = w.Reshape(4, 18).To(DType.Float64);
        var gram = flat.MatMul(flat.T);
        for (int i = 0; i < 4; i++) Assert.Equal(1, gram.At(i, i), 5);
        Assert.Equal(0, gram.At(0, 3), 5);
    }

    [Fact]
    public void ConstantsAndDeterminism()
    {
        Assert.Equal([0.25f, 0.25f], Init.Constant(0.25).Sample([2], DType.Float32, new Fans(1, 1), null).ToFloatArray());
        Assert.Equal(new float[3], Init.Zeros().Sample([3], DType.Float32, new Fans(1, 1), null).ToFloatArray());
        Assert.False(Init.Ones().IsRandom);
        Assert.Equal(
            Init.HeNormal().Sample([5, 5], DType.Float32, new Generator(9)).ToFloatArray(),
            Init.HeNormal().Sample([5, 5], DType.Float32, new Generator(9)).ToFloatArray());
        var e = Assert.Throws<ArgumentNullException>(() => Init.XavierNormal().Sample([2, 2], DType.Float32, null));
        Assert.Contains("xavier_normal", e.Message);
    }

    [Fact]
    public void ApplyOverwritesInPlace()
    {
        var t = Tensor.Zeros([3, 4]).RequiresGrad_();
        Init.Constant(2).Apply(t, null);
        Assert.All(t.ToFloatArray(), v => Assert.Equal(2f, v));
        var layer = new Linear(4, 3, weightInit: Init.Orthogonal(), generator: new Generator(0));
        Init.XavierUniform().Apply(layer.Weight, new Generator(1));
        Assert.Equal(Init.XavierUniform().Sample([3, 4], DType.Float32, new Generator(1)).ToFloatArray(), layer.Weight.ToFloatArray());
    }
}
