using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>How much the gradient changes along one gradient step (Santurkar et al., 2018).</summary>
/// <param name="Change">‖∇L(θ − η·∇L(θ)) − ∇L(θ)‖ / ‖∇L(θ)‖: 0 when the gradient predicts itself perfectly.</param>
/// <param name="Smoothness">The effective smoothness ‖∇L(θ − η·∇L(θ)) − ∇L(θ)‖ / ‖η·∇L(θ)‖: a local Lipschitz constant of the gradient along the step.</param>
public readonly record struct GradientChange(double Change, double Smoothness);

/// <summary>
/// Santurkar, Tsipras, Ilyas and Madry's gradient predictiveness ("How does batch normalization help optimization?",
/// NeurIPS 2018) along one gradient step on a batch: with g = ∇L(θ) and g' = ∇L(θ − η·g) on the same batch, in the
/// model's current mode, how far g' is from g. All gradients are over <see cref="Module.Parameters"/>, summed in float64.
/// </summary>
public static class GradientPredictiveness
{
    /// <summary>
    /// Measures the gradient change along a step of size <paramref name="lr"/> on the batch (<paramref name="x"/>,
    /// <paramref name="y"/>). The network's parameters and buffers (e.g. batch norm's running statistics, which the two
    /// forward passes update in training mode) are restored from a state dict afterwards, even on failure; the
    /// parameters' <c>.Grad</c> are not touched.
    /// </summary>
    /// <param name="net">The model.</param>
    /// <param name="x">The batch's inputs.</param>
    /// <param name="y">The batch's targets.</param>
    /// <param name="lr">The step size η.</param>
    /// <param name="loss">The loss of (output, targets), a scalar; cross-entropy when null.</param>
    /// <returns>The relative change and the effective smoothness (NaN when the gradient is 0 or not finite).</returns>
    public static GradientChange Measure(Module net, Tensor x, Tensor y, double lr, Func<Tensor, Tensor, Tensor>? loss = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        loss ??= (o, t) => Losses.CrossEntropy(o, t);
        var saved = net.StateDict();
        var parameters = net.Parameters().ToList();
        try
        {
            var g = Autodiff.Grad([loss(net.Forward(x), y)], parameters);
            using (Autodiff.NoGrad())
                for (int i = 0; i < parameters.Count; i++)
                    Ops.CopyInPlace(parameters[i], parameters[i] - g[i]! * lr);
            var moved = Autodiff.Grad([loss(net.Forward(x), y)], parameters);
            double diff = 0, norm = 0;
            for (int i = 0; i < parameters.Count; i++)
            {
                var a = g[i]!.ToDoubleArray();
                var b = moved[i]!.ToDoubleArray();
                for (int j = 0; j < a.Length; j++)
                {
                    diff += (b[j] - a[j]) * (b[j] - a[j]);
                    norm += a[j] * a[j];
                }
            }
            diff = Math.Sqrt(diff);
            norm = Math.Sqrt(norm);
            return new GradientChange(diff / norm, diff / (lr * norm));
        }
        finally
        {
            net.LoadStateDict(saved);
        }
    }
}
