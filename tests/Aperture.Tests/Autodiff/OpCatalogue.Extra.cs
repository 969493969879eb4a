namespace Aperture.Tests.Autodiff;

public static partial class OpCatalogue
{
    // Entries for ops added after the core (convolution, pooling, ...) go here.
    private static IEnumerable<OpCase> Extra() => Convolution().Concat(Pooling()).Concat(Fused());

    private static IEnumerable<OpCase> Convolution()
    {
        yield return new("conv2d", x => Ops.Conv2d(x[0], x[1], x[2]), g => [R(g, 2, 2, 4, 3), R(g, 3, 2, 2, 2), R(g, 3)]);
        yield return new("conv2d_stride_padding", x => Ops.Conv2d(x[0], x[1], stride: (2, 1), padding: (1, 2)), g => [R(g, 1, 2, 5, 3), R(g, 2, 2, 3, 2)]);
        yield return new("conv2d_dilation", x => Ops.Conv2d(x[0], x[1], padding: 1, dilation: (2, 1)), g => [R(g, 1, 1, 5, 4), R(g, 2, 1, 2, 3)]);
        yield return new("conv2d_groups", x => Ops.Conv2d(x[0], x[1], x[2], stride: 2, groups: 2), g => [R(g, 2, 4, 3, 3), R(g, 4, 2, 2, 2), R(g, 4)]);
        yield return new("conv2d_depthwise_unbatched", x => Ops.Conv2d(x[0], x[1], padding: 1, groups: 3), g => [R(g, 3, 3, 2), R(g, 3, 1, 2, 2)]);
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
}
