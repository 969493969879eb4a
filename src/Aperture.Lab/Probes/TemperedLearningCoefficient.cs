namespace Aperture.Lab.Probes;

/// <summary>
/// The value the LLC estimator converges to at a finite nβ = t, computed by quadrature rather than sampled:
/// <code>
/// λ(t) = t·E[K(w)],   E over ∝ exp(−t·K(w) − γ/2·‖w‖²)
/// </code>
/// with K the population loss above its minimum. As t → ∞, λ(t) → λ; at the t an estimate uses, the next pole of the
/// zeta function still contributes (a term of relative size t^−(λ₂ − λ)), which for some models is far from small:
/// the normal crossing x·w₁·w₂² has λ = 1/4 but λ(200) = 0.206 at γ = 1, its second pole (−1/2, from w₁) giving a
/// t^−¼ correction. An SGLD estimate is judged against λ(t) for the tempered posterior it actually samples, and λ(t)
/// against λ for how far the chosen nβ is from the limit. The training set's own fluctuation (Watanabe's WBIC term,
/// zero-mean, of size √(λβ/2) per seed with β = t/n) is not included.
/// </summary>
public static class TemperedLearningCoefficient
{
    /// <summary>
    /// λ(t) for the normal-crossing model f(x) = x·Π_i w_i^{k_i} with E[x²] = 1, so K(w) = ½·Π_i w_i^{2k_i}, localized by
    /// γ > 0 at w = 0. Coordinates with k_i = 0 do not enter K and drop out. A coordinate with k_i = 1 is integrated in
    /// closed form (given the others, it is Gaussian with precision t·c + γ, c = Π_{j≠i} w_j^{2k_j}); at most two other
    /// coordinates remain, integrated by the trapezoid rule on [−9/√γ, 9/√γ] (the Gaussian factor beyond is below
    /// e^−40), which converges fast for these smooth, rapidly decaying integrands.
    /// </summary>
    /// <param name="powers">The powers k_i ≥ 0, at least one positive.</param>
    /// <param name="nBeta">t = nβ &gt; 0.</param>
    /// <param name="localization">γ &gt; 0 (without it the integral over the flat directions diverges).</param>
    public static double NormalCrossing(IReadOnlyList<int> powers, double nBeta, double localization)
    {
        ExactLearningCoefficients.NormalCrossing(powers);                 // validates the powers
        if (!(nBeta > 0 && double.IsFinite(nBeta))) throw new ArgumentOutOfRangeException(nameof(nBeta), nBeta, "nβ must be a finite number > 0");
        if (!(localization > 0 && double.IsFinite(localization)))
            throw new ArgumentOutOfRangeException(nameof(localization), localization, "γ must be a finite number > 0: without localization the tempered posterior of a singular model is not normalizable");
        var active = powers.Where(k => k > 0).ToList();
        bool reduced = active.Remove(1);                                  // one k = 1 coordinate in closed form
        if (active.Count > 2)
            throw new ArgumentException($"normal crossing ({string.Join(",", powers)}): λ(t) is computed for at most two coordinates besides one with power 1", nameof(powers));
        double t = nBeta, gamma = localization, limit = 9 / Math.Sqrt(gamma);

        // The integrand over the remaining coordinates, as (weight, value): E[t·K] = ∫ weight·value / ∫ weight.
        (double Weight, double Value) At(double c, double squares)
        {
            double gauss = Math.Exp(-gamma * squares / 2);
            if (reduced) return (gauss / Math.Sqrt(t * c + gamma), t * c / (2 * (t * c + gamma)));
            return (gauss * Math.Exp(-t * c / 2), t * c / 2);
        }

        double num = 0, den = 0;
        if (active.Count == 0)
        {
            var (w, v) = At(1, 0);
            return v * w / w;
        }
        if (active.Count == 1)
        {
            const int n = 200_001;
            double h = 2 * limit / (n - 1);
            for (int i = 0; i < n; i++)
            {
                double x = -limit + i * h, edge = i == 0 || i == n - 1 ? 0.5 : 1;
                var (w, v) = At(Math.Pow(x, 2 * active[0]), x * x);
                num += edge * w * v;
                den += edge * w;
            }
            return num / den;
        }
        const int m = 2001;
        double step = 2 * limit / (m - 1);
        for (int i = 0; i < m; i++)
        {
            double x = -limit + i * step, ex = i == 0 || i == m - 1 ? 0.5 : 1, cx = Math.Pow(x, 2 * active[0]);
            for (int j = 0; j < m; j++)
            {
                double y = -limit + j * step, edge = ex * (j == 0 || j == m - 1 ? 0.5 : 1);
                var (w, v) = At(cx * Math.Pow(y, 2 * active[1]), x * x + y * y);
                num += edge * w * v;
                den += edge * w;
            }
        }
        return num / den;
    }
}
