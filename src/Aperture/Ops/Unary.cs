using System.Numerics.Tensors;

namespace Aperture;

/// <summary>
/// An elementwise function of one tensor: its kernel for float32 and float64, and its derivative written with
/// tensor ops. From the derivative d = dy/dx the node gets both rules: VJP = g·d, JVP = t·d.
/// </summary>
public abstract class UnaryOp
{
    /// <summary>The op's name in graphs and messages.</summary>
    public abstract string Name { get; }

    /// <summary>y = f(x) elementwise (x and y have the same length; they may be the same span).</summary>
    public abstract void Apply(ReadOnlySpan<float> x, Span<float> y);

    /// <inheritdoc cref="Apply(ReadOnlySpan{float}, Span{float})"/>
    public abstract void Apply(ReadOnlySpan<double> x, Span<double> y);

    /// <summary>dy/dx elementwise, from the input <paramref name="x"/> and the output <paramref name="y"/>.</summary>
    public abstract Tensor Derivative(Tensor x, Tensor y);

    /// <summary>g·dy/dx; linear ops override it to skip building the derivative.</summary>
    public virtual Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Mul(g, Derivative(x, y));

    /// <summary>
    /// False for functions whose result must not be differentiated at all. Piecewise-constant functions (sign, floor,
    /// round) are differentiable with a zero derivative, as in PyTorch, so a graph through them backpropagates zeros.
    /// </summary>
    public virtual bool Differentiable => true;

    /// <summary>
    /// Whether <see cref="Derivative"/> and <see cref="Chain"/> read the values of x (not just its shape): an x that is
    /// read must not change in place before the backward pass. True unless overridden.
    /// </summary>
    public virtual bool ReadsInput => true;

    /// <summary>Whether the derivative reads the values of the output y (exp, tanh, sqrt do). True unless overridden.</summary>
    public virtual bool ReadsOutput => true;

    /// <summary>True when the op computes g·dy/dx with a kernel (<see cref="PlainChain(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>).</summary>
    protected internal virtual bool HasPlainChain => false;

    /// <summary>
    /// d = g·dy/dx elementwise from x, y and g, with the same roundings as <see cref="Chain"/>; used when the backward
    /// pass is not recorded and carries no tangents.
    /// </summary>
    protected internal virtual void PlainChain(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> d) =>
        throw new NotSupportedException($"{Name} has no plain chain kernel");

    /// <inheritdoc cref="PlainChain(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>
    protected internal virtual void PlainChain(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> g, Span<double> d) =>
        throw new NotSupportedException($"{Name} has no plain chain kernel");

    /// <summary>
    /// Whether <see cref="Apply(ReadOnlySpan{float}, Span{float})"/> (and the plain chain) compute each element with
    /// exact or correctly rounded operations alone, so that an element's bits do not depend on where in the span it
    /// lies (a vector lane or the tail): a long pass is then split across threads (<see cref="Ops.Unary"/>). False for
    /// ops outside the engine, whose kernels it cannot vouch for, and for approximations that differ by lane.
    /// </summary>
    internal virtual bool ExactPerElement => false;

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// A long elementwise pass of a <see cref="UnaryOp"/> (<see cref="UnaryOp.ExactPerElement"/>) cut into blocks across
/// threads from <see cref="Parallelism.PassSplitMin"/> elements: the same bits at any thread count, with each core
/// streaming its own stretch.
/// </summary>
/// <remarks>
/// A cheap op (a ReLU, a negation) over a large activation is bound by memory, and run on the calling thread it left
/// the other core idle: LeNet-5's first ReLU, 301,056 elements at batch 64, took 54 µs of a 2-thread step on the 2-core
/// Zen 4 machine (bench <c>--profile --threads 2</c>). Split, a LeNet-5 step at 2 threads took 4–7% less in median (the
/// two alternated in one process, three runs). Transcendental functions split themselves (<see cref="UnaryMath"/>).
/// </remarks>
internal static class UnarySplit
{
    /// <summary>Elements per work item: 16 KB of float32, a whole number of cache lines.</summary>
    private const int Block = 4096;

    /// <summary>Whether a pass of <paramref name="n"/> elements of <paramref name="op"/> is split.</summary>
    public static bool Applies(UnaryOp op, int n) => n >= Parallelism.PassSplitMin && Parallelism.Threads > 1 && op.ExactPerElement;

    /// <summary>y = op(x) over the <paramref name="n"/> elements of contiguous <paramref name="x"/> and <paramref name="y"/>, split when it <see cref="Applies"/>.</summary>
    public static void Apply(UnaryOp op, Tensor x, Tensor y, int n)
    {
        bool split = Applies(op, n);
        if (x.DType == DType.Float32)
        {
            if (split) Parallelism.For((n + Block - 1) / Block, Block, new ApplyBlocks<float>(op, x.Buffer<float>(), x._offset, y.Buffer<float>(), y._offset, n));
            else op.Apply(new ReadOnlySpan<float>(x.Buffer<float>(), x._offset, n), new Span<float>(y.Buffer<float>(), y._offset, n));
        }
        else if (split) Parallelism.For((n + Block - 1) / Block, Block, new ApplyBlocks<double>(op, x.Buffer<double>(), x._offset, y.Buffer<double>(), y._offset, n));
        else op.Apply(new ReadOnlySpan<double>(x.Buffer<double>(), x._offset, n), new Span<double>(y.Buffer<double>(), y._offset, n));
    }

    /// <summary>d = g·dy/dx (the op's plain chain) over <paramref name="n"/> elements of contiguous tensors, split when it <see cref="Applies"/>.</summary>
    public static void Chain(UnaryOp op, Tensor x, Tensor y, Tensor g, Tensor d, int n)
    {
        if (x.DType == DType.Float32) Chain<float>(op, x, y, g, d, n);
        else Chain<double>(op, x, y, g, d, n);
    }

    private static void Chain<T>(UnaryOp op, Tensor x, Tensor y, Tensor g, Tensor d, int n) where T : unmanaged
    {
        var body = new ChainBlocks<T>(op, x.Buffer<T>(), x._offset, y.Buffer<T>(), y._offset, g.Buffer<T>(), g._offset, d.Buffer<T>(), d._offset, n);
        if (Applies(op, n)) Parallelism.For((n + Block - 1) / Block, Block, body);
        else body.Run(0, (n + Block - 1) / Block);
    }

    private readonly struct ApplyBlocks<T>(UnaryOp op, T[] x, int xOffset, T[] y, int yOffset, int n) : Parallelism.IRangeBody where T : unmanaged
    {
        public void Run(int b0, int b1)
        {
            int i0 = b0 * Block, length = Math.Min(n, b1 * Block) - i0;
            if (typeof(T) == typeof(float))
                op.Apply(new ReadOnlySpan<float>((float[])(object)x, xOffset + i0, length), new Span<float>((float[])(object)y, yOffset + i0, length));
            else
                op.Apply(new ReadOnlySpan<double>((double[])(object)x, xOffset + i0, length), new Span<double>((double[])(object)y, yOffset + i0, length));
        }
    }

    private readonly struct ChainBlocks<T>(UnaryOp op, T[] x, int xOffset, T[] y, int yOffset, T[] g, int gOffset, T[] d, int dOffset, int n)
        : Parallelism.IRangeBody where T : unmanaged
    {
        public void Run(int b0, int b1)
        {
            int i0 = b0 * Block, length = Math.Min(n, b1 * Block) - i0;
            if (length <= 0) return;
            if (typeof(T) == typeof(float))
                op.PlainChain(new ReadOnlySpan<float>((float[])(object)x, xOffset + i0, length), new ReadOnlySpan<float>((float[])(object)y, yOffset + i0, length),
                    new ReadOnlySpan<float>((float[])(object)g, gOffset + i0, length), new Span<float>((float[])(object)d, dOffset + i0, length));
            else
                op.PlainChain(new ReadOnlySpan<double>((double[])(object)x, xOffset + i0, length), new ReadOnlySpan<double>((double[])(object)y, yOffset + i0, length),
                    new ReadOnlySpan<double>((double[])(object)g, gOffset + i0, length), new Span<double>((double[])(object)d, dOffset + i0, length));
        }
    }
}

public static partial class Ops
{
    /// <summary>Applies an elementwise <see cref="UnaryOp"/>.</summary>
    public static Tensor Unary(UnaryOp op, Tensor x)
    {
        RequireFloat(op.Name, x);
        var src = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
        var y = Tensor.Empty(x.Shape, x.DType);
        UnarySplit.Apply(op, src, y, y.Numel);
        return Graph.Record(op.Differentiable && Graph.NeedsNode(x) ? UnaryNode.Create(op, x) : null, y);
    }

    private sealed class UnaryNode : PooledNode<UnaryNode>
    {
        private UnaryOp _op = null!;

        public static UnaryNode Create(UnaryOp op, Tensor x)
        {
            var node = Rent<UnaryNode>();
            node._op = op;
            node.SetInputs(x);
            return node;
        }

        public override string Name => _op.Name;
        internal override Type RuleType => _op?.GetType() ?? typeof(UnaryNode);
        protected internal override bool SavesInput(int i) => _op.ReadsInput;
        protected internal override bool SavesOutput => _op.ReadsOutput;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            Tensor x = Inputs[0], y = Output;
            if (_op.HasPlainChain && Graph.IsPlainBackward(grad, x, y) && Shapes.Equal(grad.Shape, x.Shape))
            {
                var xc = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
                var gc = grad.IsContiguous ? grad : StridedCopy.ToContiguous(grad);
                var d = Tensor.Empty(x.Shape, x.DType);
                UnarySplit.Chain(_op, xc, y, gc, d, d.Numel);
                inputGrads[0] = Graph.Record(null, d);
                return;
            }
            inputGrads[0] = _op.Chain(x, y, grad);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? _op.Chain(Inputs[0], Output, tx) : null;
    }

    internal static void RequireFloat(string op, Tensor x)
    {
        if (!x.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"{op}: expected a float32 or float64 tensor, got {x.DType.Name()} (shape {Shapes.Format(x.Shape)}); convert it with .To(DType.Float32)");
    }

    /// <summary>-x.</summary>
    public static Tensor Neg(Tensor x) => x.DType == DType.Int64 ? Sub(Tensor.Scalar(0, DType.Int64), x) : Unary(UnaryOps.Neg, x);
    /// <summary>e^x.</summary>
    public static Tensor Exp(Tensor x) => Unary(UnaryOps.Exp, x);
    /// <summary>Natural logarithm.</summary>
    public static Tensor Log(Tensor x) => Unary(UnaryOps.Log, x);
    /// <summary>log(1 + x), accurate for small x.</summary>
    public static Tensor Log1p(Tensor x) => Unary(UnaryOps.Log1p, x);
    /// <summary>e^x - 1, accurate for small x.</summary>
    public static Tensor Expm1(Tensor x) => Unary(UnaryOps.Expm1, x);
    /// <summary>Sine.</summary>
    public static Tensor Sin(Tensor x) => Unary(UnaryOps.Sin, x);
    /// <summary>Cosine.</summary>
    public static Tensor Cos(Tensor x) => Unary(UnaryOps.Cos, x);
    /// <summary>Hyperbolic tangent.</summary>
    public static Tensor Tanh(Tensor x) => Unary(UnaryOps.Tanh, x);
    /// <summary>The logistic function 1 / (1 + e^-x).</summary>
    public static Tensor Sigmoid(Tensor x) => Unary(UnaryOps.Sigmoid, x);
    /// <summary>max(x, 0); its derivative at 0 is taken as 0, as in PyTorch.</summary>
    public static Tensor Relu(Tensor x) => Unary(UnaryOps.Relu, x);
    /// <summary>x for x &gt; 0, <paramref name="negativeSlope"/>·x otherwise.</summary>
    public static Tensor LeakyRelu(Tensor x, double negativeSlope = 0.01) => Unary(new UnaryOps.LeakyReluOp(negativeSlope), x);
    /// <summary>|x|; its derivative at 0 is taken as 0.</summary>
    public static Tensor Abs(Tensor x) => Unary(UnaryOps.Abs, x);
    /// <summary>Square root.</summary>
    public static Tensor Sqrt(Tensor x) => Unary(UnaryOps.Sqrt, x);
    /// <summary>1 / x.</summary>
    public static Tensor Reciprocal(Tensor x) => Unary(UnaryOps.Reciprocal, x);
    /// <summary>x².</summary>
    public static Tensor Square(Tensor x) => Unary(UnaryOps.Square, x);
    /// <summary>x^<paramref name="exponent"/> for a constant exponent; for exponent 0 the gradient is 0 everywhere (x = 0 included), as in PyTorch.</summary>
    public static Tensor Pow(Tensor x, double exponent) => exponent switch
    {
        1 => Identity(x),
        2 => Square(x),
        _ => Unary(new UnaryOps.PowOp(exponent), x),
    };
    /// <summary>log(1 + e^x), computed without overflow.</summary>
    public static Tensor Softplus(Tensor x) => Unary(UnaryOps.Softplus, x);
    /// <summary>The error function.</summary>
    public static Tensor Erf(Tensor x) => Unary(UnaryOps.Erf, x);
    // Piecewise-constant functions have a zero derivative wherever they have one; like PyTorch, their results still
    // take part in the graph, so a loss through them backpropagates zeros instead of failing.

    /// <summary>The sign (-1, 0 or 1; NaN stays NaN); its gradient is zero.</summary>
    public static Tensor Sign(Tensor x) => Unary(UnaryOps.Sign, x);
    /// <summary>Rounds down; its gradient is zero.</summary>
    public static Tensor Floor(Tensor x) => Unary(UnaryOps.Floor, x);
    /// <summary>Rounds up; its gradient is zero.</summary>
    public static Tensor Ceil(Tensor x) => Unary(UnaryOps.Ceil, x);
    /// <summary>Rounds toward zero; its gradient is zero.</summary>
    public static Tensor Trunc(Tensor x) => Unary(UnaryOps.Trunc, x);
    /// <summary>Rounds to nearest, ties to even; its gradient is zero.</summary>
    public static Tensor Round(Tensor x) => Unary(UnaryOps.RoundOp, x);
    // A constant behaves as a Python number does in PyTorch: it keeps a float tensor's dtype, keeps an int64 tensor
    // int64 when it is a whole number, and makes the result the default float dtype (float32) when it is not.

    /// <summary>x·c for a constant c (int64 × 2 stays int64; int64 × 2.5 is float32, as in PyTorch).</summary>
    public static Tensor Mul(Tensor x, double c) =>
        x.DType != DType.Int64 ? Unary(UnaryOps.ScaleOp.For(c), x)
        : IsWhole(c) ? Mul(x, IntegerScalar("mul_scalar", c)) : Mul(To(x, DefaultFloat), c);
    /// <summary>x + c for a constant c (int64 + 2 stays int64; int64 + 0.5 is float32).</summary>
    public static Tensor Add(Tensor x, double c) =>
        x.DType != DType.Int64 ? Unary(new UnaryOps.ShiftOp(c), x)
        : IsWhole(c) ? Add(x, IntegerScalar("add_scalar", c)) : Add(To(x, DefaultFloat), c);
    /// <summary>x - c for a constant c (int64 − 2 stays int64; int64 − 0.5 is float32).</summary>
    public static Tensor Sub(Tensor x, double c) =>
        x.DType != DType.Int64 ? Unary(new UnaryOps.ShiftOp(-c), x)
        : IsWhole(c) ? Sub(x, IntegerScalar("sub_scalar", c)) : Sub(To(x, DefaultFloat), c);
    /// <summary>c - x for a constant c.</summary>
    public static Tensor Sub(double c, Tensor x) => Add(Neg(x), c);
    /// <summary>x / c for a constant c (a true division, not a multiplication by 1/c; an int64 x gives float32, as in PyTorch).</summary>
    public static Tensor Div(Tensor x, double c) => Unary(new UnaryOps.DivideByOp(c), x.DType == DType.Int64 ? To(x, DefaultFloat) : x);
    /// <summary>c / x for a constant c.</summary>
    public static Tensor Div(double c, Tensor x) => Mul(Reciprocal(x.DType == DType.Int64 ? To(x, DefaultFloat) : x), c);
    /// <summary>
    /// min(max(x, <paramref name="min"/>), <paramref name="max"/>) elementwise, like <c>torch.clamp</c>: when min &gt; max
    /// every element becomes max; NaN stays NaN. The gradient passes where min ≤ x ≤ max (nowhere when min &gt; max).
    /// An int64 tensor stays int64 with whole-number (or infinite) bounds and becomes float32 with a fractional one,
    /// as PyTorch's type promotion gives.
    /// </summary>
    public static Tensor Clamp(Tensor x, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        if (double.IsNaN(min) || double.IsNaN(max))
            throw new ArgumentException($"clamp: the bounds must be numbers, got min = {min}, max = {max}");
        if (x.DType == DType.Int64)
        {
            if (!(double.IsInfinity(min) || IsWhole(min)) || !(double.IsInfinity(max) || IsWhole(max))) return Clamp(To(x, DefaultFloat), min, max);
            long lo = double.IsNegativeInfinity(min) ? long.MinValue : double.IsPositiveInfinity(min) ? long.MaxValue : (long)min;
            long hi = double.IsPositiveInfinity(max) ? long.MaxValue : double.IsNegativeInfinity(max) ? long.MinValue : (long)max;
            var src = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
            var y = Tensor.Empty(x.Shape, DType.Int64);
            var from = new ReadOnlySpan<long>(src.Buffer<long>(), src._offset, y.Numel);
            var to = y.ContiguousSpan<long>();
            for (int i = 0; i < to.Length; i++)
            {
                long v = from[i] < lo ? lo : from[i];
                to[i] = v > hi ? hi : v;
            }
            return Graph.Record(null, y);
        }
        return Unary(new UnaryOps.ClampOp(min, max), x);
    }

    /// <summary>x·Φ(x), the Gaussian error linear unit (exact, with erf); <paramref name="tanhApproximation"/> uses Hendrycks and Gimpel's tanh form.</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false)
    {
        if (!tanhApproximation) return Mul(Mul(x, 0.5), Add(Erf(Mul(x, 1 / Math.Sqrt(2))), 1.0));
        var inner = Mul(Add(x, Mul(Pow(x, 3), 0.044715)), Math.Sqrt(2 / Math.PI));
        return Mul(Mul(x, 0.5), Add(Tanh(inner), 1.0));
    }

    /// <summary>x·sigmoid(x) (SiLU, "swish").</summary>
    public static Tensor Silu(Tensor x) => Mul(x, Sigmoid(x));
}

/// <summary>The built-in elementwise functions.</summary>
internal static class UnaryOps
{
    public static readonly UnaryOp Neg = new NegOp(), Exp = new ExpOp(), Log = new LogOp(), Log1p = new Log1pOp(),
        Expm1 = new Expm1Op(), Sin = new SinOp(), Cos = new CosOp(), Tanh = new TanhOp(), Sigmoid = new SigmoidOp(),
        Relu = new ReluOp(), Abs = new AbsOp(), Sqrt = new SqrtOp(), Reciprocal = new ReciprocalOp(), Square = new SquareOp(),
        Softplus = new SoftplusOp(), Erf = new ErfOp(), Sign = new SignOp(), Floor = new FloorOp(), RoundOp = new RoundEvenOp(),
        Ceil = new CeilOp(), Trunc = new TruncOp(), NonZero = new NonZeroOp(),
        StdRoot = new RootOp(2, "std"), NormRoot = new RootOp(2, "norm");

    private sealed class NegOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "neg";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Negate(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Negate(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.FullLike(x, -1);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Neg(g);
    }

    private sealed class ExpOp : UnaryOp
    {
        public override string Name => "exp";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<ExpFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<ExpFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => y;
    }

    private sealed class LogOp : UnaryOp
    {
        public override string Name => "log";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<LogFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<LogFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Reciprocal(x);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Div(g, x);
    }

    private sealed class Log1pOp : UnaryOp
    {
        public override string Name => "log1p";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<Log1pFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<Log1pFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Reciprocal(Ops.Add(x, 1.0));
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Div(g, Ops.Add(x, 1.0));
    }

    private sealed class Expm1Op : UnaryOp
    {
        public override string Name => "expm1";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<ExpM1Fn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<ExpM1Fn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Add(y, 1.0);
    }

    private sealed class SinOp : UnaryOp
    {
        public override string Name => "sin";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sin(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Sin(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Cos(x);
    }

    private sealed class CosOp : UnaryOp
    {
        public override string Name => "cos";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Cos(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Cos(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Neg(Ops.Sin(x));
    }

    private sealed class TanhOp : UnaryOp
    {
        public override string Name => "tanh";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<TanhFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<TanhFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Sub(1.0, Ops.Square(y));
        protected internal override bool HasPlainChain => true;
        protected internal override void PlainChain(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> d) { for (int i = 0; i < d.Length; i++) d[i] = g[i] * (1f - y[i] * y[i]); }
        protected internal override void PlainChain(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> g, Span<double> d) { for (int i = 0; i < d.Length; i++) d[i] = g[i] * (1.0 - y[i] * y[i]); }
    }

    private sealed class SigmoidOp : UnaryOp
    {
        public override string Name => "sigmoid";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<SigmoidFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<SigmoidFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Mul(y, Ops.Sub(1.0, y));
        protected internal override bool HasPlainChain => true;
        protected internal override void PlainChain(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> d) { for (int i = 0; i < d.Length; i++) d[i] = g[i] * (y[i] * (1f - y[i])); }
        protected internal override void PlainChain(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> g, Span<double> d) { for (int i = 0; i < d.Length; i++) d[i] = g[i] * (y[i] * (1.0 - y[i])); }
    }

    private sealed class ReluOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "relu";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Max(x, 0d, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.To(Ops.Gt(x, 0), x.DType);
        // The chain of both rules when recorded or carrying tangents (forward mode, Hessian-vector products): one
        // primitive instead of a mask, a conversion and a product.
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.ReluMask(g, x);
        protected internal override bool HasPlainChain => true;
        protected internal override void PlainChain(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> d) => StepTimes(x, g, d);
        protected internal override void PlainChain(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> g, Span<double> d) => StepTimes(x, g, d);

        /// <summary>
        /// d = g · (x &gt; 0 ? 1 : 0), with the comparison as a vector mask: a branch on the sign of each element
        /// mispredicts half the time on real activations. The product is the scalar one, so the bits are too.
        /// </summary>
        private static void StepTimes<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> g, Span<T> d) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            int i = 0, w = System.Numerics.Vector<T>.Count;
            if (System.Numerics.Vector.IsHardwareAccelerated)
            {
                var one = System.Numerics.Vector<T>.One;
                for (; i <= d.Length - w; i += w)
                {
                    var step = System.Numerics.Vector.ConditionalSelect(
                        System.Numerics.Vector.GreaterThan(new System.Numerics.Vector<T>(x.Slice(i, w)), System.Numerics.Vector<T>.Zero), one, System.Numerics.Vector<T>.Zero);
                    (new System.Numerics.Vector<T>(g.Slice(i, w)) * step).CopyTo(d.Slice(i, w));
                }
            }
            for (; i < d.Length; i++) d[i] = g[i] * (x[i] > T.Zero ? T.One : T.Zero);
        }
    }

    internal sealed class LeakyReluOp(double slope) : UnaryOp
    {
        public override string Name => "leaky_relu";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y)
        {
            float s = (float)slope;
            for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : x[i] * s;
        }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : x[i] * slope;
        }
        public override Tensor Derivative(Tensor x, Tensor y) =>
            Ops.Where(Ops.Gt(x, 0), Tensor.Scalar(1, x.DType), Tensor.Scalar(slope, x.DType));
    }

    private sealed class AbsOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "abs";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Abs(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Abs(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Sign(x);
    }

    private sealed class SqrtOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "sqrt";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sqrt(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Sqrt(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Div(0.5, y);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Div(Ops.Mul(g, 0.5), y);
    }

    private sealed class ReciprocalOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "reciprocal";
        public override bool ReadsInput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Divide(1f, x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Divide(1d, x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Neg(Ops.Square(y));
    }

    private sealed class SquareOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "square";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Multiply(x, x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Multiply(x, x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Mul(x, 2.0);

        // g·(2x) in one pass, without the derivative tensor (nor, for a broadcast g such as a sum's gradient, the
        // strided product). 2x is exact, so the bits are Chain's whenever the gradients are stored natively; a
        // gradient storage format rounds Chain's intermediate 2x too, so then Chain runs.
        protected internal override bool HasPlainChain => NumericsPolicy.Current.Gradients == StorageFormat.Native;

        protected internal override void PlainChain(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> d)
        {
            TensorPrimitives.Multiply(x, 2f, d);
            TensorPrimitives.Multiply(g, d, d);
        }

        protected internal override void PlainChain(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> g, Span<double> d)
        {
            TensorPrimitives.Multiply(x, 2.0, d);
            TensorPrimitives.Multiply(g, d, d);
        }
    }

    internal sealed class PowOp(double p) : UnaryOp
    {
        public override string Name => "pow";
        public override bool ReadsOutput => false;
        public override bool ReadsInput => p != 0;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Pow(x, (float)p, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Pow(x, p, y);

        // x⁰ = 1 everywhere (0⁰ included), so its derivative is 0 everywhere; the formula p·x^(p−1) would give
        // 0·∞ = NaN at x = 0. PyTorch's pow_backward makes the same exception.
        public override Tensor Derivative(Tensor x, Tensor y) => p == 0 ? Tensor.ZerosLike(x) : Ops.Mul(Ops.Pow(x, p - 1), p);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => p == 0 ? Tensor.ZerosLike(x) : Ops.Mul(g, Derivative(x, y));
    }

    /// <summary>
    /// y = s^(1/k) of a non-negative s (k = 2: the square root), the last step of a standard deviation or a k-norm, with
    /// its derivative taken as 0 where s = 0 instead of ∞·0 = NaN: at zero spread or at the zero vector every
    /// one-sided derivative of the whole composite is 0 or undefined, and PyTorch's std and norm backward choose 0.
    /// </summary>
    /// <remarks>
    /// The derivative is computed from a "safe" s (1 where s = 0) and then masked, so neither branch of the selection
    /// produces ∞ or NaN and the second derivative stays finite too (the double-where pattern).
    /// </remarks>
    internal sealed class RootOp(double k, string name) : UnaryOp
    {
        public override string Name => name;
        public override bool ReadsOutput => k == 2;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y)
        {
            if (k == 2) TensorPrimitives.Sqrt(x, y);
            else TensorPrimitives.Pow(x, (float)(1 / k), y);
        }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            if (k == 2) TensorPrimitives.Sqrt(x, y);
            else TensorPrimitives.Pow(x, 1 / k, y);
        }

        public override Tensor Derivative(Tensor x, Tensor y) => Chain(x, y, Tensor.OnesLike(x));

        // The same arithmetic as sqrt's and pow's own rules where s > 0 (so the same bits), and 0 where s = 0.
        public override Tensor Chain(Tensor x, Tensor y, Tensor g)
        {
            var atZero = Ops.Eq(x, 0);
            var zero = Tensor.Scalar(0, x.DType);
            if (k == 2) return Ops.Where(atZero, zero, Ops.Div(Ops.Mul(g, 0.5), Ops.Where(atZero, Tensor.Scalar(1, x.DType), y)));
            var safe = Ops.Where(atZero, Tensor.Scalar(1, x.DType), x);
            return Ops.Where(atZero, zero, Ops.Mul(g, Ops.Mul(Ops.Pow(safe, 1 / k - 1), 1 / k)));
        }
    }

    private sealed class SoftplusOp : UnaryOp
    {
        public override string Name => "softplus";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => UnaryMath.Apply<SoftplusFn>(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => UnaryMath.Apply<SoftplusFn>(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Sigmoid(x);
    }

    private sealed class ErfOp : UnaryOp
    {
        public override string Name => "erf";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y)
        {
            for (int i = 0; i < x.Length; i++) y[i] = (float)SpecialFunctions.Erf(x[i]);
        }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            for (int i = 0; i < x.Length; i++) y[i] = SpecialFunctions.Erf(x[i]);
        }
        public override Tensor Derivative(Tensor x, Tensor y) => Ops.Mul(Ops.Exp(Ops.Neg(Ops.Square(x))), 2 / Math.Sqrt(Math.PI));
    }

    private sealed class SignOp : UnaryOp
    {
        public override string Name => "sign";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) { for (int i = 0; i < x.Length; i++) y[i] = float.IsNaN(x[i]) ? x[i] : MathF.Sign(x[i]); }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) { for (int i = 0; i < x.Length; i++) y[i] = double.IsNaN(x[i]) ? x[i] : Math.Sign(x[i]); }
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    private sealed class FloorOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "floor";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Floor(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Floor(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    private sealed class CeilOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "ceil";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Ceiling(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Ceiling(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    private sealed class TruncOp : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "trunc";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Truncate(x, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Truncate(x, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    /// <summary>1 where x ≠ 0 (NaN included, as PyTorch counts it), 0 elsewhere: the terms of the 0-"norm".</summary>
    private sealed class NonZeroOp : UnaryOp
    {
        public override string Name => "nonzero_indicator";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) { for (int i = 0; i < x.Length; i++) y[i] = x[i] != 0 ? 1f : 0f; }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) { for (int i = 0; i < x.Length; i++) y[i] = x[i] != 0 ? 1d : 0d; }
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    private sealed class RoundEvenOp : UnaryOp
    {
        public override string Name => "round";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Tensor.ZerosLike(x);
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) { for (int i = 0; i < x.Length; i++) y[i] = MathF.Round(x[i], MidpointRounding.ToEven); }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) { for (int i = 0; i < x.Length; i++) y[i] = Math.Round(x[i], MidpointRounding.ToEven); }
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.ZerosLike(x);
    }

    internal sealed class ScaleOp : UnaryOp
    {
        /// <summary>
        /// The two ops last made on this thread, reused while the constant is one of theirs: a loss scaled by a fixed
        /// factor every step (and its gradient, scaled by the same factor) allocates none.
        /// </summary>
        [ThreadStatic] private static ScaleOp? t_last, t_before;

        /// <summary>The op for <paramref name="factor"/> (the same bits): immutable, so one instance serves every node that multiplies by it.</summary>
        public static ScaleOp For(double factor)
        {
            long bits = BitConverter.DoubleToInt64Bits(factor);
            if (t_last is { } last && BitConverter.DoubleToInt64Bits(last._c) == bits) return last;
            if (t_before is { } before && BitConverter.DoubleToInt64Bits(before._c) == bits) return before;
            t_before = t_last;
            return t_last = new ScaleOp(factor);
        }

        private readonly double _c;

        private ScaleOp(double c) => _c = c;

        internal override bool ExactPerElement => true;

        public override string Name => "mul_scalar";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Multiply(x, (float)_c, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Multiply(x, _c, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.FullLike(x, _c);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Mul(g, _c);
    }

    internal sealed class ShiftOp(double c) : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "add_scalar";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Add(x, (float)c, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Add(x, c, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.OnesLike(x);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => g;
    }

    internal sealed class DivideByOp(double c) : UnaryOp
    {
        internal override bool ExactPerElement => true;
        public override string Name => "div_scalar";
        public override bool ReadsInput => false;
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Divide(x, (float)c, y);
        public override void Apply(ReadOnlySpan<double> x, Span<double> y) => TensorPrimitives.Divide(x, c, y);
        public override Tensor Derivative(Tensor x, Tensor y) => Tensor.FullLike(x, 1 / c);
        public override Tensor Chain(Tensor x, Tensor y, Tensor g) => Ops.Div(g, c);
    }

    internal sealed class ClampOp(double min, double max) : UnaryOp
    {
        public override string Name => "clamp";
        public override bool ReadsOutput => false;
        public override void Apply(ReadOnlySpan<float> x, Span<float> y)
        {
            // max first, then min, as torch.clamp: with min > max every element ends at max.
            float lo = (float)min, hi = (float)max;
            for (int i = 0; i < x.Length; i++)
            {
                float v = x[i] < lo ? lo : x[i];
                y[i] = v > hi ? hi : v;
            }
        }
        public override void Apply(ReadOnlySpan<double> x, Span<double> y)
        {
            for (int i = 0; i < x.Length; i++)
            {
                double v = x[i] < min ? min : x[i];
                y[i] = v > max ? max : v;
            }
        }
        public override Tensor Derivative(Tensor x, Tensor y) =>
            Ops.To(Ops.LogicalAnd(Ops.Ge(x, min), Ops.Le(x, max)), x.DType);
    }
}
