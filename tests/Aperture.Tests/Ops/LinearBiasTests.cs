using Aperture.Tests.Kernels;

namespace Aperture.Tests.OpTests;

/// <summary>
/// Linear's bias add (one loop over the rows of the product, vectorized across columns) gives the bits of the
/// product plus the broadcast bias on every code path, for widths around every register size and for a strided bias.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearBiasTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void The_bias_add_matches_the_broadcast_sum_on_every_path_and_width(DType dtype)
    {
        var g = new Generator(11);
        foreach (int n in new[] { 1, 3, 7, 8, 9, 15, 16, 17, 33, 255, 257 })
            foreach (int m in new[] { 1, 3, 17 })
            {
                var x = Tensor.Randn([m, 5], g, dtype);
                var w = Tensor.Randn([n, 5], g, dtype);
                var wide = Tensor.Randn([2 * n], g, dtype);
                var strided = Ops.Slice(wide, 0, 0, 2 * n, 2);   // a bias that is a view with stride 2
                var b = Tensor.Randn([n], g, dtype);
                var product = Ops.MatMul(x, Ops.Transpose(w, 0, 1));
                var expected = product.ToDoubleArray().Select((v, i) => Sum(dtype, v, b.ToDoubleArray()[i % n])).ToArray();
                var expectedStrided = product.ToDoubleArray().Select((v, i) => Sum(dtype, v, strided.ToDoubleArray()[i % n])).ToArray();
                KernelSettings.ForEachPath(path =>
                {
                    AssertBits(expected, Ops.Linear(x, w, b), $"{path}, m = {m}, n = {n}");
                    AssertBits(expectedStrided, Ops.Linear(x, w, strided), $"{path}, m = {m}, n = {n}, strided bias");
                });
            }
    }

    /// <summary>v + b rounded once in the tensor's dtype.</summary>
    private static double Sum(DType dtype, double v, double b) => dtype == DType.Float32 ? (float)v + (float)b : v + b;

    private static void AssertBits(double[] expected, Tensor actual, string where)
    {
        var y = actual.ToDoubleArray();
        Assert.Equal(expected.Length, y.Length);
        for (int i = 0; i < y.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(y[i]), $"{where}: element {i}: {expected[i]:R} vs {y[i]:R}");
    }
}
