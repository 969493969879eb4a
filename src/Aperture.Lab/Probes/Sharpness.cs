namespace Aperture.Lab.Probes;

/// <summary>Keskar et al.'s ε-sharpness of a minimum, with what it was measured from.</summary>
/// <param name="Value">100·(max_{δ∈C_ε} L(θ + δ) − L(θ)) / (1 + L(θ)), the paper's metric (a percentage).</param>
/// <param name="Loss">L(θ) at the measured point.</param>
/// <param name="MaxLoss">The largest loss found in the box (a lower bound on the true maximum).</param>
/// <param name="Epsilon">The box's relative size ε.</param>
/// <param name="Steps">Projected gradient ascent steps taken.</param>
/// <param name="Group">The parameters perturbed.</param>
/// <param name="BatchNorm">The batch norm mode the loss was evaluated in.</param>
/// <param name="Seed">The seed of the random start.</param>
public sealed record EpsilonSharpness(double Value, double Loss, double MaxLoss, double Epsilon, int Steps, string Group, BatchNormMode BatchNorm, ulong Seed);

/// <summary>
/// Sharpness of a minimum in the sense of Keskar, Mudigere, Nocedal, Smelyanskiy and Tang ("On large-batch training
/// for deep learning: generalization gap and sharp minima", ICLR 2017, arXiv 1609.04836, metric 2.1 in the full space):
/// the largest relative rise of the loss in the box C_ε = {δ : |δ_i| ≤ ε·(|θ_i| + 1)}.
/// </summary>
public static class Sharpness
{
    /// <summary>
    /// Maximizes L(θ + δ) over the box C_ε by projected sign-gradient ascent (the steepest ascent for the box's ℓ∞
    /// geometry, as in Madry et al.'s PGD): from a start drawn uniformly in the box (seeded; a minimum's zero
    /// gradient would stall a start at δ = 0), each step moves δ_i by <paramref name="stepFraction"/>·ε·(|θ_i| + 1)
    /// in the direction of ∂L/∂θ_i and clips to the box. The largest loss seen (θ itself included) gives the metric,
    /// a lower bound on the true maximum (Keskar et al. use L-BFGS-B, equally a local method). The parameters are
    /// restored afterwards, even on failure. Cost: <paramref name="steps"/> + 1 gradients and 2 losses.
    /// </summary>
    /// <param name="loss">The loss (model, data, batch norm mode).</param>
    /// <param name="epsilon">The box's relative size ε (Keskar et al. report 1e-3 and 5e-4).</param>
    /// <param name="steps">Ascent steps.</param>
    /// <param name="seed">The seed of the random start.</param>
    /// <param name="group">The parameters perturbed (null: all trainable ones).</param>
    /// <param name="stepFraction">Each step's size as a fraction of the box's half-width.</param>
    public static EpsilonSharpness Epsilon(EmpiricalLoss loss, double epsilon = 1e-3, int steps = 20, ulong seed = 0, ParameterGroup? group = null, double stepFraction = 0.25)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (!(epsilon > 0) || !double.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "Sharpness: epsilon must be positive and finite");
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        if (!(stepFraction > 0) || !double.IsFinite(stepFraction)) throw new ArgumentOutOfRangeException(nameof(stepFraction), stepFraction, "Sharpness: the step fraction must be positive");
        var ps = loss.Select(group);
        var theta = EmpiricalLoss.Flatten(ps);
        int n = theta.Length;
        var bound = new double[n];
        for (int i = 0; i < n; i++) bound[i] = epsilon * (Math.Abs(theta[i]) + 1);
        var g = new Generator(seed, 5);
        var delta = new double[n];
        for (int i = 0; i < n; i++) delta[i] = (2 * g.NextDouble() - 1) * bound[i];
        var point = new double[n];
        try
        {
            double l0 = loss.Value();
            double best = l0;
            for (int step = 0; ; step++)
            {
                for (int i = 0; i < n; i++) point[i] = theta[i] + delta[i];
                EmpiricalLoss.Load(ps, point);
                if (step == steps)
                {
                    best = Math.Max(best, loss.Value());
                    break;
                }
                var (value, grad) = loss.ValueAndGradient(ps);
                if (!double.IsFinite(value)) throw new ArithmeticException($"Sharpness: the loss is not finite inside the ε-box (ε = {epsilon}) at ascent step {step}");
                best = Math.Max(best, value);
                for (int i = 0; i < n; i++)
                    delta[i] = Math.Clamp(delta[i] + stepFraction * bound[i] * Math.Sign(grad[i]), -bound[i], bound[i]);
            }
            return new EpsilonSharpness(100 * (best - l0) / (1 + l0), l0, best, epsilon, steps, group?.Name ?? "model", loss.BatchNorm, seed);
        }
        finally
        {
            EmpiricalLoss.Load(ps, theta);
        }
    }
}
