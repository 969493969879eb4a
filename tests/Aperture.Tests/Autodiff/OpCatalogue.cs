namespace Aperture.Tests.Autodiff;

/// <summary>
/// One entry per differentiable op: a function of float64 inputs and the inputs to check it at. Every derivative
/// rule in the engine must be exercised by some entry here (<see cref="GradCheckCatalogueTests"/> enforces it).
/// </summary>
public sealed record OpCase(string Name, Func<Tensor[], Tensor> F, Func<Generator, Tensor[]> Inputs, bool SecondOrder = true, double Tolerance = 1e-6, double Eps = 1e-6)
{
    public override string ToString() => Name;
}

public static partial class OpCatalogue
{
    internal static Tensor R(Generator g, params int[] shape) => Tensor.Randn(shape, g, DType.Float64);

    /// <summary>Uniform in [lo, hi): for ops defined on part of the line (log, sqrt).</summary>
    internal static Tensor U(Generator g, double lo, double hi, params int[] shape) => Tensor.Uniform(shape, lo, hi, g, DType.Float64);

    /// <summary>Normal values kept at least <paramref name="gap"/> away from 0 (for ops with a kink at 0).</summary>
    internal static Tensor AwayFromZero(Generator g, double gap, params int[] shape)
    {
        var x = R(g, shape);
        var d = x.ToDoubleArray();
        for (int i = 0; i < d.Length; i++) d[i] = d[i] >= 0 ? d[i] + gap : d[i] - gap;
        return Tensor.FromArray(d, shape);
    }

    internal static Tensor Index(params long[] values) => Tensor.FromArray(values);

    internal static Tensor Index(long[] values, params int[] shape) => Tensor.FromArray(values, shape);

    public static IEnumerable<OpCase> All() => Elementwise().Concat(Structural()).Concat(Extra());

    private static IEnumerable<OpCase> Elementwise()
    {
        yield return new("neg", x => Ops.Neg(x[0]), g => [R(g, 3, 4)]);
        yield return new("exp", x => Ops.Exp(x[0]), g => [R(g, 3, 4)]);
        yield return new("log", x => Ops.Log(x[0]), g => [U(g, 0.5, 3, 3, 4)]);
        yield return new("log1p", x => Ops.Log1p(x[0]), g => [U(g, -0.5, 3, 3, 4)]);
        yield return new("expm1", x => Ops.Expm1(x[0]), g => [R(g, 3, 4)]);
        yield return new("sin", x => Ops.Sin(x[0]), g => [R(g, 3, 4)]);
        yield return new("cos", x => Ops.Cos(x[0]), g => [R(g, 3, 4)]);
        yield return new("tanh", x => Ops.Tanh(x[0]), g => [R(g, 3, 4)]);
        yield return new("sigmoid", x => Ops.Sigmoid(x[0]), g => [R(g, 3, 4)]);
        yield return new("relu", x => Ops.Relu(x[0]), g => [AwayFromZero(g, 0.01, 3, 4)]);
        yield return new("leaky_relu", x => Ops.LeakyRelu(x[0], 0.1), g => [AwayFromZero(g, 0.01, 3, 4)]);
        yield return new("abs", x => Ops.Abs(x[0]), g => [AwayFromZero(g, 0.01, 3, 4)]);
        yield return new("sqrt", x => Ops.Sqrt(x[0]), g => [U(g, 0.5, 3, 3, 4)]);
        yield return new("reciprocal", x => Ops.Reciprocal(x[0]), g => [U(g, 0.5, 3, 3, 4)]);
        yield return new("square", x => Ops.Square(x[0]), g => [R(g, 3, 4)]);
        yield return new("pow_scalar", x => Ops.Pow(x[0], 2.5), g => [U(g, 0.5, 2, 3, 4)]);
        yield return new("softplus", x => Ops.Softplus(x[0]), g => [Ops.Mul(R(g, 3, 4), 5.0)]);
        yield return new("erf", x => Ops.Erf(x[0]), g => [Ops.Mul(R(g, 3, 4), 1.5)]);
        yield return new("gelu", x => Ops.Gelu(x[0]), g => [R(g, 3, 4)]);
        yield return new("gelu_tanh", x => Ops.Gelu(x[0], tanhApproximation: true), g => [R(g, 3, 4)]);
        yield return new("mul_scalar", x => Ops.Mul(x[0], -1.7), g => [R(g, 3, 4)]);
        yield return new("add_scalar", x => Ops.Add(x[0], 0.3), g => [R(g, 3, 4)]);
        yield return new("div_scalar", x => Ops.Div(x[0], 3.0), g => [R(g, 3, 4)]);
        yield return new("clamp", x => Ops.Clamp(x[0], -0.5, 0.7), g => [AwayFromZero(g, 0.0, 3, 4)]);
        yield return new("add", x => Ops.Add(x[0], x[1]), g => [R(g, 3, 4), R(g, 4)]);
        yield return new("sub", x => Ops.Sub(x[0], x[1]), g => [R(g, 3, 1), R(g, 2, 1, 4)]);
        yield return new("mul", x => Ops.Mul(x[0], x[1]), g => [R(g, 3, 4), R(g, 3, 1)]);
        yield return new("div", x => Ops.Div(x[0], x[1]), g => [R(g, 3, 4), U(g, 0.5, 2, 4)]);
        yield return new("pow_tensor", x => Ops.Pow(x[0], x[1]), g => [U(g, 0.5, 2, 3, 4), R(g, 4)]);
        yield return new("where", x => Ops.Where(Ops.Gt(x[2], 0), x[0], x[1]), g => [R(g, 3, 4), R(g, 4), R(g, 3, 4)]);
        yield return new("maximum", x => Ops.Maximum(x[0], x[1]), g => [R(g, 3, 4), R(g, 3, 4)]);
    }

    private static IEnumerable<OpCase> Structural()
    {
        yield return new("identity", x => Ops.Identity(x[0]), g => [R(g, 2, 3)]);
        yield return new("clone", x => Ops.Clone(Ops.Transpose(x[0], 0, 1)), g => [R(g, 2, 3)]);
        // A float32 round trip perturbs the finite differences by ~1e-7/eps, so this one entry gets a looser tolerance.
        yield return new("cast", x => Ops.To(Ops.Mul(Ops.To(x[0], DType.Float32), 2.0), DType.Float64), g => [R(g, 2, 3)], SecondOrder: false, Tolerance: 1e-3, Eps: 1e-3);
        yield return new("reshape", x => Ops.Reshape(x[0], [3, -1]), g => [R(g, 2, 3, 2)]);
        yield return new("permute", x => Ops.Permute(x[0], [2, 0, 1]), g => [R(g, 2, 3, 4)]);
        yield return new("expand", x => Ops.Expand(x[0], [2, 3, 4]), g => [R(g, 3, 1)]);
        yield return new("slice", x => Ops.Slice(x[0], 1, 1, 7, 2), g => [R(g, 2, 7)]);
        yield return new("slice_scatter", x => Ops.SliceScatter(x[0], [2, 9], 1, 1, 3), g => [R(g, 2, 3)]);
        yield return new("select", x => Ops.Select(x[0], 0, 1), g => [R(g, 3, 4)]);
        yield return new("sum", x => Ops.Sum(x[0], [0, 2]), g => [R(g, 2, 3, 4)]);
        yield return new("sum_keepdim", x => Ops.Sum(x[0], [1], keepDim: true), g => [R(g, 2, 3, 4)]);
        yield return new("mean", x => Ops.Mean(x[0], [1]), g => [R(g, 2, 3, 4)]);
        yield return new("var", x => Ops.Var(x[0], [1]), g => [R(g, 3, 5)]);
        yield return new("logsumexp", x => Ops.LogSumExp(x[0], [1]), g => [R(g, 3, 5)]);
        yield return new("norm2", x => Ops.Norm(x[0], 2, [1]), g => [R(g, 3, 5)]);
        yield return new("norm3", x => Ops.Norm(x[0], 3, [1]), g => [AwayFromZero(g, 0.1, 3, 5)]);
        yield return new("max", x => Ops.Max(x[0], 1).Values, g => [R(g, 3, 5)]);
        yield return new("min_all", x => Ops.Min(x[0]), g => [R(g, 3, 5)]);
        yield return new("softmax", x => Ops.Softmax(x[0], 1), g => [R(g, 3, 5)]);
        yield return new("log_softmax", x => Ops.LogSoftmax(x[0], 0), g => [R(g, 3, 5)]);
        yield return new("matmul_2d", x => Ops.MatMul(x[0], x[1]), g => [R(g, 3, 4), R(g, 4, 5)]);
        yield return new("matmul_batched_broadcast", x => Ops.MatMul(x[0], x[1]), g => [R(g, 2, 1, 3, 4), R(g, 3, 4, 2)]);
        yield return new("matmul_vector", x => Ops.MatMul(x[0], x[1]), g => [R(g, 4), R(g, 4, 3)]);
        yield return new("linear", x => Ops.Linear(x[0], x[1], x[2]), g => [R(g, 5, 3), R(g, 4, 3), R(g, 4)]);
        yield return new("gather", x => Ops.Gather(x[0], 1, Index([0, 2, 2, 1, 0, 0], 3, 2)), g => [R(g, 3, 4)]);
        yield return new("scatter_add", x => Ops.ScatterAdd(x[0], 1, Index([0, 2, 2, 1, 0, 0], 3, 2), x[1]), g => [R(g, 3, 4), R(g, 3, 2)]);
        // PyTorch bounds the index off the axis only: along it, an index may be longer than x (picks repeat) ...
        yield return new("gather_index_longer_than_axis", x => Ops.Gather(x[0], 0, Index([0, 2, 1, 2, 0, 0, 1, 1, 2, 2], 5, 2)), g => [R(g, 3, 2)]);
        // ... and a scatter may put N items into k < N bins.
        yield return new("scatter_add_n_into_k_bins", x => Ops.ScatterAdd(x[0], 1, Index([0, 1, 0, 0, 1, 1, 1, 0, 0, 1], 2, 5), x[1]), g => [R(g, 2, 2), R(g, 2, 5)]);
        yield return new("index_select", x => Ops.IndexSelect(x[0], 0, Index(2, 0, 2)), g => [R(g, 3, 4)]);
        yield return new("index_add", x => Ops.IndexAdd(x[0], 1, Index(1, 1), x[1]), g => [R(g, 3, 4), R(g, 3, 2)]);
        yield return new("concat", x => Ops.Concat([x[0], x[1]], 1), g => [R(g, 2, 3), R(g, 2, 2)]);
        yield return new("stack", x => Ops.Stack([x[0], x[1]], 0), g => [R(g, 2, 3), R(g, 2, 3)]);
    }
}
