namespace Aperture.Tests.OpTests;

using Autodiff = Aperture.Autodiff;

/// <summary>One pooling to test on an input [N, C, H, W].</summary>
public sealed record PoolCase(string Name, int N, int C, int H, int W, Size2d Kernel, Size2d Stride, Size2d Padding, Size2d Dilation,
    bool CeilMode = false, bool CountIncludePad = true)
{
    public int OH => OutputSize(H, Kernel.H, Stride.H, Padding.H, Dilation.H);
    public int OW => OutputSize(W, Kernel.W, Stride.W, Padding.W, Dilation.W);

    /// <summary>PyTorch's pooling_output_shape, written out again.</summary>
    private int OutputSize(int size, int k, int s, int p, int d)
    {
        int num = size + 2 * p - d * (k - 1) - 1 + (CeilMode ? s - 1 : 0);
        int o = (int)Math.Floor(num / (double)s) + 1;
        if (CeilMode && (o - 1) * s >= size + p) o--;
        return o;
    }

    public override string ToString() => Name;
}

/// <summary>Direct loops in float64, following PyTorch's CPU pooling kernels.</summary>
internal static class PoolReference
{
    public static (double[] Values, long[] Indices) Max(PoolCase k, double[] x)
    {
        int planes = k.N * k.C;
        var v = new double[planes * k.OH * k.OW];
        var idx = new long[v.Length];
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < k.OH; oh++)
                for (int ow = 0; ow < k.OW; ow++)
                {
                    double best = double.NegativeInfinity;
                    long at = -1;
                    for (int ki = 0; ki < k.Kernel.H; ki++)
                        for (int kj = 0; kj < k.Kernel.W; kj++)
                        {
                            int ih = oh * k.Stride.H - k.Padding.H + ki * k.Dilation.H, iw = ow * k.Stride.W - k.Padding.W + kj * k.Dilation.W;
                            if (ih < 0 || ih >= k.H || iw < 0 || iw >= k.W) continue;
                            double e = x[(p * k.H + ih) * k.W + iw];
                            if (at < 0 || e > best || (double.IsNaN(e) && !double.IsNaN(best))) (best, at) = (e, ih * k.W + iw);
                        }
                    int o = (p * k.OH + oh) * k.OW + ow;
                    (v[o], idx[o]) = (best, at);
                }
        return (v, idx);
    }

    /// <summary>avg_pool2d as PyTorch's cpu_avg_pool computes it: the divisor counts padding up to size + pad.</summary>
    public static double[] Avg(PoolCase k, double[] x)
    {
        int planes = k.N * k.C;
        var y = new double[planes * k.OH * k.OW];
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < k.OH; oh++)
                for (int ow = 0; ow < k.OW; ow++)
                {
                    int h0 = oh * k.Stride.H - k.Padding.H, w0 = ow * k.Stride.W - k.Padding.W;
                    int h1 = Math.Min(h0 + k.Kernel.H, k.H + k.Padding.H), w1 = Math.Min(w0 + k.Kernel.W, k.W + k.Padding.W);
                    int poolSize = (h1 - h0) * (w1 - w0);
                    (h0, w0, h1, w1) = (Math.Max(h0, 0), Math.Max(w0, 0), Math.Min(h1, k.H), Math.Min(w1, k.W));
                    int o = (p * k.OH + oh) * k.OW + ow;
                    if (h0 >= h1 || w0 >= w1) continue;
                    double sum = 0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) sum += x[(p * k.H + ih) * k.W + iw];
                    y[o] = sum / (k.CountIncludePad ? poolSize : (h1 - h0) * (w1 - w0));
                }
        return y;
    }

    public static double[] Adaptive(int planes, int h, int w, int oh, int ow, double[] x)
    {
        var y = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int h0 = (int)Math.Floor(i * h / (double)oh), h1 = (int)Math.Ceiling((i + 1) * h / (double)oh);
                    int w0 = (int)Math.Floor(j * w / (double)ow), w1 = (int)Math.Ceiling((j + 1) * w / (double)ow);
                    double sum = 0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) sum += x[(p * h + ih) * w + iw];
                    y[(p * oh + i) * ow + j] = sum / ((h1 - h0) * (w1 - w0));
                }
        return y;
    }

    /// <summary>The gradient of Σ gy·f(x) for a linear f, one unit input at a time: the transpose of f by definition.</summary>
    public static double[] Transpose(Func<double[], double[]> f, int inputs, double[] gy)
    {
        var g = new double[inputs];
        var e = new double[inputs];
        for (int i = 0; i < inputs; i++)
        {
            e[i] = 1;
            var col = f(e);
            e[i] = 0;
            for (int j = 0; j < col.Length; j++) g[i] += col[j] * gy[j];
        }
        return g;
    }
}

public class PoolTests
{
    public static TheoryData<PoolCase, DType> MaxCases() => WithDTypes(
    [
        new("batch1_primes", 1, 3, 7, 5, 2, 2, 0, 1),
        new("kernel_is_input", 2, 2, 5, 3, (5, 3), 1, 0, 1),
        new("overlap_padding", 2, 3, 11, 7, 3, (2, 1), 1, 1),
        new("stride_over_kernel", 1, 2, 10, 9, 2, (4, 3), 0, 1),
        new("dilation_non_square", 2, 2, 9, 8, (3, 2), 1, (1, 1), (2, 3)),
        new("ceil_mode", 1, 2, 6, 5, 3, 2, 1, 1, CeilMode: true),
        new("ceil_mode_drops_window_in_padding", 1, 1, 5, 5, 2, 2, 1, 1, CeilMode: true),
        new("kernel_1x1_stride_2", 2, 3, 5, 4, 1, 2, 0, 1),
    ]);

    public static TheoryData<PoolCase, DType> AvgCases() => WithDTypes(
    [
        new("batch1_primes", 1, 3, 7, 5, 2, 2, 0, 1),
        new("kernel_is_input", 2, 2, 5, 3, (5, 3), 1, 0, 1),
        new("overlap_padding", 2, 3, 11, 7, 3, (2, 1), 1, 1),
        new("overlap_padding_exclude", 2, 3, 11, 7, 3, (2, 1), 1, 1, CountIncludePad: false),
        new("stride_over_kernel", 1, 2, 10, 9, 2, (4, 3), 0, 1),
        new("ceil_mode", 1, 2, 6, 5, 3, 2, 1, 1, CeilMode: true),
        new("ceil_mode_exclude", 1, 2, 6, 5, 3, 2, 1, 1, CeilMode: true, CountIncludePad: false),
        new("ceil_mode_past_padding", 2, 1, 4, 7, (2, 4), 3, (1, 2), 1, CeilMode: true),
    ]);

    private static TheoryData<PoolCase, DType> WithDTypes(PoolCase[] cases)
    {
        var data = new TheoryData<PoolCase, DType>();
        foreach (var c in cases)
        {
            data.Add(c, DType.Float64);
            data.Add(c, DType.Float32);
        }
        return data;
    }

    private static Tensor Input(PoolCase k, DType dtype) => Tensor.Randn([k.N, k.C, k.H, k.W], new Generator(1), dtype);

    private static Tensor Max(PoolCase k, Tensor x) => Ops.MaxPool2d(x, k.Kernel, k.Stride, k.Padding, k.Dilation, k.CeilMode);

    private static Tensor Avg(PoolCase k, Tensor x) => Ops.AvgPool2d(x, k.Kernel, k.Stride, k.Padding, k.CeilMode, k.CountIncludePad);

    [Theory]
    [MemberData(nameof(MaxCases))]
    public void Max_pool_matches_direct_loops(PoolCase k, DType dtype)
    {
        var x = Input(k, dtype);
        var (values, indices) = Ops.MaxPool2dWithIndices(x, k.Kernel, k.Stride, k.Padding, k.Dilation, k.CeilMode);
        var (ev, ei) = PoolReference.Max(k, x.ToDoubleArray());
        Assert.Equal([k.N, k.C, k.OH, k.OW], values.Shape.ToArray());
        Assert.Equal(DType.Int64, indices.DType);
        Assert.Equal(ev, values.ToDoubleArray());
        Assert.Equal(ei, indices.ToArray<long>());
        Close.Bitwise(values, Max(k, x), "values without indices");
    }

    [Theory]
    [MemberData(nameof(MaxCases))]
    public void Max_pool_gradient_goes_to_the_arg_max(PoolCase k, DType dtype)
    {
        var x = Input(k, dtype).RequiresGrad_();
        var y = Max(k, x);
        var gy = Tensor.Randn(y.Shape, new Generator(2), dtype);
        var gx = Autodiff.Grad(y, x, gy);
        var (_, idx) = PoolReference.Max(k, x.ToDoubleArray());
        var expected = new double[x.Numel];
        var g = gy.ToDoubleArray();
        int outPlane = k.OH * k.OW;
        for (int i = 0; i < g.Length; i++) expected[i / outPlane * k.H * k.W + idx[i]] += g[i];
        Close.Equal(expected, gx, Close.Tolerance(dtype), "max_pool2d gradient");
    }

    [Theory]
    [MemberData(nameof(AvgCases))]
    public void Avg_pool_matches_direct_loops(PoolCase k, DType dtype)
    {
        var x = Input(k, dtype).RequiresGrad_();
        var y = Avg(k, x);
        Assert.Equal([k.N, k.C, k.OH, k.OW], y.Shape.ToArray());
        Close.Equal(PoolReference.Avg(k, x.ToDoubleArray()), y, Close.Tolerance(dtype) / 10, "avg_pool2d");

        var gy = Tensor.Randn(y.Shape, new Generator(2), dtype);
        var expected = PoolReference.Transpose(e => PoolReference.Avg(k, e), x.Numel, gy.ToDoubleArray());
        Close.Equal(expected, Autodiff.Grad(y, x, gy), Close.Tolerance(dtype) / 10, "avg_pool2d gradient");
    }

    [Theory]
    [InlineData(5, 7, 3, 2, DType.Float64)]
    [InlineData(5, 7, 3, 2, DType.Float32)]
    [InlineData(4, 6, 4, 6, DType.Float64)]  // identity
    [InlineData(3, 2, 5, 7, DType.Float64)]  // more outputs than inputs: windows repeat
    [InlineData(13, 11, 1, 1, DType.Float32)] // global average pooling
    public void Adaptive_avg_pool_matches_direct_loops(int h, int w, int oh, int ow, DType dtype)
    {
        var x = Tensor.Randn([2, 3, h, w], new Generator(3), dtype).RequiresGrad_();
        var y = Ops.AdaptiveAvgPool2d(x, (oh, ow));
        Assert.Equal([2, 3, oh, ow], y.Shape.ToArray());
        Close.Equal(PoolReference.Adaptive(6, h, w, oh, ow, x.ToDoubleArray()), y, Close.Tolerance(dtype) / 10, "adaptive_avg_pool2d");

        var gy = Tensor.Randn(y.Shape, new Generator(4), dtype);
        var expected = PoolReference.Transpose(e => PoolReference.Adaptive(6, h, w, oh, ow, e), x.Numel, gy.ToDoubleArray());
        Close.Equal(expected, Autodiff.Grad(y, x, gy), Close.Tolerance(dtype) / 10, "adaptive_avg_pool2d gradient");
    }

    [Fact]
    public void Output_sizes_follow_pytorch()
    {
        var x = Tensor.Zeros([1, 1, 32, 6]);
        Assert.Equal([1, 1, 15, 2], Ops.MaxPool2d(x, 3, stride: 2).Shape.ToArray());
        Assert.Equal([1, 1, 16, 3], Ops.MaxPool2d(x, 3, stride: 2, ceilMode: true).Shape.ToArray());
        Assert.Equal([1, 1, 16, 3], Ops.AvgPool2d(x, 2).Shape.ToArray());
        // Ceil mode keeps a last window only if it starts inside the input or the left padding.
        var five = Tensor.Zeros([1, 1, 5, 5]);
        Assert.Equal([1, 1, 3, 3], Ops.MaxPool2d(five, 2, stride: 2, padding: 1, ceilMode: true).Shape.ToArray());
        Assert.Equal([1, 1, 3, 3], Ops.MaxPool2d(five, 2, stride: 2, padding: 1).Shape.ToArray());
        Assert.Equal([1, 1, 2, 2], Ops.MaxPool2d(five, 3, stride: 2).Shape.ToArray());
    }

    [Fact]
    public void Avg_pool_divisors_match_pytorch_examples()
    {
        var ones = Tensor.Ones([1, 1, 3, 3], DType.Float64);
        // F.avg_pool2d(torch.ones(1, 1, 3, 3), 3, 2, 1) is 4/9 everywhere: the padded positions count.
        Assert.All(Ops.AvgPool2d(ones, 3, stride: 2, padding: 1).ToDoubleArray(), v => Assert.Equal(4.0 / 9, v, 1e-15));
        Assert.All(Ops.AvgPool2d(ones, 3, stride: 2, padding: 1, countIncludePad: false).ToDoubleArray(), v => Assert.Equal(1.0, v));
        // Ceil mode's extra window runs past the input (and any padding): those positions never count.
        Assert.Equal([1.0, 1, 1, 1], Ops.AvgPool2d(ones, 2, ceilMode: true).ToDoubleArray());
    }

    [Fact]
    public void Max_pool_handles_ties_nan_and_windows_of_padding_only()
    {
        var x = Tensor.FromArray([3.0, 3, 1, double.NaN, 2, 5], [1, 1, 1, 6]).RequiresGrad_();
        var (v, i) = Ops.MaxPool2dWithIndices(x, (1, 2));
        Assert.Equal([3.0, double.NaN, 5], v.ToDoubleArray());
        Assert.Equal([0L, 3, 5], i.ToArray<long>());

        // Kernel 2 with dilation 3 and padding 1 over a width of 2 reads positions −1 and 2: nothing.
        var y = Tensor.FromArray([1.0, 2, 3, 4], [1, 2, 2]).RequiresGrad_();
        var (pv, pi) = Ops.MaxPool2dWithIndices(y, (1, 2), stride: 1, padding: (0, 1), dilation: (1, 3));
        Assert.Equal([1, 2, 1], pv.Shape.ToArray());
        Assert.Equal([double.NegativeInfinity, double.NegativeInfinity], pv.ToDoubleArray());
        Assert.Equal([-1L, -1], pi.ToArray<long>());
        Assert.Equal([0.0, 0, 0, 0], Autodiff.Grad(Ops.Sum(pv), y).ToDoubleArray());
        Assert.Equal([0.0, 0], Autodiff.Jvp(t => Ops.MaxPool2d(t, (1, 2), stride: 1, padding: (0, 1), dilation: (1, 3)), y, Tensor.OnesLike(y)).Jvp.ToDoubleArray());
    }

    [Fact]
    public void Unbatched_input_is_one_sample()
    {
        var x = Tensor.Randn([3, 7, 6], new Generator(5), DType.Float32);
        var (v, i) = Ops.MaxPool2dWithIndices(x, 3, stride: 2, padding: 1);
        var (bv, bi) = Ops.MaxPool2dWithIndices(x.Unsqueeze(0), 3, stride: 2, padding: 1);
        Assert.Equal([3, 4, 3], v.Shape.ToArray());
        Close.Bitwise(bv.Squeeze(0), v, "max values");
        Assert.Equal(bi.ToArray<long>(), i.ToArray<long>());
        Close.Bitwise(Ops.AvgPool2d(x.Unsqueeze(0), 2).Squeeze(0), Ops.AvgPool2d(x, 2), "avg");
        Close.Bitwise(Ops.AdaptiveAvgPool2d(x.Unsqueeze(0), 2).Squeeze(0), Ops.AdaptiveAvgPool2d(x, 2), "adaptive");
    }

    [Fact]
    public void Errors_name_the_op_and_the_arguments()
    {
        var x = Tensor.Zeros([2, 3, 4, 4]);
        string Message(Action a) => Assert.ThrowsAny<ArgumentException>(a).Message;

        Assert.Contains("max_pool2d: input must be 4-d [N, C, H, W] or 3-d [C, H, W], got shape [4, 4]", Message(() => Ops.MaxPool2d(Tensor.Zeros([4, 4]), 2)));
        Assert.Contains("max_pool2d: kernel size must be positive, got (0, 2)", Message(() => Ops.MaxPool2d(x, (0, 2))));
        Assert.Contains("max_pool2d: stride must be positive, got (0, 0)", Message(() => Ops.MaxPool2d(x, 2, stride: 0)));
        Assert.Contains("max_pool2d: dilation must be positive", Message(() => Ops.MaxPool2d(x, 2, dilation: 0)));
        Assert.Contains("max_pool2d: padding (2, 2) must be at most half the kernel size (3, 3)", Message(() => Ops.MaxPool2d(x, 3, padding: 2)));
        var m = Message(() => Ops.MaxPool2d(x, 5));
        Assert.Contains("max_pool2d: input of shape [2, 3, 4, 4] is too small for kernel (5, 5)", m);
        Assert.Contains("avg_pool2d: input of shape [2, 3, 4, 4] is too small", Message(() => Ops.AvgPool2d(x, (2, 5))));
        Assert.Contains("avg_pool2d: padding must be non-negative", Message(() => Ops.AvgPool2d(x, 2, padding: -1)));
        Assert.Contains("adaptive_avg_pool2d: output size must be positive, got (0, 1)", Message(() => Ops.AdaptiveAvgPool2d(x, (0, 1))));
        Assert.Contains("adaptive_avg_pool2d: input of shape [2, 3, 0, 4] has an empty plane", Message(() => Ops.AdaptiveAvgPool2d(Tensor.Zeros([2, 3, 0, 4]), 1)));
        Assert.Contains("avg_pool2d: expected a float32 or float64 tensor", Message(() => Ops.AvgPool2d(Tensor.Zeros([1, 1, 2, 2], DType.Int64), 2)));
    }
}

[Collection(ThreadCountCollection.Name)]
public class PoolThreadTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void One_and_two_threads_give_identical_bits(DType dtype)
    {
        Tensor[] Run()
        {
            var x = Tensor.Randn([4, 16, 23, 21], new Generator(6), dtype).RequiresGrad_();
            var (mv, _) = Ops.MaxPool2dWithIndices(x, 3, stride: 2, padding: 1);
            var av = Ops.AvgPool2d(x, 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false);
            var ad = Ops.AdaptiveAvgPool2d(x, (5, 4));
            var loss = Ops.Sum(Ops.Square(mv)) + Ops.Sum(Ops.Square(av)) + Ops.Sum(Ops.Square(ad));
            return [mv, av, ad, Autodiff.Grad(loss, x)];
        }
        var one = Close.WithThreads(1, Run);
        var two = Close.WithThreads(2, Run);
        for (int i = 0; i < one.Length; i++) Close.Bitwise(one[i], two[i], $"result {i}");
    }
}

[Collection(ThreadCountCollection.Name)]
public class MaxPoolPathTests
{
    /// <summary>
    /// The vectorized 2×2, stride-2 max pool (float32) against the reference loop, on values drawn from a handful of
    /// levels (so windows hold ties in every arrangement), with NaNs and signed zeros sprinkled in, on widths that
    /// leave remainders after the blocks of eight outputs; and on every kernel path, which must agree bit for bit.
    /// </summary>
    [Theory]
    [InlineData(3, 2, 6, 34)]
    [InlineData(2, 3, 9, 40)]
    [InlineData(1, 1, 2, 17)]
    [InlineData(2, 2, 28, 28)]
    [InlineData(2, 3, 10, 10)]
    [InlineData(1, 2, 4, 7)]
    public void Two_by_two_windows_pick_the_reference_element_on_every_path(int n, int c, int h, int w)
    {
        var g = new Generator(31);
        var levels = Tensor.RandInt(0, 4, [n * c * h * w], g).ToArray<long>();
        var sprinkle = Tensor.Rand([n * c * h * w], g).ToDoubleArray();
        var data = new double[levels.Length];
        for (int i = 0; i < data.Length; i++)
            data[i] = sprinkle[i] < 0.05 ? double.NaN : sprinkle[i] < 0.1 ? -0.0 : levels[i] - 1.0;
        var k = new PoolCase("2x2", n, c, h, w, 2, 2, 0, 1);
        var (expectedValues, expectedIndices) = PoolReference.Max(k, data);
        var x = Tensor.FromArray(data.Select(v => (float)v).ToArray(), [n, c, h, w]);
        foreach (var path in KernelPaths.Available())
        {
            using var _ = KernelPaths.Force(path);
            var (values, indices) = Ops.MaxPool2dWithIndices(x, 2);
            Assert.Equal(expectedIndices, indices.ToArray<long>());
            var actual = values.ToFloatArray();
            for (int i = 0; i < actual.Length; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits((float)expectedValues[i]), BitConverter.SingleToInt32Bits(actual[i]));
        }
    }

    /// <summary>
    /// The max pool's gradient, a scatter-add into zero planes, bit for bit on every path and at 1 and 2 threads:
    /// against the add into zero written out (so −0 arrives as +0 and a NaN as a NaN) with gradients that hold
    /// signed zeros and NaNs. The 2×2, stride-2 poolings take the path that writes each cell once (odd sizes leave a
    /// last row or column in no cell); the 3×3, stride-2, padding-1 pooling has the same output size on even planes but
    /// indices outside the 2×2 cells, and must go back to the general scatter. Each gradient is computed in a scope
    /// whose recycled buffers the same computation in the scope before left full of NaN, so that a position the
    /// kernel forgets to write shows.
    /// </summary>
    [Theory]
    [InlineData(2, 3, 28, 28, 2, 2, 0)]
    [InlineData(3, 2, 10, 10, 2, 2, 0)]
    [InlineData(2, 2, 9, 17, 2, 2, 0)]
    [InlineData(1, 3, 7, 40, 2, 2, 0)]
    [InlineData(1, 1, 2, 2, 2, 2, 0)]
    [InlineData(2, 3, 28, 28, 3, 2, 1)]
    [InlineData(2, 2, 10, 12, 3, 2, 1)]
    [InlineData(1, 2, 16, 32, 3, 2, 1)]
    public void The_gradient_is_the_scatter_into_zeros_on_every_path(int n, int c, int h, int w, int kernel, int stride, int padding)
    {
        var g = new Generator(47);
        var x = Tensor.Randn([n, c, h, w], g);
        var (values, indices) = Ops.MaxPool2dWithIndices(x, kernel, stride, padding);
        var gy = Tensor.Randn(values.Shape, g).ToFloatArray();
        for (int i = 0; i < gy.Length; i += 7) gy[i] = i % 3 == 0 ? -0f : i % 3 == 1 ? float.NaN : gy[i];
        var idx = indices.ToArray<long>();
        var expected = new float[x.Numel];
        int outPlane = values.Shape[2] * values.Shape[3];
        for (int i = 0; i < gy.Length; i++) expected[i / outPlane * h * w + idx[i]] += gy[i];
        var upstream = Tensor.FromArray(gy, values.Shape.ToArray());
        foreach (var path in KernelPaths.Available())
            foreach (int threads in new[] { 1, 2 })
            {
                using var _ = KernelPaths.Force(path);
                Tensor Gradient()
                {
                    var leaf = x.Detach().RequiresGrad_();
                    return Autodiff.Grad(Ops.MaxPool2d(leaf, kernel, stride, padding), leaf, upstream);
                }
                var actual = Close.WithThreads(threads, () =>
                {
                    using (TensorScope.Begin()) Gradient().Buffer<float>().AsSpan().Fill(float.NaN);
                    using (TensorScope.Begin()) return Tensor.FromArray(Gradient().ToFloatArray(), x.Shape.ToArray());
                }).ToFloatArray();
                for (int i = 0; i < actual.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                        $"{path}, {threads} thread(s), input {i}: expected {expected[i]}, got {actual[i]}");
            }
    }
}
