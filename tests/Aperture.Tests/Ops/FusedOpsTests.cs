namespace Aperture.Tests.OpTests;

/// <summary>The fused primitives give the same bits as the composites they replace.</summary>
public class FusedOpsTests
{
    private static void AssertBitwise(Tensor a, Tensor b)
    {
        Assert.Equal(a.ShapeArray(), b.ShapeArray());
        var x = a.ToDoubleArray();
        var y = b.ToDoubleArray();
        for (int i = 0; i < x.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(x[i]) == BitConverter.DoubleToInt64Bits(y[i]), $"element {i}: {x[i]:R} vs {y[i]:R}");
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void The_square_s_one_pass_gradient_matches_its_recorded_rule(DType dtype)
    {
        // A plain backward pass computes g·(2x) in one kernel; a recorded one (createGraph) runs the rule as tensor
        // ops, g times the tensor 2x. Both for a dense g and for the broadcast gradient of a sum, with values that
        // span the range (huge ones overflow to infinity alike, tiny ones stay subnormal alike).
        var g = new Generator(3);
        var values = Tensor.Randn([7, 13], g, dtype) * 1e3;
        var data = values.ToDoubleArray();
        data[0] = dtype == DType.Float32 ? 3e38 : 1.7e308;
        data[1] = dtype == DType.Float32 ? 1e-44 : 5e-323;
        data[2] = -0.0;
        var x = Tensor.FromArray(data, [7, 13]).To(dtype).RequiresGrad_();
        var seed = Tensor.Randn([7, 13], g, dtype);
        foreach (bool summed in new[] { false, true })
        {
            Tensor Loss() => summed ? Ops.Sum(Ops.Square(x)) * 0.37 : Ops.Sum(Ops.Square(x) * seed);
            var plain = Aperture.Autodiff.Grad(Loss(), x);
            var recorded = Aperture.Autodiff.Grad(Loss(), x, createGraph: true);
            Assert.True(recorded.RequiresGrad, "the recorded gradient is itself differentiable");
            AssertBitwise(recorded.Detach(), plain);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Linear_matches_matmul_plus_bias(DType dtype)
    {
        var g = new Generator(1);
        var x = Tensor.Randn([37, 19], g, dtype);
        var w = Tensor.Randn([11, 19], g, dtype);
        var b = Tensor.Randn([11], g, dtype);
        AssertBitwise(Ops.MatMul(x, Ops.Transpose(w, 0, 1)) + b, Ops.Linear(x, w, b));
        var x3 = Tensor.Randn([2, 5, 19], g, dtype);
        AssertBitwise(Ops.MatMul(x3, Ops.Transpose(w, 0, 1)) + b, Ops.Linear(x3, w, b));
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Cross_entropy_matches_log_softmax_and_gather(DType dtype)
    {
        var g = new Generator(2);
        var logits = Tensor.Randn([33, 10], g, dtype) * 4.0;
        var target = Tensor.RandInt(0, 10, [33], g);
        var composite = -Ops.Gather(Ops.LogSoftmax(logits, 1), 1, target.Reshape(33, 1)).Mean();
        AssertBitwise(composite, Ops.CrossEntropy(logits, target));
        var big = Tensor.FromArray([1e4, 0.0, -1e4, 5.0, 5.0, 5.0], [2, 3]).To(dtype);
        var loss = Ops.CrossEntropy(big, Tensor.FromArray(new long[] { 0, 2 }));
        Assert.Equal(Math.Log(3) / 2, loss.Item(), dtype == DType.Float32 ? 6 : 13);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Fused_backward_passes_agree_with_the_composites(DType dtype)
    {
        var g = new Generator(3);
        var x = Tensor.Randn([17, 9], g, dtype).RequiresGrad_();
        var w = Tensor.Randn([6, 9], g, dtype).RequiresGrad_();
        var b = Tensor.Randn([6], g, dtype).RequiresGrad_();
        var t = Tensor.RandInt(0, 6, [17], g);
        var fused = Aperture.Autodiff.Grad([Ops.CrossEntropy(Ops.Linear(x, w, b).Relu(), t)], [x, w, b]);
        var h = (Ops.MatMul(x, Ops.Transpose(w, 0, 1)) + b).Relu();
        var composite = Aperture.Autodiff.Grad([-Ops.Gather(Ops.LogSoftmax(h, 1), 1, t.Reshape(17, 1)).Mean()], [x, w, b]);
        for (int i = 0; i < 3; i++)
        {
            var a = fused[i]!.ToDoubleArray();
            var c = composite[i]!.ToDoubleArray();
            for (int j = 0; j < a.Length; j++) Assert.Equal(c[j], a[j], dtype == DType.Float32 ? 5 : 13);
        }
        var mse = Aperture.Autodiff.Grad([Ops.MseLoss(x, x.Detach() * 0.5)], [x])[0]!.ToDoubleArray();
        var expected = ((x.Detach() * 0.5) * 2.0 / (17 * 9)).ToDoubleArray();
        for (int j = 0; j < mse.Length; j++) Assert.Equal(expected[j], mse[j], dtype == DType.Float32 ? 6 : 14);
    }

    [Fact]
    public void Cross_entropy_rejects_bad_targets_with_clear_messages()
    {
        var logits = Tensor.Zeros([2, 3]);
        Assert.Contains("out of range for 3 classes", Assert.Throws<IndexOutOfRangeException>(() => Ops.CrossEntropy(logits, Tensor.FromArray(new long[] { 0, 3 }))).Message);
        Assert.Contains("[2]", Assert.Throws<ShapeMismatchException>(() => Ops.CrossEntropy(logits, Tensor.FromArray(new long[] { 0 }))).Message);
        Assert.Contains("int64", Assert.Throws<DTypeMismatchException>(() => Ops.CrossEntropy(logits, Tensor.Zeros([2]))).Message);
    }
}
