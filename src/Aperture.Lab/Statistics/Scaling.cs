namespace Aperture.Lab.Statistics;

/// <summary>Estimates for scaling laws and speed-ups measured as counts that may be missing (a run that never got there).</summary>
public static class Scaling
{
    /// <summary>
    /// The least-squares slope of log(y) on log(x): the exponent of y ∝ x^slope. NaN when some y is not positive (a
    /// count that was never reached), so that the estimate built on it is undefined rather than wrong.
    /// </summary>
    public static double LogLogSlope(IReadOnlyList<double> x, IReadOnlyList<double> y) =>
        Stats.LinearFit([.. x.Select(v => Math.Log(v))], [.. y.Select(v => v > 0 ? Math.Log(v) : double.NaN)]).Slope;

    /// <summary>
    /// <see cref="Estimate.Ratio"/> of positive per-seed ratios, or, when some seed has none (NaN, 0 or negative: a
    /// censored count), an undefined (degenerate) estimate that says how many seeds lacked one: its check cannot decide.
    /// </summary>
    public static Estimate RatioOrUndefined(string name, IReadOnlyList<double> ratios)
    {
        int missing = ratios.Count(r => !(r > 0 && double.IsFinite(r)));
        return missing == 0 ? Estimate.Ratio(name, ratios)
            : new Estimate(name, double.NaN, double.NaN, double.NaN, ratios.Count, $"undefined: {missing} of {ratios.Count} seeds have no value") { Unit = Unit.Ratio };
    }
}
