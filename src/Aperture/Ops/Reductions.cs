namespace Aperture;

public static partial class Ops
{
    // ---- sum (the one reduction primitive) --------------------------------------------------------------

    /// <summary>
    /// The sum over <paramref name="axes"/> (all axes when null or empty), in the order and precision the current
    /// <see cref="NumericsPolicy"/> names. Bool and int64 tensors sum to int64.
    /// </summary>
    public static Tensor Sum(Tensor x, int[]? axes = null, bool keepDim = false)
    {
        // Every axis (the common case of a loss): the shared list of axes, so the sum allocates nothing in a scope.
        var ax = axes is null || axes.Length == 0 ? Shapes.AllAxes(x.Rank) : Shapes.NormalizeAxes("sum", axes, x.Rank);
        if (!x.DType.IsFloatingPoint()) return SumIntegers(x, ax, Shapes.Reduced(x.Shape, ax, keepDim));
        Span<int> outShape = x.Rank <= 16 ? stackalloc int[x.Rank] : new int[x.Rank];
        outShape = outShape[..Shapes.Reduced(x.Shape, ax, keepDim, outShape)];
        var y = SumKernel(x, ax, outShape, NumericsPolicy.Current);
        return Graph.Record(Graph.NeedsNode(x) ? SumNode.Create(x, ax, keepDim) : null, y);
    }

    /// <summary>The sum over one axis.</summary>
    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => Sum(x, [axis], keepDim);

    private sealed class SumNode : PooledNode<SumNode>
    {
        private int[] _axes = null!;
        private bool _keepDim;

        public static SumNode Create(Tensor x, int[] axes, bool keepDim)
        {
            var node = Rent<SumNode>();
            node.SetInputs(x);
            node._axes = axes;
            node._keepDim = keepDim;
            return node;
        }

        protected override void ClearFields() => _axes = null!;

        public override string Name => "sum";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var x = Inputs[0];
            var g = grad;
            if (!_keepDim)
            {
                Span<int> kept = x.Rank <= 16 ? stackalloc int[x.Rank] : new int[x.Rank];
                Shapes.Reduced(x.Shape, _axes, keepDim: true, kept);
                g = Reshape(grad, kept);
            }
            inputGrads[0] = Expand(g, x.Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? Sum(tx, _axes, _keepDim) : null;
    }

    /// <summary>Moves the reduced axes last and makes the tensor contiguous, so each output reduces one contiguous run.</summary>
    private static (Tensor Src, int Outer, int Inner) ReducedLast(Tensor x, int[] axes)
    {
        int inner = 1;
        foreach (int a in axes) inner *= x.Shape[a];
        int outer = inner == 0 ? 0 : x.Numel / Math.Max(inner, 1);
        if (inner == 0) outer = Shapes.Numel(Shapes.Reduced(x.Shape, axes, false));
        bool trailing = true;
        for (int i = 0; i < axes.Length; i++) if (axes[i] != x.Rank - axes.Length + i) trailing = false;
        Tensor src;
        if (trailing) src = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
        else
        {
            var perm = new int[x.Rank];
            int k = 0;
            for (int i = 0; i < x.Rank; i++) if (Array.IndexOf(axes, i) < 0) perm[k++] = i;
            foreach (int a in axes) perm[k++] = a;
            var shape = new int[x.Rank];
            var strides = new int[x.Rank];
            for (int i = 0; i < x.Rank; i++) { shape[i] = x.Shape[perm[i]]; strides[i] = x.Strides[perm[i]]; }
            src = StridedCopy.ToContiguous(x.Alias(shape, strides, x._offset));
        }
        return (src, outer, inner);
    }

    private static Tensor SumKernel(Tensor x, int[] axes, ReadOnlySpan<int> outShape, NumericsPolicy p)
    {
        var y = Tensor.Empty(outShape, x.DType);
        if (x.DType == DType.Float32 ? SumOverRows<float>(x, axes, y, p) : SumOverRows<double>(x, axes, y, p)) return y;
        var (src, outer, inner) = ReducedLast(x, axes);
        if (x.DType == DType.Float32)
            Parallelism.For(outer, inner, new LastAxisSumsF(src.Buffer<float>(), src._offset, inner, y.Buffer<float>(), p));
        else
            Parallelism.For(outer, inner, new LastAxisSumsD(src.Buffer<double>(), src._offset, inner, y.Buffer<double>(), p));
        return y;
    }

    /// <summary>Sums of rows of <c>inner</c> consecutive elements, one per output.</summary>
    private readonly struct LastAxisSumsF(float[] s, int off, int inner, float[] d, NumericsPolicy p) : Parallelism.IRangeBody
    {
        public void Run(int o0, int o1)
        {
            for (int o = o0; o < o1; o++) d[o] = Reduce.Sum(new ReadOnlySpan<float>(s, off + o * inner, inner), p);
        }
    }

    private readonly struct LastAxisSumsD(double[] s, int off, int inner, double[] d, NumericsPolicy p) : Parallelism.IRangeBody
    {
        public void Run(int o0, int o1)
        {
            for (int o = o0; o < o1; o++) d[o] = Reduce.Sum(new ReadOnlySpan<double>(s, off + o * inner, inner), p);
        }
    }

    /// <summary>
    /// A sum over a block of consecutive axes that are not the last ones (such as the batch axis of a bias gradient):
    /// each output reduces a column of a contiguous [rows, columns] matrix, summed across columns in place instead of
    /// being permuted and copied. The order of each output's terms, and so its bits, is the same either way.
    /// </summary>
    private static unsafe bool SumOverRows<T>(Tensor x, int[] axes, Tensor y, NumericsPolicy p) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!x.IsContiguous || axes.Length == 0 || axes[^1] == x.Rank - 1 || !ColumnSum.Supports<T>(p)) return false;
        for (int i = 1; i < axes.Length; i++) if (axes[i] != axes[0] + i) return false;
        int outer = 1, rows = 1, cols = 1;
        for (int d = 0; d < x.Rank; d++)
        {
            if (d < axes[0]) outer *= x.Shape[d];
            else if (d <= axes[^1]) rows *= x.Shape[d];
            else cols *= x.Shape[d];
        }
        if (outer * cols == 0) return true;
        const int Block = ColumnBlockWidth;
        int blocks = (cols + Block - 1) / Block;
        var order = p.Order;
        fixed (T* xs = x.Buffer<T>(), ys = y.Buffer<T>())
        {
            nint src = (nint)(xs + x._offset), dst = (nint)ys;
            if (rows == 0)
            {
                new Span<T>(ys, outer * cols).Clear();
                return true;
            }
            Parallelism.For(outer * blocks, (long)rows * Math.Min(Block, cols), new ColumnBlocks<T>((T*)src, (T*)dst, rows, cols, blocks, order));
        }
        return true;
    }

    /// <summary>Column sums of [rows, cols] matrices, in blocks of <see cref="ColumnBlockWidth"/> columns.</summary>
    private readonly unsafe struct ColumnBlocks<T>(T* src, T* dst, int rows, int cols, int blocks, ReductionOrder order) : Parallelism.IRangeBody
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        public void Run(int i0, int i1)
        {
            for (int i = i0; i < i1; i++)
            {
                int o = i / blocks, c0 = i % blocks * ColumnBlockWidth, c1 = Math.Min(cols, c0 + ColumnBlockWidth);
                ColumnSum.Run(src + (nint)o * rows * cols, rows, cols, dst + (nint)o * cols, c0, c1, order);
            }
        }
    }

    private const int ColumnBlockWidth = 256;

    private static Tensor SumIntegers(Tensor x, int[] axes, int[] outShape)
    {
        var y = Tensor.Empty(outShape, DType.Int64);
        var (src, outer, inner) = ReducedLast(x, axes);
        var d = y.Buffer<long>();
        for (int o = 0; o < outer; o++)
        {
            long s = 0;
            for (int i = 0; i < inner; i++) s += (long)src.GetRaw(src._offset + o * inner + i);
            d[o] = s;
        }
        return y;
    }

    // ---- composites of sum ------------------------------------------------------------------------------

    /// <summary>The mean over <paramref name="axes"/> (all when null).</summary>
    public static Tensor Mean(Tensor x, int[]? axes = null, bool keepDim = false)
    {
        RequireFloat("mean", x);
        var ax = Shapes.NormalizeAxes("mean", axes, x.Rank);
        long n = 1;
        foreach (int a in ax) n *= x.Shape[a];
        return Div(Sum(x, ax, keepDim), n);
    }

    /// <summary>The mean over one axis.</summary>
    public static Tensor Mean(Tensor x, int axis, bool keepDim = false) => Mean(x, [axis], keepDim);

    /// <summary>
    /// The variance over <paramref name="axes"/> with Bessel's correction by default (<paramref name="correction"/> = 1,
    /// like <c>torch.var</c>); 0 gives the biased (population) variance.
    /// </summary>
    public static Tensor Var(Tensor x, int[]? axes = null, int correction = 1, bool keepDim = false)
    {
        RequireFloat("var", x);
        var ax = Shapes.NormalizeAxes("var", axes, x.Rank);
        long n = 1;
        foreach (int a in ax) n *= x.Shape[a];
        var d = Sub(x, Mean(x, ax, keepDim: true));
        return Div(Sum(Square(d), ax, keepDim), Math.Max(n - correction, 0));
    }

    /// <summary>
    /// The standard deviation (square root of <see cref="Var"/>). Where the spread is zero its gradient is taken as 0
    /// (the square root's derivative there is infinite and would give NaN), as PyTorch's std does.
    /// </summary>
    public static Tensor Std(Tensor x, int[]? axes = null, int correction = 1, bool keepDim = false) =>
        Unary(UnaryOps.StdRoot, Var(x, axes, correction, keepDim));

    /// <summary>
    /// log Σ exp(x) over <paramref name="axes"/>, computed stably as m + log Σ exp(x − m) with m the (constant) maximum.
    /// </summary>
    public static Tensor LogSumExp(Tensor x, int[]? axes = null, bool keepDim = false)
    {
        RequireFloat("logsumexp", x);
        var ax = Shapes.NormalizeAxes("logsumexp", axes, x.Rank);
        var p = NumericsPolicy.Current;
        if (p.Activations != StorageFormat.Native || p.Gradients != StorageFormat.Native)
        {
            // Emulated storage rounds every intermediate of the composite, so take it op by op.
            var shift = MaxValues(x, ax);
            var lse = Add(Log(Sum(Exp(Sub(x, shift)), ax, keepDim: true)), shift);
            return keepDim ? lse : Reshape(lse, Shapes.Reduced(x.Shape, ax, keepDim: false));
        }
        // One fused pass per row with the composite's own operations (same bits), and one node whose rules are the
        // composite's rules (same bits in the backward pass too).
        var (src, outer, inner) = ReducedLast(x, ax);
        var y = Tensor.Empty(Shapes.Reduced(x.Shape, ax, keepDim), x.DType);
        bool record = Graph.NeedsNode(x);
        var keepShape = Shapes.Reduced(x.Shape, ax, keepDim: true);
        Tensor? e = record ? Tensor.Empty(src.Shape, x.DType) : null;
        Tensor? s = record ? Tensor.Empty(keepShape, x.DType) : null, m = record ? Tensor.Empty(keepShape, x.DType) : null;
        if (x.DType == DType.Float32)
            LogSumExpKernel.Rows(src.Buffer<float>(), src._offset, outer, inner, y.Buffer<float>(), e?.Buffer<float>(), s?.Buffer<float>(), m?.Buffer<float>(), p);
        else
            LogSumExpKernel.Rows(src.Buffer<double>(), src._offset, outer, inner, y.Buffer<double>(), e?.Buffer<double>(), s?.Buffer<double>(), m?.Buffer<double>(), p);
        if (!record) return Graph.Record(null, y);
        // e is laid out with the reduced axes last; view it in x's axis order.
        var perm = AxesLast(ax, x.Rank);
        var strides = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) strides[perm[i]] = e!.Strides[i];
        var eView = e!.Alias(x.Shape.ToArray(), strides, 0);
        return Graph.Record(new LogSumExpNode(x, ax, keepDim, eView, s!, m!), y);
    }

    /// <summary>
    /// The rules of the composite m + log(Σ exp(x − m)) with m constant, written out: VJP = exp(x − m)·(g / Σ),
    /// JVP = Σ(t·exp(x − m)) / Σ. The forward pass's exp(x − m) and Σ are reused unless the rule itself is being
    /// differentiated (higher order, or a tangent on x), in which case they are recomputed as ops on x.
    /// </summary>
    private sealed class LogSumExpNode(Tensor x, int[] axes, bool keepDim, Tensor e, Tensor s, Tensor m) : Node(x)
    {
        public override string Name => "logsumexp";
        protected internal override bool SavesOutput => false;

        private (Tensor E, Tensor S) Terms()
        {
            var x = Inputs[0];
            if (!Graph.NeedsNode(x)) return (e, s);
            var ex = Exp(Sub(x, m));
            return (ex, Sum(ex, axes, keepDim: true));
        }

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var x = Inputs[0];
            var (ex, total) = Terms();
            var g = keepDim ? grad : Reshape(grad, Shapes.Reduced(x.Shape, axes, keepDim: true));
            inputGrads[0] = Mul(Expand(Div(g, total), x.Shape), ex);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is not { } tx) return null;
            var x = Inputs[0];
            var (ex, total) = Terms();
            var r = Div(Sum(Mul(tx, ex), axes, keepDim: true), total);
            return keepDim ? r : Reshape(r, Shapes.Reduced(x.Shape, axes, keepDim: false));
        }
    }

    /// <summary>log Σ exp(x) over one axis.</summary>
    public static Tensor LogSumExp(Tensor x, int axis, bool keepDim = false) => LogSumExp(x, [axis], keepDim);

    /// <summary>
    /// The vector p-norm over <paramref name="axes"/> (all when null), like <c>torch.linalg.vector_norm</c>:
    /// (Σ|x|^p)^(1/p) for any p ≠ 0 (2 by default, negative p included), max |x| for p = ∞, min |x| for p = −∞, and
    /// the count of non-zero elements for p = 0.
    /// </summary>
    /// <remarks>
    /// Kinks, as PyTorch: at the zero vector the gradient of a p-norm with p &gt; 0 is 0 (not NaN); the 0-"norm" is
    /// piecewise constant (gradient 0 everywhere); for p = ±∞ the gradient, times sign(x), is split evenly among the
    /// elements that tie for the largest (smallest) magnitude.
    /// </remarks>
    public static Tensor Norm(Tensor x, double p = 2, int[]? axes = null, bool keepDim = false)
    {
        RequireFloat("norm", x);
        if (double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "norm: p must be a number (any real, or ±∞)");
        if (double.IsInfinity(p))
        {
            var ax = Shapes.NormalizeAxes("norm", axes, x.Rank);
            var a = Abs(x);
            var flat = Reshape(Permute(a, AxesLast(ax, x.Rank)), [.. Shapes.Reduced(x.Shape, ax, false), -1]);
            var extreme = EvenExtreme(flat, max: p > 0);
            return keepDim ? Reshape(extreme, Shapes.Reduced(x.Shape, ax, true)) : extreme;
        }
        if (p == 0) return Sum(Unary(UnaryOps.NonZero, x), axes, keepDim);
        if (p == 2) return Unary(UnaryOps.NormRoot, Sum(Square(x), axes, keepDim));
        if (p == 1) return Sum(Abs(x), axes, keepDim);
        if (p > 0) return Unary(new UnaryOps.RootOp(p, "norm"), Sum(Pow(Abs(x), p), axes, keepDim));
        return Pow(Sum(Pow(Abs(x), p), axes, keepDim), 1 / p);
    }

    private static int[] AxesLast(int[] axes, int rank)
    {
        var perm = new int[rank];
        int k = 0;
        for (int i = 0; i < rank; i++) if (Array.IndexOf(axes, i) < 0) perm[k++] = i;
        foreach (int a in axes) perm[k++] = a;
        return perm;
    }

    // ---- max / min / argmax -----------------------------------------------------------------------------

    /// <summary>The maximum along <paramref name="axis"/> and where it is (first occurrence; NaN wins), like <c>torch.max(x, dim)</c>.</summary>
    public static (Tensor Values, Tensor Indices) Max(Tensor x, int axis, bool keepDim = false) => Extreme("max", x, axis, keepDim, max: true);

    /// <summary>The minimum along <paramref name="axis"/> and where it is.</summary>
    public static (Tensor Values, Tensor Indices) Min(Tensor x, int axis, bool keepDim = false) => Extreme("min", x, axis, keepDim, max: false);

    /// <summary>
    /// The largest element (a 0-d tensor), like <c>torch.max(x)</c>/<c>torch.amax</c>: where several elements tie for the
    /// maximum the gradient is split evenly among them, as PyTorch does (<see cref="Max(Tensor, int, bool)"/> instead gives
    /// it all to the index it returns).
    /// </summary>
    public static Tensor Max(Tensor x) => EvenExtreme(Reshape(x, [-1]), max: true);

    /// <summary>The smallest element; ties split the gradient evenly, as <see cref="Max(Tensor)"/>.</summary>
    public static Tensor Min(Tensor x) => EvenExtreme(Reshape(x, [-1]), max: false);

    /// <summary>
    /// The extreme of the last axis of <paramref name="flat"/> (removed), with the gradient split evenly among ties:
    /// m + Σ(x − m)·[x = m] / #[x = m] with m the extreme as a constant, which is m exactly (every term is 0) and whose
    /// derivative is [x = m] / #[x = m] in both modes. A NaN extreme gives NaN.
    /// </summary>
    private static Tensor EvenExtreme(Tensor flat, bool max)
    {
        var m = (max ? Max(flat.Detach(), -1, keepDim: true) : Min(flat.Detach(), -1, keepDim: true)).Values;
        var value = Squeeze(m, -1);
        if (!Graph.NeedsNode(flat)) return value;
        var at = To(Eq(flat, m), flat.DType);
        var count = Sum(at, [-1]);
        return Add(value, Div(Sum(Mul(Sub(flat, m), at), [-1]), count));
    }

    /// <summary>The index of the maximum along <paramref name="axis"/> (int64).</summary>
    public static Tensor ArgMax(Tensor x, int axis, bool keepDim = false) => ArgExtreme("argmax", x, axis, keepDim, max: true);

    /// <summary>The index of the minimum along <paramref name="axis"/> (int64).</summary>
    public static Tensor ArgMin(Tensor x, int axis, bool keepDim = false) => ArgExtreme("argmin", x, axis, keepDim, max: false);

    private static (Tensor, Tensor) Extreme(string op, Tensor x, int axis, bool keepDim, bool max)
    {
        int a = Shapes.NormalizeAxis(op, axis, x.Rank);
        if (x.Rank == 0) return (x, Tensor.Zeros([], DType.Int64));
        var idx = ArgExtreme(op, x, a, keepDim: true, max);
        var values = Gather(x, a, idx);
        if (!keepDim)
        {
            values = Squeeze(values, a);
            idx = Squeeze(idx, a);
        }
        return (values, idx);
    }

    private static Tensor ArgExtreme(string op, Tensor x, int axis, bool keepDim, bool max)
    {
        RequireFloat(op, x);
        if (x.Rank == 0) return Tensor.Zeros([], DType.Int64);
        int a = Shapes.NormalizeAxis(op, axis, x.Rank);
        if (x.Shape[a] == 0) throw new ArgumentException($"{op}: cannot take the {(max ? "maximum" : "minimum")} of an empty dimension {a} (shape {Shapes.Format(x.Shape)})");
        var (src, outer, inner) = ReducedLast(x, [a]);
        var y = Tensor.Empty(Shapes.Reduced(x.Shape, [a], keepDim), DType.Int64);
        var d = y.Buffer<long>();
        if (x.DType == DType.Float32) ArgKernel(new ReadOnlySpan<float>(src.Buffer<float>(), src._offset, outer * inner), outer, inner, max, d);
        else ArgKernel(new ReadOnlySpan<double>(src.Buffer<double>(), src._offset, outer * inner), outer, inner, max, d);
        return y;
    }

    private static void ArgKernel<T>(ReadOnlySpan<T> s, int outer, int inner, bool max, long[] d) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        for (int o = 0; o < outer; o++)
        {
            var row = s.Slice(o * inner, inner);
            int best = 0;
            T bv = row[0];
            for (int i = 1; i < inner && !T.IsNaN(bv); i++)
            {
                T v = row[i];
                if (T.IsNaN(v) || (max ? v > bv : v < bv)) { best = i; bv = v; }
            }
            d[o] = best;
        }
    }

    /// <summary>The maximum over <paramref name="axes"/> with keepdim (IEEE maximum: NaN wins, +0 above −0), as a constant (no gradient); rows of −∞ give 0.</summary>
    private static Tensor MaxValues(Tensor x, int[] axes)
    {
        var (src, outer, inner) = ReducedLast(x, axes);
        var y = Tensor.Empty(Shapes.Reduced(x.Shape, axes, keepDim: true), x.DType);
        if (x.DType == DType.Float32) RowMax(src.Buffer<float>(), src._offset, outer, inner, y.Buffer<float>());
        else RowMax(src.Buffer<double>(), src._offset, outer, inner, y.Buffer<double>());
        return y;
    }

    private static void RowMax<T>(T[] src, int offset, int outer, int inner, T[] y) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int o = 0; o < outer; o++)
        {
            T m = LogSumExpKernel.Max(new ReadOnlySpan<T>(src, offset + o * inner, inner));
            y[o] = T.IsNegativeInfinity(m) ? T.Zero : m;
        }
    }
}
