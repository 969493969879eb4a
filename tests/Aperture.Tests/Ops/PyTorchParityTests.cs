namespace Aperture.Tests.OpTests;

/// <summary>Behaviours a PyTorch user relies on: type promotion, .T on any rank, clamp's edge cases. Values are PyTorch's.</summary>
public class PyTorchParityTests
{
    [Fact]
    public void Float32_with_float64_promotes_to_float64_and_the_gradient_comes_back_in_float32()
    {
        var a = Tensor.FromArray([1.5f, -2f]).RequiresGrad_();
        var b = Tensor.FromArray([0.25, 4.0]);
        var y = a * b;                                                       // torch: float32 * float64 → float64
        Assert.Equal(DType.Float64, y.DType);
        Assert.Equal([0.375, -8.0], y.ToDoubleArray());
        Assert.Equal(DType.Float64, (a + b).DType);
        Assert.Equal(DType.Float64, (b - a).DType);
        Assert.Equal(DType.Float64, Ops.Div(a, b).DType);
        y.Sum().Backward();
        Assert.Equal(DType.Float32, a.Grad!.DType);
        Assert.Equal(new[] { 0.25f, 4f }, a.Grad!.ToArray<float>());
    }

    [Fact]
    public void A_scalar_tensor_decides_the_dtype_only_from_a_higher_category()
    {
        var f32 = Tensor.FromArray([1f, 2f]);
        Assert.Equal(DType.Float32, (f32 + Tensor.Scalar(1, DType.Float64)).DType);   // same category: the dimensioned operand wins
        var i64 = Tensor.FromArray([1L, 2L]);
        Assert.Equal(DType.Float64, (i64 + Tensor.Scalar(0.5, DType.Float64)).DType); // a higher category: the scalar wins
        Assert.Equal(DType.Int64, (i64 * Tensor.Scalar(3, DType.Int64)).DType);
        Assert.Equal(DType.Float64, Ops.ResultType(Tensor.Scalar(1, DType.Float32), Tensor.Scalar(1, DType.Float64)));
        Assert.Equal(DType.Float32, Ops.ResultType(Tensor.Zeros([2], DType.Int64), Tensor.Zeros([2])));
    }

    [Fact]
    public void Int64_with_a_fraction_or_a_true_division_gives_the_default_float()
    {
        var x = Tensor.FromArray([3L, -4L, 5L]);
        var scaled = x * 2.5;                                                // torch: tensor([3, -4, 5]) * 2.5 → float32
        Assert.Equal(DType.Float32, scaled.DType);
        Assert.Equal(new[] { 7.5f, -10f, 12.5f }, scaled.ToArray<float>());
        var half = x / 2;                                                    // torch: tensor([3, -4, 5]) / 2 → [1.5, -2, 2.5]
        Assert.Equal(DType.Float32, half.DType);
        Assert.Equal(new[] { 1.5f, -2f, 2.5f }, half.ToArray<float>());
        Assert.Equal(new[] { 2f / 3, -0.5f, 0.4f }, (2.0 / x).ToArray<float>());
        Assert.Equal(new[] { 3.5f, -3.5f, 5.5f }, (x + 0.5).ToArray<float>());
        Assert.Equal(new long[] { 6, -8, 10 }, (x * 2).ToArray<long>());   // whole numbers keep int64
        Assert.Equal(new long[] { 1, -6, 3 }, (x - 2).ToArray<long>());
    }

    [Fact]
    public void T_reverses_every_dimension_as_pytorch_defines_it()
    {
        var m = Tensor.Arange(0, 6, 1, DType.Float64).Reshape(2, 3);
        Assert.Equal([3, 2], m.T.ShapeArray());
        Assert.Equal(1.0, m.T.At(1, 0));
        var x = Tensor.Arange(0, 24, 1, DType.Float64).Reshape(2, 3, 4);
        var t = x.T;                                                         // torch: x.T.shape == (4, 3, 2), x.T[k, j, i] == x[i, j, k]
        Assert.Equal([4, 3, 2], t.ShapeArray());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    Assert.Equal(x.At(i, j, k), t.At(k, j, i));
        var v = Tensor.FromArray([1.0, 2.0]);
        Assert.Same(v, v.T);                                                 // rank 1 and 0: the tensor itself
        var s = Tensor.Scalar(3);
        Assert.Same(s, s.T);
        Assert.Equal([2, 4, 3], x.MT.ShapeArray());                         // torch: x.mT swaps the last two
        Assert.Throws<ShapeMismatchException>(() => v.MT);

        // Gradients flow through the view.
        var w = Tensor.Arange(0, 24, 1, DType.Float64).Reshape(2, 3, 4).RequiresGrad_();
        (w.T * Tensor.Arange(0, 24, 1, DType.Float64).Reshape(4, 3, 2)).Sum().Backward();
        Assert.Equal(Tensor.Arange(0, 24, 1, DType.Float64).Reshape(4, 3, 2).T.Contiguous().ToDoubleArray(), w.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Clamp_with_min_above_max_gives_max_everywhere_and_no_gradient()
    {
        var x = Tensor.FromArray([-1.0, 0.5, 2.0, double.NaN]).RequiresGrad_();
        var y = Ops.Clamp(x, 1.0, 0.0);                                      // torch.clamp(x, min=1, max=0) → [0, 0, 0, nan]
        var v = y.ToDoubleArray();
        Assert.Equal([0.0, 0.0, 0.0], v[..3]);
        Assert.True(double.IsNaN(v[3]));
        y.Sum().Backward();
        Assert.Equal([0.0, 0.0, 0.0, 0.0], x.Grad!.ToDoubleArray());
        Assert.Equal(new[] { -1f, -1f }, Ops.Clamp(Tensor.FromArray([5f, -5f]), 3, -1).ToArray<float>());
    }

    [Fact]
    public void Clamp_on_int64_stays_int64_with_whole_bounds()
    {
        var x = Tensor.FromArray([-5L, 0L, 3L, long.MaxValue]);
        var y = Ops.Clamp(x, -2, 2);                                         // torch.clamp(tensor([-5, 0, 3, 2**63-1]), -2, 2) → int64
        Assert.Equal(DType.Int64, y.DType);
        Assert.Equal(new long[] { -2, 0, 2, 2 }, y.ToArray<long>());
        Assert.Equal(new long[] { 0, 0, 3, long.MaxValue }, Ops.Clamp(x, min: 0).ToArray<long>());
        Assert.Equal(new long[] { -5, 0, 1, 1 }, Ops.Clamp(x, max: 1).ToArray<long>());
        Assert.Equal(new long[] { -1, -1, -1, -1 }, Ops.Clamp(x, 4, -1).ToArray<long>()); // min > max → max
        var f = Ops.Clamp(x, -0.5, 2.5);                                     // a fractional bound promotes to float32
        Assert.Equal(DType.Float32, f.DType);
        Assert.Equal(new[] { -0.5f, 0f, 2.5f, 2.5f }, f.ToArray<float>());
    }
}
