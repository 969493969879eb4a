namespace Aperture;

public static partial class Ops
{
    // ---- type promotion (torch.result_type) -------------------------------------------------------------

    /// <summary>
    /// The dtype of a binary op's result, by PyTorch's promotion rules: categories rank bool &lt; int64 &lt; float, and
    /// within floats float64 is wider than float32. A 0-d tensor (a scalar) decides only when its category is higher
    /// than the other operand's: float32[3] + float64 scalar stays float32, int64[3] + float64 scalar is float64.
    /// </summary>
    public static DType ResultType(Tensor a, Tensor b)
    {
        bool aDim = a.Rank > 0, bDim = b.Rank > 0;
        if (aDim == bDim) return Promote(a.DType, b.DType);
        var (dimensioned, scalar) = aDim ? (a.DType, b.DType) : (b.DType, a.DType);
        return Category(scalar) > Category(dimensioned) ? scalar : dimensioned;
    }

    private static int Category(DType t) => t switch { DType.Bool => 0, DType.Int64 => 1, _ => 2 };

    private static DType Promote(DType x, DType y)
    {
        if (x == y) return x;
        int cx = Category(x), cy = Category(y);
        if (cx != cy) return cx > cy ? x : y;
        return DType.Float64;   // the only same-category pair of different types: float32 and float64
    }

    /// <summary>Both operands converted to their <see cref="ResultType"/> (a differentiable cast for floats).</summary>
    private static (Tensor, Tensor) Promoted(Tensor a, Tensor b)
    {
        if (a.DType == b.DType) return (a, b);
        var t = ResultType(a, b);
        return (To(a, t), To(b, t));
    }

    /// <summary>PyTorch's default floating-point dtype: what int64 arithmetic with a fraction or a true division gives.</summary>
    internal const DType DefaultFloat = DType.Float32;

    private static bool IsWhole(double c) => Math.Floor(c) == c && c >= long.MinValue && c <= long.MaxValue;

    private static int[] CheckBinary(string op, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new DTypeMismatchException(
                $"{op}: mixed dtypes {a.DType.Name()} (shape {Shapes.Format(a.Shape)}) and {b.DType.Name()} (shape {Shapes.Format(b.Shape)}); convert one with .To(DType.{b.DType})");
        RequireFloat(op, a);
        return ResultShape(op, a, b);
    }

    /// <summary>
    /// The broadcast shape of a ⊕ b. The common case of equal shapes borrows a's shape array (read by the kernel,
    /// never kept) instead of building one, so an elementwise op allocates no shape.
    /// </summary>
    private static int[] ResultShape(string op, Tensor a, Tensor b) =>
        Shapes.Equal(a.Shape, b.Shape) ? a._shape : Shapes.Broadcast(op, a.Shape, b.Shape);

    /// <summary>
    /// a ⊕ b for two int64 tensors, with broadcasting: exact integer arithmetic that wraps around on overflow, as
    /// PyTorch's does. Integer tensors carry no gradient, so no node is recorded.
    /// </summary>
    private static Tensor IntegerBinary<K>(string op, Tensor a, Tensor b) where K : IBinaryKernel<long>
    {
        return Graph.Record(null, Elementwise.Binary<long, K>(a, b, ResultShape(op, a, b)));
    }

    private static bool BothInt64(Tensor a, Tensor b) => a.DType == DType.Int64 && b.DType == DType.Int64;

    /// <summary>The int64 scalar equal to <paramref name="c"/>, or an error naming the op when c is not a whole number.</summary>
    private static Tensor IntegerScalar(string op, double c)
    {
        if (!(Math.Floor(c) == c && c >= long.MinValue && c <= long.MaxValue))
            throw new DTypeMismatchException($"{op}: an int64 tensor takes whole-number constants, got {c}; convert the tensor with .To(DType.Float64) first");
        return Tensor.Scalar(c, DType.Int64);
    }

    private static Tensor BinaryKernel<K32, K64>(Tensor a, Tensor b, int[] shape)
        where K32 : IBinaryKernel<float>
        where K64 : IBinaryKernel<double> =>
        a.DType == DType.Float32 ? Elementwise.Binary<float, K32>(a, b, shape) : Elementwise.Binary<double, K64>(a, b, shape);

    /// <summary>Broadcasts a tangent (or gradient) of an operand to the result's shape.</summary>
    private static Tensor? Widen(Tensor? t, Tensor output) => t is null ? null : Shapes.Equal(t.Shape, output.Shape) ? t : Expand(t, output.Shape);

    // ---- add ------------------------------------------------------------------------------------------

    /// <summary>a + b with NumPy broadcasting; mixed dtypes are promoted as in PyTorch (<see cref="ResultType"/>).</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        (a, b) = Promoted(a, b);
        if (BothInt64(a, b)) return IntegerBinary<IntAddKernel>("add", a, b);
        var shape = CheckBinary("add", a, b);
        var y = BinaryKernel<AddKernel<float>, AddKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? AddNode.Create(a, b) : null, y);
    }

    private sealed class AddNode : PooledNode<AddNode>
    {
        public static AddNode Create(Tensor a, Tensor b)
        {
            var node = Rent<AddNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "add";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = SumTo(grad, Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(grad, Inputs[1].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) =>
            t[0] is null ? Widen(t[1], Output) : t[1] is null ? Widen(t[0], Output) : Widen(Add(t[0]!, t[1]!), Output);
    }

    // ---- sub ------------------------------------------------------------------------------------------

    /// <summary>a − b with broadcasting.</summary>
    public static Tensor Sub(Tensor a, Tensor b)
    {
        (a, b) = Promoted(a, b);
        if (BothInt64(a, b)) return IntegerBinary<IntSubKernel>("sub", a, b);
        var shape = CheckBinary("sub", a, b);
        var y = BinaryKernel<SubKernel<float>, SubKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? SubNode.Create(a, b) : null, y);
    }

    private sealed class SubNode : PooledNode<SubNode>
    {
        public static SubNode Create(Tensor a, Tensor b)
        {
            var node = Rent<SubNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "sub";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = SumTo(grad, Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = Neg(SumTo(grad, Inputs[1].Shape));
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) =>
            t[1] is null ? Widen(t[0], Output) : t[0] is null ? Widen(Neg(t[1]!), Output) : Widen(Sub(t[0]!, t[1]!), Output);
    }

    // ---- mul ------------------------------------------------------------------------------------------

    /// <summary>a · b elementwise with broadcasting.</summary>
    public static Tensor Mul(Tensor a, Tensor b)
    {
        (a, b) = Promoted(a, b);
        if (BothInt64(a, b)) return IntegerBinary<IntMulKernel>("mul", a, b);
        var shape = CheckBinary("mul", a, b);
        var y = BinaryKernel<MulKernel<float>, MulKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? MulNode.Create(a, b) : null, y);
    }

    private sealed class MulNode : PooledNode<MulNode>
    {
        public static MulNode Create(Tensor a, Tensor b)
        {
            var node = Rent<MulNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "mul";
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = SumTo(Mul(grad, Inputs[1]), Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(Mul(grad, Inputs[0]), Inputs[1].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var ta = t[0] is { } t0 ? Mul(t0, Inputs[1]) : null;
            var tb = t[1] is { } t1 ? Mul(Inputs[0], t1) : null;
            return Widen(ta is null ? tb : tb is null ? ta : Add(ta, tb), Output);
        }
    }

    // ---- div ------------------------------------------------------------------------------------------

    /// <summary>a / b elementwise with broadcasting: a true division, so integer operands give the default float dtype (float32), as in PyTorch.</summary>
    public static Tensor Div(Tensor a, Tensor b)
    {
        (a, b) = Promoted(a, b);
        if (!a.DType.IsFloatingPoint() && a.DType == b.DType && a.DType != DType.Bool) (a, b) = (To(a, DefaultFloat), To(b, DefaultFloat));
        var shape = CheckBinary("div", a, b);
        var y = BinaryKernel<DivKernel<float>, DivKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? DivNode.Create(a, b) : null, y);
    }

    private sealed class DivNode : PooledNode<DivNode>
    {
        public static DivNode Create(Tensor a, Tensor b)
        {
            var node = Rent<DivNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "div";
        protected internal override bool SavesInput(int i) => i == 1;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var gOverB = Div(grad, Inputs[1]);
            if (NeedsGrad(0)) inputGrads[0] = SumTo(gOverB, Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(Neg(Mul(gOverB, Output)), Inputs[1].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            // d(a/b) = (da − (a/b)·db) / b
            Tensor? num = t[0];
            if (t[1] is { } tb) num = num is null ? Neg(Mul(Output, tb)) : Sub(num, Mul(Output, tb));
            return num is null ? null : Widen(Div(num, Inputs[1]), Output);
        }
    }

    // ---- pow ------------------------------------------------------------------------------------------

    /// <summary>a^b elementwise with broadcasting (for a constant exponent use <see cref="Pow(Tensor, double)"/>).</summary>
    public static Tensor Pow(Tensor a, Tensor b)
    {
        (a, b) = Promoted(a, b);
        var shape = CheckBinary("pow", a, b);
        var y = BinaryKernel<PowKernel<float>, PowKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? PowNode.Create(a, b) : null, y);
    }

    private sealed class PowNode : PooledNode<PowNode>
    {
        public static PowNode Create(Tensor a, Tensor b)
        {
            var node = Rent<PowNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "pow_tensor";

        // ∂/∂a = b·a^(b−1), taken as 0 where b = 0 (a⁰ = 1 is constant in a; the formula gives 0·∞ = NaN at a = 0);
        // ∂/∂b = a^b·log a, taken as 0 where a = 0 and b ≥ 0 (0^b is constant in b there; the formula gives 0·(−∞)).
        // Both exceptions are PyTorch's (pow_backward_self, pow_backward_exponent). The masks are constants, and the
        // masked-out formula is evaluated at safe values, so no NaN leaks through the selection's own gradient.
        private Tensor DA()
        {
            Tensor a = Inputs[0], b = Inputs[1];
            var bZero = Eq(b, 0);
            var safeB = Where(bZero, Tensor.Scalar(1, b.DType), b);
            return Where(bZero, Tensor.Scalar(0, a.DType), Mul(safeB, Pow(a, Sub(safeB, 1.0))));
        }

        private Tensor DB()
        {
            Tensor a = Inputs[0], b = Inputs[1];
            var kink = LogicalAnd(Eq(a, 0), Ge(b, 0));
            var safeA = Where(kink, Tensor.Scalar(1, a.DType), a);
            return Where(kink, Tensor.Scalar(0, a.DType), Mul(Output, Log(safeA)));
        }

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = SumTo(Mul(grad, DA()), Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(Mul(grad, DB()), Inputs[1].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var ta = t[0] is { } t0 ? Mul(t0, DA()) : null;
            var tb = t[1] is { } t1 ? Mul(t1, DB()) : null;
            return Widen(ta is null ? tb : tb is null ? ta : Add(ta, tb), Output);
        }
    }

    // ---- composites -----------------------------------------------------------------------------------

    // ---- maximum / minimum ----------------------------------------------------------------------------

    /// <summary>
    /// The larger of a and b elementwise, with broadcasting and promotion, like <c>torch.maximum</c>: NaN wins, and where
    /// a and b tie each gets half the gradient (PyTorch's choice; the central difference agrees).
    /// </summary>
    public static Tensor Maximum(Tensor a, Tensor b) => Extremum(a, b, max: true);

    /// <summary>The smaller of a and b elementwise, like <c>torch.minimum</c>; ties split the gradient in half.</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => Extremum(a, b, max: false);

    private static Tensor Extremum(Tensor a, Tensor b, bool max)
    {
        (a, b) = Promoted(a, b);
        string op = max ? "maximum" : "minimum";
        var shape = CheckBinary(op, a, b);
        var y = max ? BinaryKernel<MaxKernel<float>, MaxKernel<double>>(a, b, shape) : BinaryKernel<MinKernel<float>, MinKernel<double>>(a, b, shape);
        return Graph.Record(Graph.NeedsNode(a, b) ? new ExtremumNode(a, b, max) : null, y);
    }

    private sealed class ExtremumNode(Tensor a, Tensor b, bool max) : Node(a, b)
    {
        public override string Name => max ? "maximum" : "minimum";
        protected internal override bool SavesOutput => false;

        /// <summary>
        /// The share of the gradient each operand gets: 1 where it alone is the result, ½ where they tie, 0 where the other
        /// is. PyTorch's formula, where(a = b, ½, where(a loses, 0, 1)), also gives both 1 where a NaN makes neither lose.
        /// </summary>
        private Tensor Share(int i)
        {
            Tensor a = Inputs[0], b = Inputs[1];
            var loses = i == 0 ? (max ? Lt(a, b) : Gt(a, b)) : (max ? Gt(a, b) : Lt(a, b));
            var dtype = a.DType;
            return Where(Eq(a, b), Tensor.Scalar(0.5, dtype), Where(loses, Tensor.Scalar(0, dtype), Tensor.Scalar(1, dtype)));
        }

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = SumTo(Mul(grad, Share(0)), Inputs[0].Shape);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(Mul(grad, Share(1)), Inputs[1].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var ta = t[0] is { } t0 ? Mul(t0, Share(0)) : null;
            var tb = t[1] is { } t1 ? Mul(t1, Share(1)) : null;
            return Widen(ta is null ? tb : tb is null ? ta : Add(ta, tb), Output);
        }
    }

    // ---- in place (no autodiff: for optimizers and accumulators) --------------------------------------
    //
    // Each of these counts a change of the destination's version (shared by all views of its buffer). A graph that
    // saved the destination before the change refuses to backpropagate through it, as PyTorch does, instead of
    // computing a gradient from the new values.

    /// <summary>a += b in place (b broadcasts to a's shape). Not recorded: refuses tensors in a graph.</summary>
    public static void AddInPlace(Tensor a, Tensor b)
    {
        CheckInPlace("add_", a, b);
        if (a.DType == DType.Float32) Elementwise.BinaryInPlace<float, AddKernel<float>>(a, b);
        else Elementwise.BinaryInPlace<double, AddKernel<double>>(a, b);
        a.BumpVersion("add_");
    }

    /// <summary>a += c in place for a constant c.</summary>
    public static void AddInPlace(Tensor a, double c) => AddInPlace(a, Tensor.Scalar(c, a.DType));

    /// <summary>a −= b in place.</summary>
    public static void SubInPlace(Tensor a, Tensor b)
    {
        CheckInPlace("sub_", a, b);
        if (a.DType == DType.Float32) Elementwise.BinaryInPlace<float, SubKernel<float>>(a, b);
        else Elementwise.BinaryInPlace<double, SubKernel<double>>(a, b);
        a.BumpVersion("sub_");
    }

    /// <summary>a ·= b in place.</summary>
    public static void MulInPlace(Tensor a, Tensor b)
    {
        CheckInPlace("mul_", a, b);
        if (a.DType == DType.Float32) Elementwise.BinaryInPlace<float, MulKernel<float>>(a, b);
        else Elementwise.BinaryInPlace<double, MulKernel<double>>(a, b);
        a.BumpVersion("mul_");
    }

    /// <summary>Copies <paramref name="src"/> into <paramref name="dst"/> in place (src broadcasts to dst's shape).</summary>
    public static void CopyInPlace(Tensor dst, Tensor src)
    {
        RefuseGraphWrite("copy_", dst);
        if (src.DType != dst.DType) src = To(src, dst.DType);
        StridedCopy.CopyInto(Shapes.Equal(src.Shape, dst.Shape) ? src : Expand(src, dst.Shape), dst);
        dst.BumpVersion("copy_");
    }

    /// <summary>Sets every element to <paramref name="value"/> in place.</summary>
    public static void FillInPlace(Tensor t, double value)
    {
        RefuseGraphWrite("fill_", t);
        if (t.IsContiguous) t.FillRaw(value);
        else StridedCopy.CopyInto(Expand(Tensor.Scalar(value, t.DType), t.Shape), t);
        t.BumpVersion("fill_");
    }

    private static void CheckInPlace(string op, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new DTypeMismatchException($"{op}: mixed dtypes {a.DType.Name()} and {b.DType.Name()}");
        RequireFloat(op, a);
        RefuseGraphWrite(op, a);
        if (Shapes.Equal(a.Shape, b.Shape)) return;
        var shape = Shapes.Broadcast(op, a.Shape, b.Shape);
        if (!Shapes.Equal(shape, a.Shape))
            throw new ShapeMismatchException($"{op}: the result shape {Shapes.Format(shape)} differs from the destination's {Shapes.Format(a.Shape)}");
    }

    /// <summary>
    /// In-place writes are not recorded, so a tensor that requires grad may be changed only under
    /// <see cref="Autodiff.NoGrad"/> (an optimizer's update, an initializer).
    /// </summary>
    private static void RefuseGraphWrite(string op, Tensor t)
    {
        if (t.RequiresGrad && GradMode.Enabled)
            throw new InvalidOperationException(
                $"{op}: cannot modify in place a tensor that requires grad ({(t.IsLeaf ? "a leaf" : $"produced by '{t.GradFn!.Name}'")}, shape {Shapes.Format(t.Shape)}); " +
                "wrap the update in Autodiff.NoGrad()");
    }
}
