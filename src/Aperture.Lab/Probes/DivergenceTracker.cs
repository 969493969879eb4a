namespace Aperture.Lab.Probes;

/// <summary>
/// Follows two runs that start from the same place (or one ulp apart) step by step: whether their weights are still
/// bitwise identical, the first step at which they differed, and the largest distance between them; logs the
/// distance under <c>weight_distance</c> when asked to and only when positive (so a report can draw it on a log axis).
/// </summary>
/// <param name="run">Where the distance is logged (null: not logged).</param>
public sealed class DivergenceTracker(RunContext? run = null)
{
    /// <summary>Whether every comparison so far found the same bits.</summary>
    public bool Identical { get; private set; } = true;

    /// <summary>The step of the first comparison that found different bits (−1 while identical).</summary>
    public long FirstDifference { get; private set; } = -1;

    /// <summary>The largest ‖a − b‖₂ seen.</summary>
    public double MaxDistance { get; private set; }

    /// <summary>Compares the weights <paramref name="a"/> and <paramref name="b"/> at <paramref name="step"/>; returns their distance.</summary>
    public double Compare(long step, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool log = true)
    {
        if (Identical && !RunComparison.BitwiseEqual(a, b)) (Identical, FirstDifference) = (false, step);
        double d = RunComparison.Distance(a, b);
        MaxDistance = Math.Max(MaxDistance, d);
        if (log && d > 0) run?.Log("weight_distance", step, d);
        return d;
    }
}
