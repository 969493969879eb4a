namespace Aperture;

public static partial class Ops
{
    private enum Cmp { Eq, Ne, Lt, Le, Gt, Ge }

    /// <summary>a == b elementwise (bool result, broadcasting, any dtype).</summary>
    public static Tensor Eq(Tensor a, Tensor b) => Compare("eq", Cmp.Eq, a, b);
    /// <summary>a != b elementwise.</summary>
    public static Tensor Ne(Tensor a, Tensor b) => Compare("ne", Cmp.Ne, a, b);
    /// <summary>a &lt; b elementwise.</summary>
    public static Tensor Lt(Tensor a, Tensor b) => Compare("lt", Cmp.Lt, a, b);
    /// <summary>a &lt;= b elementwise.</summary>
    public static Tensor Le(Tensor a, Tensor b) => Compare("le", Cmp.Le, a, b);
    /// <summary>a &gt; b elementwise.</summary>
    public static Tensor Gt(Tensor a, Tensor b) => Compare("gt", Cmp.Gt, a, b);
    /// <summary>a &gt;= b elementwise.</summary>
    public static Tensor Ge(Tensor a, Tensor b) => Compare("ge", Cmp.Ge, a, b);
    /// <summary>x == c elementwise.</summary>
    public static Tensor Eq(Tensor x, double c) => Compare("eq", Cmp.Eq, x, Tensor.Scalar(c, x.DType));
    /// <summary>x != c elementwise.</summary>
    public static Tensor Ne(Tensor x, double c) => Compare("ne", Cmp.Ne, x, Tensor.Scalar(c, x.DType));
    /// <summary>x &lt; c elementwise.</summary>
    public static Tensor Lt(Tensor x, double c) => Compare("lt", Cmp.Lt, x, Tensor.Scalar(c, x.DType));
    /// <summary>x &lt;= c elementwise.</summary>
    public static Tensor Le(Tensor x, double c) => Compare("le", Cmp.Le, x, Tensor.Scalar(c, x.DType));
    /// <summary>x &gt; c elementwise.</summary>
    public static Tensor Gt(Tensor x, double c) => Compare("gt", Cmp.Gt, x, Tensor.Scalar(c, x.DType));
    /// <summary>x &gt;= c elementwise.</summary>
    public static Tensor Ge(Tensor x, double c) => Compare("ge", Cmp.Ge, x, Tensor.Scalar(c, x.DType));

    private static Tensor Compare(string op, Cmp cmp, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new DTypeMismatchException($"{op}: mixed dtypes {a.DType.Name()} and {b.DType.Name()}; convert one with .To(...)");
        var shape = Shapes.Broadcast(op, a.Shape, b.Shape);
        var y = Tensor.Empty(shape, DType.Bool);
        switch (a.DType)
        {
            case DType.Float32: CompareKernel<float>(cmp, a, b, y); break;
            case DType.Float64: CompareKernel<double>(cmp, a, b, y); break;
            case DType.Int64: CompareKernel<long>(cmp, a, b, y); break;
            default:
                if (cmp is not (Cmp.Eq or Cmp.Ne)) throw new DTypeMismatchException($"{op}: bool tensors only support eq and ne");
                CompareBool(cmp == Cmp.Eq, a, b, y);
                break;
        }
        return Graph.Record(null, y);
    }

    private static void CompareKernel<T>(Cmp cmp, Tensor a, Tensor b, Tensor y) where T : unmanaged, System.Numerics.INumber<T>
    {
        var loop = new StridedLoop(y.Shape, Elementwise.BroadcastStrides(a, y.Shape), Elementwise.BroadcastStrides(b, y.Shape), y.Strides);
        T[] da = a.Buffer<T>(), db = b.Buffer<T>();
        bool[] dy = y.Buffer<bool>();
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sb = loop.InnerStride(1);
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, out int oa, out int ob, out int oy);
            oa += a._offset;
            ob += b._offset;
            for (int i = 0; i < inner; i++)
            {
                T u = da[oa + i * sa], v = db[ob + i * sb];
                dy[oy + i] = cmp switch
                {
                    Cmp.Eq => u == v,
                    Cmp.Ne => u != v,
                    Cmp.Lt => u < v,
                    Cmp.Le => u <= v,
                    Cmp.Gt => u > v,
                    _ => u >= v,
                };
            }
        }
    }

    private static void CompareBool(bool equal, Tensor a, Tensor b, Tensor y)
    {
        var loop = new StridedLoop(y.Shape, Elementwise.BroadcastStrides(a, y.Shape), Elementwise.BroadcastStrides(b, y.Shape), y.Strides);
        bool[] da = a.Buffer<bool>(), db = b.Buffer<bool>(), dy = y.Buffer<bool>();
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sb = loop.InnerStride(1);
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, out int oa, out int ob, out int oy);
            oa += a._offset;
            ob += b._offset;
            for (int i = 0; i < inner; i++) dy[oy + i] = (da[oa + i * sa] == db[ob + i * sb]) == equal;
        }
    }

    /// <summary>Elementwise AND of two bool tensors (broadcasting).</summary>
    public static Tensor LogicalAnd(Tensor a, Tensor b) => Logical("logical_and", a, b, static (u, v) => u & v);

    /// <summary>Elementwise OR of two bool tensors (broadcasting).</summary>
    public static Tensor LogicalOr(Tensor a, Tensor b) => Logical("logical_or", a, b, static (u, v) => u | v);

    /// <summary>Elementwise NOT of a bool tensor.</summary>
    public static Tensor LogicalNot(Tensor a) => Logical("logical_not", a, Tensor.Scalar(1, DType.Bool), static (u, v) => !u);

    private static Tensor Logical(string op, Tensor a, Tensor b, Func<bool, bool, bool> f)
    {
        if (a.DType != DType.Bool || b.DType != DType.Bool)
            throw new DTypeMismatchException($"{op}: expected bool tensors, got {a.DType.Name()} and {b.DType.Name()}");
        var shape = Shapes.Broadcast(op, a.Shape, b.Shape);
        var y = Tensor.Empty(shape, DType.Bool);
        var loop = new StridedLoop(shape, Elementwise.BroadcastStrides(a, shape), Elementwise.BroadcastStrides(b, shape), y.Strides);
        bool[] da = a.Buffer<bool>(), db = b.Buffer<bool>(), dy = y.Buffer<bool>();
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sb = loop.InnerStride(1);
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, out int oa, out int ob, out int oy);
            oa += a._offset;
            ob += b._offset;
            for (int i = 0; i < inner; i++) dy[oy + i] = f(da[oa + i * sa], db[ob + i * sb]);
        }
        return y;
    }

    // ---- where ----------------------------------------------------------------------------------------

    /// <summary>a where <paramref name="condition"/> is true, b elsewhere; all three broadcast together.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        if (condition.DType != DType.Bool)
            throw new DTypeMismatchException($"where: the condition must be a bool tensor, got {condition.DType.Name()}");
        if (a.DType != b.DType)
            throw new DTypeMismatchException($"where: mixed dtypes {a.DType.Name()} and {b.DType.Name()} for the two branches");
        var shape = Shapes.Broadcast("where", Shapes.Broadcast("where", condition.Shape, a.Shape), b.Shape);
        var y = Tensor.Empty(shape, a.DType);
        switch (a.DType)
        {
            case DType.Float32: WhereKernel<float>(condition, a, b, y); break;
            case DType.Float64: WhereKernel<double>(condition, a, b, y); break;
            case DType.Int64: WhereKernel<long>(condition, a, b, y); break;
            default: WhereKernel<bool>(condition, a, b, y); break;
        }
        bool diff = a.DType.IsFloatingPoint() && Graph.NeedsNode(a, b);
        return Graph.Record(diff ? new WhereNode(condition, a, b) : null, y);
    }

    private static void WhereKernel<T>(Tensor c, Tensor a, Tensor b, Tensor y) where T : unmanaged
    {
        var shape = y.Shape;
        var loop = new StridedLoop(shape, [Elementwise.BroadcastStrides(c, shape), Elementwise.BroadcastStrides(a, shape),
            Elementwise.BroadcastStrides(b, shape), y._strides]);
        bool[] dc = c.Buffer<bool>();
        T[] da = a.Buffer<T>(), db = b.Buffer<T>(), dy = y.Buffer<T>();
        int inner = loop.InnerSize, sc = loop.InnerStride(0), sa = loop.InnerStride(1), sb = loop.InnerStride(2);
        Span<int> o = stackalloc int[4];
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, o);
            int oc = o[0] + c._offset, oa = o[1] + a._offset, ob = o[2] + b._offset, oy = o[3];
            for (int i = 0; i < inner; i++)
                dy[oy + i] = dc[oc + i * sc] ? da[oa + i * sa] : db[ob + i * sb];
        }
    }

    private sealed class WhereNode(Tensor c, Tensor a, Tensor b) : Node(c, a, b)
    {
        public override string Name => "where";
        protected internal override bool SavesInput(int i) => i == 0;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var zero = Tensor.Scalar(0, grad.DType);
            if (NeedsGrad(1)) inputGrads[1] = SumTo(Where(Inputs[0], grad, zero), Inputs[1].Shape);
            if (NeedsGrad(2)) inputGrads[2] = SumTo(Where(Inputs[0], zero, grad), Inputs[2].Shape);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[1] is null && t[2] is null) return null;
            var zero = Tensor.Scalar(0, Output.DType);
            return Widen(Where(Inputs[0], t[1] ?? zero, t[2] ?? zero), Output);
        }
    }
}
