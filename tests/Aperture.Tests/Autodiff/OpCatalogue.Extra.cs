namespace Aperture.Tests.Autodiff;

public static partial class OpCatalogue
{
    // Entries for ops added after the core (convolution, pooling, ...) go here.
    private static IEnumerable<OpCase> Extra() => Convolution().Concat(Pooling()).Concat(Fused()).Concat(Kinks()).Concat(Norms()).Concat(LossParity());

    private static IEnumerable<OpCase> Convolution()
    {
        yield return new("conv2d", x => Ops.Conv2d(x[0], x[1], x[2]), g => [R(g, 2, 2, 4, 3), R(g, 3, 2, 2, 2), R(g, 3)]);
        yield return new("conv2d_stride_padding", x => Ops.Conv2d(x[0], x[1], stride: (2, 1), padding: (1, 2)), g => [R(g, 1, 2, 5, 3), R(g, 2, 2, 3, 2)]);
        yield return new("conv2d_dilation", x => Ops.Conv2d(x[0], x[1], padding: 1, dilation: (2, 1)), g => [R(g, 1, 1, 5, 4), R(g, 2, 1, 2, 3)]);
        yield return new("conv2d_groups", x => Ops.Conv2d(x[0], x[1], x[2], stride: 2, groups: 2), g => [R(g, 2, 4, 3, 3), R(g, 4, 2, 2, 2), R(g, 4)]);
        yield return new("conv2d_depthwise_unbatched", x => Ops.Conv2d(x[0], x[1], padding: 1, groups: 3), g => [R(g, 3, 3, 2), R(g, 3, 1, 2, 2)]);
        // Convolution, bias and ReLU as one primitive (a Sequential's Conv2d then ReLU): small inputs and weights (eight
        // terms of at most 0.01) against a bias at least 0.5 from zero keep every pre-activation away from the kink.
        yield return new("conv2d_relu", x => Ops.Conv2dRelu(x[0], x[1], x[2], null, (1, 0), null, 1),
            g => [U(g, -0.1, 0.1, 2, 2, 4, 3), U(g, -0.1, 0.1, 3, 2, 2, 2), AwayFromZero(g, 0.5, 3)]);
        yield return new("conv2d_relu_groups_stride", x => Ops.Conv2dRelu(x[0], x[1], x[2], 2, 1, null, 2),
            g => [U(g, -0.1, 0.1, 2, 4, 5, 4), U(g, -0.1, 0.1, 4, 2, 2, 2), AwayFromZero(g, 0.5, 4)]);
        yield return new("conv_transpose2d", x => Ops.ConvTranspose2d(x[0], x[1], x[2], stride: 2, padding: 1, outputPadding: 1),
            g => [R(g, 1, 2, 2, 3), R(g, 2, 2, 3, 2), R(g, 2)]);
        yield return new("conv_transpose2d_groups_dilation", x => Ops.ConvTranspose2d(x[0], x[1], stride: (1, 2), groups: 2, dilation: (2, 1)),
            g => [R(g, 2, 2, 2, 2), R(g, 2, 1, 2, 2)]);
        // The weight gradient as a function of the input and the output gradient (first order of its own rules).
        yield return new("conv2d_weight", x => Aperture.Autodiff.Vjp(w => Ops.Conv2d(x[0], w, stride: 2, padding: 1, groups: 2), WeightAt(), x[1]).Vjp,
            g => [R(g, 2, 2, 3, 4), R(g, 2, 2, 2, 2)]);
    }

    // Autodiff.Vjp records its backward pass (so the result is differentiable) only for inputs that require grad.
    private static Tensor WeightAt() => R(new Generator(5), 2, 1, 2, 3).RequiresGrad_();

    private static IEnumerable<OpCase> Pooling()
    {
        // Overlapping windows with padding: the arg-max is shared by neighbouring windows.
        yield return new("max_pool2d_overlap_padding", x => Ops.MaxPool2d(x[0], 3, stride: 2, padding: 1), g => [R(g, 1, 2, 5, 4)]);
        yield return new("max_pool2d_dilation_ceil", x => Ops.MaxPool2d(x[0], (2, 3), stride: (2, 1), padding: (1, 1), dilation: (2, 1), ceilMode: true),
            g => [R(g, 2, 1, 4, 4)]);
        yield return new("max_pool2d_backward", x => Aperture.Autodiff.Vjp(y => Ops.MaxPool2d(y, 2, stride: 1, padding: 1), PoolInput(), x[0]).Vjp,
            g => [R(g, 1, 2, 4, 3)]);
        yield return new("avg_pool2d_overlap_padding", x => Ops.AvgPool2d(x[0], 3, stride: 2, padding: 1), g => [R(g, 1, 2, 5, 4)]);
        yield return new("avg_pool2d_ceil_exclude_pad", x => Ops.AvgPool2d(x[0], (3, 2), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false),
            g => [R(g, 1, 2, 4, 5)]);
        yield return new("adaptive_avg_pool2d", x => Ops.AdaptiveAvgPool2d(x[0], (3, 2)), g => [R(g, 2, 1, 5, 3)]);
        yield return new("avg_pool2d_backward", x => Aperture.Autodiff.Vjp(y => Ops.AvgPool2d(y, 2, stride: 1, padding: 1, countIncludePad: false), PoolInput(), x[0]).Vjp,
            g => [R(g, 1, 2, 4, 3)]);
    }

    /// <summary>A fixed input with distinct values, so the arg-max positions are stable under finite differences.</summary>
    private static Tensor PoolInput() => R(new Generator(9), 1, 2, 3, 2).RequiresGrad_();

    /// <summary>
    /// Ops checked at their kinks, where PyTorch takes the derivative as 0. The central difference agrees there: each of
    /// these functions is even about the kink along every coordinate (std and norms grow like |ε| on both sides, x⁰ and
    /// 0^b are constant), so the numerical derivative is exactly 0. Their second derivatives are infinite or undefined at
    /// the kink, so only first order is checked at it.
    /// </summary>
    private static IEnumerable<OpCase> Kinks()
    {
        yield return new("std", x => Ops.Std(x[0], [1]), g => [R(g, 3, 5)]);
        yield return new("std_zero_spread", x => Ops.Std(x[0], [1]), g => [WithRow(R(g, 3, 5), 1, 0.75)], SecondOrder: false);
        yield return new("std_all_zero_spread", x => Ops.Std(x[0]), g => [Tensor.Full([2, 3], -1.5, DType.Float64)], SecondOrder: false);
        yield return new("norm2_zero_vector", x => Ops.Norm(x[0], 2, [1]), g => [WithRow(R(g, 3, 4), 0, 0)], SecondOrder: false);
        yield return new("norm3_zero_vector", x => Ops.Norm(x[0], 3, [1]), g => [WithRow(AwayFromZero(g, 0.1, 3, 4), 2, 0)], SecondOrder: false);
        yield return new("norm1_zero_vector", x => Ops.Norm(x[0], 1), g => [Tensor.Zeros([4], DType.Float64)], SecondOrder: false);
        yield return new("pow_scalar_zero_exponent", x => Ops.Pow(x[0], 0.0), g => [WithRow(R(g, 3, 4), 1, 0)]);
        yield return new("pow_tensor_zero_exponent", x => Ops.Pow(x[0], Tensor.Zeros([3, 4], DType.Float64)), g => [WithRow(R(g, 3, 4), 0, 0)], SecondOrder: false);
        yield return new("pow_tensor_zero_base", x => Ops.Pow(WithRow(U(new Generator(4), 0.5, 2, 3, 4), 1, 0), x[0]), g => [U(g, 0.5, 2, 3, 4)], SecondOrder: false);
        // Ties: maximum/minimum give each operand half, the full reductions split evenly; with two tied elements the
        // central difference is ½ too (one side moves the extreme, the other does not).
        yield return new("minimum", x => Ops.Minimum(x[0], x[1]), g => [R(g, 3, 4), R(g, 4)]);
        yield return new("maximum_ties", x => Ops.Maximum(x[0], x[1]), g => Tied(g), SecondOrder: false);
        yield return new("minimum_ties_broadcast", x => Ops.Minimum(x[0], x[1]), g => [Tensor.FromArray([0.5, -1.0, 2.0, 0.5, 3.0, -1.0], [2, 3]), Tensor.FromArray([0.5, -1.0, 1.0])], SecondOrder: false);
        yield return new("max_all_two_way_tie", x => Ops.Max(x[0]), g => [Tensor.FromArray([0.3, 1.7, -2.0, 1.7, 0.9, 1.1], [2, 3])], SecondOrder: false);
        yield return new("norm_inf_two_way_tie", x => Ops.Norm(x[0], double.PositiveInfinity), g => [Tensor.FromArray([0.3, -1.7, 1.7, 0.9])], SecondOrder: false);
        // Piecewise-constant functions: a zero derivative away from their jumps (random points are never on one).
        yield return new("sign", x => Ops.Sign(x[0]), g => [R(g, 3, 4)]);
        yield return new("floor", x => Ops.Floor(x[0]), g => [Ops.Mul(R(g, 3, 4), 3.0)]);
        yield return new("ceil", x => Ops.Ceil(x[0]), g => [Ops.Mul(R(g, 3, 4), 3.0)]);
        yield return new("trunc", x => Ops.Trunc(x[0]), g => [Ops.Mul(R(g, 3, 4), 3.0)]);
        yield return new("round", x => Ops.Round(x[0]), g => [Ops.Mul(R(g, 3, 4), 3.0)]);
    }

    private static IEnumerable<OpCase> Norms()
    {
        yield return new("norm0", x => Ops.Norm(x[0], 0, [1]), g => [WithRow(R(g, 3, 4), 1, 0)]);
        yield return new("norm_inf", x => Ops.Norm(x[0], double.PositiveInfinity, [0]), g => [AwayFromZero(g, 0.1, 3, 4)]);
        yield return new("norm_neg_inf", x => Ops.Norm(x[0], double.NegativeInfinity, [1]), g => [AwayFromZero(g, 0.1, 3, 4)]);
        yield return new("norm_negative_p", x => Ops.Norm(x[0], -1.5, [1]), g => [AwayFromZero(g, 0.3, 3, 4)]);
        yield return new("norm_half", x => Ops.Norm(x[0], 0.5), g => [AwayFromZero(g, 0.3, 2, 3)]);
    }

    private static IEnumerable<OpCase> LossParity()
    {
        yield return new("cross_entropy_weight_ignore", x => Aperture.NN.Losses.CrossEntropy(x[0], Index(2, -100, 1, 0), weight: Tensor.FromArray([0.5, 2.0, 1.5])),
            g => [R(g, 4, 3)]);
        yield return new("cross_entropy_spatial_smoothing", x => Aperture.NN.Losses.CrossEntropy(x[0], Index([0, 2, -100, 1, 1, 0], 2, 3),
            labelSmoothing: 0.1, weight: Tensor.FromArray([1.0, 0.5, 2.0])), g => [R(g, 2, 3, 3)]);
        yield return new("nll_spatial_none", x => Aperture.NN.Losses.Nll(Ops.LogSoftmax(x[0], 1), Index([1, 0, 2, 7], 2, 2), Aperture.NN.Reduction.None, ignoreIndex: 7),
            g => [R(g, 2, 3, 2)]);
    }

    /// <summary>Two [3, 4] inputs equal at half their positions.</summary>
    private static Tensor[] Tied(Generator g)
    {
        var a = R(g, 3, 4);
        var b = R(g, 3, 4).ToDoubleArray();
        var av = a.ToDoubleArray();
        for (int i = 0; i < b.Length; i += 2) b[i] = av[i];
        return [a, Tensor.FromArray(b, [3, 4])];
    }

    /// <summary><paramref name="x"/> with row <paramref name="row"/> set to <paramref name="value"/> everywhere.</summary>
    private static Tensor WithRow(Tensor x, int row, double value)
    {
        var d = x.ToDoubleArray();
        int cols = x.Shape[1];
        for (int j = 0; j < cols; j++) d[row * cols + j] = value;
        return Tensor.FromArray(d, x.Shape);
    }
}
