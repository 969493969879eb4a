namespace Aperture.Tests.OpTests;

/// <summary>int64 tensors add, subtract and multiply exactly, with broadcasting, as PyTorch's integer tensors do.</summary>
public class IntegerArithmeticTests
{
    private static Tensor Longs(long[] values, params int[] shape) => Tensor.FromArray(values, shape);

    [Fact]
    public void Int64_tensors_add_subtract_and_multiply_with_broadcasting()
    {
        var a = Longs([1, 2, 3, 4, 5, 6], 2, 3);
        var row = Longs([10, 20, 30], 3);
        Assert.Equal([11L, 22, 33, 14, 25, 36], (a + row).ToArray<long>());
        Assert.Equal([-9L, -18, -27, -6, -15, -24], (a - row).ToArray<long>());
        Assert.Equal([10L, 40, 90, 40, 100, 180], (a * row).ToArray<long>());
        Assert.Equal(DType.Int64, (a + row).DType);
        Assert.Equal([2, 3], (a * row).Shape.ToArray());
    }

    [Fact]
    public void Whole_number_constants_apply_to_int64_tensors()
    {
        var labels = Longs([0, 3, 9], 3);
        Assert.Equal([1L, 4, 10], (labels + 1).ToArray<long>());
        Assert.Equal([-2L, 1, 7], (labels - 2).ToArray<long>());
        Assert.Equal([0L, 12, 36], (labels * 4).ToArray<long>());
        Assert.Equal([0L, -3, -9], (-labels).ToArray<long>());
        Assert.Equal([10L, 7, 1], Ops.Sub(10, labels).ToArray<long>());
    }

    [Fact]
    public void Integer_arithmetic_is_exact_beyond_float_precision_and_wraps_on_overflow()
    {
        long big = (1L << 53) + 1; // not representable in float64
        Assert.Equal([big + 1], (Longs([big], 1) + 1).ToArray<long>());
        Assert.Equal([long.MinValue], (Longs([long.MaxValue], 1) + 1).ToArray<long>());
    }

    [Fact]
    public void Mixing_dtypes_or_fractional_constants_promotes_as_pytorch_does()
    {
        var ints = Longs([1, 2], 2);
        var floats = Tensor.FromArray([1f, 2f]);
        var sum = ints + floats;                                   // torch: int64 + float32 → float32
        Assert.Equal(DType.Float32, sum.DType);
        Assert.Equal(new[] { 2f, 4f }, sum.ToArray<float>());
        var scaled = ints * 0.5;                                   // torch: int64 × 0.5 → float32 (the default dtype)
        Assert.Equal(DType.Float32, scaled.DType);
        Assert.Equal(new[] { 0.5f, 1f }, scaled.ToArray<float>());
        var quotient = Ops.Div(ints, ints);                        // torch: int64 / int64 is a true division → float32
        Assert.Equal(DType.Float32, quotient.DType);
        Assert.Equal(new[] { 1f, 1f }, quotient.ToArray<float>());
        Assert.Equal(DType.Int64, (ints * 2).DType);               // whole-number constants keep int64
    }
}
