namespace Aperture;

public static partial class Ops
{
    // ---- max_pool2d ---------------------------------------------------------------------------------------
    //
    // Max pooling is a gather at the arg-max positions, which are found without gradient: the primitive pair is
    // that gather (max_pool2d) and its transpose, a scatter-add back into the input planes (max_pool2d_backward).

    /// <summary>
    /// The maximum over each kH×kW window of every channel, like <c>torch.nn.functional.max_pool2d</c>: input
    /// [N, C, H, W] (or [C, H, W]) → [N, C, OH, OW] with OH = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1
    /// (rounded up with <paramref name="ceilMode"/>, as long as the last window starts inside the input or the
    /// left padding). Padding is −∞ and may be at most half the kernel; the stride defaults to the kernel size. The
    /// gradient goes to the first maximal element of each window.
    /// </summary>
    public static Tensor MaxPool2d(Tensor input, Size2d kernel, Size2d? stride = null, Size2d? padding = null, Size2d? dilation = null,
        bool ceilMode = false) =>
        MaxPool2dWithIndices(input, kernel, stride, padding, dilation, ceilMode).Values;

    /// <summary>
    /// <see cref="MaxPool2d"/> that also returns where each maximum is (PyTorch's <c>return_indices</c>): int64 of the
    /// output's shape, a flat index ih·W + iw into the input's H×W plane.
    /// </summary>
    public static (Tensor Values, Tensor Indices) MaxPool2dWithIndices(Tensor input, Size2d kernel, Size2d? stride = null, Size2d? padding = null,
        Size2d? dilation = null, bool ceilMode = false)
    {
        const string op = "max_pool2d";
        var (x, unbatched) = Batched(op, input);
        RequireFloat(op, x);
        CheckKernel(op, kernel);
        var (s, p, d) = WindowArgs(op, stride, padding, dilation, defaultStride: kernel);
        CheckPoolPadding(op, kernel, p);
        int oh = PoolOutputSize(x.Shape[2], kernel.H, s.H, p.H, d.H, ceilMode);
        int ow = PoolOutputSize(x.Shape[3], kernel.W, s.W, p.W, d.W, ceilMode);
        CheckPoolOutput(op, input, kernel, s, p, d, oh, ow);
        var (values, indices) = Pool2dKernel.MaxPool(x, new MaxPoolGeometry(kernel.H, kernel.W, s.H, s.W, p.H, p.W, d.H, d.W, oh, ow));
        var y = Graph.Record(Graph.NeedsNode(x) ? MaxPool2dNode.Create(x, indices) : null, values);
        return unbatched ? (Squeeze(y, 0), Squeeze(indices, 0)) : (y, indices);
    }

    /// <summary>x[n, c] at the flat plane positions <paramref name="indices"/>[n, c] (−1 gives <paramref name="fill"/>).</summary>
    private static Tensor MaxPoolGather(Tensor x, Tensor indices, double fill) =>
        Graph.Record(Graph.NeedsNode(x) ? MaxPool2dNode.Create(x, indices) : null, Pool2dKernel.GatherPlanes(x, indices, fill));

    /// <summary>The transpose of <see cref="MaxPoolGather"/>: src added into zero planes of h×w at <paramref name="indices"/>.</summary>
    private static Tensor MaxPoolScatter(Tensor src, Tensor indices, int h, int w) =>
        Graph.Record(Graph.NeedsNode(src) ? MaxPool2dBackwardNode.Create(src, indices, h, w) : null, Pool2dKernel.ScatterPlanes(src, indices, h, w));

    private sealed class MaxPool2dNode : PooledNode<MaxPool2dNode>
    {
        private Tensor indices = null!;

        public static MaxPool2dNode Create(Tensor x, Tensor indices)
        {
            var node = Rent<MaxPool2dNode>();
            node.SetInputs(x);
            node.indices = indices;
            return node;
        }

        protected override void ClearFields() => indices = null!;

        public override string Name => "max_pool2d";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) =>
            inputGrads[0] = MaxPoolScatter(grad, indices, Inputs[0].Shape[2], Inputs[0].Shape[3]);

        // A window of padding only holds the constant −∞: its tangent is 0.
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? MaxPoolGather(tx, indices, 0) : null;
    }

    private sealed class MaxPool2dBackwardNode : PooledNode<MaxPool2dBackwardNode>
    {
        private Tensor indices = null!;
        private int h, w;

        public static MaxPool2dBackwardNode Create(Tensor src, Tensor indices, int h, int w)
        {
            var node = Rent<MaxPool2dBackwardNode>();
            node.SetInputs(src);
            (node.indices, node.h, node.w) = (indices, h, w);
            return node;
        }

        protected override void ClearFields() => indices = null!;

        public override string Name => "max_pool2d_backward";

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = MaxPoolGather(grad, indices, 0);

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } ts ? MaxPoolScatter(ts, indices, h, w) : null;
    }

    // ---- avg_pool2d / adaptive_avg_pool2d -----------------------------------------------------------------
    //
    // Both are one linear primitive, a mean over per-axis windows (avg_pool2d), and its transpose.

    /// <summary>
    /// The mean over each kH×kW window of every channel, like <c>torch.nn.functional.avg_pool2d</c>: input
    /// [N, C, H, W] (or [C, H, W]) → [N, C, OH, OW], output size as in <see cref="MaxPool2d"/> (no dilation). Padding
    /// is zeros, at most half the kernel; with <paramref name="countIncludePad"/> the padded positions count in the
    /// divisor (never the positions past the padding that ceil mode adds). The stride defaults to the kernel size.
    /// </summary>
    public static Tensor AvgPool2d(Tensor input, Size2d kernel, Size2d? stride = null, Size2d? padding = null, bool ceilMode = false,
        bool countIncludePad = true)
    {
        const string op = "avg_pool2d";
        var (x, unbatched) = Batched(op, input);
        RequireFloat(op, x);
        CheckKernel(op, kernel);
        var (s, p, _) = WindowArgs(op, stride, padding, null, defaultStride: kernel);
        CheckPoolPadding(op, kernel, p);
        int h = x.Shape[2], w = x.Shape[3];
        int oh = PoolOutputSize(h, kernel.H, s.H, p.H, 1, ceilMode), ow = PoolOutputSize(w, kernel.W, s.W, p.W, 1, ceilMode);
        CheckPoolOutput(op, input, kernel, s, p, 1, oh, ow);
        var plan = new AvgPoolPlan(AvgWindows(h, kernel.H, s.H, p.H, oh, countIncludePad), AvgWindows(w, kernel.W, s.W, p.W, ow, countIncludePad), h, w);
        var y = AvgPoolPrimitive(x, plan);
        return unbatched ? Squeeze(y, 0) : y;
    }

    /// <summary>
    /// The mean over windows that tile each plane into <paramref name="outputSize"/> cells, like
    /// <c>torch.nn.functional.adaptive_avg_pool2d</c>: cell i along an axis of size H covers [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).
    /// Input [N, C, H, W] (or [C, H, W]) → [N, C, OH, OW]; (1, 1) is global average pooling.
    /// </summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, Size2d outputSize)
    {
        const string op = "adaptive_avg_pool2d";
        var (x, unbatched) = Batched(op, input);
        RequireFloat(op, x);
        if (outputSize.H < 1 || outputSize.W < 1)
            throw new ArgumentOutOfRangeException(nameof(outputSize), $"{op}: output size must be positive, got {outputSize}");
        int h = x.Shape[2], w = x.Shape[3];
        if (h < 1 || w < 1)
            throw new ShapeMismatchException($"{op}: input of shape {Shapes.Format(input.Shape)} has an empty plane");
        var plan = new AvgPoolPlan(AdaptiveWindows(h, outputSize.H), AdaptiveWindows(w, outputSize.W), h, w);
        var y = AvgPoolPrimitive(x, plan);
        return unbatched ? Squeeze(y, 0) : y;
    }

    private static Tensor AvgPoolPrimitive(Tensor x, AvgPoolPlan plan) =>
        Graph.Record(Graph.NeedsNode(x) ? new AvgPool2dNode(x, plan) : null, Pool2dKernel.AvgPool(x, plan));

    private static Tensor AvgPoolTransposePrimitive(Tensor gy, AvgPoolPlan plan) =>
        Graph.Record(Graph.NeedsNode(gy) ? new AvgPool2dBackwardNode(gy, plan) : null, Pool2dKernel.AvgPoolTranspose(gy, plan));

    private sealed class AvgPool2dNode(Tensor x, AvgPoolPlan plan) : Node(x)
    {
        public override string Name => "avg_pool2d";
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = AvgPoolTransposePrimitive(grad, plan);
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? AvgPoolPrimitive(tx, plan) : null;
    }

    private sealed class AvgPool2dBackwardNode(Tensor gy, AvgPoolPlan plan) : Node(gy)
    {
        public override string Name => "avg_pool2d_backward";
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = AvgPoolPrimitive(grad, plan);
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tg ? AvgPoolTransposePrimitive(tg, plan) : null;
    }

    /// <summary>PyTorch's avg_pool2d windows along one axis: the divisor counts padding (up to size + pad) when asked, never past it.</summary>
    private static PoolWindows AvgWindows(int size, int kernel, int stride, int pad, int outputs, bool countIncludePad)
    {
        var (start, end, count) = (new int[outputs], new int[outputs], new int[outputs]);
        for (int o = 0; o < outputs; o++)
        {
            int s = o * stride - pad, e = Math.Min(s + kernel, size + pad);
            count[o] = e - s;
            start[o] = Math.Max(s, 0);
            end[o] = Math.Min(e, size);
            if (!countIncludePad) count[o] = Math.Max(end[o] - start[o], 0);
        }
        return new PoolWindows(start, end, count);
    }

    private static PoolWindows AdaptiveWindows(int size, int outputs)
    {
        var (start, end, count) = (new int[outputs], new int[outputs], new int[outputs]);
        for (int o = 0; o < outputs; o++)
        {
            start[o] = (int)((long)o * size / outputs);
            end[o] = (int)(((long)(o + 1) * size + outputs - 1) / outputs);
            count[o] = end[o] - start[o];
        }
        return new PoolWindows(start, end, count);
    }

    // ---- shared checks ------------------------------------------------------------------------------------

    /// <summary>PyTorch's pooling output size: floor (or ceil, dropping a last window that would start in the right padding).</summary>
    private static int PoolOutputSize(int size, int kernel, int stride, int pad, int dilation, bool ceilMode)
    {
        long span = (long)size + 2 * pad - (long)dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
        long n = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
        if (ceilMode && (n - 1) * stride >= size + pad) n--;
        return (int)Math.Clamp(n, int.MinValue, int.MaxValue);
    }

    private static void CheckKernel(string op, Size2d kernel)
    {
        if (kernel.H < 1 || kernel.W < 1) throw new ArgumentOutOfRangeException(nameof(kernel), $"{op}: kernel size must be positive, got {kernel}");
    }

    private static void CheckPoolPadding(string op, Size2d kernel, Size2d padding)
    {
        if (padding.H > kernel.H / 2 || padding.W > kernel.W / 2)
            throw new ArgumentOutOfRangeException(nameof(padding), $"{op}: padding {padding} must be at most half the kernel size {kernel}");
    }

    private static void CheckPoolOutput(string op, Tensor input, Size2d kernel, Size2d stride, Size2d padding, Size2d dilation, int oh, int ow)
    {
        if (oh < 1 || ow < 1)
            throw new ShapeMismatchException(
                $"{op}: input of shape {Shapes.Format(input.Shape)} is too small for kernel {kernel} with stride {stride}, padding {padding} and dilation {dilation} " +
                $"(the output would be ({oh}, {ow}))");
    }
}
