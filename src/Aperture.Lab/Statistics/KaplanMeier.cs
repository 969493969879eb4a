namespace Aperture.Lab.Statistics;

/// <summary>One step of a Kaplan–Meier curve: what happened at one distinct time, and the curve just after it.</summary>
/// <param name="Time">The time (an event time or a censoring time).</param>
/// <param name="AtRisk">How many were still at risk just before <paramref name="Time"/> (their time is ≥ it).</param>
/// <param name="Events">How many had the event (reached the target) at this time.</param>
/// <param name="Censored">How many were censored at this time (counted at risk for this time's events).</param>
/// <param name="Survival">The product-limit estimate S(t) for t from this time until the next step.</param>
/// <param name="GreenwoodSum">Σ d/(n(n − d)) over the event times up to this one: Greenwood's estimate of Var[ln S(t)]
/// (+∞ once everyone left at risk has had the event).</param>
public readonly record struct KaplanMeierStep(double Time, int AtRisk, int Events, int Censored, double Survival, double GreenwoodSum)
{
    /// <summary>Greenwood's variance of S(t): S(t)²·Σ d/(n(n − d)) (0 once S(t) = 0).</summary>
    public double Variance => Survival == 0 ? 0 : Survival * Survival * GreenwoodSum;
}

/// <summary>
/// The Kaplan–Meier product-limit estimate of a survival curve (Kaplan &amp; Meier, JASA 53, 1958) from right-censored
/// times: for example the step at which each seed's run first reached a target, where a run that never reached it
/// within its budget is censored at the budget. S(t) = Π over event times tᵢ ≤ t of (1 − dᵢ/nᵢ). At a time with both
/// events and censorings the events come first (the censored are still at risk for them), the usual convention.
/// </summary>
public sealed class KaplanMeier
{
    /// <summary>How close S(t) must come to ½ to count as exactly ½ (products of fractions round).</summary>
    private const double Tolerance = 1e-12;

    /// <summary>Fits the curve to (time, observed) pairs; observed = false means right-censored at that time.</summary>
    /// <exception cref="ArgumentException">There are no observations, or a time is NaN or infinite.</exception>
    public KaplanMeier(IReadOnlyList<(double Time, bool Observed)> observations)
    {
        Checks.AtLeast(observations, 1, "a Kaplan–Meier curve", nameof(observations));
        for (int i = 0; i < observations.Count; i++)
            if (!double.IsFinite(observations[i].Time))
                throw new ArgumentException($"times must be finite; observations[{i}].Time = {observations[i].Time}", nameof(observations));
        Count = observations.Count;
        var sorted = observations.OrderBy(o => o.Time).ToArray();
        var steps = new List<KaplanMeierStep>();
        double s = 1, greenwood = 0;
        int atRisk = sorted.Length;
        for (int i = 0; i < sorted.Length;)
        {
            double t = sorted[i].Time;
            int events = 0, censored = 0;
            for (; i < sorted.Length && sorted[i].Time == t; i++)
                if (sorted[i].Observed) events++; else censored++;
            if (events > 0)
            {
                s *= 1 - (double)events / atRisk;
                greenwood = events == atRisk ? double.PositiveInfinity : greenwood + (double)events / ((double)atRisk * (atRisk - events));
            }
            steps.Add(new KaplanMeierStep(t, atRisk, events, censored, s, greenwood));
            atRisk -= events + censored;
        }
        Steps = steps;
    }

    /// <summary>How many observations the curve was fitted to.</summary>
    public int Count { get; }

    /// <summary>The curve's steps, one per distinct time (event or censoring), in increasing time.</summary>
    public IReadOnlyList<KaplanMeierStep> Steps { get; }

    /// <summary>S(t): the estimated probability of no event by time t (right-continuous; 1 before the first event).</summary>
    public double Survival(double t)
    {
        double s = 1;
        foreach (var step in Steps)
        {
            if (step.Time > t) break;
            s = step.Survival;
        }
        return s;
    }

    /// <summary>
    /// The median time to event with its Brookmeyer–Crowley confidence interval (Brookmeyer &amp; Crowley, "A confidence
    /// interval for the median survival time", Biometrics 38, 1982; Klein &amp; Moeschberger, Survival Analysis, 2nd ed.,
    /// 2003, §4.5). The median is the smallest t with S(t) ≤ ½, except that where S(t) equals ½ (within 10⁻¹²) over
    /// [tⱼ, tⱼ₊₁) it is the midpoint (tⱼ + tⱼ₊₁)/2 (R's survfit convention), so with no censoring it is the ordinary
    /// sample median (the middle value, or the mean of the two middle values). The interval is the set of t whose
    /// test of S(t) = ½ accepts, using the log-log transformation: with σ²(t) = Greenwood's Σ d/(n(n − d)), the
    /// pointwise limits are S(t)^exp(±z·σ(t)/ln S(t)), z = Φ⁻¹(½ + confidence/2); the lower end is the time at which
    /// the lower limit first drops to ½, and the upper end the time at which the upper limit does (the same median
    /// rule applied to each limit curve). When the curve never drops to ½ the median is not reached: Value = +∞;
    /// likewise the upper end is +∞ when the upper limit never drops to ½ (and the lower end +∞ if the lower limit
    /// never does).
    /// </summary>
    public Interval Median(double confidence = 0.95)
    {
        Checks.Confidence(confidence);
        double z = Normal.Quantile(0.5 + confidence / 2);
        var times = new double[Steps.Count];
        var s = new double[Steps.Count];
        var lower = new double[Steps.Count];
        var upper = new double[Steps.Count];
        for (int i = 0; i < Steps.Count; i++)
        {
            var step = Steps[i];
            times[i] = step.Time;
            s[i] = step.Survival;
            if (step.Survival == 1 || step.Survival == 0)
            {
                lower[i] = upper[i] = step.Survival;
                continue;
            }
            double log = Math.Log(step.Survival), w = z * Math.Sqrt(step.GreenwoodSum) / log;
            lower[i] = Math.Pow(step.Survival, Math.Exp(-w)); // log < 0, so exp(−w) > 1: the smaller limit
            upper[i] = Math.Pow(step.Survival, Math.Exp(w));
        }
        return new Interval(HalfTime(times, s), HalfTime(times, lower), HalfTime(times, upper));
    }

    // The first time a step curve reaches ½ (midpoint rule where it sits exactly at ½), +∞ if it never does.
    private static double HalfTime(double[] times, double[] curve)
    {
        for (int i = 0; i < curve.Length; i++)
        {
            if (Math.Abs(curve[i] - 0.5) <= Tolerance)
            {
                // Find where the curve next drops below ½; if it never does, the median is this time.
                for (int j = i + 1; j < curve.Length; j++)
                    if (curve[j] < 0.5 - Tolerance) return 0.5 * (times[i] + times[j]);
                return times[i];
            }
            if (curve[i] < 0.5) return times[i];
        }
        return double.PositiveInfinity;
    }
}
