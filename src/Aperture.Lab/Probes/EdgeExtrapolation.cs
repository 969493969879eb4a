namespace Aperture.Lab.Probes;

/// <summary>
/// How far a function of one variable strays, beyond the edges of its data [lo, hi], from the straight lines that
/// continue it at those edges: the largest |f(x) − f(e) − s_e·(x − e)| within <c>reach</c> beyond each edge e (s_e the
/// slope with which f leaves the data there), and f's own range over the whole window [lo − reach, hi + reach].
/// </summary>
/// <param name="Left">Largest deviation from the left edge's line over [lo − reach, lo].</param>
/// <param name="Right">Largest deviation from the right edge's line over [hi, hi + reach].</param>
/// <param name="Range">max f − min f over [lo − reach, hi + reach].</param>
public readonly record struct EdgeExtrapolation(double Left, double Right, double Range)
{
    /// <summary>
    /// The larger deviation as a share of the function's own range over the window: scale-free, so a net with tiny
    /// outputs (an untrained one) is not called straight merely because everything it does is small. 0 when f is
    /// constant on the window (then it is exactly straight).
    /// </summary>
    public double Relative => Range > 0 ? Math.Max(Left, Right) / Range : 0;

    /// <summary>
    /// Exact for a piecewise-linear <paramref name="f"/>: the deviation and the range are piecewise linear in x, so
    /// their extremes lie at the window's ends or at hinges, and the edge slopes are those of the pieces just outside
    /// the data (a hinge exactly at an edge counts as inside the data).
    /// </summary>
    public static EdgeExtrapolation Of(PiecewiseLinear f, double lo, double hi, double reach)
    {
        ArgumentNullException.ThrowIfNull(f);
        Check(lo, hi, reach);
        double slopeLeft = f.Pieces.First(p => p.To >= lo).Slope;   // the piece holding lo − 0
        double slopeRight = f.Pieces.Last(p => p.From <= hi).Slope;  // the piece holding hi + 0
        double[] x = [lo, hi, lo - reach, hi + reach, .. f.Hinges.Where(h => h > lo - reach && h < hi + reach)];
        return Measure(x, [.. x.Select(f.Evaluate)], lo, hi, slopeLeft, slopeRight);
    }

    /// <summary>
    /// For a smooth function (a tanh net), evaluated in one batch by <paramref name="f"/> (inputs → outputs): the edge
    /// slopes by one-sided differences of 10⁻⁶ data spans outward, and the extremes over <paramref name="samples"/> + 1
    /// evenly spaced points of each reach and of the data.
    /// </summary>
    public static EdgeExtrapolation Sampled(Func<double[], double[]> f, double lo, double hi, double reach, int samples = 4000)
    {
        ArgumentNullException.ThrowIfNull(f);
        Check(lo, hi, reach);
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), $"samples must be at least 2, found {samples}");
        double h = 1e-6 * (hi - lo);
        var xs = new List<double> { lo - h, hi + h };
        for (int i = 0; i <= samples; i++)
        {
            double t = i / (double)samples;
            xs.AddRange([lo - reach * t, lo + (hi - lo) * t, hi + reach * t]);
        }
        var x = xs.ToArray();
        var y = f(x);
        if (y.Length != x.Length) throw new ArgumentException($"f returned {y.Length} values for {x.Length} inputs");
        // x[2] = lo and x[4] = hi (t = 0); the edge slopes point outward.
        double slopeLeft = (y[2] - y[0]) / h, slopeRight = (y[1] - y[4]) / h;
        return Measure(x.AsSpan(2), y.AsSpan(2), lo, hi, slopeLeft, slopeRight);
    }

    private static EdgeExtrapolation Measure(ReadOnlySpan<double> x, ReadOnlySpan<double> y, double lo, double hi, double slopeLeft, double slopeRight)
    {
        double fl = double.NaN, fh = double.NaN;
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] == lo) fl = y[i];
            if (x[i] == hi) fh = y[i];
        }
        double left = 0, right = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            min = Math.Min(min, y[i]);
            max = Math.Max(max, y[i]);
            if (x[i] <= lo) left = Math.Max(left, Math.Abs(y[i] - fl - slopeLeft * (x[i] - lo)));
            if (x[i] >= hi) right = Math.Max(right, Math.Abs(y[i] - fh - slopeRight * (x[i] - hi)));
        }
        return new EdgeExtrapolation(left, right, max - min);
    }

    private static void Check(double lo, double hi, double reach)
    {
        if (!(hi > lo)) throw new ArgumentException($"the data's edges must satisfy lo < hi, found [{lo}, {hi}]");
        if (!(reach > 0) || double.IsInfinity(reach)) throw new ArgumentException($"reach must be positive and finite, found {reach}");
    }
}
