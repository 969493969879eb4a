namespace Aperture.Tests.OpTests;

using Aperture.Tests.Kernels;

/// <summary>
/// The direct stride-1 convolution (<see cref="DirectConv2d"/>) against the float64 loops of <see cref="ConvReference"/>
/// and against the im2col path, on shapes chosen to hit its edges: odd channel counts (a channel pair computed twice),
/// tap counts that are not a multiple of its five-tap blocks, rows narrower and wider than a vector, wide-grid lengths
/// that end inside a vector block, padding, dilation and groups. The path switch is per thread; the tests still run in
/// <see cref="ThreadCountCollection"/>, because they compare thread counts as well.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class DirectConvTests
{
    public static TheoryData<ConvCase, DType> Cases()
    {
        ConvCase[] cases =
        [
            new("lenet1", 5, 1, 28, 28, 6, 5, 5, 1, 2, 1),
            new("lenet2_batch1", 1, 6, 14, 14, 16, 5, 5, 1, 0, 1),
            new("one_channel_odd_out", 1, 1, 9, 7, 3, 3, 3, 1, 0, 1),
            new("three_channels_pad", 5, 3, 11, 13, 5, 3, 3, 1, 1, 1),
            new("wide_rows", 2, 3, 5, 37, 7, 2, 4, 1, (0, 2), 1),
            new("one_column", 3, 2, 9, 1, 3, 3, 1, 1, (1, 0), 1),
            new("kernel_is_input", 2, 3, 4, 6, 2, 4, 6, 1, 0, 1),
            new("pad_beyond_kernel", 2, 2, 3, 4, 3, 2, 2, 1, (3, 2), 1),
            new("dilation", 5, 3, 12, 10, 4, 3, 2, 1, (2, 1), (2, 3)),
            new("groups_odd", 3, 6, 8, 9, 9, 3, 3, 1, 1, 1, Groups: 3),
            new("depthwise", 2, 4, 7, 5, 4, 3, 3, 1, 1, (1, 2), Groups: 4),
            new("kernel_1x1", 5, 3, 6, 17, 5, 1, 1, 1, 0, 1),
        ];
        var data = new TheoryData<ConvCase, DType>();
        foreach (var c in cases)
        {
            data.Add(c, DType.Float32);
            data.Add(c, DType.Float64);
        }
        return data;
    }

    private static ConvGeometry Geometry(ConvCase k) => new(k.C, k.H, k.W, k.O, k.KH, k.KW, k.OH, k.OW, k.Stride.H, k.Stride.W,
        k.Padding.H, k.Padding.W, k.Dilation.H, k.Dilation.W, k.Groups);

    private static T WithDirect<T>(bool enabled, Func<T> f)
    {
        bool saved = DirectConv2d.Enabled;
        DirectConv2d.Enabled = enabled;
        try { return f(); }
        finally { DirectConv2d.Enabled = saved; }
    }

    [Fact]
    public void Turning_the_direct_path_off_changes_only_the_calling_threads_convolutions()
    {
        var k = new ConvCase("lenet1", 5, 1, 28, 28, 6, 5, 5, 1, 2, 1);
        var g = Geometry(k);
        bool Applies() => DirectConv2d.AppliesToForward<float>(g, k.N, NumericsPolicy.Current);
        bool OnAnotherThread()
        {
            // A thread of its own: a task waited on could be inlined on this thread.
            bool result = false;
            var thread = new Thread(() => result = Applies());
            thread.Start();
            thread.Join();
            return result;
        }
        var (here, elsewhere) = WithDirect(false, () => (Applies(), OnAnotherThread()));
        Assert.False(here);
        Assert.True(elsewhere, "another thread's convolution should keep the direct path");
        Assert.True(Applies(), "the switch should be restored");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Direct_kernels_match_direct_loops(ConvCase k, DType dtype)
    {
        var g = Geometry(k);
        Assert.True(DirectConv2d.AppliesToForward<float>(g, k.N, NumericsPolicy.Current), "the direct path should take this shape");
        var (x, w, _) = ConvTests.Inputs(k, dtype);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(3), dtype);
        double tol = Close.Tolerance(dtype);
        Close.Equal(ConvReference.Forward(k, x.ToDoubleArray(), w.ToDoubleArray(), null), Conv2dKernel.Forward(x, w, g), tol, "forward");
        Close.Equal(ConvReference.InputGrad(k, gy.ToDoubleArray(), w.ToDoubleArray()), Conv2dKernel.InputGrad(gy, w, g), tol, "input gradient");
        Close.Equal(ConvReference.WeightGrad(k, x.ToDoubleArray(), gy.ToDoubleArray()), Conv2dKernel.WeightGrad(x, gy, g), tol, "weight gradient");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Direct_convolution_has_the_bits_of_the_matrix_product_path(ConvCase k, DType dtype)
    {
        // Both compute each output as one fused multiply-add chain over (channel, ki, kj), padding terms included.
        var g = Geometry(k);
        var (x, w, _) = ConvTests.Inputs(k, dtype);
        Close.Bitwise(WithDirect(false, () => Conv2dKernel.Forward(x, w, g)), WithDirect(true, () => Conv2dKernel.Forward(x, w, g)), "forward");
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Thread_count_does_not_change_the_bits(DType dtype)
    {
        // 13 samples: eight weight-gradient partitions of one or two samples, so partitions and threads do not line up.
        var k = new ConvCase("threads", 13, 3, 15, 14, 7, 5, 3, 1, (2, 1), 1);
        var g = Geometry(k);
        var (x, w, _) = ConvTests.Inputs(k, dtype);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(3), dtype);
        (Tensor, Tensor, Tensor) Run() => (Conv2dKernel.Forward(x, w, g), Conv2dKernel.InputGrad(gy, w, g), Conv2dKernel.WeightGrad(x, gy, g));
        var one = Close.WithThreads(1, Run);
        foreach (int threads in new[] { 2, 3, 8 })
        {
            var many = Close.WithThreads(threads, Run);
            Close.Bitwise(one.Item1, many.Item1, $"forward, {threads} threads");
            Close.Bitwise(one.Item2, many.Item2, $"input gradient, {threads} threads");
            Close.Bitwise(one.Item3, many.Item3, $"weight gradient, {threads} threads");
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void The_matrix_product_path_keeps_its_bits_at_any_thread_count(DType dtype)
    {
        // The shape of the thread test in ConvTests, which the direct path now takes, on the im2col path.
        var k = new ConvCase("threads", 3, 8, 24, 23, 10, 3, 3, 1, 1, 1, Groups: 2);
        var g = Geometry(k);
        var (x, w, _) = ConvTests.Inputs(k, dtype);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(3), dtype);
        (Tensor, Tensor, Tensor) Run() => WithDirect(false, () => (Conv2dKernel.Forward(x, w, g), Conv2dKernel.InputGrad(gy, w, g), Conv2dKernel.WeightGrad(x, gy, g)));
        var one = Close.WithThreads(1, Run);
        var two = Close.WithThreads(2, Run);
        Close.Bitwise(one.Item1, two.Item1, "forward");
        Close.Bitwise(one.Item2, two.Item2, "input gradient");
        Close.Bitwise(one.Item3, two.Item3, "weight gradient");
    }

    [Fact]
    public void Forced_kernel_paths_do_not_change_the_bits()
    {
        var k = new ConvCase("paths", 5, 3, 11, 19, 5, 3, 5, 1, 1, 1);
        var g = Geometry(k);
        var (x, w, _) = ConvTests.Inputs(k, DType.Float32);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(3), DType.Float32);
        (Tensor, Tensor, Tensor)? first = null;
        KernelSettings.ForEachPath(path =>
        {
            var r = (Conv2dKernel.Forward(x, w, g), Conv2dKernel.InputGrad(gy, w, g), Conv2dKernel.WeightGrad(x, gy, g));
            if (first is not { } f) { first = r; return; }
            Close.Bitwise(f.Item1, r.Item1, $"forward, {path}");
            Close.Bitwise(f.Item2, r.Item2, $"input gradient, {path}");
            Close.Bitwise(f.Item3, r.Item3, $"weight gradient, {path}");
        });
    }

    [Fact]
    public void Shapes_outside_its_range_take_the_matrix_product_path()
    {
        var p = NumericsPolicy.Current;
        var strided = new ConvGeometry(3, 9, 9, 4, 3, 3, 4, 4, 2, 2, 0, 0, 1, 1, 1);
        var manyChannels = new ConvGeometry(64, 8, 8, 64, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, 1);
        var widePadding = new ConvGeometry(2, 3, 4, 3, 2, 2, 8, 7, 1, 1, 3, 2, 1, 1, 1);
        Assert.False(DirectConv2d.AppliesToForward<float>(strided, 4, p));
        Assert.False(DirectConv2d.AppliesToForward<float>(manyChannels, 4, p));
        Assert.True(DirectConv2d.AppliesToForward<float>(widePadding, 4, p));
        Assert.False(DirectConv2d.AppliesToInputGrad<float>(widePadding, 4, p));
        Assert.False(DirectConv2d.AppliesToForward<float>(Geometry(new ConvCase("x", 1, 1, 5, 5, 1, 3, 3, 1, 0, 1)), 1,
            p with { Order = ReductionOrder.Pairwise }));
    }

    [Fact]
    public void Bias_gradient_has_the_bits_of_a_channel_sum_at_any_thread_count()
    {
        var g = new Generator(11);
        var y = Tensor.Randn([9, 5, 13, 7], g);
        var b0 = Tensor.Randn([5], g);
        var gy = Tensor.Randn([9, 5, 13, 7], g);
        Tensor Run()
        {
            // A plain Backward() takes the channel-sum kernel; the product with gy passes gy down exactly (its upstream is 1).
            var b = b0.Clone();
            b.RequiresGrad = true;
            Ops.Sum(Ops.Mul(Ops.AddChannelBias(y, b), gy)).Backward();
            return b.Grad!;
        }
        var expected = Ops.Sum(gy, [0, 2, 3]);
        foreach (int threads in new[] { 1, 2, 3 })
            Close.Bitwise(expected, Close.WithThreads(threads, Run), $"bias gradient, {threads} threads");
    }
}
