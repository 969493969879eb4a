namespace Aperture.Tests;

public class ErrorMessageTests
{
    [Fact]
    public void Shape_mismatch_names_the_op_and_both_shapes()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([2, 3]) + Tensor.Zeros([4]));
        Assert.Contains("add", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[4]", ex.Message);
        var mm = Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(Tensor.Zeros([2, 3]), Tensor.Zeros([4, 5])));
        Assert.Contains("matmul", mm.Message);
        Assert.Contains("[2, 3]", mm.Message);
        Assert.Contains("[4, 5]", mm.Message);
        var rs = Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([2, 3]).Reshape(4, 2));
        Assert.Contains("reshape", rs.Message);
    }

    [Fact]
    public void Mixed_dtypes_are_named()
    {
        var ex = Assert.Throws<DTypeMismatchException>(() => Ops.MatMul(Tensor.Zeros([2, 2]), Tensor.Zeros([2, 2], DType.Float64)));
        Assert.Contains("matmul", ex.Message);
        Assert.Contains("float32", ex.Message);
        Assert.Contains("float64", ex.Message);
        var ints = Assert.Throws<DTypeMismatchException>(() => Tensor.Arange(3).Sin());
        Assert.Contains("int64", ints.Message);
    }

    [Fact]
    public void Index_errors_name_the_dimension_and_size()
    {
        var ex = Assert.Throws<IndexOutOfRangeException>(() => Ops.IndexSelect(Tensor.Zeros([3, 2]), 0, Tensor.FromArray(new long[] { 0, 5 })));
        Assert.Contains("index_select", ex.Message);
        Assert.Contains("5", ex.Message);
        Assert.Contains("size 3", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros([2]).Sum([3]));
    }

    [Fact]
    public void Anomaly_mode_names_the_first_op_that_produced_nan_in_the_forward()
    {
        var x = Tensor.FromArray([1.0, -1.0]).RequiresGrad_();
        using var _ = Anomaly.Detect();
        var ex = Assert.Throws<AnomalyException>(() => (x * 2.0).Log());
        Assert.Equal("log", ex.Op);
        Assert.False(ex.IsBackward);
        Assert.Contains("NaN", ex.Message);
        Assert.Contains("[2] float64", ex.Message);
    }

    [Fact]
    public void Anomaly_mode_names_the_op_whose_backward_produced_inf()
    {
        var x = Tensor.FromArray([0.0, 4.0]).RequiresGrad_();
        using var _ = Anomaly.Detect();
        var y = x.Sqrt().Sum();                                 // forward is finite
        var ex = Assert.Throws<AnomalyException>(() => y.Backward());
        Assert.Equal("sqrt", ex.Op);
        Assert.True(ex.IsBackward);
        Assert.Contains("Inf", ex.Message);
    }

    [Fact]
    public void Without_anomaly_mode_nan_flows_silently()
    {
        var x = Tensor.FromArray([-1.0]);
        Assert.True(double.IsNaN(x.Log().Item()));
    }

    [Fact]
    public void Requires_grad_misuse_is_explained()
    {
        var x = Tensor.Zeros([2]).RequiresGrad_();
        var y = x * 2.0;
        var ex = Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Assert.Contains("Detach", ex.Message);
        Assert.Throws<DTypeMismatchException>(() => Tensor.Arange(3).RequiresGrad_());
        var inPlace = Assert.Throws<InvalidOperationException>(() => Ops.AddInPlace(x, Tensor.Ones([2])));
        Assert.Contains("NoGrad", inPlace.Message);
    }

    [Fact]
    public void Indexing_a_scalar_says_so()
    {
        var ex = Assert.Throws<IndexOutOfRangeException>(() => Tensor.Scalar(1)[0]);
        Assert.Contains("0-d tensor", ex.Message);
        Assert.Contains("Item()", ex.Message);
        Assert.Contains("0-d tensor", Assert.Throws<IndexOutOfRangeException>(() => Ops.Select(Tensor.Scalar(1), 0, 0)).Message);
        Assert.Contains("out of range", Assert.Throws<IndexOutOfRangeException>(() => Tensor.Zeros([2])[2]).Message);
    }

    [Theory]
    [InlineData(2, 0, 1)]
    [InlineData(0, 3, 1)]
    [InlineData(0, 3, 0)]
    public void Softmax_of_an_empty_tensor_is_empty_as_in_PyTorch(int rows, int cols, int axis)
    {
        var x = Tensor.Zeros([rows, cols]).RequiresGrad_();
        var y = x.Softmax(axis);
        Assert.Equal([rows, cols], y.Shape.ToArray());
        Assert.Equal([rows, cols], Ops.LogSoftmax(x, axis).Shape.ToArray());
        Ops.Sum(y).Backward();
        Assert.Equal([rows, cols], x.Grad!.Shape.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Softmax(2));
    }

    [Fact]
    public void A_tensor_larger_than_an_array_is_refused_up_front_with_its_size()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros([2147483647], DType.Float64));
        Assert.Contains("float64", ex.Message);
        Assert.Contains("[2147483647]", ex.Message);
        Assert.Contains("17179869176 bytes", ex.Message);
        Assert.Contains("more than the", ex.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Uninitialized([2147483600], DType.Float32));
        using (TensorScope.Begin())
            Assert.Contains("[2147483647]", Assert.Throws<ArgumentException>(() => Tensor.Zeros([2147483647], DType.Int64)).Message);
    }
}
