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
        Size2d? dilation = null, int groups = 1) => Conv2dCore(input, weight, bias, stride, padding, dilation, groups, relu: false);

    /// <summary>
    /// ReLU(conv2d(x, w) + b) as one op: the bits of <see cref="Conv2d"/> then <see cref="Relu"/> (one add and one IEEE
    /// maximum per element, applied as each output plane leaves the kernel), one node whose backward masks the gradient
    /// by the output's sign first, as ReLU's own rule would. For a <see cref="NN.Sequential"/> that runs a Conv2d layer
    /// and then a ReLU (<see cref="NN.Conv2d"/>'s fused forward).
    /// </summary>
    internal static Tensor Conv2dRelu(Tensor input, Tensor weight, Tensor? bias, Size2d? stride, Size2d? padding, Size2d? dilation, int groups) =>
        Conv2dCore(input, weight, bias, stride, padding, dilation, groups, relu: true);

    private static Tensor Conv2dCore(Tensor input, Tensor weight, Tensor? bias, Size2d? stride, Size2d? padding,
        Size2d? dilation, int groups, bool relu)
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
        // Under a policy that rounds what ops store, the bias stays an op of its own, so the convolution's output is
        // rounded before the bias is added, as it always was (the fused ReLU is not offered there: NN.Conv2d).
        var policy = NumericsPolicy.Current;
        var y = bias is not null && !relu && (policy.Activations != StorageFormat.Native || policy.Gradients != StorageFormat.Native)
            ? AddChannelBias(ConvPrimitive(x, weight, geometry), bias)
            : ConvPrimitive(x, weight, geometry, bias, relu);
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

    /// <summary>
    /// y = conv(x, w) for a 4-d x, with the geometry already checked; plus the channel bias b (checked) when given, and
    /// then max(·, 0) when <paramref name="relu"/>, in the kernel's own pass over the output.
    /// </summary>
    private static Tensor ConvPrimitive(Tensor x, Tensor w, ConvGeometry g, Tensor? b = null, bool relu = false)
    {
        bool needs = b is null ? Graph.NeedsNode(x, w) : Graph.NeedsNode(x, w) || Graph.NeedsNode(b);
        return Graph.Record(needs ? Conv2dNode.Create(x, w, b, g, relu) : null, Conv2dKernel.Forward(x, w, g, b, relu));
    }

    /// <summary>The input gradient of conv: convᵀ(gy, w) of shape [N, C, H, W] (linear in each of gy and w).</summary>
    private static Tensor ConvTransposePrimitive(Tensor gy, Tensor w, ConvGeometry g) =>
        Graph.Record(Graph.NeedsNode(gy, w) ? ConvTranspose2dNode.Create(gy, w, g) : null, Conv2dKernel.InputGrad(gy, w, g));

    /// <summary>The weight gradient of conv: Σₙ gy ⋆ x of shape [O, C/groups, kH, kW] (linear in each of x and gy).</summary>
    private static Tensor ConvWeightPrimitive(Tensor x, Tensor gy, ConvGeometry g) =>
        Graph.Record(Graph.NeedsNode(x, gy) ? Conv2dWeightNode.Create(x, gy, g) : null, Conv2dKernel.WeightGrad(x, gy, g));

    // ⟨conv(x, w), gy⟩ = ⟨x, convᵀ(gy, w)⟩ = ⟨w, weight(x, gy)⟩: each rule below reads off one side of this identity.

    /// <summary>
    /// conv(x, w), with the channel bias b as a third input when the layer has one, and the ReLU after it when
    /// <c>_relu</c>: one node, as Linear's, so the forward pass writes one tensor where the three ops wrote three.
    /// </summary>
    private sealed class Conv2dNode : PooledNode<Conv2dNode>
    {
        private ConvGeometry g;
        private bool _relu;

        public static Conv2dNode Create(Tensor x, Tensor w, Tensor? b, ConvGeometry geometry, bool relu)
        {
            var node = Rent<Conv2dNode>();
            if (b is null) node.SetInputs(x, w);
            else node.SetInputs(x, w, b);
            node.g = geometry;
            node._relu = relu;
            return node;
        }

        public override string Name => _relu ? "conv2d_relu" : "conv2d";

        // Bilinear in (x, w) and affine in b: the rules read x and w, never b; the fused ReLU's step is read from the output.
        protected internal override bool SavesInput(int i) => i < 2;
        protected internal override bool SavesOutput => _relu;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            // The ReLU's rule first, as its own node's would be: the gradient of the pre-activation.
            if (_relu) grad = ReluMask(grad, Output);
            if (NeedsGrad(0)) inputGrads[0] = ConvTransposePrimitive(grad, Inputs[1], g);
            if (NeedsGrad(1)) inputGrads[1] = ConvWeightPrimitive(Inputs[0], grad, g);
            if (Inputs.Length == 3 && NeedsGrad(2)) inputGrads[2] = ChannelBiasGrad(grad, Inputs[2]);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var r = AddTangents(
                t[0] is { } tx ? ConvPrimitive(tx, Inputs[1], g) : null,
                t[1] is { } tw ? ConvPrimitive(Inputs[0], tw, g) : null);
            if (Inputs.Length == 3 && t[2] is { } tb)
            {
                var e = Expand(Reshape(tb, [Inputs[2].Shape[0], 1, 1]), Output.Shape);
                r = r is null ? e : Add(r, e);
            }
            return _relu && r is not null ? ReluMask(r, Output) : r;
        }
    }

    private sealed class ConvTranspose2dNode : PooledNode<ConvTranspose2dNode>
    {
        private ConvGeometry g;

        public static ConvTranspose2dNode Create(Tensor gy, Tensor w, ConvGeometry geometry)
        {
            var node = Rent<ConvTranspose2dNode>();
            node.SetInputs(gy, w);
            node.g = geometry;
            return node;
        }

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

    private sealed class Conv2dWeightNode : PooledNode<Conv2dWeightNode>
    {
        private ConvGeometry g;

        public static Conv2dWeightNode Create(Tensor x, Tensor gy, ConvGeometry geometry)
        {
            var node = Rent<Conv2dWeightNode>();
            node.SetInputs(x, gy);
            node.g = geometry;
            return node;
        }

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

    /// <summary>
    /// y + b[c] on every (sample, channel c) plane of a [N, C, H, W] tensor: a convolution's bias as one primitive,
    /// the same bits as <c>y + b.Reshape(C, 1, 1)</c>; its gradient for b sums each channel's planes.
    /// </summary>
    public static Tensor AddChannelBias(Tensor y, Tensor bias)
    {
        if (y.Rank != 4 || bias.Rank != 1 || bias.Shape[0] != y.Shape[1])
            throw new ShapeMismatchException($"add_channel_bias: expected a [N, C, H, W] tensor and a [C] bias, got {Shapes.Format(y.Shape)} and {Shapes.Format(bias.Shape)}");
        if (y.DType != bias.DType)
            throw new DTypeMismatchException($"add_channel_bias: mixed dtypes {y.DType.Name()} and {bias.DType.Name()}");
        RequireFloat("add_channel_bias", y);
        var src = y.IsContiguous ? y : StridedCopy.ToContiguous(y);
        var b = bias.IsContiguous ? bias : StridedCopy.ToContiguous(bias);
        var result = Tensor.Empty(y.Shape, y.DType);
        if (y.DType == DType.Float32) ChannelBias<float>(src, b, result);
        else ChannelBias<double>(src, b, result);
        return Graph.Record(Graph.NeedsNode(y, bias) ? ChannelBiasNode.Create(y, bias) : null, result);
    }

    private static void ChannelBias<T>(Tensor y, Tensor b, Tensor result) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int n = y.Shape[0], c = y.Shape[1], plane = y.Shape[2] * y.Shape[3];
        T[] ys = y.Buffer<T>(), bs = b.Buffer<T>(), rs = result.Buffer<T>();
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                int at = (i * c + ch) * plane;
                System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<T>(ys, y._offset + at, plane), bs[b._offset + ch], new Span<T>(rs, at, plane));
            }
    }

    /// <summary>
    /// The gradient of a channel bias b ([C]) from the gradient of y + b[c] ([N, C, H, W]): each channel's sum over
    /// samples and positions, with the bits of <c>Sum(grad, [0, 2, 3])</c>, recorded as that op when it must be.
    /// </summary>
    private static Tensor ChannelBiasGrad(Tensor grad, Tensor bias)
    {
        if (!Graph.IsPlainBackward(grad, bias) || !grad.IsContiguous) return Sum(grad, [0, 2, 3]);
        var gb = Tensor.Empty(bias.Shape, grad.DType);
        if (grad.DType == DType.Float32) ChannelBiasNode.ChannelSums<float>(grad, gb);
        else ChannelBiasNode.ChannelSums<double>(grad, gb);
        return Graph.Record(null, gb);
    }

    private sealed class ChannelBiasNode : PooledNode<ChannelBiasNode>
    {
        public static ChannelBiasNode Create(Tensor y, Tensor bias)
        {
            var node = Rent<ChannelBiasNode>();
            node.SetInputs(y, bias);
            return node;
        }

        public override string Name => "add_channel_bias";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = grad;
            if (NeedsGrad(1)) inputGrads[1] = ChannelBiasGrad(grad, Inputs[1]);
        }

        /// <summary>
        /// Σ over samples and positions of each channel, in the order and bits of <c>Sum(g, [0, 2, 3])</c>; channels
        /// are split over threads, each summed whole by one.
        /// </summary>
        internal static void ChannelSums<T>(Tensor g, Tensor gb) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            int n = g.Shape[0], c = g.Shape[1], plane = g.Shape[2] * g.Shape[3];
            Parallelism.For(c, 2L * n * plane, new ChannelSumBody<T>(g.Buffer<T>(), g._offset, n, c, plane, gb.Buffer<T>(), NumericsPolicy.Current));
        }

        private readonly struct ChannelSumBody<T>(T[] gs, int offset, int n, int c, int plane, T[] o, NumericsPolicy p) : Parallelism.IRangeBody
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            public void Run(int start, int end)
            {
                var terms = Scratch<T>.Get(3, (long)n * plane);
                for (int ch = start; ch < end; ch++)
                {
                    for (int i = 0; i < n; i++) Array.Copy(gs, offset + (i * c + ch) * plane, terms, i * plane, plane);
                    o[ch] = Sum<T>(new ReadOnlySpan<T>(terms, 0, n * plane), p);
                }
            }
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is null && t[1] is null) return null;
            if (t[1] is null) return t[0];
            var tb = Expand(Reshape(t[1]!, [Inputs[1].Shape[0], 1, 1]), Output.Shape);
            return t[0] is null ? tb : Add(t[0]!, tb);
        }
    }
}
