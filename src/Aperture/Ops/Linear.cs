namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// x·wᵀ + b, the affine map of a fully connected layer (x: [..., in], w: [out, in], b: [out]) as one primitive:
    /// the same bits as <c>MatMul(x, wᵀ) + b</c>, without the transposed view, the intermediate product or the
    /// broadcast; its backward pass runs the two products and the bias's column sum straight into new buffers (a leaf
    /// parameter's own gradient buffer, when the pass would otherwise copy the result there).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) => LinearCore(x, weight, bias, relu: false);

    /// <summary>
    /// ReLU(x·wᵀ + b) as one primitive, for a <see cref="NN.Sequential"/>'s Linear layer and the ReLU after it when
    /// both run under autodiff without hooks: the bits of <see cref="Linear"/> then <see cref="Relu"/> in the forward
    /// pass and in both modes of differentiation, with one output tensor and one graph node instead of two of each.
    /// The maximum is applied to the finished product in place, by the call <see cref="Relu"/> makes; the rules take
    /// the ReLU's step from the output (y &gt; 0 exactly where the pre-activation is &gt; 0, NaN included), so the
    /// pre-activation is never kept.
    /// </summary>
    /// <remarks>
    /// Under a policy that rounds activations or gradients to a storage format the two ops round the pre-activation
    /// too, and stochastic rounding draws once per rounding, so the caller keeps the two modules there
    /// (<see cref="NN.Linear"/>'s fused forward).
    /// </remarks>
    internal static Tensor LinearRelu(Tensor x, Tensor weight, Tensor? bias) => LinearCore(x, weight, bias, relu: true);

    private static Tensor LinearCore(Tensor x, Tensor weight, Tensor? bias, bool relu)
    {
        if (weight.Rank != 2)
            throw new ShapeMismatchException($"linear: weight must be 2-d [out, in], got shape {Shapes.Format(weight.Shape)}");
        if (x.Rank == 0 || x.Shape[^1] != weight.Shape[1])
            throw new ShapeMismatchException(
                $"linear: input of shape {Shapes.Format(x.Shape)} has {(x.Rank == 0 ? 0 : x.Shape[^1])} features but the weight {Shapes.Format(weight.Shape)} expects {weight.Shape[1]}");
        if (x.DType != weight.DType || (bias is not null && bias.DType != x.DType))
            throw new DTypeMismatchException($"linear: mixed dtypes: input {x.DType.Name()}, weight {weight.DType.Name()}{(bias is null ? "" : ", bias " + bias.DType.Name())}");
        RequireFloat("linear", x);
        int outFeatures = weight.Shape[0];
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != outFeatures))
            throw new ShapeMismatchException($"linear: bias must have shape [{outFeatures}] for a weight of shape {Shapes.Format(weight.Shape)}, got {Shapes.Format(bias.Shape)}");

        var x2 = x.Rank == 2 && (x.Strides[1] == 1 || x.Strides[0] == 1) ? x : Rows(x);
        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = outFeatures;
        var y = Tensor.Empty(shape, x.DType);
        if (x.DType == DType.Float32) LinearForward<float>(x2, weight, bias, y, relu);
        else LinearForward<double>(x2, weight, bias, y, relu);
        // Without a bias the ReLU is a pass of its own (split across threads when long, as Relu's).
        if (relu && bias is null) UnarySplit.Apply(UnaryOps.Relu, y, y, y.Numel);
        bool needs = bias is null ? Graph.NeedsNode(x, weight) : Graph.NeedsNode(x, weight) || Graph.NeedsNode(bias);
        return Graph.Record(needs ? LinearNode.Create(x, weight, bias, relu) : null, y);
    }

    /// <summary>
    /// The batch-1 inference form of <see cref="Linear"/> over a layer's cached transposed weight: when nothing needs
    /// a graph node, the input is one float32 row, the policy is the default fused order and the AVX-512 path is
    /// active, y = x·Wᵀ + b from <paramref name="cache"/>'s copy of W (built on the second such call at one version of
    /// the weight, so a loop that changes the weight between every two calls never pays for the copy). Returns false,
    /// leaving the work to <see cref="Linear"/>, otherwise. Same bits as <see cref="Linear"/>.
    /// </summary>
    internal static bool TryLinearTransposed(Tensor x, Tensor weight, Tensor? bias, ref WeightCacheSlot<TransposedWeight> cache, out Tensor? y, bool relu = false)
    {
        y = null;
        if (!TransposedApplies(x, weight, bias)) return false;
        if (cache.Current(weight) is not { } c) return false;
        y = LinearTransposed(x, c, weight, bias, relu);
        return true;
    }

    /// <summary>
    /// Whether the batch-1 product over a transposed copy applies to this layer and input (see
    /// <see cref="TryLinearTransposed"/>), the copy aside: one float32 row, a contiguous float32 weight and bias, no
    /// graph node, the default policy, the AVX-512 path.
    /// </summary>
    internal static bool TransposedApplies(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.DType != DType.Float32 || weight.DType != DType.Float32 || weight.Rank != 2 || !GemvTransposed.Supported) return false;
        int n = weight.Shape[0], k = weight.Shape[1];
        if (x.Rank == 0 || x.Numel != k || x.Shape[^1] != k || n == 0 || k == 0 || !weight.IsContiguous) return false;
        if (bias is not null && (bias.DType != DType.Float32 || bias.Rank != 1 || bias.Shape[0] != n || !bias.IsContiguous)) return false;
        if (bias is null ? Graph.NeedsNode(x, weight) : Graph.NeedsNode(x, weight) || Graph.NeedsNode(bias)) return false;
        var p = NumericsPolicy.Current;
        return p.Order == ReductionOrder.Default && p.Accumulation == AccumulationPrecision.Native;
    }

    /// <summary>
    /// y = x·Wᵀ + b (then max(·, 0) when <paramref name="relu"/>) over <paramref name="copy"/>, the current transposed
    /// copy of <paramref name="weight"/>, for an input <see cref="TransposedApplies"/> accepts.
    /// </summary>
    internal static unsafe Tensor LinearTransposed(Tensor x, TransposedWeight copy, Tensor weight, Tensor? bias, bool relu)
    {
        int n = weight.Shape[0], k = weight.Shape[1];
        var (wt, start) = copy.Transposed();
        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = n;
        var output = Tensor.Empty(shape, DType.Float32);
        fixed (float* xs = x.Buffer<float>(), ws = wt, ys = output.Buffer<float>())
        {
            float* bs = null;
            float[]? bb = bias?.Buffer<float>();
            fixed (float* bp = bb)
            {
                if (bias is not null) bs = bp + bias._offset;
                GemvTransposed.Run(xs + x._offset, x.Strides[^1], ws + start, bs, ys + output._offset, n, k, relu);
            }
        }
        return Graph.Record(null, output);
    }

    /// <summary>x as a 2-d matrix [rows, features] (a view when the layout allows it, else a contiguous copy).</summary>
    private static Tensor Rows(Tensor x)
    {
        if (x.Rank == 2 && x.IsContiguous) return x;   // already one: no view object (a small net's step makes three per layer)
        var c = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
        int features = x.Shape[^1];
        int rows = features == 0 ? 0 : c.Numel / features;
        Span<int> s = [rows, features];
        Span<int> st = [features, 1];
        return TensorArena.Current is { } arena
            ? arena.View(c, c._offset, s, st)
            : c.Alias([rows, features], [features, 1], c._offset);
    }

    /// <summary>y = x·Wᵀ (+ b), then max(·, 0) when <paramref name="relu"/> and there is a bias (in the bias's pass).</summary>
    private static void LinearForward<T>(Tensor x, Tensor w, Tensor? b, Tensor y, bool relu) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int m = x.Shape[0], k = x.Shape[1], n = w.Shape[0];
        var a = new MatrixView<T>(x.Buffer<T>(), x._offset, m, k, x.Strides[0], x.Strides[1]);
        var wt = new MatrixView<T>(w.Buffer<T>(), w._offset, k, n, w.Strides[1], w.Strides[0]);
        var c = y.Buffer<T>();
        MatMulKernel.Run(a, wt, c, 0, NumericsPolicy.Current);
        if (b is null || m * n == 0) return;
        var bc = b.IsContiguous ? b : StridedCopy.ToContiguous(b);
        BiasPass(c, 0, m, n, bc.Buffer<T>(), bc._offset, relu);
    }

    /// <summary>
    /// <see cref="AddBiasRows{T}(T[], int, int, int, T[], int, bool)"/> over a whole [m, n] output, cut by blocks of 8
    /// rows across threads from <see cref="Parallelism.PassSplitMin"/> elements (each element is one add and a
    /// maximum, so the cut changes no bit): the pass Linear and the packed-weight product both end with.
    /// </summary>
    private static void BiasPass<T>(T[] c, int cOffset, int m, int n, T[] bias, int biasOffset, bool relu) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if ((long)m * n >= Parallelism.PassSplitMin && m > BiasRowBlock && Parallelism.Threads > 1)
            Parallelism.For((m + BiasRowBlock - 1) / BiasRowBlock, (long)BiasRowBlock * n, new BiasRows<T>(c, cOffset, m, n, bias, biasOffset, relu));
        else AddBiasRows(c, cOffset, m, n, bias, biasOffset, relu);
    }

    /// <summary>Rows per work item of a split bias pass.</summary>
    private const int BiasRowBlock = 8;

    private readonly struct BiasRows<T>(T[] c, int cOffset, int m, int n, T[] bias, int biasOffset, bool relu) : Parallelism.IRangeBody
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        public void Run(int b0, int b1)
        {
            int r0 = b0 * BiasRowBlock, r1 = Math.Min(m, b1 * BiasRowBlock);
            AddBiasRows(c, cOffset + r0 * n, r1 - r0, n, bias, biasOffset, relu);
        }
    }

    /// <summary>
    /// c[i, j] += bias[j] over the m rows of a contiguous [m, n] product that starts at <paramref name="cOffset"/>,
    /// then c[i, j] = max(c[i, j], 0) when <paramref name="relu"/>: one add per element, so the bits of any register
    /// width, and the maximum <see cref="Relu"/> takes (NaN stays NaN, −0 gives +0), so the bits of the bias pass
    /// followed by Relu.
    /// </summary>
    /// <remarks>
    /// One loop over all rows: a call per row (TensorPrimitives) cost more than the adds themselves for the narrow
    /// layers of small nets. The ReLU in the same pass saves a Linear-then-ReLU layer a second pass over its output.
    /// </remarks>
    private static unsafe void AddBiasRows<T>(T[] c, int cOffset, int m, int n, T[] bias, int biasOffset, bool relu = false) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        fixed (T* pc0 = c, pb = bias)
        {
            T* pc = pc0 + cOffset;
            if (typeof(T) == typeof(float))
            {
                float* cf = (float*)pc, bf = (float*)pb + biasOffset;
                switch (KernelPaths.Active)
                {
                    case KernelPath.Avx512: AddBiasRows<F32x16, System.Runtime.Intrinsics.Vector512<float>, float>(cf, m, n, bf, relu); break;
                    case KernelPath.Avx2: AddBiasRows<F32x8, System.Runtime.Intrinsics.Vector256<float>, float>(cf, m, n, bf, relu); break;
                    default: AddBiasRows<F32x1, float, float>(cf, m, n, bf, relu); break;
                }
            }
            else
            {
                double* cd = (double*)pc, bd = (double*)pb + biasOffset;
                switch (KernelPaths.Active)
                {
                    case KernelPath.Avx512: AddBiasRows<F64x8, System.Runtime.Intrinsics.Vector512<double>, double>(cd, m, n, bd, relu); break;
                    case KernelPath.Avx2: AddBiasRows<F64x4, System.Runtime.Intrinsics.Vector256<double>, double>(cd, m, n, bd, relu); break;
                    default: AddBiasRows<F64x1, double, double>(cd, m, n, bd, relu); break;
                }
            }
        }
    }

    private static unsafe void AddBiasRows<V, TV, T>(T* c, int m, int n, T* bias, bool relu)
        where V : IVec<TV, T> where TV : struct where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int w = V.Width;
        for (int i = 0; i < m; i++)
        {
            T* row = c + (nint)i * n;
            int j = 0;
            if (relu)
            {
                for (; j + w <= n; j += w) V.Store(row + j, V.Relu(V.Add(V.Load(row + j), V.Load(bias + j))));
                for (; j < n; j++) row[j] = T.Max(row[j] + bias[j], T.Zero);
                continue;
            }
            for (; j + w <= n; j += w) V.Store(row + j, V.Add(V.Load(row + j), V.Load(bias + j)));
            for (; j < n; j++) row[j] += bias[j];
        }
    }

    private sealed partial class LinearNode : PooledNode<LinearNode>
    {
        /// <summary>Whether a ReLU follows the product in this node (<see cref="LinearRelu"/>).</summary>
        private bool _relu;

        public override string Name => _relu ? "linear_relu" : "linear";

        // The fused ReLU's step is read from the output.
        protected internal override bool SavesOutput => _relu;

        public static LinearNode Create(Tensor x, Tensor w, Tensor? b, bool relu)
        {
            var node = Rent<LinearNode>();
            node._relu = relu;
            if (b is null) node.SetInputs(x, w);
            else node.SetInputs(x, w, b);
            return node;
        }

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            // The ReLU's rule first, as its own node's would be (ReluMask, with the step read from the output): the
            // gradient of the pre-activation, recorded or carrying tangents as the ReLU node's would.
            if (_relu) grad = ReluMask(grad, Output);
            var inputs = Inputs;
            Tensor x = inputs[0], w = inputs[1];
            bool bias = inputs.Length == 3;
            if (Graph.IsPlainBackward(grad, x, w))
            {
                if (x.DType == DType.Float32) PlainVjp<float>(grad, x, w, bias, inputGrads);
                else PlainVjp<double>(grad, x, w, bias, inputGrads);
                return;
            }
            if (TryTangentVjp(grad, inputGrads)) return;   // a Hessian-vector product's backward pass (Linear.Tangents.cs)
            // The differentiable form (create_graph, or tangents riding on the tensors): the same products as ops.
            if (NeedsGrad(0)) inputGrads[0] = MatMul(grad, w);
            if (NeedsGrad(1)) inputGrads[1] = MatMul(Transpose(Flatten(grad, 0, -2), 0, 1), Flatten(x, 0, -2));
            if (bias && NeedsGrad(2)) inputGrads[2] = SumTo(grad, inputs[2].Shape);
        }

        private void PlainVjp<T>(Tensor grad, Tensor x, Tensor w, bool bias, Span<Tensor?> inputGrads) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            var p = NumericsPolicy.Current;
            var g2 = Rows(grad);
            int m = g2.Shape[0], n = g2.Shape[1], k = w.Shape[1];
            var g = new MatrixView<T>(g2.Buffer<T>(), g2._offset, m, n, g2.Strides[0], g2.Strides[1]);
            if (NeedsGrad(0))
            {
                var gx = Tensor.Empty(x.Shape, x.DType);
                MatMulKernel.Run(g, new MatrixView<T>(w.Buffer<T>(), w._offset, n, k, w.Strides[0], w.Strides[1]), gx.Buffer<T>(), 0, p);
                inputGrads[0] = Graph.Record(null, gx);
            }
            if (NeedsGrad(1))
            {
                var x2 = Rows(x);
                var gw = GradientBuffer(1);
                var gt = new MatrixView<T>(g2.Buffer<T>(), g2._offset, n, m, g2.Strides[1], g2.Strides[0]);
                // Cut by the weight's output rows, as the optimizer's update is, and the forward product whenever the batch
                // is narrower than the layer (its columns are those rows): each core keeps its rows (docs/threads.md).
                // Below the size from which the forward product is split, it ran on this thread, and so does this one.
                var split = (long)n * m * k < ThinGemm.SplitMinWork ? ProductSplit.None : ProductSplit.Rows;
                long splitBefore = Parallelism.SplitLoops;
                MatMulKernel.Run(gt, new MatrixView<T>(x2.Buffer<T>(), x2._offset, m, k, x2.Strides[0], x2.Strides[1]), gw.Buffer<T>(), gw._offset, p, split);
                // Where the gradient now lies: when the product stayed on this thread, so does the update (SGD).
                gw._writtenOnOneThread = Parallelism.SplitLoops == splitBefore;
                inputGrads[1] = Graph.Record(null, gw);
            }
            if (bias && NeedsGrad(2))
                inputGrads[2] = Graph.Record(null, g2.IsContiguous && ColumnSum.Supports<T>(p) ? ColumnSums(g2, p, GradientBuffer(2)) : ColumnSums(g2, p));
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var inputs = Inputs;
            Tensor? r = null;
            if (t[0] is { } tx) r = Linear(tx, inputs[1]);
            if (t[1] is { } tw) r = r is null ? Linear(inputs[0], tw) : Add(r, Linear(inputs[0], tw));
            if (inputs.Length == 3 && t[2] is { } tb) r = r is null ? Expand(tb, Output.Shape) : Add(r, tb);
            return _relu && r is not null ? ReluMask(r, Output) : r;
        }
    }

    /// <summary>
    /// The sums of the columns of a [rows, cols] matrix (a bias gradient), in the same order and bits as
    /// <c>Sum(x, [0])</c>, written into <paramref name="into"/> (contiguous, [cols]) when it is given and the kernel
    /// supports the policy's order.
    /// </summary>
    private static Tensor ColumnSums(Tensor g2, NumericsPolicy p, Tensor? into = null)
    {
        if (!g2.IsContiguous) return Sum(g2, [0]);
        int rows = g2.Shape[0], cols = g2.Shape[1];
        var y = into ?? Tensor.Empty([cols], g2.DType);
        bool done = g2.DType == DType.Float32 ? ColumnSumsInto<float>(g2, rows, cols, y, p) : ColumnSumsInto<double>(g2, rows, cols, y, p);
        return done ? y : Sum(g2, [0]);
    }

    private static unsafe bool ColumnSumsInto<T>(Tensor g2, int rows, int cols, Tensor y, NumericsPolicy p) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!ColumnSum.Supports<T>(p)) return false;
        fixed (T* xs = g2.Buffer<T>(), ys = y.Buffer<T>())
        {
            if (rows == 0) new Span<T>(ys + y._offset, cols).Clear();
            else ColumnSum.RunSplit(xs + g2._offset, rows, cols, ys + y._offset, cols, p.Order);
        }
        return true;
    }
}

/// <summary>
/// A transposed copy ([in, out], rows padded to whole registers) of one float32 weight tensor at one version, for
/// <see cref="GemvTransposed"/>: a layer keeps one, and it is used only while it provably holds the weight's values
/// (the rules of <see cref="WeightCopy"/>).
/// </summary>
internal sealed class TransposedWeight : WeightCopy, IWeightCopy<TransposedWeight>
{
    private TransposedWeight(Tensor weight) : base(weight) { }

    /// <summary>The key of <paramref name="weight"/> as it is now (a contiguous float32 [n, k]); the copy is made on first use.</summary>
    public static TransposedWeight Of(Tensor weight) => new(weight);

    /// <inheritdoc/>
    protected override long Length => GemvTransposed.CopyLength(N, K);

    /// <inheritdoc/>
    protected override unsafe void Fill(float* w, float* dst) => GemvTransposed.Transpose(w, K, N, K, dst);

    /// <summary>
    /// The copy (built now if not yet) in <see cref="GemvTransposed"/>'s panel layout, starting at <c>Data[Start]</c>,
    /// 64-byte aligned (the kernel reads whole 64-byte rows).
    /// </summary>
    public (float[] Data, int Start) Transposed() => Built();
}
