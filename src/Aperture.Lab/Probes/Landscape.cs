using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>The loss along a path θ(t) between two parameter vectors, and the barrier on it.</summary>
/// <param name="T">The path parameters t at which the loss was evaluated (t = 0 and t = 1 are the two ends).</param>
/// <param name="Losses">L(θ(t)) at each t.</param>
/// <param name="Barrier">
/// max over t in [0, 1] of L(θ(t)) − ((1 − t)·L(θ(0)) + t·L(θ(1))): the rise above the straight interpolation of the
/// ends' losses (Frankle et al. 2020; Entezari et al. 2022). 0 when the path is nowhere above it (a convex loss on a segment).
/// </param>
/// <param name="BarrierT">The t where the barrier is attained.</param>
/// <param name="Height">max over t in [0, 1] of L(θ(t)) − max(L(θ(0)), L(θ(1))): the saddle height above the worse end (Garipov et al.; Draxler et al. 2018).</param>
public sealed record LossPath(double[] T, double[] Losses, double Barrier, double BarrierT, double Height)
{
    /// <summary>The barrier and height of losses sampled at the given t (both ends must be among them).</summary>
    public static LossPath FromSamples(double[] t, double[] losses)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(losses);
        if (t.Length != losses.Length) throw new ArgumentException($"LossPath: {t.Length} points but {losses.Length} losses");
        int i0 = Array.IndexOf(t, 0.0), i1 = Array.IndexOf(t, 1.0);
        if (i0 < 0 || i1 < 0) throw new ArgumentException("LossPath: the samples must include both ends, t = 0 and t = 1", nameof(t));
        double l0 = losses[i0], l1 = losses[i1];
        double barrier = double.NegativeInfinity, at = 0, top = double.NegativeInfinity;
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] < 0 || t[i] > 1) continue;
            double rise = losses[i] - ((1 - t[i]) * l0 + t[i] * l1);
            if (rise > barrier) { barrier = rise; at = t[i]; }
            top = Math.Max(top, losses[i]);
        }
        return new LossPath(t, losses, barrier, at, top - Math.Max(l0, l1));
    }
}

/// <summary>The loss on a 2-D plane θ + α·d₁ + β·d₂.</summary>
/// <param name="Alphas">The α grid (along d₁).</param>
/// <param name="Betas">The β grid (along d₂).</param>
/// <param name="Losses">Row-major [Betas.Length, Alphas.Length]: Losses[j·Alphas.Length + i] = L(θ + Alphas[i]·d₁ + Betas[j]·d₂).</param>
public sealed record LossPlane(double[] Alphas, double[] Betas, double[] Losses)
{
    /// <summary>The loss at grid point (i, j).</summary>
    public double this[int i, int j] => Losses[j * Alphas.Length + i];
}

/// <summary>A quadratic Bézier curve φ(t) = (1 − t)²·θ₀ + 2t(1 − t)·c + t²·θ₁ trained to connect two solutions, and the loss along it.</summary>
/// <param name="Control">The trained control point c (flat, in the parameters' order).</param>
/// <param name="Path">The loss along the curve.</param>
/// <param name="TrainingLosses">The loss at each training step's sampled point of the curve.</param>
/// <param name="Seed">The seed of the sampled t.</param>
public sealed record BezierPath(double[] Control, LossPath Path, double[] TrainingLosses, ulong Seed);

/// <summary>
/// Loss landscapes around and between solutions, on an <see cref="EmpiricalLoss"/> (its batch norm mode applies):
/// the loss along the segment between two parameter vectors, on a 2-D plane with filter-normalized random directions
/// (Li, Xu, Taylor, Studer and Goldstein, "Visualizing the loss landscape of neural nets", NeurIPS 2018,
/// arXiv 1712.09913), and along a trained quadratic Bézier curve (Garipov, Izmailov, Podoprikhin, Vetrov and Wilson,
/// "Loss surfaces, mode connectivity, and fast ensembling of DNNs", NeurIPS 2018, arXiv 1802.10026). Parameter vectors
/// are flat float64 over all trainable parameters in registration order (<see cref="EmpiricalLoss.Flatten"/>). Every
/// function restores the model's parameters afterwards, even on failure.
/// </summary>
public static class Landscape
{
    /// <summary>
    /// The loss at <paramref name="points"/> evenly spaced t from <paramref name="lo"/> to <paramref name="hi"/> along
    /// θ(t) = (1 − t)·<paramref name="from"/> + t·<paramref name="to"/> (t = 0 and t = 1 are always included, so the
    /// barrier is defined; t outside [0, 1] extrapolates beyond the ends). Cost: one loss evaluation per point.
    /// </summary>
    public static LossPath Segment(EmpiricalLoss loss, double[] from, double[] to, int points = 25, double lo = 0, double hi = 1)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var ps = loss.Select(null);
        CheckVector(loss, from, nameof(from));
        CheckVector(loss, to, nameof(to));
        var t = Grid(points, lo, hi);
        var p = new double[from.Length];
        return WithRestore(ps, () =>
        {
            var losses = new double[t.Length];
            for (int k = 0; k < t.Length; k++)
            {
                for (int i = 0; i < p.Length; i++) p[i] = (1 - t[k]) * from[i] + t[k] * to[i];
                EmpiricalLoss.Load(ps, p);
                losses[k] = loss.Value();
            }
            return LossPath.FromSamples(t, losses);
        });
    }

    /// <summary>
    /// A random direction with Li et al.'s filter normalization: Gaussian entries (from <paramref name="generator"/>,
    /// in parameter order), then each filter — a slice along the first axis of a weight of rank ≥ 2: a Linear layer's
    /// output row, a convolution's output channel — rescaled to the norm of the same filter of the model's current
    /// weights, so a step along it moves each filter in proportion to its own scale (which removes the scale invariance
    /// that makes raw directions incomparable across networks). Biases, other rank-1 parameters and the parameters of
    /// normalization layers get 0 by default (Li et al.'s "biasbn" setting); with <paramref name="includeBiasAndNorm"/>
    /// they get their own current values, as in Li et al.'s code.
    /// </summary>
    public static double[] FilterNormalizedDirection(EmpiricalLoss loss, Generator generator, bool includeBiasAndNorm = false)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(generator);
        var normalizationParameters = new HashSet<string>();
        foreach (var (name, m) in loss.Model.NamedModules())
            if (m is BatchNorm or LayerNorm)
                foreach (var (pname, _) in m.NamedParameters(name.Length == 0 ? "" : name + ".", recurse: false)) normalizationParameters.Add(pname);
        var d = new double[loss.ParameterCount];
        int offset = 0;
        foreach (var (name, p) in loss.Parameters)
        {
            var w = p.ToDoubleArray();
            int n = w.Length;
            // Draw for every parameter, so a parameter's direction does not depend on which others are zeroed.
            for (int i = 0; i < n; i++) d[offset + i] = generator.NextNormal();
            if (p.Rank <= 1 || normalizationParameters.Contains(name))
            {
                for (int i = 0; i < n; i++) d[offset + i] = includeBiasAndNorm ? w[i] : 0;
            }
            else
            {
                int filters = p.Shape[0], size = n / filters;
                for (int f = 0; f < filters; f++)
                {
                    double dn = 0, wn = 0;
                    for (int i = f * size; i < (f + 1) * size; i++) { dn += d[offset + i] * d[offset + i]; wn += w[i] * w[i]; }
                    // Li et al. add 1e-10 to the direction's norm: a zero filter stays zero.
                    double s = Math.Sqrt(wn) / (Math.Sqrt(dn) + 1e-10);
                    for (int i = f * size; i < (f + 1) * size; i++) d[offset + i] *= s;
                }
            }
            offset += n;
        }
        return d;
    }

    /// <summary>
    /// The loss on the grid θ + α·d₁ + β·d₂ for α in <paramref name="alphas"/> and β in <paramref name="betas"/>, with
    /// θ = <paramref name="center"/> (typically a trained solution and two <see cref="FilterNormalizedDirection"/>s).
    /// Cost: one loss evaluation per grid point.
    /// </summary>
    public static LossPlane Plane(EmpiricalLoss loss, double[] center, double[] d1, double[] d2, double[] alphas, double[] betas)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(alphas);
        ArgumentNullException.ThrowIfNull(betas);
        CheckVector(loss, center, nameof(center));
        CheckVector(loss, d1, nameof(d1));
        CheckVector(loss, d2, nameof(d2));
        if (alphas.Length == 0 || betas.Length == 0) throw new ArgumentException("Landscape.Plane: the grid is empty");
        if (alphas.Concat(betas).Any(v => !double.IsFinite(v))) throw new ArgumentException("Landscape.Plane: the grid holds a non-finite coordinate");
        var ps = loss.Select(null);
        var p = new double[center.Length];
        return WithRestore(ps, () =>
        {
            var losses = new double[alphas.Length * betas.Length];
            for (int j = 0; j < betas.Length; j++)
                for (int i = 0; i < alphas.Length; i++)
                {
                    for (int k = 0; k < p.Length; k++) p[k] = center[k] + alphas[i] * d1[k] + betas[j] * d2[k];
                    EmpiricalLoss.Load(ps, p);
                    losses[j * alphas.Length + i] = loss.Value();
                }
            return new LossPlane((double[])alphas.Clone(), (double[])betas.Clone(), losses);
        });
    }

    /// <summary>
    /// Trains the control point c of the quadratic Bézier curve φ(t) = (1 − t)²·θ₀ + 2t(1 − t)·c + t²·θ₁ between two
    /// solutions by minimizing E_{t∼U(0,1)} L(φ(t)) as Garipov et al. do: each step draws t (seeded), computes the
    /// gradient g of the loss at φ(t), and moves c by SGD with momentum along ∂L(φ(t))/∂c = 2t(1 − t)·g; c starts at the
    /// midpoint (θ₀ + θ₁)/2, where the curve is the straight segment. Each step uses the whole <see cref="EmpiricalLoss"/>
    /// (pass one over a subset for cheaper steps). Then the loss along the curve at <paramref name="points"/> evenly
    /// spaced t in [0, 1]. Cost: <paramref name="steps"/> gradients and <paramref name="points"/> losses.
    /// </summary>
    public static BezierPath TrainBezier(EmpiricalLoss loss, double[] from, double[] to, int steps, double learningRate, ulong seed = 0,
        double momentum = 0.9, int points = 25)
    {
        ArgumentNullException.ThrowIfNull(loss);
        CheckVector(loss, from, nameof(from));
        CheckVector(loss, to, nameof(to));
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        if (!(learningRate > 0) || !double.IsFinite(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "Landscape.TrainBezier: the learning rate must be positive");
        if (!(momentum is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Landscape.TrainBezier: the momentum must be in [0, 1)");
        var ps = loss.Select(null);
        int n = from.Length;
        var c = new double[n];
        for (int i = 0; i < n; i++) c[i] = 0.5 * (from[i] + to[i]);
        var velocity = new double[n];
        var g = new Generator(seed, 6);
        var training = new double[steps];
        var p = new double[n];
        return WithRestore(ps, () =>
        {
            for (int s = 0; s < steps; s++)
            {
                double t = g.NextDouble();
                Bezier(from, c, to, t, p);
                EmpiricalLoss.Load(ps, p);
                var (value, grad) = loss.ValueAndGradient(ps);
                if (!double.IsFinite(value)) throw new ArithmeticException($"Landscape.TrainBezier: the loss became non-finite at step {s} (t = {t:G4}); lower the learning rate ({learningRate})");
                training[s] = value;
                double w = 2 * t * (1 - t);
                for (int i = 0; i < n; i++)
                {
                    velocity[i] = momentum * velocity[i] + w * grad[i];
                    c[i] -= learningRate * velocity[i];
                }
            }
            var ts = Grid(points, 0, 1);
            var losses = new double[ts.Length];
            for (int k = 0; k < ts.Length; k++)
            {
                Bezier(from, c, to, ts[k], p);
                EmpiricalLoss.Load(ps, p);
                losses[k] = loss.Value();
            }
            return new BezierPath(c, LossPath.FromSamples(ts, losses), training, seed);
        });
    }

    /// <summary>The point φ(t) of the quadratic Bézier curve with ends <paramref name="from"/>, <paramref name="to"/> and control <paramref name="control"/>.</summary>
    public static void Bezier(ReadOnlySpan<double> from, ReadOnlySpan<double> control, ReadOnlySpan<double> to, double t, Span<double> result)
    {
        double a = (1 - t) * (1 - t), b = 2 * t * (1 - t), c = t * t;
        for (int i = 0; i < result.Length; i++) result[i] = a * from[i] + b * control[i] + c * to[i];
    }

    /// <summary>Evenly spaced points from lo to hi, with 0 and 1 added (sorted) when they fall outside the grid.</summary>
    private static double[] Grid(int points, double lo, double hi)
    {
        if (points < 2) throw new ArgumentOutOfRangeException(nameof(points), points, "Landscape: at least 2 points");
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || !(lo <= 0) || !(hi >= 1))
            throw new ArgumentOutOfRangeException(nameof(lo), $"Landscape: the range [{lo}, {hi}] must be finite and contain [0, 1]");
        var t = new SortedSet<double> { 0, 1 };
        for (int i = 0; i < points; i++) t.Add(i == points - 1 ? hi : lo + (hi - lo) * i / (points - 1));
        return [.. t];
    }

    private static void CheckVector(EmpiricalLoss loss, double[] v, string name)
    {
        ArgumentNullException.ThrowIfNull(v, name);
        if (v.Length != loss.ParameterCount)
            throw new ArgumentException($"Landscape: {name} has {v.Length} values but the model has {loss.ParameterCount} trainable parameters", name);
        foreach (double x in v) if (!double.IsFinite(x)) throw new ArgumentException($"Landscape: {name} holds a non-finite value", name);
    }

    private static T WithRestore<T>(IReadOnlyList<Tensor> ps, Func<T> body)
    {
        var saved = EmpiricalLoss.Flatten(ps);
        try
        {
            return body();
        }
        finally
        {
            EmpiricalLoss.Load(ps, saved);
        }
    }
}
