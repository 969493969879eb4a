namespace Aperture.Tests.Kernels;

/// <summary>Copies between layouts, the transposing ones included, element for element on every path and dtype.</summary>
[Collection(ThreadCountCollection.Name)]
public class StridedCopyTests
{
    private static readonly int[] Sizes = [1, 7, 8, 9, 33, 64];

    /// <summary>The value every layout must show at a logical index: the flat index in the source's own order.</summary>
    private static double Expected(int[] shape, int[] perm, int[] index)
    {
        // y = permute(x, perm) where x holds 0, 1, 2, ... in row-major order of its own shape.
        var xShape = new int[shape.Length];
        for (int i = 0; i < perm.Length; i++) xShape[perm[i]] = shape[i];
        var xIndex = new int[shape.Length];
        for (int i = 0; i < perm.Length; i++) xIndex[perm[i]] = index[i];
        double flat = 0;
        for (int i = 0; i < xShape.Length; i++) flat = flat * xShape[i] + xIndex[i];
        return flat;
    }

    private static void Check(Tensor y, int[] perm, string what)
    {
        var values = y.ToDoubleArray();
        var shape = y.Shape.ToArray();
        var index = new int[shape.Length];
        for (int flat = 0; flat < values.Length; flat++)
        {
            int rest = flat;
            for (int i = shape.Length - 1; i >= 0; i--) { index[i] = rest % shape[i]; rest /= shape[i]; }
            double e = Expected(shape, perm, index);
            if (y.DType == DType.Bool) e = e != 0 ? 1 : 0;
            if (values[flat] != e) Assert.Fail($"{what}: element {flat} is {values[flat]}, expected {e}");
        }
    }

    [Fact]
    public void Transposed_views_become_contiguous_exactly()
    {
        KernelSettings.ForEachPath(path =>
        {
            foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64, DType.Bool })
                foreach (int m in Sizes)
                    foreach (int n in Sizes)
                    {
                        var x = Tensor.Arange(0, m * n, 1, dtype == DType.Bool ? DType.Int64 : dtype).To(dtype).Reshape(m, n);
                        Check(Ops.Transpose(x, 0, 1).Contiguous(), [1, 0], $"{dtype} {path} {m}x{n}");
                    }
            var cube = Tensor.Arange(0, 5 * 17 * 9, 1, DType.Float32).Reshape(5, 17, 9);
            foreach (var perm in new[] { new[] { 0, 2, 1 }, new[] { 2, 1, 0 }, new[] { 1, 0, 2 }, new[] { 2, 0, 1 } })
                Check(Ops.Permute(cube, perm).Contiguous(), perm, $"{path} permute [{string.Join(", ", perm)}]");
        });
    }

    [Fact]
    public void Copying_into_a_transposed_destination_writes_only_its_elements()
    {
        KernelSettings.ForEachPath(path =>
        {
            foreach (int m in Sizes)
                foreach (int n in Sizes)
                {
                    // The destination is the transpose of a [n, m] buffer inside a larger one, with guards around it.
                    var buffer = Tensor.Full([n * m + 6], -1.0, DType.Float64);
                    var inner = buffer.Alias([n, m], [m, 1], 3);
                    var dst = Ops.Transpose(inner, 0, 1);
                    var src = Tensor.Arange(0, m * n, 1, DType.Float64).Reshape(m, n);
                    StridedCopy.CopyInto(src, dst);
                    var all = buffer.ToArray<double>();
                    Assert.Equal(new[] { -1.0, -1, -1 }, all[..3]);
                    Assert.Equal(new[] { -1.0, -1, -1 }, all[^3..]);
                    Check(inner, [1, 0], $"{path} {m}x{n}");
                }
        });
    }
}
