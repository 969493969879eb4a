namespace Aperture.Tests.Tensors;

public class TensorTests
{
    [Fact]
    public void CopyTo_writes_the_elements_in_row_major_order_without_allocating_an_array()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var buffer = new float[8];
        x.CopyTo<float>(buffer.AsSpan(1));
        Assert.Equal([0f, 1, 2, 3, 4, 5, 6, 0], buffer);
        // A strided view copies its own elements in its own order.
        var t = new float[6];
        x.T.CopyTo<float>(t);
        Assert.Equal([1f, 4, 2, 5, 3, 6], t);
        Assert.Equal(x.T.ToArray<float>(), t);
        Assert.Contains("holds 5 elements", Assert.Throws<ArgumentException>(() => x.CopyTo<float>(new float[5])).Message);
        Assert.Throws<DTypeMismatchException>(() => x.CopyTo<double>(new double[6]));
    }

    [Fact]
    public void Creation_functions_fill_as_documented()
    {
        Assert.Equal([0.0, 0, 0, 0, 0, 0], Tensor.Zeros([2, 3]).ToDoubleArray());
        Assert.Equal([2.5, 2.5], Tensor.Full([2], 2.5, DType.Float64).ToDoubleArray());
        Assert.Equal([0L, 1, 2, 3], Tensor.Arange(4).ToArray<long>());
        Assert.Equal([1.0, 1.5, 2.0, 2.5], Tensor.Arange(1, 3, 0.5, DType.Float64).ToDoubleArray());
        Assert.Equal([0.0, 0.25, 0.5, 0.75, 1.0], Tensor.Linspace(0, 1, 5, DType.Float64).ToDoubleArray());
        Assert.Equal([1.0, 0, 0, 0, 1, 0], Tensor.Eye(2, 3).ToDoubleArray());
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        Assert.Equal([2, 3], x.ShapeArray());
        Assert.Equal(6.0, x.At(1, 2));
        Assert.Equal(DType.Float32, x.DType);
    }

    [Fact]
    public void Views_share_storage_and_follow_pytorch_semantics()
    {
        var x = Tensor.Arange(0, 24, 1, DType.Float64).Reshape(2, 3, 4);
        var p = x.Permute(2, 0, 1);
        Assert.Equal([4, 2, 3], p.ShapeArray());
        Assert.False(p.IsContiguous);
        Assert.Equal(x.At(1, 2, 3), p.At(3, 1, 2));
        var s = x.Slice(2, 1, 4, 2);                      // x[:, :, 1:4:2]
        Assert.Equal([2, 3, 2], s.ShapeArray());
        Assert.Equal([1.0, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23], s.ToDoubleArray());
        Assert.Equal([13.0, 15], x.Slice(2, -3, 10, 2)[1][0].ToDoubleArray());
        var e = Tensor.FromArray([1.0, 2.0]).Reshape(2, 1).Expand(2, 3);
        Assert.Equal([1.0, 1, 1, 2, 2, 2], e.ToDoubleArray());
        Assert.Equal(0, e.Strides[1]);
        x.SetAt(100, 0, 0, 1);                            // the view sees the write
        Assert.Equal(100.0, p.At(1, 0, 0));
        Assert.Equal([2, 12], x.Flatten(1).ShapeArray());
        Assert.Equal([2, 1, 3, 4], x.Unsqueeze(1).ShapeArray());
        Assert.Equal([3, 4], x.Narrow(0, 1, 1).Squeeze().ShapeArray());
        Assert.Equal([6, 4], x.Reshape(-1, 4).ShapeArray());
        var c = p.Contiguous();
        Assert.True(c.IsContiguous);
        Assert.Equal(p.ToDoubleArray(), c.ToDoubleArray());
    }

    [Fact]
    public void Broadcasting_follows_numpy()
    {
        var a = Tensor.FromArray([1.0, 2, 3], [3, 1]);
        var b = Tensor.FromArray([10.0, 20], [1, 2]);
        var sum = a + b;
        Assert.Equal([3, 2], sum.ShapeArray());
        Assert.Equal([11.0, 21, 12, 22, 13, 23], sum.ToDoubleArray());
        var t = Tensor.Arange(0, 6, 1, DType.Float64).Reshape(2, 3).T;   // non-contiguous operand
        Assert.Equal([0.0, 5, 1, 6, 2, 7], (t + Tensor.FromArray([0.0, 2])).ToDoubleArray());
    }

    [Fact]
    public void Reductions_over_axes_with_keepdim()
    {
        var x = Tensor.Arange(0, 24, 1, DType.Float64).Reshape(2, 3, 4);
        Assert.Equal([12, 15, 18, 21, 48, 51, 54, 57], x.Sum([1]).ToDoubleArray().Select(v => (int)v));
        Assert.Equal([2, 1, 4], x.Sum([1], keepDim: true).ShapeArray());
        Assert.Equal(276.0, x.Sum().Item());
        Assert.Equal(11.5, x.Mean().Item());
        Assert.Equal(1.25, x.Var([2], correction: 0).At(0, 0), 12);
        var (values, indices) = Tensor.FromArray([3.0, 7, 7, -1, 0, 9], [2, 3]).Max(1);
        Assert.Equal([7.0, 9], values.ToDoubleArray());
        Assert.Equal([1L, 2], indices.ToArray<long>());
        Assert.Equal([0L, 0, 1], Tensor.FromArray([3.0, 7, 7, -1, 0, 9], [2, 3]).ArgMax(0).ToArray<long>());
        var big = Tensor.FromArray([1000.0, 1000.0]);
        Assert.Equal(1000 + Math.Log(2), big.LogSumExp(0).Item(), 12);
        Assert.Equal(5.0, Tensor.FromArray([3.0, 4.0]).Norm().Item(), 14);
        var sm = Tensor.FromArray([1e4, 0.0, -1e4]).Softmax();
        Assert.Equal([1.0, 0, 0], sm.ToDoubleArray());
    }

    [Fact]
    public void Matmul_follows_torch_matmul_shape_rules()
    {
        var g = new Generator(1);
        Assert.Equal([3], Ops.MatMul(Tensor.Randn([3, 4], g), Tensor.Randn([4], g)).ShapeArray());
        Assert.Equal([5], Ops.MatMul(Tensor.Randn([4], g), Tensor.Randn([4, 5], g)).ShapeArray());
        Assert.Equal([], Ops.MatMul(Tensor.Randn([4], g), Tensor.Randn([4], g)).ShapeArray());
        Assert.Equal([2, 7, 3, 5], Ops.MatMul(Tensor.Randn([2, 1, 3, 4], g), Tensor.Randn([7, 4, 5], g)).ShapeArray());
        var a = Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 4 } });
        var b = Tensor.FromArray(new double[,] { { 5, 6 }, { 7, 8 } });
        Assert.Equal([19.0, 22, 43, 50], a.MatMul(b).ToDoubleArray());
        Assert.Equal([26.0, 30, 38, 44], a.T.MatMul(b).ToDoubleArray());
    }

    [Fact]
    public void Indexing_ops_gather_scatter_select_concat()
    {
        var x = Tensor.FromArray([1.0, 2, 3, 4, 5, 6], [2, 3]);
        var idx = Tensor.FromArray(new long[] { 2, 0, 1, 1 }, [2, 2]);
        Assert.Equal([3.0, 1, 5, 5], Ops.Gather(x, 1, idx).ToDoubleArray());
        var sa = Ops.ScatterAdd(Tensor.Zeros([2, 3], DType.Float64), 1, idx, Tensor.Ones([2, 2], DType.Float64));
        Assert.Equal([1.0, 0, 1, 0, 2, 0], sa.ToDoubleArray());
        Assert.Equal([4.0, 5, 6, 1, 2, 3, 4, 5, 6], Ops.IndexSelect(x, 0, Tensor.FromArray(new long[] { 1, 0, 1 })).ToDoubleArray());
        var cat = Ops.Concat([x, Tensor.Zeros([1, 3], DType.Float64)], 0);
        Assert.Equal([3, 3], cat.ShapeArray());
        Assert.Equal([2, 2, 3], Ops.Stack([x, x]).ShapeArray());
        var parts = Ops.Split(Tensor.Arange(0, 7, 1, DType.Float64), 3);
        Assert.Equal([3, 3, 1], parts.Select(p => p.Numel));
        Assert.Equal([6.0], parts[2].ToDoubleArray());
        var w = Ops.Where(Ops.Gt(x, 3), x, Tensor.Scalar(0, DType.Float64));
        Assert.Equal([0.0, 0, 0, 4, 5, 6], w.ToDoubleArray());
    }

    [Fact]
    public void ToString_is_readable_like_pytorch()
    {
        var s = Tensor.FromArray(new float[] { 1, 2.5f, -3, 4 }, [2, 2]).ToString();
        Assert.Equal("tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]])", s);
        Assert.Equal("tensor([1, 2], dtype=int64)", Tensor.FromArray(new long[] { 1, 2 }).ToString());
        Assert.Contains("...", Tensor.Zeros([2000]).ToString());
        Assert.Contains("requires_grad=True", Tensor.Zeros([2]).RequiresGrad_().ToString());
        Assert.Contains("grad_fn=mul", (Tensor.Zeros([2]).RequiresGrad_() * Tensor.Ones([2])).ToString());
        Assert.Equal("tensor(3.0000, dtype=float64)", Tensor.Scalar(3, DType.Float64).ToString());
    }

    [Fact]
    public void Casts_and_comparisons()
    {
        var x = Tensor.FromArray([1.5, -2.5, 0.0]);
        Assert.Equal([1L, -2, 0], x.To(DType.Int64).ToArray<long>());
        Assert.Equal([true, true, false], x.To(DType.Bool).ToArray<bool>());
        Assert.Equal([true, false, false], Ops.Gt(x, 0).ToArray<bool>());
        Assert.Equal(2L, Ops.Sum(Ops.Ne(x, 1.5)).Item());
        var labels = Tensor.FromArray(new long[] { 1, 2, 3 });
        Assert.Equal([true, false, true], Ops.Eq(labels, Tensor.FromArray(new long[] { 1, 0, 3 })).ToArray<bool>());
    }
}
