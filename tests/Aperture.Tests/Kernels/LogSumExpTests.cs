namespace Aperture.Tests.Kernels;

/// <summary>The fused log-sum-exp equals its composite definition bit for bit, on every path, axis and order.</summary>
[Collection(ThreadCountCollection.Name)]
public class LogSumExpTests
{
    private static Tensor Composite(Tensor x, int[] axes)
    {
        // m: the IEEE maximum over the axes (0 where it is −∞), as a constant.
        var keep = Enumerable.Range(0, x.Rank).Where(d => !axes.Contains(d)).ToArray();
        var moved = Ops.Permute(x, [.. keep, .. axes]).Contiguous();
        int inner = axes.Aggregate(1, (p, a) => p * x.Shape[a]);
        var values = moved.To(DType.Float64).ToArray<double>();
        var m = new double[values.Length / Math.Max(inner, 1)];
        for (int o = 0; o < m.Length; o++)
        {
            double best = double.NegativeInfinity;
            for (int i = 0; i < inner; i++) best = Math.Max(best, values[o * inner + i]);
            m[o] = double.IsNegativeInfinity(best) ? 0 : best;
        }
        var mt = Ops.Reshape(Tensor.FromArray(m).To(x.DType), Shapes.Reduced(x.Shape, axes, keepDim: true));
        return Ops.Add(Ops.Log(Ops.Sum(Ops.Exp(Ops.Sub(x, mt)), axes, keepDim: true)), mt);
    }

    [Theory]
    [InlineData(ReductionOrder.Default)]
    [InlineData(ReductionOrder.Pairwise)]
    public void Fused_kernel_matches_the_composite_bitwise(ReductionOrder order)
    {
        var g = new Generator(3);
        using var scope = NumericsPolicy.Use(NumericsPolicy.Default with { Order = order });
        (int[] Shape, int[] Axes)[] cases = [([7, 33], [1]), ([7, 33], [0]), ([4, 5, 6], [0, 2]), ([1, 100], [1]), ([3, 1], [1])];
        foreach (var (shape, axes) in cases)
        {
            var x = Ops.Mul(Tensor.Randn(shape, g, DType.Float64), 30.0);
            var expected = Composite(x, axes).ToArray<double>();
            KernelSettings.ForEachPath(path =>
            {
                Assert.Equal(expected, Ops.LogSumExp(x, axes, keepDim: true).ToArray<double>());
                var xf = x.To(DType.Float32);
                Assert.Equal(Composite(xf, axes).ToArray<float>(), Ops.LogSumExp(xf, axes).ToArray<float>());
            });
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void Gradients_match_the_composite_bitwise(int axis)
    {
        var g = new Generator(8);
        var x0 = Ops.Mul(Tensor.Randn([6, 9], g), 4.0);
        var w = Tensor.Randn([6, 9], g);
        Tensor GradOf(Func<Tensor, Tensor> lse)
        {
            var x = x0.Clone().RequiresGrad_();
            Ops.Sum(Ops.Mul(Ops.Sub(x, lse(x)), w)).Backward();
            return x.Grad!;
        }
        var fused = GradOf(x => Ops.LogSumExp(x, [axis], keepDim: true));
        var composite = GradOf(x => Composite(x, [axis]));
        Assert.Equal(composite.ToArray<float>(), fused.ToArray<float>());
    }

    [Fact]
    public void Special_rows_behave_like_the_composite()
    {
        var x = Tensor.FromArray([double.NegativeInfinity, double.NegativeInfinity, 1, double.NaN, 0, double.PositiveInfinity, -0.0, 0.0], [4, 2]);
        var y = Ops.LogSumExp(x, [1]).ToArray<double>();
        Assert.Equal(double.NegativeInfinity, y[0]);
        Assert.True(double.IsNaN(y[1]));
        Assert.True(double.IsNaN(y[2])); // +∞ − +∞ inside, as in the composite
        Assert.Equal(Math.Log(2), y[3], 15);
    }

    [Fact]
    public void Row_maximum_prefers_positive_zero_and_propagates_nan_on_every_path()
    {
        KernelSettings.ForEachPath(_ =>
        {
            foreach (int n in new[] { 2, 17, 40 })
            {
                var a = new float[n];
                Array.Fill(a, -1f);
                a[0] = -0f;
                a[n - 1] = 0f;
                Assert.False(float.IsNegative(LogSumExpKernel.Max<float>(a)));
                a[n / 2] = float.NaN;
                Assert.True(float.IsNaN(LogSumExpKernel.Max<float>(a)));
            }
        });
    }
}
