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

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Passes_split_across_threads_keep_the_one_thread_bits_forward_and_backward(DType dtype)
    {
        // Outputs past Parallelism.PassSplitMin with ragged edges (rows not a multiple of the 8-row blocks, columns not
        // of the 64-column blocks): the bias-and-ReLU pass, the ReLU mask and the bias gradient's column sums are cut
        // across threads, and each element and each column's sum keeps its bits; the forward pass is also checked
        // element by element against the product plus the bias, then the maximum.
        foreach (var (m, n) in new[] { (129, 300), (257, 130) })
        {
            Assert.True(m * n >= Parallelism.PassSplitMin);
            var g = new Generator(12);
            var x = Tensor.Randn([m, 17], g, dtype);
            var w = Tensor.Randn([n, 17], g, dtype);
            var b = Tensor.Randn([n], g, dtype);
            var target = Tensor.Randn([m, n], g, dtype);
            var product = Ops.MatMul(x, Ops.Transpose(w, 0, 1)).ToDoubleArray();
            var expected = product.Select((v, i) => Math.Max(Sum(dtype, v, b.ToDoubleArray()[i % n]), 0.0)).ToArray();
            double[][]? reference = null;
            foreach (int threads in new[] { 1, 2, 3 })
                KernelSettings.WithThreads(threads, () =>
                {
                    var (xr, wr, br) = (x.Detach().RequiresGrad_(), w.Detach().RequiresGrad_(), b.Detach().RequiresGrad_());
                    long loops = Parallelism.SplitLoops;
                    var y = Ops.LinearRelu(xr, wr, br);
                    if (threads > 1) Assert.True(Parallelism.SplitLoops > loops, $"{m} x {n}, {threads} threads: the bias pass was not split");
                    AssertBits(expected, y, $"{m} x {n}, {threads} thread(s), forward");
                    Ops.Sum(Ops.Mul(y, target)).Backward();
                    var grads = new[] { xr.Grad!, wr.Grad!, br.Grad! }.Select(t => t.ToDoubleArray()).ToArray();
                    reference ??= grads;
                    for (int i = 0; i < grads.Length; i++)
                        AssertBits(reference[i], Tensor.FromArray(grads[i], [grads[i].Length]), $"{m} x {n}, {threads} thread(s), gradient {i}");
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
