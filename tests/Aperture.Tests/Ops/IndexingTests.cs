namespace Aperture.Tests.OpTests;


/// <summary>Gather and scatter-add follow PyTorch's shape rules; the expected values are PyTorch's (worked by hand).</summary>
public class IndexingTests
{
    [Fact]
    public void Gather_takes_an_index_longer_than_x_along_the_axis()
    {
        // torch.gather(torch.zeros(3, 4), 0, idx) with idx of shape [5, 4] is valid: only dimension 1 is bounded by x.
        var index = Tensor.FromArray([0L, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 2, 2, 2, 2], [5, 4]);
        Assert.Equal([5, 4], Ops.Gather(Tensor.Zeros([3, 4]), 0, index).ShapeArray());

        var x = Tensor.Arange(0, 12, 1, DType.Float64).Reshape(3, 4).RequiresGrad_();
        var y = Ops.Gather(x, 0, index);
        var idx = index.ToArray<long>();
        var expected = Enumerable.Range(0, 20).Select(k => 4.0 * idx[k] + k % 4).ToArray();  // out[i][j] = x[idx[i][j]][j]
        Assert.Equal(expected, y.ToDoubleArray());

        // Each element's gradient counts how often it was picked.
        y.Sum().Backward();
        var counts = new double[12];
        for (int k = 0; k < 20; k++) counts[4 * idx[k] + k % 4]++;
        Assert.Equal(counts, x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Gather_still_bounds_the_other_dimensions_and_the_values()
    {
        var off = Assert.Throws<ShapeMismatchException>(() => Ops.Gather(Tensor.Zeros([3, 4]), 0, Tensor.Zeros([2, 5], DType.Int64)));
        Assert.Contains("dimension 1", off.Message);
        var value = Assert.Throws<IndexOutOfRangeException>(() => Ops.Gather(Tensor.Zeros([3, 4]), 0, Tensor.Full([5, 4], 3, DType.Int64)));
        Assert.Contains("out of range for dimension 0 of size 3", value.Message);
    }

    [Fact]
    public void Scatter_add_of_n_items_into_k_bins_and_its_backward()
    {
        // torch.zeros(2).scatter_add(0, tensor([0, 1, 0, 0, 1]), tensor([1., 2, 3, 4, 5])) = [8, 7]
        var x = Tensor.Zeros([2], DType.Float64).RequiresGrad_();
        var src = Tensor.FromArray([1.0, 2, 3, 4, 5]).RequiresGrad_();
        var index = Tensor.FromArray([0L, 1, 0, 0, 1]);
        var y = Ops.ScatterAdd(x, 0, index, src);
        Assert.Equal([8.0, 7.0], y.ToDoubleArray());

        y.Backward(Tensor.FromArray([10.0, 20.0]));
        Assert.Equal([10.0, 20.0], x.Grad!.ToDoubleArray());
        Assert.Equal([10.0, 20.0, 10.0, 10.0, 20.0], src.Grad!.ToDoubleArray());

        // Forward mode: the tangent scatters the same way.
        var (_, t) = Aperture.Autodiff.Jvp(s => Ops.ScatterAdd(Tensor.Zeros([2], DType.Float64), 0, index, s),
            Tensor.FromArray([1.0, 2, 3, 4, 5]), Tensor.FromArray([1.0, 0, 0, 1, 1]));
        Assert.Equal([2.0, 1.0], t.ToDoubleArray());
    }

    [Fact]
    public void Scatter_add_bounds_the_index_by_src_everywhere_and_by_x_off_the_axis()
    {
        var x = Tensor.Zeros([2, 3], DType.Float64);
        var tooLong = Assert.Throws<ShapeMismatchException>(() => Ops.ScatterAdd(x, 1, Tensor.Zeros([2, 4], DType.Int64), Tensor.Zeros([2, 3], DType.Float64)));
        Assert.Contains("src", tooLong.Message);
        var offAxis = Assert.Throws<ShapeMismatchException>(() => Ops.ScatterAdd(x, 1, Tensor.Zeros([3, 1], DType.Int64), Tensor.Zeros([3, 1], DType.Float64)));
        Assert.Contains("dimension 0", offAxis.Message);
        Assert.Throws<ShapeMismatchException>(() => Ops.ScatterAdd(x, 1, Tensor.Zeros([2, 1], DType.Int64), Tensor.Zeros([2], DType.Float64)));
    }
}
