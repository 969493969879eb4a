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
    public void A_broadcast_element_becomes_a_contiguous_fill_exactly()
    {
        // Every stride 0 (the gradient of a sum, expanded): the copy fills with the one element the view reads, taken
        // at the view's offset, whatever the rank; a view that broadcasts along some axes only takes the general loop.
        KernelSettings.ForEachPath(path =>
        {
            foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64, DType.Bool })
                foreach (var shape in new[] { new[] { 1 }, new[] { 5 }, new[] { 3, 7 }, new[] { 2, 1, 9 }, new[] { 4, 3, 2, 17 } })
                {
                    var source = Tensor.Arange(0, 12, 1, dtype == DType.Bool ? DType.Int64 : dtype).To(dtype);
                    var element = Ops.Reshape(Ops.Narrow(source, 0, 5, 1), []);    // the element 5 (true for bool), at offset 5
                    var y = Ops.Expand(element, shape).Contiguous();
                    Assert.Equal(shape, y.ShapeArray());
                    double expected = dtype == DType.Bool ? 1 : 5;
                    Assert.All(y.ToDoubleArray(), v => Assert.Equal(expected, v));
                    var row = Ops.Reshape(Ops.Narrow(source, 0, 2, 3), [1, 3]);    // 2, 3, 4 broadcast along the rows
                    var rows = Ops.Expand(row, [4, 3]).Contiguous().ToDoubleArray();
                    for (int i = 0; i < rows.Length; i++) Assert.Equal(dtype == DType.Bool ? 1 : 2 + i % 3, rows[i]);
                }
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
