namespace Aperture.Lab.Statistics;

/// <summary>Corrections for testing several hypotheses at once, controlling the family-wise error rate.</summary>
public static class Multiplicity
{
    /// <summary>
    /// Holm's step-down procedure (Holm, "A simple sequentially rejective multiple test procedure", Scandinavian
    /// Journal of Statistics 6, 1979): sort the m p-values ascending, reject p₍₁₎, p₍₂₎, … while p₍ₖ₎ ≤ α/(m − k + 1),
    /// and stop at the first that fails. Returns, in the input order, whether each hypothesis is rejected. It controls
    /// the family-wise error rate at <paramref name="alpha"/> under any dependence.
    /// </summary>
    public static bool[] Holm(IReadOnlyList<double> pValues, double alpha = 0.05)
    {
        var order = Order(pValues);
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must lie strictly between 0 and 1");
        int m = order.Length;
        var rejected = new bool[m];
        for (int k = 0; k < m; k++)
        {
            if (pValues[order[k]] > alpha / (m - k)) break;
            rejected[order[k]] = true;
        }
        return rejected;
    }

    /// <summary>
    /// Holm-adjusted p-values, in the input order: for the k-th smallest, max over j ≤ k of min(1, (m − j + 1)·p₍ⱼ₎)
    /// (Wright, "Adjusted p-values for simultaneous inference", Biometrics 48, 1992). They are monotone in the raw
    /// p-values and capped at 1, and a hypothesis is rejected by <see cref="Holm"/> at α exactly when its adjusted
    /// p-value is ≤ α.
    /// </summary>
    public static double[] HolmAdjusted(IReadOnlyList<double> pValues)
    {
        var order = Order(pValues);
        int m = order.Length;
        var adjusted = new double[m];
        double running = 0;
        for (int k = 0; k < m; k++)
        {
            running = Math.Max(running, Math.Min(1, (m - k) * pValues[order[k]]));
            adjusted[order[k]] = running;
        }
        return adjusted;
    }

    // Indices of the p-values in ascending order (stable, so ties keep their input order).
    private static int[] Order(IReadOnlyList<double> pValues)
    {
        Checks.AtLeast(pValues, 1, "a multiplicity correction", nameof(pValues));
        for (int i = 0; i < pValues.Count; i++)
            if (!(pValues[i] >= 0 && pValues[i] <= 1))
                throw new ArgumentException($"p-values must lie in [0, 1]; pValues[{i}] = {pValues[i]}", nameof(pValues));
        var order = new int[pValues.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        return [.. order.OrderBy(i => pValues[i])];
    }
}
