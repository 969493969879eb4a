using System.Numerics;

namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// Cross-entropy of logits [N, C] at int64 class indices [N] — the mean (or sum) over examples of
    /// logsumexp(logits_i) − logits_i[target_i] — as one primitive: the same bits as
    /// <c>-Gather(LogSoftmax(logits), target)</c> reduced, and a backward pass that writes softmax − one-hot directly.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, bool mean = true)
    {
        RequireFloat("cross_entropy", logits);
        if (logits.Rank != 2)
            throw new ShapeMismatchException($"cross_entropy: logits must be [N, C], got shape {Shapes.Format(logits.Shape)}");
        int n = logits.Shape[0], c = logits.Shape[1];
        if (target.DType != DType.Int64)
            throw new DTypeMismatchException($"cross_entropy: class targets must be int64 indices, got {target.DType.Name()}");
        if (target.Rank != 1 || target.Shape[0] != n)
            throw new ShapeMismatchException($"cross_entropy: targets must be [{n}] for logits of shape {Shapes.Format(logits.Shape)}, got {Shapes.Format(target.Shape)}");
        var x = logits.IsContiguous ? logits : StridedCopy.ToContiguous(logits);
        var t = target.IsContiguous ? target : StridedCopy.ToContiguous(target);
        var labels = new ReadOnlySpan<long>(t.Buffer<long>(), t._offset, n);
        for (int i = 0; i < n; i++)
            if ((ulong)labels[i] >= (ulong)c)
                throw new IndexOutOfRangeException($"cross_entropy: target {labels[i]} of example {i} is out of range for {c} classes");

        var lse = Tensor.Empty([n], x.DType);
        var e = Tensor.Empty([n, c], x.DType);
        var s = Tensor.Empty([n], x.DType);
        var y = Tensor.Empty([], x.DType);
        if (x.DType == DType.Float32) CrossEntropyForward<float>(x, labels, lse, e, s, y, mean);
        else CrossEntropyForward<double>(x, labels, lse, e, s, y, mean);
        return Graph.Record(Graph.NeedsNode(logits) ? CrossEntropyNode.Create(logits, t, e, s, mean) : null, y);
    }

    private static void CrossEntropyForward<T>(Tensor x, ReadOnlySpan<long> labels, Tensor lse, Tensor e, Tensor s, Tensor y, bool mean)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Shape[0], c = x.Shape[1];
        var p = NumericsPolicy.Current;
        var l = lse.Buffer<T>();
        LogSumExpKernel.Rows(x.Buffer<T>(), x._offset, n, c, l, e.Buffer<T>(), s.Buffer<T>(), null, p);
        var xs = x.Buffer<T>();
        // −log p[i, y_i] = lse_i − x[i, y_i]: the negation of the composite's x − lse, bit for bit. The row losses
        // overwrite the log-sum-exps, which the backward pass does not need.
        for (int i = 0; i < n; i++) l[i] = l[i] - xs[x._offset + i * c + (int)labels[i]];
        T total = Sum<T>(new ReadOnlySpan<T>(l, 0, n), p);
        y.Buffer<T>()[0] = mean ? total / T.CreateTruncating(n) : total;
    }

    private static T Sum<T>(ReadOnlySpan<T> x, NumericsPolicy p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            float v = Reduce.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), p);
            return System.Runtime.CompilerServices.Unsafe.As<float, T>(ref v);
        }
        double d = Reduce.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(x), p);
        return System.Runtime.CompilerServices.Unsafe.As<double, T>(ref d);
    }

    private sealed class CrossEntropyNode : PooledNode<CrossEntropyNode>
    {
        private Tensor? _target, _exp, _sums;
        private bool _mean;

        public override string Name => "cross_entropy";
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => _target;

        public static CrossEntropyNode Create(Tensor logits, Tensor target, Tensor exp, Tensor sums, bool mean)
        {
            var node = Rent<CrossEntropyNode>();
            node.SetInputs(logits);
            (node._target, node._exp, node._sums, node._mean) = (target, exp, sums, mean);
            return node;
        }

        protected override void ClearFields() => (_target, _exp, _sums) = (null, null, null);

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var x = Inputs[0];
            int n = x.Shape[0];
            if (Graph.IsPlainBackward(grad, x))
            {
                var dx = Tensor.Empty(x.Shape, x.DType);
                if (x.DType == DType.Float32) PlainVjp<float>(grad, dx);
                else PlainVjp<double>(grad, dx);
                inputGrads[0] = Graph.Record(null, dx);
                return;
            }
            var coef = _mean ? Div(grad, n) : grad;
            inputGrads[0] = Mul(Sub(Softmax(x, 1), OneHot(_target!, x.Shape[1], x.DType)), coef);
        }

        private void PlainVjp<T>(Tensor grad, Tensor dx) where T : unmanaged, IFloatingPointIeee754<T>
        {
            int n = dx.Shape[0], c = dx.Shape[1];
            T g = grad.Buffer<T>()[grad._offset];
            T coef = _mean ? g / T.CreateTruncating(n) : g;
            T[] e = _exp!.Buffer<T>(), s = _sums!.Buffer<T>(), d = dx.Buffer<T>();
            var labels = _target!.Buffer<long>();
            int lo = _target._offset;
            for (int i = 0; i < n; i++)
            {
                T si = s[i];
                int row = i * c;
                for (int j = 0; j < c; j++) d[row + j] = e[row + j] / si * coef;
                int yj = row + (int)labels[lo + i];
                d[yj] = (e[yj] / si - T.One) * coef;
            }
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is not { } tx) return null;
            var x = Inputs[0];
            int n = x.Shape[0];
            var expected = Sum(Mul(Softmax(x, 1), tx));
            var picked = Sum(Gather(tx, 1, Reshape(_target!, [n, 1])));
            var d = Sub(expected, picked);
            return _mean ? Div(d, n) : d;
        }
    }

    /// <summary>A [N, classes] tensor with 1 at (i, labels[i]) and 0 elsewhere.</summary>
    public static Tensor OneHot(Tensor labels, int classes, DType dtype = DType.Float32)
    {
        if (labels.DType != DType.Int64) throw new DTypeMismatchException($"one_hot: labels must be int64, got {labels.DType.Name()}");
        var classIndex = Tensor.Arange(0, classes, 1, DType.Int64);
        return To(Eq(Unsqueeze(labels, -1), classIndex), dtype);
    }

    /// <summary>
    /// The mean (or sum) of (input − target)² for tensors of the same shape, as one primitive with the same bits as
    /// <c>Square(input − target)</c> reduced; the target may require grad too.
    /// </summary>
    public static Tensor MseLoss(Tensor input, Tensor target, bool mean = true)
    {
        if (!Shapes.Equal(input.Shape, target.Shape))
            throw new ShapeMismatchException($"mse_loss: input {Shapes.Format(input.Shape)} and target {Shapes.Format(target.Shape)} must have the same shape");
        if (input.DType != target.DType)
            throw new DTypeMismatchException($"mse_loss: input is {input.DType.Name()} but target is {target.DType.Name()}");
        RequireFloat("mse_loss", input);
        var d = Tensor.Empty(input.Shape, input.DType);
        var y = Tensor.Empty([], input.DType);
        if (input.DType == DType.Float32) MseForward<float>(input, target, d, y, mean);
        else MseForward<double>(input, target, d, y, mean);
        return Graph.Record(Graph.NeedsNode(input, target) ? MseNode.Create(input, target, d, mean) : null, y);
    }

    private static void MseForward<T>(Tensor input, Tensor target, Tensor d, Tensor y, bool mean) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = d.Numel;
        var a = input.IsContiguous ? input : StridedCopy.ToContiguous(input);
        var b = target.IsContiguous ? target : StridedCopy.ToContiguous(target);
        var dd = new Span<T>(d.Buffer<T>(), 0, n);
        System.Numerics.Tensors.TensorPrimitives.Subtract(new ReadOnlySpan<T>(a.Buffer<T>(), a._offset, n), new ReadOnlySpan<T>(b.Buffer<T>(), b._offset, n), dd);
        T[]? rented = null;
        var sq = n <= 512 ? stackalloc T[n] : (rented = System.Buffers.ArrayPool<T>.Shared.Rent(n)).AsSpan(0, n);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dd, dd, sq);
        T total = Sum<T>(sq, NumericsPolicy.Current);
        if (rented is not null) System.Buffers.ArrayPool<T>.Shared.Return(rented);
        y.Buffer<T>()[0] = mean ? total / T.CreateTruncating(n) : total;
    }

    private sealed class MseNode : PooledNode<MseNode>
    {
        private Tensor? _diff;
        private bool _mean;

        public override string Name => "mse_loss";

        public static MseNode Create(Tensor input, Tensor target, Tensor diff, bool mean)
        {
            var node = Rent<MseNode>();
            node.SetInputs(input, target);
            (node._diff, node._mean) = (diff, mean);
            return node;
        }

        protected override void ClearFields() => _diff = null;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            var d = _diff!;
            int n = d.Numel;
            Tensor dInput;
            if (Graph.IsPlainBackward(grad, Inputs[0], Inputs[1]))
            {
                dInput = Tensor.Empty(d.Shape, d.DType);
                if (d.DType == DType.Float32) PlainVjp<float>(grad, d, dInput, n);
                else PlainVjp<double>(grad, d, dInput, n);
                Graph.Record(null, dInput);
            }
            else dInput = Mul(Mul(Sub(Inputs[0], Inputs[1]), 2.0), _mean ? Div(grad, n) : grad);
            if (NeedsGrad(0)) inputGrads[0] = dInput;
            if (NeedsGrad(1)) inputGrads[1] = Neg(dInput);
        }

        private void PlainVjp<T>(Tensor grad, Tensor d, Tensor dInput, int n) where T : unmanaged, IFloatingPointIeee754<T>
        {
            T g = grad.Buffer<T>()[grad._offset];
            T coef = _mean ? g / T.CreateTruncating(n) : g;
            T two = T.CreateTruncating(2);
            T[] dd = d.Buffer<T>(), o = dInput.Buffer<T>();
            for (int i = 0; i < n; i++) o[i] = coef * (dd[i] * two);   // the composite's order: (g / n) · (d · 2)
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is null && t[1] is null) return null;
            var dt = t[1] is null ? t[0]! : t[0] is null ? Neg(t[1]!) : Sub(t[0]!, t[1]!);
            var s = Sum(Mul(Mul(Sub(Inputs[0], Inputs[1]), 2.0), dt));
            return _mean ? Div(s, _diff!.Numel) : s;
        }
    }
}
