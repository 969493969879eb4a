namespace Aperture;

public static partial class Ops
{
    // ---- conv2d / conv_transpose2d ----------------------------------------------------------------------
    //
    // Convolution is bilinear in (input, weight), so three primitives close under differentiation: the
    // convolution, its input gradient (the transposed convolution) and its weight gradient. Each one's VJP and
    // JVP are written with the three, so second derivatives and forward mode need nothing more.

    /// <summary>
    /// The 2-d convolution (cross-correlation) of <c>torch.nn.functional.conv2d</c>: input [N, C, H, W] (or an
    /// unbatched [C, H, W]), weight [O, C/groups, kH, kW], optional bias [O]; the output is [N, O, OH, OW] with
    /// OH = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1 (likewise OW). Padding is zeros. With groups g the
    /// channels split into g independent convolutions (g = C is a depthwise convolution).
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, Size2d? stride = null, Size2d? padding = null,
        Size2d? dilation = null, int groups = 1)
    {
        const string op = "conv2d";
        var (x, unbatched) = Batched(op, input);
        var (s, p, d) = WindowArgs(op, stride, padding, dilation, defaultStride: 1);
        CheckConvOperands(op, x, weight, groups);
        if (weight.Rank != 4)
            throw new ShapeMismatchException($"{op}: weight must be 4-d [out channels, in channels / groups, kH, kW], got shape {Shapes.Format(weight.Shape)}");
        int c = x.Shape[1], o = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        if (c % groups != 0)
            throw new ShapeMismatchException($"{op}: groups = {groups} does not divide the input's {c} channels (input shape {Shapes.Format(input.Shape)})");
        if (o % groups != 0)
            throw new ShapeMismatchException($"{op}: groups = {groups} does not divide the weight's {o} output channels (weight shape {Shapes.Format(weight.Shape)})");
        if (weight.Shape[1] * groups != c)
            throw new ShapeMismatchException(
                $"{op}: input of shape {Shapes.Format(input.Shape)} has {c} channels, but weight of shape {Shapes.Format(weight.Shape)} expects " +
                $"{weight.Shape[1] * groups} ({weight.Shape[1]} per group × {groups} group{(groups == 1 ? "" : "s")})");
        if (kh < 1 || kw < 1)
            throw new ShapeMismatchException($"{op}: weight of shape {Shapes.Format(weight.Shape)} has an empty kernel");
        int h = x.Shape[2], w = x.Shape[3];
        int eh = d.H * (kh - 1) + 1, ew = d.W * (kw - 1) + 1;
        if (eh > h + 2 * p.H || ew > w + 2 * p.W)
            throw new ShapeMismatchException(
                $"{op}: the kernel ({kh}, {kw}) with dilation {d} spans ({eh}, {ew}), larger than the padded input ({h + 2 * p.H}, {w + 2 * p.W}) " +
                $"(input shape {Shapes.Format(input.Shape)}, padding {p})");
        CheckBias(op, bias, x, o);
        var geometry = new ConvGeometry(c, h, w, o, kh, kw, (h + 2 * p.H - eh) / s.H + 1, (w + 2 * p.W - ew) / s.W + 1,
            s.H, s.W, p.H, p.W, d.H, d.W, groups);
        var y = ConvPrimitive(x, weight, geometry);
        if (bias is not null) y = Add(y, Reshape(bias, [o, 1, 1]));
        return unbatched ? Squeeze(y, 0) : y;
    }

    /// <summary>
    /// The transposed convolution of <c>torch.nn.functional.conv_transpose2d</c> (the gradient of <see cref="Conv2d"/>
    /// with respect to its input): input [N, Cin, H, W] (or [Cin, H, W]), weight [Cin, Cout/groups, kH, kW], optional
    /// bias [Cout]; the output is [N, Cout, OH, OW] with OH = (H − 1)·stride − 2·padding + dilation·(kH − 1) +
    /// outputPadding + 1. Output padding (smaller than the stride or the dilation) picks among the output sizes
    /// that a strided convolution maps to the same input size.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, Size2d? stride = null, Size2d? padding = null,
        Size2d? outputPadding = null, int groups = 1, Size2d? dilation = null)
    {
        const string op = "conv_transpose2d";
        var (x, unbatched) = Batched(op, input);
        var (s, p, d) = WindowArgs(op, stride, padding, dilation, defaultStride: 1);
        var op2 = outputPadding ?? 0;
        CheckConvOperands(op, x, weight, groups);
        if (weight.Rank != 4)
            throw new ShapeMismatchException($"{op}: weight must be 4-d [in channels, out channels / groups, kH, kW], got shape {Shapes.Format(weight.Shape)}");
        int cin = x.Shape[1], kh = weight.Shape[2], kw = weight.Shape[3];
        if (weight.Shape[0] != cin)
            throw new ShapeMismatchException(
                $"{op}: input of shape {Shapes.Format(input.Shape)} has {cin} channels, but weight of shape {Shapes.Format(weight.Shape)} expects {weight.Shape[0]}");
        if (cin % groups != 0)
            throw new ShapeMismatchException($"{op}: groups = {groups} does not divide the input's {cin} channels (input shape {Shapes.Format(input.Shape)})");
        if (kh < 1 || kw < 1)
            throw new ShapeMismatchException($"{op}: weight of shape {Shapes.Format(weight.Shape)} has an empty kernel");
        if (op2.H < 0 || op2.W < 0 || (op2.H >= s.H && op2.H >= d.H) || (op2.W >= s.W && op2.W >= d.W))
            throw new ArgumentOutOfRangeException(nameof(outputPadding),
                $"{op}: output padding {op2} must be non-negative and smaller than either the stride {s} or the dilation {d}");
        int cout = weight.Shape[1] * groups, h = x.Shape[2], w = x.Shape[3];
        int oh = (h - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1;
        int ow = (w - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (oh < 1 || ow < 1)
            throw new ShapeMismatchException(
                $"{op}: the output would be ({oh}, {ow}): padding {p} removes more than the input of shape {Shapes.Format(input.Shape)} and the kernel ({kh}, {kw}) produce");
        CheckBias(op, bias, x, cout);
        // The convolution this one transposes: it maps [N, Cout, OH, OW] to [N, Cin, H, W].
        var geometry = new ConvGeometry(cout, oh, ow, cin, kh, kw, h, w, s.H, s.W, p.H, p.W, d.H, d.W, groups);
        var y = ConvTransposePrimitive(x, weight, geometry);
        if (bias is not null) y = Add(y, Reshape(bias, [cout, 1, 1]));
        return unbatched ? Squeeze(y, 0) : y;
    }

    private static void CheckConvOperands(string op, Tensor x, Tensor weight, int groups)
    {
        if (x.DType != weight.DType)
            throw new DTypeMismatchException(
                $"{op}: input is {x.DType.Name()} (shape {Shapes.Format(x.Shape)}) but weight is {weight.DType.Name()} (shape {Shapes.Format(weight.Shape)})");
        RequireFloat(op, x);
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), groups, $"{op}: groups must be positive, got {groups}");
    }

    private static void CheckBias(string op, Tensor? bias, Tensor x, int channels)
    {
        if (bias is null) return;
        if (bias.Rank != 1 || bias.Shape[0] != channels)
            throw new ShapeMismatchException($"{op}: bias must be 1-d with {channels} elements (one per output channel), got shape {Shapes.Format(bias.Shape)}");
        if (bias.DType != x.DType)
            throw new DTypeMismatchException($"{op}: bias is {bias.DType.Name()} but the input is {x.DType.Name()}");
    }

    /// <summary>A 4-d [N, C, H, W] view of a batched or unbatched ([C, H, W]) input, and whether it was unbatched.</summary>
    private static (Tensor X, bool Unbatched) Batched(string op, Tensor input)
    {
        if (input.Rank == 4) return (input, false);
        if (input.Rank == 3) return (Unsqueeze(input, 0), true);
        throw new ShapeMismatchException($"{op}: input must be 4-d [N, C, H, W] or 3-d [C, H, W], got shape {Shapes.Format(input.Shape)}");
    }

    /// <summary>Stride (default <paramref name="defaultStride"/>), padding (default 0) and dilation (default 1), checked.</summary>
    private static (Size2d Stride, Size2d Padding, Size2d Dilation) WindowArgs(string op, Size2d? stride, Size2d? padding, Size2d? dilation, Size2d defaultStride)
    {
        var s = stride ?? defaultStride;
        var p = padding ?? 0;
        var d = dilation ?? 1;
        if (s.H < 1 || s.W < 1) throw new ArgumentOutOfRangeException(nameof(stride), $"{op}: stride must be positive, got {s}");
        if (p.H < 0 || p.W < 0) throw new ArgumentOutOfRangeException(nameof(padding), $"{op}: padding must be non-negative, got {p}");
        if (d.H < 1 || d.W < 1) throw new ArgumentOutOfRangeException(nameof(dilation), $"{op}: dilation must be positive, got {d}");
        return (s, p, d);
    }

    private static Tensor? AddTangents(Tensor? a, Tensor? b) => a is null ? b : b is null ? a : Add(a, b);

    /// <summary>y = conv(x, w) for a 4-d x, with the geometry already checked.</summary>
    private static Tensor ConvPrimitive(Tensor x, Tensor w, ConvGeometry g) =>
        Graph.Record(Graph.NeedsNode(x, w) ? new Conv2dNode(x, w, g) : null, Conv2dKernel.Forward(x, w, g));

    /// <summary>The input gradient of conv: convᵀ(gy, w) of shape [N, C, H, W] (linear in each of gy and w).</summary>
    private static Tensor ConvTransposePrimitive(Tensor gy, Tensor w, ConvGeometry g) =>
        Graph.Record(Graph.NeedsNode(gy, w) ? new ConvTranspose2dNode(gy, w, g) : null, Conv2dKernel.InputGrad(gy, w, g));

    /// <summary>The weight gradient of conv: Σₙ gy ⋆ x of shape [O, C/groups, kH, kW] (linear in each of x and gy).</summary>
    private static Tensor ConvWeightPrimitive(Tensor x, Tensor gy, ConvGeometry g) =>
        Graph.Record(Graph.NeedsNode(x, gy) ? new Conv2dWeightNode(x, gy, g) : null, Conv2dKernel.WeightGrad(x, gy, g));

    // ⟨conv(x, w), gy⟩ = ⟨x, convᵀ(gy, w)⟩ = ⟨w, weight(x, gy)⟩: each rule below reads off one side of this identity.

    private sealed class Conv2dNode(Tensor x, Tensor w, ConvGeometry g) : Node(x, w)
    {
        public override string Name => "conv2d";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = ConvTransposePrimitive(grad, Inputs[1], g);
            if (NeedsGrad(1)) inputGrads[1] = ConvWeightPrimitive(Inputs[0], grad, g);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => AddTangents(
            t[0] is { } tx ? ConvPrimitive(tx, Inputs[1], g) : null,
            t[1] is { } tw ? ConvPrimitive(Inputs[0], tw, g) : null);
    }

    private sealed class ConvTranspose2dNode(Tensor gy, Tensor w, ConvGeometry g) : Node(gy, w)
    {
        public override string Name => "conv_transpose2d";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = ConvPrimitive(grad, Inputs[1], g);
            if (NeedsGrad(1)) inputGrads[1] = ConvWeightPrimitive(grad, Inputs[0], g);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => AddTangents(
            t[0] is { } tg ? ConvTransposePrimitive(tg, Inputs[1], g) : null,
            t[1] is { } tw ? ConvTransposePrimitive(Inputs[0], tw, g) : null);
    }

    private sealed class Conv2dWeightNode(Tensor x, Tensor gy, ConvGeometry g) : Node(x, gy)
    {
        public override string Name => "conv2d_weight";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = ConvTransposePrimitive(Inputs[1], grad, g);
            if (NeedsGrad(1)) inputGrads[1] = ConvPrimitive(Inputs[0], grad, g);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => AddTangents(
            t[0] is { } tx ? ConvWeightPrimitive(tx, Inputs[1], g) : null,
            t[1] is { } tg ? ConvWeightPrimitive(Inputs[0], tg, g) : null);
    }
}
