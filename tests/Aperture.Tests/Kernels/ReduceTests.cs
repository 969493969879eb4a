namespace Aperture.Tests.Kernels;

/// <summary>Sums: the same bits on every code path and thread count, and the column sum equal to summing each column alone.</summary>
[Collection(ThreadCountCollection.Name)]
public class ReduceTests
{
    private static float[] RandomF(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-8, 9)));
        return x;
    }

    [Fact]
    public void Interleaved_sum_is_the_same_on_every_path_for_every_length()
    {
        var xf = RandomF(3000, 1);
        var xd = xf.Select(v => (double)v * 1.0000001).ToArray();
        int[] lengths = [.. Enumerable.Range(0, 70), 255, 256, 257, 1000, 2999];
        KernelSettings.ForEachPath(path =>
        {
            foreach (int n in lengths)
            {
                Assert.Equal(Reduce.InterleavedScalar<float>(xf.AsSpan(0, n)), Reduce.Interleaved(xf.AsSpan(0, n)));
                Assert.Equal(Reduce.InterleavedScalar<double>(xd.AsSpan(0, n)), Reduce.Interleaved(xd.AsSpan(0, n)));
            }
        });
    }

    /// <summary>The reference: move the reduced axes last, copy, and sum each contiguous run.</summary>
    private static Tensor SumByCopy(Tensor x, int[] axes)
    {
        var keep = Enumerable.Range(0, x.Rank).Where(d => !axes.Contains(d)).ToArray();
        var moved = Ops.Permute(x, [.. keep, .. axes]).Contiguous();
        var shape = keep.Select(d => x.Shape[d]).Append(-1).ToArray();
        return Ops.Sum(Ops.Reshape(moved, shape), [-1]);
    }

    [Theory]
    [InlineData(ReductionOrder.Default)]
    [InlineData(ReductionOrder.Sequential)]
    [InlineData(ReductionOrder.Reversed)]
    [InlineData(ReductionOrder.Pairwise)]
    public void Sum_over_leading_axes_equals_summing_each_column_alone(ReductionOrder order)
    {
        var g = new Generator(5);
        (int[] Shape, int[] Axes)[] cases =
        [
            ([1, 1], [0]), ([17, 33], [0]), ([100, 7], [0]), ([16, 16], [0]), ([33, 1], [0]), ([5, 300], [0]),
            ([3, 5, 40], [0, 1]), ([4, 37, 19], [1]), ([2, 3, 35, 2], [1, 2]), ([300, 17], [0]),
        ];
        using var scope = NumericsPolicy.Use(NumericsPolicy.Default with { Order = order });
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var (shape, axes) in cases)
            {
                var x = Tensor.Randn(shape, g, dtype);
                var expected = SumByCopy(x, axes);
                KernelSettings.ForEachPath(path =>
                {
                    foreach (int threads in new[] { 1, 2 })
                        KernelSettings.WithThreads(threads, () =>
                        {
                            var y = Ops.Sum(x, axes);
                            string what = $"{order} {dtype} {path} threads={threads} shape=[{string.Join(", ", shape)}] axes=[{string.Join(", ", axes)}]";
                            Assert.True(Shapes.Equal(expected.Shape, y.Shape), what);
                            if (dtype == DType.Float32) Assert.True(expected.ToArray<float>().SequenceEqual(y.ToArray<float>()), what);
                            else Assert.True(expected.ToArray<double>().SequenceEqual(y.ToArray<double>()), what);
                        });
                });
            }
    }

    [Fact]
    public void Leading_axis_sum_of_an_empty_axis_is_zero()
    {
        var x = Tensor.Zeros([0, 5]);
        Assert.Equal(new float[5], Ops.Sum(x, [0]).ToArray<float>());
    }
}
