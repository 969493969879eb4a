using System.Globalization;

namespace Aperture.Lab.Sweeps;

/// <summary>How a swept setting's values are given (the names are those of a W&amp;B sweep's parameter distributions).</summary>
public enum SweepAxisKind
{
    /// <summary>Listed one by one (<c>values: [...]</c>, or <c>--set key=v1,v2,v3</c>).</summary>
    Values,
    /// <summary><c>count</c> values evenly spaced in log scale from <c>min</c> to <c>max</c>, both included (<c>log_uniform_values</c>, <c>log:1e-3..1e-1:5</c>).</summary>
    LogUniform,
    /// <summary><c>count</c> values evenly spaced from <c>min</c> to <c>max</c>, both included (<c>uniform</c>, <c>lin:0..1:5</c>).</summary>
    Uniform,
    /// <summary>Integers from <c>min</c> to <c>max</c>: every one, or <c>count</c> of them evenly spaced and rounded (<c>int_uniform</c>, <c>int:1..8</c>, <c>int:16..256:5</c>).</summary>
    IntUniform,
}

/// <summary>
/// One swept setting of a grid: its values listed, or a range laid out on a grid. A grid sweep's points are every
/// combination of its axes' values (the Cartesian product). Values are kept as the text <c>--set</c> accepts, so the
/// protocol binder checks each against the setting's type and range.
/// </summary>
public sealed record SweepAxis
{
    private SweepAxis(string setting, SweepAxisKind kind, IReadOnlyList<string> values, double min, double max, int count)
    {
        Setting = setting;
        Kind = kind;
        Listed = values;
        Min = min;
        Max = max;
        Count = count;
    }

    /// <summary>The setting's snake_case key (as <c>--set</c> names it).</summary>
    public string Setting { get; }

    /// <summary>How the values are given.</summary>
    public SweepAxisKind Kind { get; }

    /// <summary>The listed values (<see cref="SweepAxisKind.Values"/> only; empty otherwise).</summary>
    public IReadOnlyList<string> Listed { get; }

    /// <summary>The range's first value (ranges only).</summary>
    public double Min { get; }

    /// <summary>The range's last value (ranges only).</summary>
    public double Max { get; }

    /// <summary>How many values the range is laid out in (ranges only; for <see cref="SweepAxisKind.IntUniform"/>, 0 means every integer).</summary>
    public int Count { get; }

    /// <summary>The most values one axis may have: a larger grid is a mistake in its range, not a sweep.</summary>
    public const int MaxValues = 10_000;

    /// <summary>An axis of listed values (each as <c>--set</c> writes it; for a list-valued setting, one whole list each).</summary>
    public static SweepAxis Values(string setting, IReadOnlyList<string> values)
    {
        CheckSetting(setting);
        if (values.Count == 0) throw new LabConfigException($"sweep parameter '{setting}': give at least one value");
        if (values.Count > MaxValues) throw new LabConfigException($"sweep parameter '{setting}': {values.Count} values, more than the {MaxValues} an axis may have");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            if (string.IsNullOrWhiteSpace(v)) throw new LabConfigException($"sweep parameter '{setting}': an empty value in [{string.Join(", ", values)}]");
            if (!seen.Add(v.Trim())) throw new LabConfigException($"sweep parameter '{setting}': the value '{v.Trim()}' is listed twice");
        }
        return new SweepAxis(setting, SweepAxisKind.Values, [.. values.Select(v => v.Trim())], 0, 0, 0);
    }

    /// <summary><paramref name="count"/> values evenly spaced in log scale from <paramref name="min"/> to <paramref name="max"/> (both &gt; 0, both included).</summary>
    public static SweepAxis LogUniform(string setting, double min, double max, int count)
    {
        CheckRange(setting, "log_uniform_values", min, max, count, needsCount: true);
        if (!(min > 0)) throw new LabConfigException($"sweep parameter '{setting}': a log-spaced range needs min > 0, found {Format(min)}");
        return new SweepAxis(setting, SweepAxisKind.LogUniform, [], min, max, count);
    }

    /// <summary><paramref name="count"/> values evenly spaced from <paramref name="min"/> to <paramref name="max"/> (both included).</summary>
    public static SweepAxis Uniform(string setting, double min, double max, int count)
    {
        CheckRange(setting, "uniform", min, max, count, needsCount: true);
        return new SweepAxis(setting, SweepAxisKind.Uniform, [], min, max, count);
    }

    /// <summary>
    /// The integers from <paramref name="min"/> to <paramref name="max"/>: every one when <paramref name="count"/> is 0,
    /// else <paramref name="count"/> of them evenly spaced and rounded to the nearest.
    /// </summary>
    public static SweepAxis IntUniform(string setting, long min, long max, int count = 0)
    {
        CheckRange(setting, "int_uniform", min, max, count, needsCount: false);
        long span = max - min + 1;
        if (count == 0 && span > MaxValues)
            throw new LabConfigException($"sweep parameter '{setting}': int_uniform {min}..{max} holds {span} integers, more than the {MaxValues} an axis may have: give a count");
        if (count > span)
            throw new LabConfigException($"sweep parameter '{setting}': int_uniform {min}..{max} holds {span} integers, fewer than the count {count}");
        return new SweepAxis(setting, SweepAxisKind.IntUniform, [], min, max, count);
    }

    /// <summary>The axis's values in order, as text the protocol binder reads.</summary>
    public IReadOnlyList<string> Expand()
    {
        switch (Kind)
        {
            case SweepAxisKind.Values: return Listed;
            case SweepAxisKind.LogUniform:
            {
                if (Count == 1) return [Format(Min)];
                // Powers of ten of evenly spaced exponents, as numpy.logspace computes them (10 ** linspace), so that a
                // point on a whole decade is the number a user types (log:1e-8..1e-4:3 gives 1e-06, where exp of evenly
                // spaced natural logs gives 1.0000000000000004e-06, another setting and another run identity than
                // --set tolerance=1e-6). The ends are the values given, not 10^log10(x), which can be off in the last bit.
                double a = Math.Log10(Min), b = Math.Log10(Max);
                return [.. Enumerable.Range(0, Count).Select(i => Format(i == 0 ? Min : i == Count - 1 ? Max : Math.Pow(10, a + (b - a) * i / (Count - 1))))];
            }
            case SweepAxisKind.Uniform:
                if (Count == 1) return [Format(Min)];
                return [.. Enumerable.Range(0, Count).Select(i => Format(i == 0 ? Min : i == Count - 1 ? Max : Min + (Max - Min) * i / (Count - 1)))];
            default:
            {
                long lo = (long)Min, hi = (long)Max;
                if (Count == 0) return [.. Enumerable.Range(0, (int)(hi - lo + 1)).Select(i => (lo + i).ToString(CultureInfo.InvariantCulture))];
                if (Count == 1) return [lo.ToString(CultureInfo.InvariantCulture)];
                // Steps of at least 1 (the count is at most the span, checked on construction) round to distinct integers.
                return [.. Enumerable.Range(0, Count).Select(i => (lo + (long)Math.Round((double)(hi - lo) * i / (Count - 1), MidpointRounding.AwayFromZero))
                    .ToString(CultureInfo.InvariantCulture))];
            }
        }
    }

    /// <summary>The axis in the <c>--set</c> syntax: <c>a,b,c</c>, <c>log:1e-3..0.1:5</c>, <c>lin:0..1:5</c>, <c>int:1..8</c>.</summary>
    public override string ToString() => Kind switch
    {
        SweepAxisKind.Values => string.Join(",", Listed),
        SweepAxisKind.LogUniform => $"log:{Format(Min)}..{Format(Max)}:{Count}",
        SweepAxisKind.Uniform => $"lin:{Format(Min)}..{Format(Max)}:{Count}",
        _ => $"int:{(long)Min}..{(long)Max}" + (Count > 0 ? $":{Count}" : ""),
    };

    /// <summary>A number as the binder and the canonical spec write it (shortest round-trip form).</summary>
    public static string Format(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    private static void CheckSetting(string setting)
    {
        if (string.IsNullOrWhiteSpace(setting)) throw new LabConfigException("a sweep parameter needs a setting name");
    }

    private static void CheckRange(string setting, string what, double min, double max, int count, bool needsCount)
    {
        CheckSetting(setting);
        if (!double.IsFinite(min) || !double.IsFinite(max))
            throw new LabConfigException($"sweep parameter '{setting}': {what} needs finite min and max, found {Format(min)}..{Format(max)}");
        if (!(min <= max))
            throw new LabConfigException($"sweep parameter '{setting}': {what} needs min ≤ max, found min {Format(min)} and max {Format(max)}");
        if (needsCount ? count < 1 : count < 0)
            throw new LabConfigException($"sweep parameter '{setting}': {what} needs a count of at least 1, found {count}");
        if (count > MaxValues)
            throw new LabConfigException($"sweep parameter '{setting}': {what} count {count} is more than the {MaxValues} an axis may have");
        if (count > 1 && min == max)
            throw new LabConfigException($"sweep parameter '{setting}': {what} with min = max = {Format(min)} gives one value, not {count}");
    }
}
