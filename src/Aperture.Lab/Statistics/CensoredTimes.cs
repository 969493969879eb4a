namespace Aperture.Lab.Statistics;

/// <summary>A time to an event (steps to a target accuracy) that may be censored: the run stopped before the event.</summary>
/// <param name="Time">The time of the event, or when observation stopped (the budget) if it never happened.</param>
/// <param name="Reached">Whether the event happened at <paramref name="Time"/>; false means it would have happened later, if ever.</param>
public readonly record struct CensoredTime(double Time, bool Reached)
{
    /// <summary>
    /// Whether this time is at most 1/<paramref name="factor"/> of <paramref name="other"/>'s, as far as the censoring
    /// tells: this one must have reached the event, and a censored <paramref name="other"/> counts as later than its
    /// censoring time (so the comparison is decided only when this time × factor ≤ that censoring time).
    /// </summary>
    public bool FasterBy(double factor, CensoredTime other) => Reached && Time * factor <= other.Time;

    /// <summary>The Kaplan–Meier median of <paramref name="times"/> (+∞ when fewer than half reached the event).</summary>
    public static double Median(IReadOnlyList<CensoredTime> times) =>
        times.Count == 0 ? double.PositiveInfinity : new KaplanMeier([.. times.Select(t => (t.Time, t.Reached))]).Median().Value;

    /// <summary>
    /// The setting (a learning rate, say) chosen for seed <paramref name="held"/> on the other seeds only
    /// (leave-one-seed-out, so no seed picks its own setting): the least Kaplan–Meier median time over the other seeds,
    /// then the most of them reaching the event, then the smallest setting.
    /// </summary>
    /// <param name="settings">The candidates.</param>
    /// <param name="seeds">Every seed.</param>
    /// <param name="held">The seed the choice is for (left out).</param>
    /// <param name="time">A run's time at (setting, seed).</param>
    public static double ChooseLeavingOut(IEnumerable<double> settings, IEnumerable<int> seeds, int held, Func<double, int, CensoredTime> time)
    {
        var others = seeds.Where(s => s != held).ToList();
        return settings.Order().Select(v =>
        {
            var times = others.Select(s => time(v, s)).ToList();
            return (Setting: v, Median: Median(times), Reached: times.Count(t => t.Reached));
        }).OrderBy(c => c.Median).ThenByDescending(c => c.Reached).ThenBy(c => c.Setting).First().Setting;
    }

    /// <summary>
    /// The speed-up of one condition over another, paired by seed: the geometric mean of slower ÷ faster times with a
    /// t-interval on the log scale. A censored slower time counts at its censoring time, which makes that seed's ratio a
    /// lower bound (conservative for "faster"); a censored faster time would make it an upper bound, so then the estimate
    /// is undecidable (degenerate) rather than optimistic.
    /// </summary>
    /// <param name="name">The estimate's name.</param>
    /// <param name="pairs">Per seed, the time of the condition claimed faster and of the other.</param>
    public static Estimate Speedup(string name, IReadOnlyList<(CensoredTime Faster, CensoredTime Slower)> pairs)
    {
        int censored = pairs.Count(q => !q.Faster.Reached);
        return censored > 0
            ? new Estimate(name, double.NaN, double.NaN, double.NaN, pairs.Count, $"undecidable: the faster condition never reached the event on {censored} seeds") { Unit = Unit.Ratio }
            : Estimate.Ratio(name, [.. pairs.Select(q => q.Slower.Time / q.Faster.Time)]);
    }
}
