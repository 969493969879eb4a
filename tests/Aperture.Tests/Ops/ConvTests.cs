namespace Aperture.Tests.OpTests;

using Autodiff = Aperture.Autodiff;

/// <summary>One convolution to test: input [N, C, H, W], weight [O, C/Groups, KH, KW].</summary>
public sealed record ConvCase(string Name, int N, int C, int H, int W, int O, int KH, int KW,
    Size2d Stride, Size2d Padding, Size2d Dilation, int Groups = 1, bool Bias = true)
{
    public int OH => (H + 2 * Padding.H - Dilation.H * (KH - 1) - 1) / Stride.H + 1;
    public int OW => (W + 2 * Padding.W - Dilation.W * (KW - 1) - 1) / Stride.W + 1;
    public override string ToString() => Name;
}

/// <summary>Direct loops over every (output, input, kernel) position, in float64: the definition of the three conv primitives.</summary>
internal static class ConvReference
{
    public static double[] Forward(ConvCase k, double[] x, double[] w, double[]? b)
    {
        var y = new double[k.N * k.O * k.OH * k.OW];
        Visit(k, (yi, xi, wi) => y[yi] += x[xi] * w[wi]);
        if (b is not null)
            for (int i = 0; i < y.Length; i++) y[i] += b[i / (k.OH * k.OW) % k.O];
        return y;
    }

    public static double[] InputGrad(ConvCase k, double[] gy, double[] w)
    {
        var gx = new double[k.N * k.C * k.H * k.W];
        Visit(k, (yi, xi, wi) => gx[xi] += gy[yi] * w[wi]);
        return gx;
    }

    public static double[] WeightGrad(ConvCase k, double[] x, double[] gy)
    {
        var gw = new double[k.O * (k.C / k.Groups) * k.KH * k.KW];
        Visit(k, (yi, xi, wi) => gw[wi] += gy[yi] * x[xi]);
        return gw;
    }

    /// <summary>Calls <paramref name="term"/>(output, input, weight) for every product the convolution sums.</summary>
    private static void Visit(ConvCase k, Action<int, int, int> term)
    {
        int cg = k.C / k.Groups, og = k.O / k.Groups;
        for (int n = 0; n < k.N; n++)
            for (int o = 0; o < k.O; o++)
                for (int oh = 0; oh < k.OH; oh++)
                    for (int ow = 0; ow < k.OW; ow++)
                        for (int c = 0; c < cg; c++)
                            for (int ki = 0; ki < k.KH; ki++)
                                for (int kj = 0; kj < k.KW; kj++)
                                {
                                    int ih = oh * k.Stride.H - k.Padding.H + ki * k.Dilation.H;
                                    int iw = ow * k.Stride.W - k.Padding.W + kj * k.Dilation.W;
                                    if (ih < 0 || ih >= k.H || iw < 0 || iw >= k.W) continue;
                                    int ch = o / og * cg + c;
                                    term(((n * k.O + o) * k.OH + oh) * k.OW + ow,
                                        ((n * k.C + ch) * k.H + ih) * k.W + iw,
                                        ((o * cg + c) * k.KH + ki) * k.KW + kj);
                                }
    }
}

internal static class Close
{
    public static double Tolerance(DType dtype) => dtype == DType.Float64 ? 1e-10 : 2e-4;

    public static void Equal(double[] expected, Tensor actual, double tolerance, string what)
    {
        var a = actual.ToDoubleArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            if (!(Math.Abs(a[i] - expected[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i} is {a[i]:G9}, expected {expected[i]:G9}");
    }

    public static void Bitwise(Tensor a, Tensor b, string what)
    {
        Assert.Equal(a.Shape.ToArray(), b.Shape.ToArray());
        var (x, y) = (a.ToDoubleArray(), b.ToDoubleArray());
        for (int i = 0; i < x.Length; i++)
            if (BitConverter.DoubleToInt64Bits(x[i]) != BitConverter.DoubleToInt64Bits(y[i]))
                Assert.Fail($"{what}: element {i} differs: {x[i]:R} vs {y[i]:R}");
    }

    /// <summary>Runs <paramref name="f"/> with the given thread count, restoring the previous one.</summary>
    public static T WithThreads<T>(int threads, Func<T> f)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try { return f(); }
        finally { Parallelism.Threads = saved; }
    }
}

public class ConvTests
{
    public static TheoryData<ConvCase, DType> Cases()
    {
        ConvCase[] cases =
        [
            new("batch1_primes", 1, 3, 7, 5, 5, 3, 3, 1, 0, 1),
            new("kernel_1x1", 2, 5, 4, 3, 7, 1, 1, 1, 0, 1),
            new("kernel_is_input", 3, 2, 5, 4, 3, 5, 4, 1, 0, 1),
            new("stride_non_square", 2, 3, 11, 7, 4, 3, 2, (3, 2), (1, 0), 1),
            new("padding_wider_than_input", 1, 2, 3, 2, 2, 3, 3, 1, 2, 1),
            new("dilation", 2, 2, 9, 8, 3, 3, 2, 1, (2, 1), (2, 3)),
            new("stride_over_kernel", 1, 2, 10, 9, 3, 2, 2, (4, 3), 0, 1, Bias: false),
            new("groups", 2, 6, 5, 6, 4, 3, 3, 1, 1, 1, Groups: 2),
            new("depthwise", 3, 4, 6, 5, 4, 3, 3, 1, 1, 1, Groups: 4),
            new("depthwise_multiplier", 2, 3, 5, 5, 6, 2, 2, 2, 0, 1, Groups: 3),
            new("everything", 5, 6, 13, 11, 9, 3, 5, (2, 3), (1, 2), (2, 1), Groups: 3),
        ];
        var data = new TheoryData<ConvCase, DType>();
        foreach (var c in cases)
        {
            data.Add(c, DType.Float64);
            data.Add(c, DType.Float32);
        }
        return data;
    }

    internal static (Tensor X, Tensor W, Tensor? B) Inputs(ConvCase k, DType dtype, ulong seed = 1)
    {
        var g = new Generator(seed);
        var x = Tensor.Randn([k.N, k.C, k.H, k.W], g, dtype);
        var w = Tensor.Randn([k.O, k.C / k.Groups, k.KH, k.KW], g, dtype);
        var b = k.Bias ? Tensor.Randn([k.O], g, dtype) : null;
        return (x, w, b);
    }

    internal static Tensor Conv(ConvCase k, Tensor x, Tensor w, Tensor? b) =>
        Ops.Conv2d(x, w, b, k.Stride, k.Padding, k.Dilation, k.Groups);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_matches_direct_loops(ConvCase k, DType dtype)
    {
        var (x, w, b) = Inputs(k, dtype);
        var y = Conv(k, x, w, b);
        Assert.Equal([k.N, k.O, k.OH, k.OW], y.Shape.ToArray());
        Assert.Equal(dtype, y.DType);
        Close.Equal(ConvReference.Forward(k, x.ToDoubleArray(), w.ToDoubleArray(), b?.ToDoubleArray()), y, Close.Tolerance(dtype), "forward");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_match_direct_loops(ConvCase k, DType dtype)
    {
        var (x, w, b) = Inputs(k, dtype);
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        b?.RequiresGrad = true;
        var y = Conv(k, x, w, b);
        var gy = Tensor.Randn(y.Shape, new Generator(2), dtype);
        Tensor[] wrt = b is null ? [x, w] : [x, w, b];
        var grads = Autodiff.Grad([y], wrt, [gy]);
        var gyd = gy.ToDoubleArray();
        double tol = Close.Tolerance(dtype);
        Close.Equal(ConvReference.InputGrad(k, gyd, w.ToDoubleArray()), grads[0]!, tol, "input gradient");
        Close.Equal(ConvReference.WeightGrad(k, x.ToDoubleArray(), gyd), grads[1]!, tol, "weight gradient");
        if (b is not null)
        {
            var gb = new double[k.O];
            for (int i = 0; i < gyd.Length; i++) gb[i / (k.OH * k.OW) % k.O] += gyd[i];
            Close.Equal(gb, grads[2]!, tol, "bias gradient");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sample_blocks_of_any_size_give_the_same_results(ConvCase k, DType dtype)
    {
        // A budget of one element puts every sample in its own block; the default puts these all in one.
        var (x, w, _) = Inputs(k, dtype);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(3), dtype);
        var g = new ConvGeometry(k.C, k.H, k.W, k.O, k.KH, k.KW, k.OH, k.OW, k.Stride.H, k.Stride.W, k.Padding.H, k.Padding.W,
            k.Dilation.H, k.Dilation.W, k.Groups);
        double tol = Close.Tolerance(dtype);
        foreach (int budget in new[] { 1, 2 * g.Patch * g.OutPlane })
        {
            Close.Equal(ConvReference.Forward(k, x.ToDoubleArray(), w.ToDoubleArray(), null), Conv2dKernel.Forward(x, w, g, columnBudget: budget), tol, $"forward, budget {budget}");
            Close.Equal(ConvReference.InputGrad(k, gy.ToDoubleArray(), w.ToDoubleArray()), Conv2dKernel.InputGrad(gy, w, g, budget), tol, $"input gradient, budget {budget}");
            Close.Equal(ConvReference.WeightGrad(k, x.ToDoubleArray(), gy.ToDoubleArray()), Conv2dKernel.WeightGrad(x, gy, g, budget), tol, $"weight gradient, budget {budget}");
        }
    }

    [Fact]
    public void Unbatched_input_is_one_sample()
    {
        var g = new Generator(5);
        var x = Tensor.Randn([3, 6, 5], g, DType.Float64);
        var w = Tensor.Randn([4, 3, 2, 3], g, DType.Float64);
        var b = Tensor.Randn([4], g, DType.Float64);
        var y = Ops.Conv2d(x, w, b, stride: 2, padding: 1);
        Assert.Equal([4, 4, 3], y.Shape.ToArray());
        Close.Bitwise(Ops.Conv2d(x.Unsqueeze(0), w, b, stride: 2, padding: 1).Squeeze(0), y, "unbatched");
    }

    [Fact]
    public void Hand_computed_example()
    {
        // x = 1..9 in a 3×3 plane, w = [[1, 0], [0, -1]]: each output is x[i, j] − x[i+1, j+1] = −4.
        var x = Tensor.FromArray([1.0, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
        var w = Tensor.FromArray([1.0, 0, 0, -1], [1, 1, 2, 2]);
        Assert.Equal([-4.0, -4, -4, -4], Ops.Conv2d(x, w).ToDoubleArray());
        // Padding 1 and stride 2: windows at (−1, −1), (−1, 1), (1, −1), (1, 1).
        Assert.Equal([-1.0, -3, -7, 5 - 9], Ops.Conv2d(x, w, padding: 1, stride: 2).ToDoubleArray());
    }

    [Theory]
    [InlineData(1, 0, 0, 1, 1)]
    [InlineData(2, 1, 1, 1, 1)]
    [InlineData(3, 1, 2, 2, 1)]
    [InlineData(2, 0, 1, 1, 2)]
    public void Transposed_convolution_is_the_adjoint_of_convolution(int stride, int padding, int outputPadding, int dilation, int groups)
    {
        // ⟨conv(x, w), u⟩ = ⟨x, conv_transpose(u, w)⟩ for the x whose size conv_transpose produces.
        var g = new Generator(6);
        var u = Tensor.Randn([2, 4, 3, 4], g, DType.Float64);
        var w = Tensor.Randn([4, 6 / groups, 3, 2], g, DType.Float64);
        var xt = Ops.ConvTranspose2d(u, w, stride: stride, padding: padding, outputPadding: outputPadding, groups: groups, dilation: dilation);
        int h = (3 - 1) * stride - 2 * padding + dilation * 2 + outputPadding + 1, wd = (4 - 1) * stride - 2 * padding + dilation + outputPadding + 1;
        Assert.Equal([2, 6, h, wd], xt.Shape.ToArray());
        var x = Tensor.Randn(xt.Shape, g, DType.Float64);
        var y = Ops.Conv2d(x, w, stride: stride, padding: padding, dilation: dilation, groups: groups);
        // Output padding may add rows that a convolution of x would read into one more output: compare on u's extent.
        var yc = y.Narrow(2, 0, 3).Narrow(3, 0, 4);
        double lhs = Ops.Sum(yc * u).Item(), rhs = Ops.Sum(x * xt).Item();
        Assert.Equal(lhs, rhs, 1e-9);
    }

    [Fact]
    public void Transposed_convolution_bias_and_unbatched_input()
    {
        var g = new Generator(7);
        var u = Tensor.Randn([3, 2, 2], g, DType.Float32);
        var w = Tensor.Randn([3, 2, 2, 2], g, DType.Float32);
        var b = Tensor.FromArray([10f, -10f]);
        var y = Ops.ConvTranspose2d(u, w, b, stride: 2);
        Assert.Equal([2, 4, 4], y.Shape.ToArray());
        var plain = Ops.ConvTranspose2d(u.Unsqueeze(0), w, stride: 2).Squeeze(0);
        Close.Equal((plain + Ops.Reshape(b, [2, 1, 1])).ToDoubleArray(), y, 1e-6, "bias");
    }

    [Fact]
    public void Second_derivative_through_conv_matches_an_explicit_rule()
    {
        // f(x) = Σ conv(x, w)²: ∇f = 2·convᵀ(conv(x, w), w), and the Hessian-vector product is 2·convᵀ(conv(v, w), w).
        var g = new Generator(8);
        var x = Tensor.Randn([2, 2, 5, 4], g, DType.Float64);
        var v = Tensor.Randn([2, 2, 5, 4], g, DType.Float64);
        var w = Tensor.Randn([3, 2, 3, 2], g, DType.Float64);
        Tensor F(Tensor t) => Ops.Sum(Ops.Square(Ops.Conv2d(t, w, stride: (2, 1), padding: 1)));
        var hvp = Autodiff.Hvp(F, x, v);
        var cv = Ops.Conv2d(v, w, stride: (2, 1), padding: 1);
        var expected = Ops.ConvTranspose2d(cv, w, stride: (2, 1), padding: 1) * 2.0;
        Assert.Equal(x.Shape.ToArray(), expected.Shape.ToArray());
        Close.Equal(expected.ToDoubleArray(), hvp, 1e-10, "hvp");
    }

    [Fact]
    public void Errors_name_the_op_and_the_shapes()
    {
        var x = Tensor.Zeros([2, 4, 5, 5]);
        string Message(Action a) => Assert.ThrowsAny<ArgumentException>(a).Message;

        var m = Message(() => Ops.Conv2d(x, Tensor.Zeros([3, 3, 3, 3])));
        Assert.Contains("conv2d", m);
        Assert.Contains("[2, 4, 5, 5] has 4 channels", m);
        Assert.Contains("[3, 3, 3, 3] expects 3", m);

        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([6, 1, 3, 3]), groups: 3));
        Assert.Contains("groups = 3 does not divide the input's 4 channels", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([3, 2, 3, 3]), groups: 2));
        Assert.Contains("groups = 2 does not divide the weight's 3 output channels", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 1, 3, 3]), groups: 2));
        Assert.Contains("expects 2 (1 per group × 2 groups)", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), groups: 0));
        Assert.Contains("groups must be positive", m);

        m = Message(() => Ops.Conv2d(Tensor.Zeros([4, 5]), Tensor.Zeros([2, 4, 3, 3])));
        Assert.Contains("conv2d: input must be 4-d [N, C, H, W] or 3-d [C, H, W], got shape [4, 5]", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3])));
        Assert.Contains("weight must be 4-d", m);

        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 6, 3])));
        Assert.Contains("larger than the padded input (5, 5)", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), dilation: 3));
        Assert.Contains("spans (7, 7)", m);
        Ops.Conv2d(x, Tensor.Zeros([2, 4, 6, 3]), padding: (1, 0)); // fits once padded

        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), stride: (1, 0)));
        Assert.Contains("conv2d: stride must be positive, got (1, 0)", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), padding: -1));
        Assert.Contains("padding must be non-negative", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), dilation: 0));
        Assert.Contains("dilation must be positive", m);

        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3]), Tensor.Zeros([3])));
        Assert.Contains("bias must be 1-d with 2 elements", m);
        m = Message(() => Ops.Conv2d(x, Tensor.Zeros([2, 4, 3, 3], DType.Float64)));
        Assert.Contains("input is float32", m);
        Assert.Contains("weight is float64", m);
        m = Message(() => Ops.Conv2d(Tensor.Zeros([1, 4, 5, 5], DType.Int64), Tensor.Zeros([2, 4, 3, 3], DType.Int64)));
        Assert.Contains("conv2d: expected a float32 or float64 tensor", m);

        m = Message(() => Ops.ConvTranspose2d(x, Tensor.Zeros([3, 2, 3, 3])));
        Assert.Contains("conv_transpose2d: input of shape [2, 4, 5, 5] has 4 channels, but weight of shape [3, 2, 3, 3] expects 3", m);
        m = Message(() => Ops.ConvTranspose2d(x, Tensor.Zeros([4, 2, 3, 3]), stride: 2, outputPadding: 2));
        Assert.Contains("smaller than either the stride (2, 2) or the dilation (1, 1)", m);
        m = Message(() => Ops.ConvTranspose2d(Tensor.Zeros([1, 4, 1, 1]), Tensor.Zeros([4, 2, 1, 1]), padding: 1));
        Assert.Contains("the output would be (-1, -1)", m);
    }
}

[Collection(ThreadCountCollection.Name)]
public class ConvThreadTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void One_and_two_threads_give_identical_bits(DType dtype)
    {
        // Large enough that im2col, the matrix products and col2im all split across threads.
        var k = new ConvCase("threads", 3, 8, 24, 23, 10, 3, 3, 1, 1, 1, Groups: 2);
        (Tensor, Tensor, Tensor) Run()
        {
            var (x, w, b) = ConvTests.Inputs(k, dtype);
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            var y = ConvTests.Conv(k, x, w, b);
            var grads = Autodiff.Grad([y], [x, w], [Tensor.Randn(y.Shape, new Generator(4), dtype)]);
            return (y, grads[0]!, grads[1]!);
        }
        var one = Close.WithThreads(1, Run);
        var two = Close.WithThreads(2, Run);
        Close.Bitwise(one.Item1, two.Item1, "forward");
        Close.Bitwise(one.Item2, two.Item2, "input gradient");
        Close.Bitwise(one.Item3, two.Item3, "weight gradient");
    }
}
