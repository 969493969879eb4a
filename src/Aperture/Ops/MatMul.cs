namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// The matrix product with <c>torch.matmul</c>'s rules: 1-d operands are promoted to a row (a) or a column (b)
    /// and the extra dimension dropped; leading (batch) dimensions broadcast.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new DTypeMismatchException($"matmul: mixed dtypes {a.DType.Name()} (shape {Shapes.Format(a.Shape)}) and {b.DType.Name()} (shape {Shapes.Format(b.Shape)})");
        RequireFloat("matmul", a);
        if (a.Rank == 0 || b.Rank == 0)
            throw new ShapeMismatchException($"matmul: both operands need at least one dimension, got shapes {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}");
        bool vecA = a.Rank == 1, vecB = b.Rank == 1;
        var a2 = vecA ? Reshape(a, [1, a.Shape[0]]) : a;
        var b2 = vecB ? Reshape(b, [b.Shape[0], 1]) : b;
        int k = a2.Shape[^1];
        if (b2.Shape[^2] != k)
            throw new ShapeMismatchException(
                $"matmul: shapes {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)} do not line up (a has {k} columns, b has {b2.Shape[^2]} rows)");
        Tensor y;
        if (a2.Rank == 2 && b2.Rank == 2) y = MatMulPrimitive(a2, b2);
        else
        {
            var batchA = a2.Shape[..^2].ToArray();
            var batchB = b2.Shape[..^2].ToArray();
            var batch = Shapes.Broadcast("matmul", batchA, batchB);
            int m = a2.Shape[^2], n = b2.Shape[^1];
            int nb = Shapes.Numel(batch);
            var ea = Expand(a2, [.. batch, m, k]);
            var eb = Expand(b2, [.. batch, k, n]);
            var y3 = MatMulPrimitive(Reshape(ea, [nb, m, k]), Reshape(eb, [nb, k, n]));
            y = Reshape(y3, [.. batch, m, n]);
        }
        if (vecA) y = Squeeze(y, -2);
        if (vecB) y = Squeeze(y, -1);
        return y;
    }

    /// <summary>a·b for 2-d operands, or batch by batch for 3-d operands of the same batch size.</summary>
    private static Tensor MatMulPrimitive(Tensor a, Tensor b)
    {
        bool batched = a.Rank == 3;
        int batch = batched ? a.Shape[0] : 1, m = a.Shape[^2], k = a.Shape[^1], n = b.Shape[^1];
        Span<int> shape = stackalloc int[3];
        shape[0] = batch;
        shape[1] = m;
        shape[2] = n;
        var y = Tensor.Empty(batched ? shape : shape[1..], a.DType);
        var policy = NumericsPolicy.Current;
        int sa = batched ? a.Strides[0] : 0, sb = batched ? b.Strides[0] : 0;
        if (a.DType == DType.Float32) MatMulKernel.RunBatched(batch, View<float>(a, 0), sa, View<float>(b, 0), sb, y.Buffer<float>(), 0, policy);
        else MatMulKernel.RunBatched(batch, View<double>(a, 0), sa, View<double>(b, 0), sb, y.Buffer<double>(), 0, policy);
        return Graph.Record(Graph.NeedsNode(a, b) ? MatMulNode.Create(a, b) : null, y);
    }

    private static MatrixView<T> View<T>(Tensor t, int batch) where T : unmanaged
    {
        int r = t.Rank;
        int offset = t._offset + (r == 3 ? batch * t.Strides[0] : 0);
        return new MatrixView<T>(t.Buffer<T>(), offset, t.Shape[r - 2], t.Shape[r - 1], t.Strides[r - 2], t.Strides[r - 1]);
    }

    // Pooled, so a product recorded inside a recycling scope (the SGLD step of a deep linear network) allocates nothing.
    private sealed class MatMulNode : PooledNode<MatMulNode>
    {
        public static MatMulNode Create(Tensor a, Tensor b)
        {
            var node = Rent<MatMulNode>();
            node.SetInputs(a, b);
            return node;
        }

        public override string Name => "matmul";
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = MatMulPrimitive(grad, Transpose(Inputs[1], -1, -2));
            if (NeedsGrad(1)) inputGrads[1] = MatMulPrimitive(Transpose(Inputs[0], -1, -2), grad);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var ta = t[0] is { } t0 ? MatMulPrimitive(t0, Inputs[1]) : null;
            var tb = t[1] is { } t1 ? MatMulPrimitive(Inputs[0], t1) : null;
            return ta is null ? tb : tb is null ? ta : Add(ta, tb);
        }
    }
}
