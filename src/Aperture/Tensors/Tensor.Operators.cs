namespace Aperture;

public sealed partial class Tensor
{
#pragma warning disable CS1591 // the operators mirror the Ops they call
    public static Tensor operator +(Tensor a, Tensor b) => Ops.Add(a, b);
    public static Tensor operator +(Tensor a, double c) => Ops.Add(a, c);
    public static Tensor operator +(double c, Tensor a) => Ops.Add(a, c);
    public static Tensor operator -(Tensor a, Tensor b) => Ops.Sub(a, b);
    public static Tensor operator -(Tensor a, double c) => Ops.Sub(a, c);
    public static Tensor operator -(double c, Tensor a) => Ops.Sub(c, a);
    public static Tensor operator -(Tensor a) => Ops.Neg(a);
    public static Tensor operator *(Tensor a, Tensor b) => Ops.Mul(a, b);
    public static Tensor operator *(Tensor a, double c) => Ops.Mul(a, c);
    public static Tensor operator *(double c, Tensor a) => Ops.Mul(a, c);
    public static Tensor operator /(Tensor a, Tensor b) => Ops.Div(a, b);
    public static Tensor operator /(Tensor a, double c) => Ops.Div(a, c);
    public static Tensor operator /(double c, Tensor a) => Ops.Div(c, a);
#pragma warning restore CS1591

    /// <summary>See <see cref="Ops.MatMul"/>.</summary>
    public Tensor MatMul(Tensor other) => Ops.MatMul(this, other);
    /// <summary>See <see cref="Ops.Exp"/>.</summary>
    public Tensor Exp() => Ops.Exp(this);
    /// <summary>See <see cref="Ops.Log"/>.</summary>
    public Tensor Log() => Ops.Log(this);
    /// <summary>See <see cref="Ops.Sin"/>.</summary>
    public Tensor Sin() => Ops.Sin(this);
    /// <summary>See <see cref="Ops.Cos"/>.</summary>
    public Tensor Cos() => Ops.Cos(this);
    /// <summary>See <see cref="Ops.Tanh"/>.</summary>
    public Tensor Tanh() => Ops.Tanh(this);
    /// <summary>See <see cref="Ops.Sigmoid"/>.</summary>
    public Tensor Sigmoid() => Ops.Sigmoid(this);
    /// <summary>See <see cref="Ops.Relu"/>.</summary>
    public Tensor Relu() => Ops.Relu(this);
    /// <summary>See <see cref="Ops.Abs"/>.</summary>
    public Tensor Abs() => Ops.Abs(this);
    /// <summary>See <see cref="Ops.Sqrt"/>.</summary>
    public Tensor Sqrt() => Ops.Sqrt(this);
    /// <summary>See <see cref="Ops.Square"/>.</summary>
    public Tensor Square() => Ops.Square(this);
    /// <summary>See <see cref="Ops.Pow(Tensor, double)"/>.</summary>
    public Tensor Pow(double exponent) => Ops.Pow(this, exponent);
    /// <summary>See <see cref="Ops.Clamp"/>.</summary>
    public Tensor Clamp(double min = double.NegativeInfinity, double max = double.PositiveInfinity) => Ops.Clamp(this, min, max);

    /// <summary>See <see cref="Ops.Sum(Tensor, int[], bool)"/>.</summary>
    public Tensor Sum(int[]? axes = null, bool keepDim = false) => Ops.Sum(this, axes, keepDim);
    /// <summary>The sum over one axis.</summary>
    public Tensor Sum(int axis, bool keepDim = false) => Ops.Sum(this, [axis], keepDim);
    /// <summary>See <see cref="Ops.Mean(Tensor, int[], bool)"/>.</summary>
    public Tensor Mean(int[]? axes = null, bool keepDim = false) => Ops.Mean(this, axes, keepDim);
    /// <summary>The mean over one axis.</summary>
    public Tensor Mean(int axis, bool keepDim = false) => Ops.Mean(this, [axis], keepDim);
    /// <summary>See <see cref="Ops.Var"/>.</summary>
    public Tensor Var(int[]? axes = null, int correction = 1, bool keepDim = false) => Ops.Var(this, axes, correction, keepDim);
    /// <summary>See <see cref="Ops.Std"/>.</summary>
    public Tensor Std(int[]? axes = null, int correction = 1, bool keepDim = false) => Ops.Std(this, axes, correction, keepDim);
    /// <summary>See <see cref="Ops.Max(Tensor, int, bool)"/>.</summary>
    public (Tensor Values, Tensor Indices) Max(int axis, bool keepDim = false) => Ops.Max(this, axis, keepDim);
    /// <summary>See <see cref="Ops.Min(Tensor, int, bool)"/>.</summary>
    public (Tensor Values, Tensor Indices) Min(int axis, bool keepDim = false) => Ops.Min(this, axis, keepDim);
    /// <summary>The largest element.</summary>
    public Tensor Max() => Ops.Max(this);
    /// <summary>The smallest element.</summary>
    public Tensor Min() => Ops.Min(this);
    /// <summary>See <see cref="Ops.ArgMax"/>.</summary>
    public Tensor ArgMax(int axis, bool keepDim = false) => Ops.ArgMax(this, axis, keepDim);
    /// <summary>See <see cref="Ops.LogSumExp(Tensor, int[], bool)"/>.</summary>
    public Tensor LogSumExp(int axis, bool keepDim = false) => Ops.LogSumExp(this, [axis], keepDim);
    /// <summary>See <see cref="Ops.Norm"/>.</summary>
    public Tensor Norm(double p = 2, int[]? axes = null, bool keepDim = false) => Ops.Norm(this, p, axes, keepDim);
    /// <summary>See <see cref="Ops.Softmax"/>.</summary>
    public Tensor Softmax(int axis = -1) => Ops.Softmax(this, axis);
    /// <summary>See <see cref="Ops.LogSoftmax"/>.</summary>
    public Tensor LogSoftmax(int axis = -1) => Ops.LogSoftmax(this, axis);

    /// <summary>See <see cref="Ops.Reshape"/>.</summary>
    public Tensor Reshape(params ReadOnlySpan<int> shape) => Ops.Reshape(this, shape);
    /// <summary>See <see cref="Ops.View"/>.</summary>
    public Tensor View(params ReadOnlySpan<int> shape) => Ops.View(this, shape);
    /// <summary>See <see cref="Ops.Permute"/>.</summary>
    public Tensor Permute(params ReadOnlySpan<int> dims) => Ops.Permute(this, dims);
    /// <summary>See <see cref="Ops.Transpose"/>.</summary>
    public Tensor Transpose(int axis0, int axis1) => Ops.Transpose(this, axis0, axis1);
    /// <summary>
    /// The tensor with its dimensions reversed (a view), as PyTorch's <c>x.T</c> defines it: the transpose of a matrix,
    /// shape [d0, …, dn] → [dn, …, d0] in general, and the tensor itself for rank 0 and 1.
    /// </summary>
    /// <remarks>
    /// PyTorch deprecates <c>.T</c> on tensors whose rank is not 2 (it warns, and says a future release will make it an
    /// error), because reversing every dimension of a batch is rarely what is meant: use <see cref="MT"/> to transpose
    /// the last two dimensions of a batch of matrices, or <see cref="Permute"/> to say exactly which order.
    /// </remarks>
    public Tensor T
    {
        get
        {
            if (Rank < 2) return this;
            var reversed = new int[Rank];
            for (int i = 0; i < Rank; i++) reversed[i] = Rank - 1 - i;
            return Ops.Permute(this, reversed);
        }
    }

    /// <summary>The transpose of the last two dimensions (a view), PyTorch's <c>x.mT</c>: [..., m, n] → [..., n, m].</summary>
    public Tensor MT => Rank >= 2 ? Ops.Transpose(this, -2, -1)
        : throw new ShapeMismatchException($"MT: expected a tensor of at least 2 dimensions (a batch of matrices), got shape {Shapes.Format(Shape)}");
    /// <summary>See <see cref="Ops.Expand"/>.</summary>
    public Tensor Expand(params ReadOnlySpan<int> shape) => Ops.Expand(this, shape);
    /// <summary>See <see cref="Ops.Squeeze"/>.</summary>
    public Tensor Squeeze(int? axis = null) => Ops.Squeeze(this, axis);
    /// <summary>See <see cref="Ops.Unsqueeze"/>.</summary>
    public Tensor Unsqueeze(int axis) => Ops.Unsqueeze(this, axis);
    /// <summary>See <see cref="Ops.Flatten"/>.</summary>
    public Tensor Flatten(int startAxis = 0, int endAxis = -1) => Ops.Flatten(this, startAxis, endAxis);
    /// <summary>See <see cref="Ops.Slice"/>.</summary>
    public Tensor Slice(int axis, int start, int end, int step = 1) => Ops.Slice(this, axis, start, end, step);
    /// <summary>See <see cref="Ops.Narrow"/>.</summary>
    public Tensor Narrow(int axis, int start, int length) => Ops.Narrow(this, axis, start, length);
    /// <summary>See <see cref="Ops.Select"/>.</summary>
    public Tensor Select(int axis, int index) => Ops.Select(this, axis, index);
    /// <summary>The sub-tensor at <paramref name="index"/> along the first dimension (a view), like <c>x[i]</c>.</summary>
    [System.Runtime.CompilerServices.IndexerName("Index")]
    public Tensor this[int index] => Rank == 0
        ? throw new IndexOutOfRangeException($"x[{index}]: a 0-d tensor (a scalar) has no dimension to index; read its value with Item()")
        : Ops.Select(this, 0, index);
    /// <summary>See <see cref="Ops.Contiguous"/>.</summary>
    public Tensor Contiguous() => Ops.Contiguous(this);
    /// <summary>See <see cref="Ops.Clone"/>.</summary>
    public Tensor Clone() => Ops.Clone(this);
    /// <summary>See <see cref="Ops.To"/>.</summary>
    public Tensor To(DType dtype) => Ops.To(this, dtype);

    /// <summary>See <see cref="Ops.Eq(Tensor, Tensor)"/>.</summary>
    public Tensor Eq(Tensor other) => Ops.Eq(this, other);
    /// <summary>See <see cref="Ops.Gt(Tensor, double)"/>.</summary>
    public Tensor Gt(double c) => Ops.Gt(this, c);
    /// <summary>See <see cref="Ops.Lt(Tensor, double)"/>.</summary>
    public Tensor Lt(double c) => Ops.Lt(this, c);
}
