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
}
