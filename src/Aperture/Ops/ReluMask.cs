namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// g·(x &gt; 0 ? 1 : 0): ReLU's derivative applied to <paramref name="g"/>, the chain of both of ReLU's rules (the
    /// gradient in reverse mode, the tangent in forward mode) when they are recorded or carry tangents. One pass and one
    /// primitive, with the bits of <c>Mul(g, To(Gt(x, 0), dtype))</c>, which builds a boolean mask, converts it element by
    /// element and multiplies (three passes, two temporaries). A Hessian-vector product runs it twice per ReLU layer: for
    /// the tangent of the activation and for the gradient (with its tangent) on the way back.
    /// </summary>
    /// <remarks>
    /// Its own derivatives: linear in g (the same mask applied to g's gradient or tangent), and zero in x, where the
    /// mask is piecewise constant (the kink at 0 taken as 0, as ReLU's derivative is) — so x is saved, not an input.
    /// </remarks>
    internal static Tensor ReluMask(Tensor g, Tensor x)
    {
        if (!Shapes.Equal(g.Shape, x.Shape) || g.DType != x.DType || !x.DType.IsFloatingPoint())
            return Mul(g, To(Gt(x, 0), x.DType));
        var gc = g.IsContiguous ? g : StridedCopy.ToContiguous(g);
        var xc = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
        var d = Tensor.Empty(x.Shape, x.DType);
        // ReLU's plain chain (the mask read from x, which is the output or the input alike), split across threads
        // when long.
        UnarySplit.Chain(UnaryOps.Relu, xc, xc, gc, d, d.Numel);
        return Graph.Record(Graph.NeedsNode(g) ? ReluMaskNode.Create(g, x) : null, d);
    }

    private sealed class ReluMaskNode : PooledNode<ReluMaskNode>
    {
        private Tensor? _x;

        public override string Name => "relu_mask";
        protected internal override bool SavesInput(int i) => false;   // linear in g
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => _x;

        public static ReluMaskNode Create(Tensor g, Tensor x)
        {
            var node = Rent<ReluMaskNode>();
            node.SetInputs(g);
            node._x = x;
            return node;
        }

        protected override void ClearFields() => _x = null;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = ReluMask(grad, _x!);

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tg ? ReluMask(tg, _x!) : null;
    }
}
