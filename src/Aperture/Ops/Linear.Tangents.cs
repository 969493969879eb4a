namespace Aperture;

public static partial class Ops
{
    private sealed partial class LinearNode
    {
        /// <summary>
        /// The backward pass of a Hessian-vector product (forward-over-reverse): the backward pass is not recorded, and
        /// the gradient, the input and the weight carry tangents of one forward-mode level. The gradients are the plain
        /// products, and their tangents — d(g·W) = ġ·W + g·Ẇ, d(gᵀ·x) = ġᵀ·x + gᵀ·ẋ, d(Σg) = Σġ — are computed straight into
        /// new buffers, the second product added in place, and attached at that level: the same products and bits as
        /// the differentiable form's matmul and add nodes, without their views, nodes and temporaries. Returns false when
        /// the tensors are outside that case (a recorded backward pass, nested levels, anomaly detection).
        /// </summary>
        private bool TryTangentVjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (GradMode.Enabled || Anomaly.Enabled) return false;
            var inputs = Inputs;
            Tensor x = inputs[0], w = inputs[1];
            int level = 0;
            if (!SingleLevel(grad, ref level) || !SingleLevel(x, ref level) || !SingleLevel(w, ref level)) return false;
            if (level == 0) return false;
            Tensor? tg = ForwardMode.TangentAt(grad, level), tx = ForwardMode.TangentAt(x, level), tw = ForwardMode.TangentAt(w, level);
            if (x.DType == DType.Float32) TangentVjp<float>(grad, x, w, tg, tx, tw, level, inputGrads);
            else TangentVjp<double>(grad, x, w, tg, tx, tw, level, inputGrads);
            return true;
        }

        /// <summary>
        /// True when <paramref name="t"/> carries no tangent, or exactly one whose level is active (and matches
        /// <paramref name="level"/> once that is set) and which carries none of its own.
        /// </summary>
        private static bool SingleLevel(Tensor t, ref int level)
        {
            if (t._tangents is not { } n) return true;
            if (n.Next is not null || n.Value._tangents is not null || !ForwardMode.IsActive(n.Level)) return false;
            if (level != 0 && level != n.Level) return false;
            level = n.Level;
            return true;
        }

        private void TangentVjp<T>(Tensor grad, Tensor x, Tensor w, Tensor? tg, Tensor? tx, Tensor? tw, int level, Span<Tensor?> inputGrads)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            var p = NumericsPolicy.Current;
            var g2 = Rows(grad);
            var tg2 = tg is null ? null : Rows(tg);
            int m = g2.Shape[0], n = g2.Shape[1], k = w.Shape[1];
            if (NeedsGrad(0))
            {
                // g·W, and its tangent ġ·W + g·Ẇ.
                var gx = Tensor.Empty(x.Shape, x.DType);
                MatMulKernel.Run(Matrix<T>(g2), Matrix<T>(w), gx.Buffer<T>(), 0, p);
                Tensor? t = null;
                if (tg2 is not null)
                {
                    t = Tensor.Empty(x.Shape, x.DType);
                    MatMulKernel.Run(Matrix<T>(tg2), Matrix<T>(w), t.Buffer<T>(), 0, p);
                }
                if (tw is not null) t = AddProduct<T>(t, x, Matrix<T>(g2), Matrix<T>(tw), p);
                inputGrads[0] = WithTangent(gx, t, level);
            }
            if (NeedsGrad(1))
            {
                // gᵀ·x, and its tangent ġᵀ·x + gᵀ·ẋ. A Hessian-vector product keeps only the weight's tangent: its
                // primal gradient is then left at zero, not computed (Autodiff.OnlyTangentWanted).
                var x2 = Rows(x);
                var gt = Transposed(Matrix<T>(g2));
                Tensor gw;
                if (Autodiff.OnlyTangentWanted(w, level)) gw = Tensor.ZerosInternal(w.Shape, w.DType);
                else
                {
                    gw = Tensor.Empty(w.Shape, w.DType);
                    MatMulKernel.Run(gt, Matrix<T>(x2), gw.Buffer<T>(), 0, p);
                }
                Tensor? t = null;
                if (tg2 is not null)
                {
                    t = Tensor.Empty(w.Shape, w.DType);
                    MatMulKernel.Run(Transposed(Matrix<T>(tg2)), Matrix<T>(x2), t.Buffer<T>(), 0, p);
                }
                if (tx is not null) t = AddProduct<T>(t, w, gt, Matrix<T>(Rows(tx)), p);
                inputGrads[1] = WithTangent(gw, t, level);
            }
            if (Inputs.Length == 3 && NeedsGrad(2))
                inputGrads[2] = WithTangent(ColumnSums(g2, p), tg2 is null ? null : ColumnSums(tg2, p), level);
        }

        /// <summary><paramref name="sum"/> + a·b, of <paramref name="like"/>'s shape (a new tensor when <paramref name="sum"/> is null), the sum taken in place.</summary>
        private static Tensor AddProduct<T>(Tensor? sum, Tensor like, MatrixView<T> a, MatrixView<T> b, NumericsPolicy p)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            var product = Tensor.Empty(like.Shape, like.DType);
            MatMulKernel.Run(a, b, product.Buffer<T>(), 0, p);
            if (sum is null) return product;
            // Storage rounding first, as the separate product and add ops would apply it to each.
            Graph.Record(null, sum);
            Graph.Record(null, product);
            var s = sum.ContiguousSpan<T>();
            System.Numerics.Tensors.TensorPrimitives.Add(s, product.ContiguousSpan<T>(), s);
            return sum;
        }

        private static Tensor WithTangent(Tensor primal, Tensor? tangent, int level)
        {
            Graph.Record(null, primal);
            if (tangent is not null)
            {
                Graph.Record(null, tangent);
                primal._tangents = new Tangent(level, tangent, null);
            }
            return primal;
        }

        private static MatrixView<T> Transposed<T>(MatrixView<T> v) where T : unmanaged =>
            new(v.Data, v.Offset, v.Cols, v.Rows, v.ColStride, v.RowStride);

        private static MatrixView<T> Matrix<T>(Tensor t) where T : unmanaged =>
            new(t.Buffer<T>(), t._offset, t.Shape[0], t.Shape[1], t.Strides[0], t.Strides[1]);
    }
}
