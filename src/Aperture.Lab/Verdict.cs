using System.Globalization;
using System.Text.Json.Serialization;
using Aperture.Lab.Statistics;

namespace Aperture.Lab;

/// <summary>What a phenomenon's pre-stated rule says about its measured effect.</summary>
public enum Outcome
{
    /// <summary>Every check's interval lies inside the region that supports the claim.</summary>
    Held,
    /// <summary>Some check's interval (adjusted for the family of checks) lies wholly in the region that contradicts the claim.</summary>
    DidNotHold,
    /// <summary>Neither: an interval straddles a region's edge, lies between the regions, or is degenerate.</summary>
    Inconclusive,
}

/// <summary>Text forms of <see cref="Outcome"/>.</summary>
public static class Outcomes
{
    /// <summary>"held", "did not hold" or "inconclusive".</summary>
    public static string Text(this Outcome o) => o switch
    {
        Outcome.Held => "held",
        Outcome.DidNotHold => "did not hold",
        _ => "inconclusive",
    };

    /// <summary>Parses <see cref="Text"/>'s output.</summary>
    public static Outcome Parse(string text) => text switch
    {
        "held" => Outcome.Held,
        "did not hold" => Outcome.DidNotHold,
        "inconclusive" => Outcome.Inconclusive,
        _ => throw new FormatException($"unknown outcome '{text}': expected 'held', 'did not hold' or 'inconclusive'"),
    };
}

/// <summary>How an estimate's interval was computed: what a rule simulation redraws it with.</summary>
public enum EstimatorKind
{
    /// <summary>Built by hand (an interval the lab cannot redraw).</summary>
    Other,
    /// <summary>Student-t interval of a mean (or of paired differences).</summary>
    T,
    /// <summary>Percentile bootstrap of a mean.</summary>
    PercentileBootstrap,
    /// <summary>BCa bootstrap of a mean.</summary>
    Bca,
    /// <summary>Geometric mean with a t-interval on the log scale.</summary>
    LogT,
    /// <summary>A share with its exact Clopper–Pearson interval.</summary>
    Share,
    /// <summary>A Kaplan–Meier median time with censoring.</summary>
    MedianTime,
}

/// <summary>A measured quantity over seeds with its 95% confidence interval.</summary>
/// <param name="Name">What was measured, in words (the estimand).</param>
/// <param name="Value">The point estimate.</param>
/// <param name="Low">Lower end of the 95% interval.</param>
/// <param name="High">Upper end of the 95% interval.</param>
/// <param name="N">How many values (seeds, or seed pairs) it rests on.</param>
/// <param name="Method">How the interval was computed.</param>
public sealed record Estimate(string Name, double Value, double Low, double High, int N, string Method)
{
    /// <summary>The confidence of <see cref="Low"/> and <see cref="High"/>.</summary>
    public const double Confidence = 0.95;

    /// <summary>How the interval was computed (what a rule simulation redraws it with).</summary>
    public EstimatorKind Kind { get; init; }

    /// <summary>
    /// The unit of <see cref="Value"/>, <see cref="Low"/> and <see cref="High"/>. Required: every factory takes or fixes
    /// one, so no estimate is stated without it (one read back from a store written before units has none stated).
    /// </summary>
    public required Unit Unit { get; init; }

    /// <summary>For a <see cref="EstimatorKind.MedianTime"/>: the share of runs censored (never reached the target).</summary>
    public double CensoredShare { get; init; }

    /// <summary>
    /// The same estimator's interval at another confidence level, used to invert it into p-values when a verdict
    /// adjusts a family of checks. Not stored: a verdict read back from the store keeps its decisions, not this.
    /// </summary>
    [JsonIgnore]
    public Func<double, Interval>? IntervalAt { get; init; }

    /// <summary>
    /// The one-sided p-value of "the estimand lies above (true) or below (false) a bound", in closed form where the
    /// estimator has one (the t-test behind a t-interval, the binomial tail behind Clopper–Pearson); otherwise the
    /// verdict inverts <see cref="IntervalAt"/> by bisection.
    /// </summary>
    [JsonIgnore]
    public Func<double, bool, double>? OneSidedP { get; init; }

    /// <summary>
    /// A zero-width or undefined interval (every seed gave the same value, a censored or piled-up sample, a NaN). It
    /// says nothing about the spread, so it is never evidence: a check on it cannot decide a verdict.
    /// </summary>
    [JsonIgnore]
    public bool Degenerate => !(High > Low) || !double.IsFinite(Value) || double.IsNaN(Low) || double.IsNaN(High);

    /// <summary>The mean of <paramref name="values"/> (one per seed) with a Student-t 95% interval: for roughly normal per-seed values.</summary>
    public static Estimate Mean(string name, Unit unit, IReadOnlyList<double> values)
    {
        var copy = values.ToArray();
        var i = Stats.TInterval(copy);
        return new(name, i.Value, i.Low, i.High, copy.Length, "t-interval")
        {
            Unit = unit,
            IntervalAt = c => Stats.TInterval(copy, c),
            OneSidedP = TTest(copy, x => x),
            Kind = EstimatorKind.T,
        };
    }

    // The one-sided t-test of the mean of transform(values) against transform(bound).
    private static Func<double, bool, double> TTest(double[] values, Func<double, double> transform)
    {
        var t = values.Select(transform).ToArray();
        double m = Stats.Mean(t), se = Stats.StdDev(t) / Math.Sqrt(t.Length);
        return (bound, above) =>
        {
            double b = transform(bound);
            if (!double.IsFinite(b)) return 1;
            if (!(se > 0)) return above ? (m > b ? 0 : 1) : (m < b ? 0 : 1);
            double stat = (m - b) / se;
            return above ? 1 - StudentT.Cdf(stat, t.Length - 1) : StudentT.Cdf(stat, t.Length - 1);
        };
    }

    /// <summary>
    /// The mean with a percentile-bootstrap 95% interval (10,000 resamples). The generator is seeded from
    /// <paramref name="name"/>, so each estimate has its own stream and the same name gives the same interval.
    /// Prefer <see cref="Mean"/>, a ratio on the log scale or a share: at 4–8 seeds the percentile bootstrap covers well under 95%.
    /// </summary>
    public static Estimate MeanBootstrap(string name, Unit unit, IReadOnlyList<double> values)
    {
        var at = Intervals.PercentileByConfidence(values.ToArray(), new Generator(SeedOf(name)));
        var i = at(Confidence);
        return new(name, i.Value, i.Low, i.High, values.Count, "percentile bootstrap") { IntervalAt = at, Kind = EstimatorKind.PercentileBootstrap, Unit = unit };
    }

    /// <summary>
    /// The mean with a BCa bootstrap 95% interval (Efron 1987; 10,000 resamples, a generator seeded from
    /// <paramref name="name"/>): for skewed per-seed values where a t-interval's symmetry is wrong.
    /// </summary>
    public static Estimate MeanBca(string name, Unit unit, IReadOnlyList<double> values)
    {
        var at = Intervals.BcaByConfidence(values.ToArray(), new Generator(SeedOf(name)));
        var i = at(Confidence);
        return new(name, i.Value, i.Low, i.High, values.Count, "BCa bootstrap") { IntervalAt = at, Kind = EstimatorKind.Bca, Unit = unit };
    }

    /// <summary>
    /// The geometric mean of strictly positive per-seed ratios (a speed-up, a ratio of disagreements) with a Student-t
    /// interval on the log scale, back-transformed: ratios are skewed, their logarithms roughly symmetric.
    /// </summary>
    public static Estimate Ratio(string name, IReadOnlyList<double> ratios) => GeometricMean(name, Unit.Ratio, ratios);

    /// <summary>
    /// The geometric mean of strictly positive per-seed values that are not ratios (a learning rate chosen per seed),
    /// with <see cref="Ratio"/>'s interval, in <paramref name="unit"/>.
    /// </summary>
    public static Estimate GeometricMean(string name, Unit unit, IReadOnlyList<double> values)
    {
        var copy = values.ToArray();
        var i = Intervals.LogT(copy);
        return new(name, i.Value, i.Low, i.High, copy.Length, "geometric mean, t-interval on the log scale")
        {
            Unit = unit,
            IntervalAt = c => Intervals.LogT(copy, c),
            OneSidedP = TTest(copy, Math.Log),
            Kind = EstimatorKind.LogT,
        };
    }

    /// <summary>
    /// The share of seeds on which an event happened, with the exact Clopper–Pearson 95% interval (5 of 5 gives
    /// [0.478, 1], not the degenerate [1, 1] a t-interval would).
    /// </summary>
    public static Estimate Share(string name, IReadOnlyList<bool> events)
    {
        int k = events.Count(e => e), n = events.Count;
        var i = Binomial.ClopperPearson(k, n);
        return new(name, i.Value, i.Low, i.High, n, $"exact (Clopper–Pearson), {k} of {n}")
        {
            Unit = Unit.ShareOfSeeds,
            IntervalAt = c => Binomial.ClopperPearson(k, n, c),
            // The exact binomial tails Clopper–Pearson inverts: P(X ≥ k | θ = b) and P(X ≤ k | θ = b).
            OneSidedP = (b, above) => !(b > 0 && b < 1) ? (above ? (b <= 0 && k > 0 ? 0 : 1) : (b >= 1 && k < n ? 0 : 1))
                : above ? (k == 0 ? 1 : StudentT.RegularizedIncompleteBeta(b, k, n - k + 1))
                : (k == n ? 1 : 1 - StudentT.RegularizedIncompleteBeta(b, k + 1, n - k)),
            Kind = EstimatorKind.Share,
        };
    }

    /// <summary>
    /// The median time to an event (steps until a target) when some runs never reach it within their budget: the
    /// Kaplan–Meier median with its Brookmeyer–Crowley 95% interval, censored runs counted as "at least the budget",
    /// never as if they had reached it then. A median not reached is +∞.
    /// </summary>
    public static Estimate MedianTime(string name, Unit unit, IReadOnlyList<(double Time, bool Reached)> runs)
    {
        var km = new KaplanMeier([.. runs]);
        var i = km.Median();
        int reached = runs.Count(r => r.Reached);
        return new(name, i.Value, i.Low, i.High, runs.Count, $"Kaplan–Meier median ({reached} of {runs.Count} reached it)")
        {
            Unit = unit,
            IntervalAt = c => km.Median(c),
            Kind = EstimatorKind.MedianTime,
            CensoredShare = runs.Count == 0 ? 0 : 1 - reached / (double)runs.Count,
        };
    }

    /// <summary>The mean of the paired differences a − b (paired by seed) with a Student-t 95% interval.</summary>
    public static Estimate MeanDifference(string name, Unit unit, IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        Mean(name, unit, Stats.PairedDifferences(a, b)) with { Method = "paired t-interval" };

    /// <summary>A seed for an estimate's resampling generator, from its name (FNV-1a): one stream per check.</summary>
    public static ulong SeedOf(string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (char ch in name)
        {
            h ^= ch;
            h *= 1099511628211UL;
        }
        return h;
    }

    /// <summary>"0.512 [0.498, 0.526] accuracy (fraction)": the estimate, its interval and its unit.</summary>
    public string FormatWithUnit(string format = "G4") => Unit.IsStated ? $"{Format(format)} {Unit.Name}" : Format(format);

    /// <summary>"0.512 [0.498, 0.526]".</summary>
    public string Format(string format = "G4") => string.Create(CultureInfo.InvariantCulture,
        $"{Value.ToString(format, CultureInfo.InvariantCulture)} [{Low.ToString(format, CultureInfo.InvariantCulture)}, {High.ToString(format, CultureInfo.InvariantCulture)}]");
}

/// <summary>A closed range of values [Low, High]; an infinite end makes it one-sided, an empty range has Low &gt; High.</summary>
/// <param name="Low">Lower end (−∞ for "below High").</param>
/// <param name="High">Upper end (+∞ for "above Low").</param>
public readonly record struct Region(double Low, double High)
{
    /// <summary>Values above <paramref name="limit"/>.</summary>
    public static Region Above(double limit) => new(limit, double.PositiveInfinity);

    /// <summary>Values below <paramref name="limit"/>.</summary>
    public static Region Below(double limit) => new(double.NegativeInfinity, limit);

    /// <summary>Values in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static Region Between(double low, double high) => new(low, high);

    /// <summary>No value.</summary>
    public static Region None => new(double.PositiveInfinity, double.NegativeInfinity);

    /// <summary>Whether the range holds no value.</summary>
    public bool IsEmpty => !(Low <= High);

    /// <summary>Whether [<paramref name="low"/>, <paramref name="high"/>] lies inside.</summary>
    public bool Contains(double low, double high) => !IsEmpty && low >= Low && high <= High;

    /// <summary>Whether <paramref name="x"/> lies inside.</summary>
    public bool Contains(double x) => !IsEmpty && x >= Low && x <= High;

    /// <summary>The range in words: "above 2", "below 0.05", "within [0.4, 0.6]", "anywhere", "nowhere".</summary>
    public override string ToString() => IsEmpty ? "nowhere" : (double.IsNegativeInfinity(Low), double.IsPositiveInfinity(High)) switch
    {
        (true, true) => "anywhere",
        (true, false) => $"below {G(High)}",
        (false, true) => $"above {G(Low)}",
        _ => $"within [{G(Low)}, {G(High)}]",
    };

    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>
/// One pre-stated test of an estimate: the region of values that supports the claim and the region that contradicts
/// it, both stated before any run, disjoint, with any gap between them an indifference zone that no seed count
/// decides. Held when the 95% interval lies inside the supporting region; contradicted when the interval at the
/// confidence the verdict's family adjustment (Holm) allows lies wholly in the contradicting region.
/// </summary>
/// <param name="Estimate">The estimate being judged.</param>
/// <param name="Supports">The values that support the claim.</param>
/// <param name="Contradicts">The values that contradict it (the far side of the stated margin).</param>
/// <param name="Outcome">This check's outcome within its verdict's family (set by <see cref="Verdict.From"/>).</param>
public sealed record Check(Estimate Estimate, Region Supports, Region Contradicts, Outcome Outcome)
{
    /// <summary>
    /// The p-value of "the estimand lies in <see cref="Contradicts"/>" against "it does not", by inverting the
    /// estimate's interval (two-sided scale: below 0.05 means the 95% interval lies wholly in the region); 1 when it
    /// cannot be computed. Holm's step-down over a verdict's checks uses it.
    /// </summary>
    public double ContradictionP { get; init; } = 1;

    /// <summary>Whether the estimate's interval is degenerate (zero width or undefined), so this check cannot decide.</summary>
    public bool Degenerate { get; init; }

    /// <summary>
    /// When inconclusive with the estimate inside one region: about how many seeds the current spread would need
    /// for the interval to clear that region's edge (interval half-width scaling as 1/√n). Null otherwise.
    /// </summary>
    public int? SeedsToDecide { get; init; }

    /// <summary>Why this check came out as it did, in one clause ("interval inside the supporting region", …).</summary>
    public string Reason { get; init; } = "";

    /// <summary>
    /// A check with explicit regions. They must be disjoint; a gap between them is an indifference zone (an effect
    /// the rule calls neither large enough to support the claim nor small enough to contradict it).
    /// </summary>
    public static Check Of(Estimate e, Region supports, Region contradicts)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (supports.IsEmpty) throw new ArgumentException($"check '{e.Name}': the supporting region is empty ({supports.Low}, {supports.High})");
        if (!contradicts.IsEmpty && !Disjoint(supports, contradicts))
            throw new ArgumentException($"check '{e.Name}': the supporting region ({supports}) and the contradicting region ({contradicts}) overlap");
        return new Check(e, supports, contradicts, Outcome.Inconclusive)
        {
            Degenerate = e.Degenerate,
            ContradictionP = e.Degenerate ? 1 : PValueIn(e, contradicts, supports),
        };
    }

    /// <summary>Supported above <paramref name="limit"/>, contradicted below it: no indifference zone.</summary>
    public static Check Above(Estimate e, double limit) => Of(e, Region.Above(limit), Region.Below(limit));

    /// <summary>Supported above <paramref name="supportAbove"/>, contradicted below <paramref name="contradictBelow"/> (≤ it): the margin between is an indifference zone.</summary>
    public static Check Above(Estimate e, double supportAbove, double contradictBelow)
    {
        if (!(contradictBelow <= supportAbove))
            throw new ArgumentException($"check '{e.Name}': contradict_below ({contradictBelow}) must not exceed support_above ({supportAbove})");
        return Of(e, Region.Above(supportAbove), Region.Below(contradictBelow));
    }

    /// <summary>Supported below <paramref name="limit"/>, contradicted above it.</summary>
    public static Check Below(Estimate e, double limit) => Of(e, Region.Below(limit), Region.Above(limit));

    /// <summary>Supported below <paramref name="supportBelow"/>, contradicted above <paramref name="contradictAbove"/> (≥ it).</summary>
    public static Check Below(Estimate e, double supportBelow, double contradictAbove)
    {
        if (!(contradictAbove >= supportBelow))
            throw new ArgumentException($"check '{e.Name}': contradict_above ({contradictAbove}) must not be below support_below ({supportBelow})");
        return Of(e, Region.Below(supportBelow), Region.Above(contradictAbove));
    }

    /// <summary>
    /// Supported inside [<paramref name="low"/>, <paramref name="high"/>] (an equivalence band); contradicted
    /// wholly outside it, below <paramref name="low"/> or above <paramref name="high"/>.
    /// </summary>
    public static Check Within(Estimate e, double low, double high)
    {
        if (!(low <= high)) throw new ArgumentException($"check '{e.Name}': a band needs low ≤ high, found [{low}, {high}]");
        return new Check(e, Region.Between(low, high), Region.None, Outcome.Inconclusive)
        {
            Degenerate = e.Degenerate,
            ContradictionP = e.Degenerate ? 1 : Math.Min(1, 2 * Math.Min(OneSidedP(e, high, above: true), OneSidedP(e, low, above: false))),
        };
    }

    /// <summary>The supporting region in words ("above 0", "within [0.4, 0.6]").</summary>
    public string Band => Supports.ToString();

    /// <summary>The contradicting region in words ("below −0.01", "outside [0.4, 0.6]").</summary>
    public string ContradictingBand => Contradicts.IsEmpty && !double.IsInfinity(Supports.Low) && !double.IsInfinity(Supports.High)
        ? $"outside [{G(Supports.Low)}, {G(Supports.High)}]"
        : Contradicts.ToString();

    /// <summary>Whether the 95% interval lies inside the supporting region.</summary>
    internal bool InSupport => !Degenerate && Supports.Contains(Estimate.Low, Estimate.High);

    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static bool Disjoint(Region a, Region b) => a.High < b.Low || b.High < a.Low
        // Touching at one point is allowed when that point is an open end in practice (a single threshold).
        || a.High == b.Low || b.High == a.Low;

    // p-value, on the two-sided scale, that the estimand lies in a one-sided contradicting region.
    private static double PValueIn(Estimate e, Region contradicts, Region supports)
    {
        if (contradicts.IsEmpty) return 1;
        bool below = double.IsNegativeInfinity(contradicts.Low);
        bool above = double.IsPositiveInfinity(contradicts.High);
        if (below && !above) return Math.Min(1, 2 * OneSidedP(e, contradicts.High, above: false));
        if (above && !below) return Math.Min(1, 2 * OneSidedP(e, contradicts.Low, above: true));
        // A bounded contradicting region (an equivalence band around "no effect"): both one-sided tests must reject
        // (two one-sided tests), so the p-value is the larger of the two.
        return Math.Min(1, 2 * Math.Max(OneSidedP(e, contradicts.Low, above: true), OneSidedP(e, contradicts.High, above: false)));
    }

    /// <summary>
    /// The one-sided p-value of "θ &gt; bound" (or "θ &lt; bound"): the smallest α for which the (1 − 2α) two-sided
    /// interval's lower (upper) end clears the bound, found by bisection on the estimator's interval function. Without
    /// one, only the 95% decision is known: 0.025 when the 95% interval clears the bound, else 1.
    /// </summary>
    internal static double OneSidedP(Estimate e, double bound, bool above)
    {
        bool Clears(Interval i) => above ? i.Low > bound : i.High < bound;
        if (double.IsInfinity(bound)) return 1;
        if (e.OneSidedP is { } p) return p(bound, above);
        if (e.IntervalAt is not { } at) return Clears(new Interval(e.Value, e.Low, e.High)) ? 0.025 : 1;
        return Stats.OneSidedPValue(at, bound, above);
    }
}

/// <summary>A phenomenon's verdict: the outcome of its checks, the headline effect, and any further estimates.</summary>
/// <param name="Outcome">Held only if every check held; did not hold if Holm's procedure finds some check contradicted; inconclusive otherwise.</param>
/// <param name="Effect">The headline effect size with its interval.</param>
/// <param name="Checks">The pre-stated checks, in order, each with its outcome within the family.</param>
/// <param name="Extra">Estimates reported alongside, not judged.</param>
public sealed record Verdict(Outcome Outcome, Estimate Effect, IReadOnlyList<Check> Checks, IReadOnlyList<Estimate> Extra)
{
    /// <summary>The family-wise error rate the rule controls, for each kind of wrong verdict.</summary>
    public const double Alpha = 0.05;

    /// <summary>
    /// When inconclusive: about how many seeds per arm the current spread would need to decide (the largest over the
    /// undecided checks whose estimate lies inside a region); null when decided, or when no seed count would decide
    /// (an estimate between the regions, or a degenerate interval).
    /// </summary>
    public int? SeedsToDecide { get; init; }

    /// <summary>
    /// Combines checks by a rule that controls both wrong verdicts at <see cref="Alpha"/>:
    /// <list type="bullet">
    /// <item>held if every check's 95% interval lies inside its supporting region (an intersection–union test: each
    /// check at one-sided level 0.025, so no adjustment is needed for the family);</item>
    /// <item>did not hold if Holm's step-down procedure over the checks' contradiction p-values rejects at least one
    /// (a union of tests: without the adjustment, k checks would say "did not hold" up to k times too often);</item>
    /// <item>inconclusive otherwise. A degenerate check (zero-width interval) can neither support nor contradict.</item>
    /// </list>
    /// </summary>
    public static Verdict From(Estimate effect, params Check[] checks)
    {
        if (checks.Length == 0) throw new ArgumentException("a verdict needs at least one check");
        // Holm (1979) over the checks that can decide: degenerate ones are not part of the family.
        var live = checks.Select((c, i) => (c, i)).Where(x => !x.c.Degenerate).ToList();
        var rejected = new bool[checks.Length];
        if (live.Count > 0)
        {
            var holm = Multiplicity.Holm([.. live.Select(x => x.c.ContradictionP)], Alpha);
            for (int j = 0; j < live.Count; j++) rejected[live[j].i] = holm[j];
        }
        var judged = new Check[checks.Length];
        for (int i = 0; i < checks.Length; i++)
        {
            var c = checks[i];
            judged[i] = c.Degenerate
                ? c with { Outcome = Outcome.Inconclusive, Reason = "degenerate interval (zero width): cannot decide" }
                : c.InSupport ? c with { Outcome = Outcome.Held, Reason = "interval inside the supporting region" }
                : rejected[i] ? c with { Outcome = Outcome.DidNotHold, Reason = "interval (Holm-adjusted) in the contradicting region" }
                : Undecided(c);
        }
        var outcome = judged.Any(c => c.Outcome == Outcome.DidNotHold) ? Outcome.DidNotHold
            : judged.All(c => c.Outcome == Outcome.Held) ? Outcome.Held
            : Outcome.Inconclusive;
        int? seeds = outcome == Outcome.Inconclusive && judged.All(c => c.Outcome == Outcome.Held || c.SeedsToDecide is not null)
            ? judged.Max(c => c.SeedsToDecide ?? 0) : null;
        return new Verdict(outcome, effect, judged, []) { SeedsToDecide = seeds is > 0 ? seeds : null };
    }

    private static Check Undecided(Check c)
    {
        var e = c.Estimate;
        bool inSupport = c.Supports.Contains(e.Value);
        bool inContra = !c.Contradicts.IsEmpty ? c.Contradicts.Contains(e.Value)
            : !c.Supports.Contains(e.Value);  // an equivalence band's outside
        if (!inSupport && !inContra)
            return c with { Reason = "estimate between the supporting and contradicting regions: no seed count decides it" };
        // The edge the interval must clear, and the half-width on that side.
        double edge, half;
        if (inSupport)
        {
            bool lowSide = e.Low < c.Supports.Low;
            edge = lowSide ? c.Supports.Low : c.Supports.High;
            half = lowSide ? e.Value - e.Low : e.High - e.Value;
        }
        else if (!c.Contradicts.IsEmpty)
        {
            bool lowSide = e.Low < c.Contradicts.Low;
            edge = lowSide ? c.Contradicts.Low : c.Contradicts.High;
            half = lowSide ? e.Value - e.Low : e.High - e.Value;
        }
        else
        {
            bool below = e.Value < c.Supports.Low;
            edge = below ? c.Supports.Low : c.Supports.High;
            half = below ? e.High - e.Value : e.Value - e.Low;
        }
        double distance = Math.Abs(e.Value - edge);
        int? need = distance > 0 && half > 0 && double.IsFinite(half)
            ? (int)Math.Min(1_000_000, Math.Ceiling(e.N * (half / distance) * (half / distance)) + 1) : null;
        return c with
        {
            SeedsToDecide = need,
            Reason = inSupport ? "estimate supports the claim but the interval crosses the region's edge"
                               : "estimate contradicts the claim but the interval crosses the region's edge",
        };
    }

    /// <summary>This verdict with <paramref name="estimates"/> reported alongside.</summary>
    public Verdict WithExtra(params Estimate[] estimates) => this with { Extra = [.. Extra, .. estimates] };

    /// <summary>The rule in words, for the report.</summary>
    public string Rule =>
        "held if every 95% interval lies inside its supporting region (" +
        string.Join("; ", Checks.Select(c => $"{c.Estimate.Name} {c.Band}")) +
        "); did not hold if, after Holm's adjustment for the " + Checks.Count + " checks, some interval lies wholly in its contradicting region (" +
        string.Join("; ", Checks.Select(c => $"{c.Estimate.Name} {c.ContradictingBand}")) +
        "); inconclusive otherwise, and always when an interval is degenerate";
}
