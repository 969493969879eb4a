namespace Aperture.Tests.Autodiff;

public static partial class OpCatalogue
{
    /// <summary>The fused primitives of the training step (linear layer, losses).</summary>
    private static IEnumerable<OpCase> Fused()
    {
        yield return new("linear_fused", x => Ops.Linear(x[0], x[1], x[2]), g => [R(g, 5, 3), R(g, 4, 3), R(g, 4)]);
        yield return new("linear_no_bias", x => Ops.Linear(x[0], x[1]), g => [R(g, 5, 3), R(g, 4, 3)]);
        yield return new("linear_3d_input", x => Ops.Linear(x[0], x[1], x[2]), g => [R(g, 2, 3, 3), R(g, 2, 3), R(g, 2)]);
        yield return new("linear_transposed_input", x => Ops.Linear(Ops.Transpose(x[0], 0, 1), x[1], x[2]), g => [R(g, 3, 5), R(g, 4, 3), R(g, 4)]);
        // Linear then ReLU as one primitive: the bias (or, without one, rows of one sign against positive inputs) keeps
        // every pre-activation at least 0.4 from the kink.
        yield return new("linear_relu", x => Ops.LinearRelu(x[0], x[1], x[2]), g => [U(g, -0.1, 0.1, 5, 3), U(g, -0.1, 0.1, 4, 3), AwayFromZero(g, 0.5, 4)]);
        yield return new("linear_relu_3d_input", x => Ops.LinearRelu(x[0], x[1], x[2]), g => [U(g, -0.1, 0.1, 2, 3, 3), U(g, -0.1, 0.1, 2, 3), AwayFromZero(g, 0.5, 2)]);
        yield return new("linear_relu_no_bias", x => Ops.LinearRelu(x[0], x[1], null), g =>
            [U(g, 0.5, 1, 5, 3), Tensor.FromArray(new[] { 0.6, 0.7, 0.8, -0.5, -0.9, -0.6, 0.9, 0.5, 0.7, -0.7, -0.6, -0.8 }, [4, 3])]);
        yield return new("cross_entropy_mean", x => Ops.CrossEntropy(x[0], Index(2, 0, 1, 2)), g => [R(g, 4, 3)]);
        yield return new("cross_entropy_sum", x => Ops.CrossEntropy(x[0], Index(1, 1, 0), mean: false), g => [R(g, 3, 2)]);
        yield return new("mse_loss", x => Ops.MseLoss(x[0], x[1]), g => [R(g, 3, 4), R(g, 3, 4)]);
        yield return new("add_channel_bias", x => Ops.AddChannelBias(x[0], x[1]), g => [R(g, 2, 3, 2, 2), R(g, 3)]);
        // ReLU's derivative applied to g (its rules' chain when recorded or carrying tangents): linear in g, zero in x.
        yield return new("relu_mask", x => Ops.ReluMask(x[0], x[1]), g => [R(g, 3, 4), AwayFromZero(g, 0.01, 3, 4)]);
        yield return new("mse_loss_sum", x => Ops.MseLoss(x[0], x[1], mean: false), g => [R(g, 5), R(g, 5)]);
    }
}
