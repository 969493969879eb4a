using System.Globalization;
using Aperture.Lab.Statistics;

namespace Aperture.Lab;

/// <summary>What a phenomenon's pre-stated rule says about its measured effect.</summary>
public enum Outcome
{
    /// <summary>Every check's interval lies inside its band.</summary>
    Held,
    /// <summary>Some check's interval lies wholly outside its band.</summary>
    DidNotHold,
    /// <summary>Some interval straddles a band's edge: more seeds, or a larger effect, would be needed to decide.</summary>
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

/// <summary>A measured quantity over seeds with its 95% confidence interval.</summary>
/// <param name="Name">What was measured, in words.</param>
/// <param name="Value">The point estimate.</param>
/// <param name="Low">Lower end of the 95% interval.</param>
/// <param name="High">Upper end of the 95% interval.</param>
/// <param name="N">How many values (seeds, or seed pairs) it rests on.</param>
/// <param name="Method">How the interval was computed.</param>
public sealed record Estimate(string Name, double Value, double Low, double High, int N, string Method)
{
    /// <summary>The mean of <paramref name="values"/> (one per seed) with a Student-t 95% interval.</summary>
    public static Estimate Mean(string name, IReadOnlyList<double> values)
    {
        var i = Stats.TInterval(values);
        return new(name, i.Value, i.Low, i.High, values.Count, "t-interval");
    }

    /// <summary>The mean with a percentile-bootstrap 95% interval (10,000 resamples, seeded by <paramref name="seed"/>).</summary>
    public static Estimate MeanBootstrap(string name, IReadOnlyList<double> values, ulong seed = 0)
    {
        var i = Stats.Bootstrap(values, new Generator(seed));
        return new(name, i.Value, i.Low, i.High, values.Count, "percentile bootstrap");
    }

    /// <summary>The mean of the paired differences a − b (paired by seed) with a Student-t 95% interval.</summary>
    public static Estimate MeanDifference(string name, IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        Mean(name, Stats.PairedDifferences(a, b)) with { Method = "paired t-interval" };

    /// <summary>"0.512 [0.498, 0.526]".</summary>
    public string Format(string format = "G4") => string.Create(CultureInfo.InvariantCulture,
        $"{Value.ToString(format, CultureInfo.InvariantCulture)} [{Low.ToString(format, CultureInfo.InvariantCulture)}, {High.ToString(format, CultureInfo.InvariantCulture)}]");
}

/// <summary>One pre-stated test of an estimate against a band [Low, High] (an infinite end makes it one-sided).</summary>
/// <param name="Estimate">The estimate being judged.</param>
/// <param name="Low">Lower edge of the band (−∞ for "below").</param>
/// <param name="High">Upper edge of the band (+∞ for "above").</param>
/// <param name="Outcome">Held if the interval lies inside the band, did not hold if wholly outside, inconclusive otherwise.</param>
public sealed record Check(Estimate Estimate, double Low, double High, Outcome Outcome)
{
    /// <summary>Held if the interval lies within [low, high]; did not hold if it misses the band entirely.</summary>
    public static Check Within(Estimate e, double low, double high)
    {
        if (!(low <= high)) throw new ArgumentException($"a band needs low ≤ high, found [{low}, {high}]");
        Outcome o = double.IsNaN(e.Low) || double.IsNaN(e.High) ? Outcome.Inconclusive
            : e.Low >= low && e.High <= high ? Outcome.Held
            : e.High < low || e.Low > high ? Outcome.DidNotHold
            : Outcome.Inconclusive;
        return new Check(e, low, high, o);
    }

    /// <summary>Held if the whole interval lies below <paramref name="limit"/>; did not hold if it lies wholly above.</summary>
    public static Check Below(Estimate e, double limit) => Within(e, double.NegativeInfinity, limit);

    /// <summary>Held if the whole interval lies above <paramref name="limit"/>; did not hold if it lies wholly below.</summary>
    public static Check Above(Estimate e, double limit) => Within(e, limit, double.PositiveInfinity);

    /// <summary>The band in words: "within [0.4, 0.6]", "below 0.05", "above 2".</summary>
    public string Band => (double.IsNegativeInfinity(Low), double.IsPositiveInfinity(High)) switch
    {
        (true, true) => "anywhere",
        (true, false) => $"below {G(High)}",
        (false, true) => $"above {G(Low)}",
        _ => $"within [{G(Low)}, {G(High)}]",
    };

    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>A phenomenon's verdict: the outcome of its checks, the headline effect, and any further estimates.</summary>
/// <param name="Outcome">Held only if every check held; did not hold if any check did not hold; inconclusive otherwise.</param>
/// <param name="Effect">The headline effect size with its interval.</param>
/// <param name="Checks">The pre-stated checks, in order.</param>
/// <param name="Extra">Estimates reported alongside, not judged.</param>
public sealed record Verdict(Outcome Outcome, Estimate Effect, IReadOnlyList<Check> Checks, IReadOnlyList<Estimate> Extra)
{
    /// <summary>Combines checks: held if all held, did not hold if any did not hold, inconclusive otherwise.</summary>
    public static Verdict From(Estimate effect, params Check[] checks)
    {
        if (checks.Length == 0) throw new ArgumentException("a verdict needs at least one check");
        var o = checks.Any(c => c.Outcome == Outcome.DidNotHold) ? Outcome.DidNotHold
            : checks.All(c => c.Outcome == Outcome.Held) ? Outcome.Held
            : Outcome.Inconclusive;
        return new Verdict(o, effect, checks, []);
    }

    /// <summary>This verdict with <paramref name="estimates"/> reported alongside.</summary>
    public Verdict WithExtra(params Estimate[] estimates) => this with { Extra = [.. Extra, .. estimates] };

    /// <summary>The rule in words, for the report.</summary>
    public string Rule =>
        "held if every 95% interval lies inside its band (" + string.Join("; ", Checks.Select(c => $"{c.Estimate.Name} {c.Band}")) +
        "); did not hold if any interval lies wholly outside its band; inconclusive otherwise";
}
