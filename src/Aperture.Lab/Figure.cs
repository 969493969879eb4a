namespace Aperture.Lab;

/// <summary>How a series is drawn.</summary>
public enum SeriesStyle
{
    /// <summary>A line through the points.</summary>
    Line,
    /// <summary>A dashed line (fits, references).</summary>
    Dashed,
    /// <summary>Markers only.</summary>
    Markers,
    /// <summary>A line with markers.</summary>
    LineAndMarkers,
}

/// <summary>What a metric's x-axis counts.</summary>
public enum AxisKind
{
    /// <summary>Optimizer steps (iterations).</summary>
    Step,
    /// <summary>Passes over the training set.</summary>
    Epoch,
    /// <summary>Layers of a network, input side first.</summary>
    Layer,
    /// <summary>A protocol setting swept across runs or within a run (a learning rate, a decay, a depth).</summary>
    Setting,
}

/// <summary>An axis: what it counts, its label, and the unit of its values ("" for counts and ratios).</summary>
/// <param name="Kind">What the axis counts.</param>
/// <param name="Label">The label, in the field's words ("training step", "hidden layer (1 = first)").</param>
/// <param name="Unit">The unit, shown in brackets after the label ("" for none).</param>
public sealed record Axis(AxisKind Kind, string Label, string Unit = "")
{
    /// <summary>Optimizer steps.</summary>
    public static Axis Steps { get; } = new(AxisKind.Step, "training step");

    /// <summary>Epochs (passes over the training set).</summary>
    public static Axis Epochs { get; } = new(AxisKind.Epoch, "epoch");

    /// <summary>Layers, counted from the input side.</summary>
    public static Axis Layers(string label = "layer (1 = nearest the input)") => new(AxisKind.Layer, label);

    /// <summary>A swept setting.</summary>
    public static Axis Setting(string label, string unit = "") => new(AxisKind.Setting, label, unit);

    /// <summary>The label with its unit: "time (s)".</summary>
    public string Text => Unit.Length == 0 ? Label : $"{Label} ({Unit})";
}

/// <summary>
/// The values a quantity can take: [0, 1] for an accuracy or a share, [0, ∞) for a loss, a norm or a time. A figure's
/// interval bands and its axis are clipped to it, so a t-interval on three seeds of an accuracy near 1 does not reach
/// 1.03, nor an axis tick an accuracy of 1.05.
/// </summary>
/// <param name="Low">The least value (−∞ for none).</param>
/// <param name="High">The greatest value (+∞ for none).</param>
public readonly record struct ValueRange(double Low, double High)
{
    /// <summary>[0, 1]: an accuracy, a precision, a share or a fraction.</summary>
    public static ValueRange Fraction { get; } = new(0, 1);

    /// <summary>[0, ∞): a loss, a norm, a distance, a time, a count.</summary>
    public static ValueRange NonNegative { get; } = new(0, double.PositiveInfinity);

    /// <summary>(−∞, ∞): no bound.</summary>
    public static ValueRange Unbounded { get; } = new(double.NegativeInfinity, double.PositiveInfinity);

    /// <summary>Whether either side is bounded.</summary>
    public bool IsBounded => double.IsFinite(Low) || double.IsFinite(High);

    /// <summary><paramref name="value"/> clipped to the range; a NaN stays NaN.</summary>
    public double Clip(double value) => double.IsNaN(value) ? value : Math.Clamp(value, Low, High);

    /// <summary>"[0, 1]", "[0, ∞)".</summary>
    public override string ToString() =>
        $"{(double.IsFinite(Low) ? "[" + Low.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(−∞")}, {(double.IsFinite(High) ? High.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]" : "∞)")}";
}

/// <summary>
/// A per-step metric a phenomenon's runs log (<see cref="RunContext.Log"/>): what its index counts and what its values
/// are, so that the report's curves have true axes. Declared by <see cref="Phenomenon.Metrics"/>.
/// </summary>
/// <param name="Key">The key the runs log it under.</param>
/// <param name="X">What the logged index counts.</param>
/// <param name="Label">What the value is, in words ("training loss (cross-entropy)").</param>
/// <param name="Unit">The value's unit ("" for none).</param>
public sealed record Metric(string Key, Axis X, string Label, string Unit = "")
{
    /// <summary>The values the metric can take (<see cref="ValueRange.Fraction"/> for an accuracy); unbounded by default.</summary>
    public ValueRange Range { get; init; } = ValueRange.Unbounded;

    /// <summary>The value's label with its unit.</summary>
    public string YText => Unit.Length == 0 ? Label : $"{Label} ({Unit})";
}

/// <summary>
/// Declares, on a phenomenon's class, one per-step metric its runs log (<see cref="RunContext.Log"/>): the key, what
/// its index counts and what its value is. <see cref="Phenomenon.Metrics"/> reads these, in the order written.
/// </summary>
/// <param name="key">The key the runs log it under.</param>
/// <param name="x">What the logged index counts.</param>
/// <param name="label">What the value is, in words.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class LogsMetricAttribute(string key, AxisKind x, string label) : Attribute
{
    /// <summary>The x-axis label; by default "training step", "epoch" or "layer (1 = nearest the input)" by kind.</summary>
    public string? XLabel { get; init; }

    /// <summary>The value's unit ("" for none).</summary>
    public string Unit { get; init; } = "";

    /// <summary>The least value the metric can take (0 for an accuracy, a loss or a norm); −∞ by default.</summary>
    public double Low { get; init; } = double.NegativeInfinity;

    /// <summary>The greatest value the metric can take (1 for an accuracy or a share); +∞ by default.</summary>
    public double High { get; init; } = double.PositiveInfinity;

    /// <summary>The declaration as a <see cref="Metric"/>.</summary>
    public Metric Metric => new(key, XLabel is { } l ? new Axis(x, l) : x switch
    {
        AxisKind.Step => Axis.Steps,
        AxisKind.Epoch => Axis.Epochs,
        AxisKind.Layer => Axis.Layers(),
        _ => throw new InvalidOperationException($"metric '{key}': a setting axis needs its XLabel"),
    }, label, Unit) { Range = Low <= High ? new ValueRange(Low, High) : throw new InvalidOperationException($"metric '{key}': its range [{Low}, {High}] is empty") };
}

/// <summary>
/// An arm's place in a variant × setting grid (<see cref="Arm.Cell"/>): the variant (a family of arms: "dropout",
/// "batch-norm") and the setting within it ("p=0.5", "lr=0.1"). The arm's name is the variant, a space, the setting.
/// </summary>
/// <param name="Variant">The family the arm belongs to; each takes a hue of its own.</param>
/// <param name="Setting">The setting within the family; the settings of a family take shades of its hue, light to dark
/// in the protocol's order.</param>
public sealed record ArmCell(string Variant, string Setting)
{
    /// <summary>
    /// The grid the <paramref name="arms"/> form, by arm name: each arm's cell, with every arm that declares none
    /// standing alone as a variant of its own ("none" beside the regularizers). Empty unless some variant holds two or
    /// more settings (a grid with one setting a variant is just a list of arms).
    /// </summary>
    public static IReadOnlyDictionary<string, ArmCell> Grid(IEnumerable<Arm> arms)
    {
        ArgumentNullException.ThrowIfNull(arms);
        var cells = arms.ToDictionary(a => a.Name, a => a.Cell ?? new ArmCell(a.Name, ""));
        return cells.Values.GroupBy(c => c.Variant).Any(g => g.Count() > 1) ? cells : new Dictionary<string, ArmCell>();
    }
}

/// <summary>One series of a figure. Series with the same <paramref name="Group"/> share a colour and one legend entry.</summary>
/// <param name="Group">The legend entry (an arm, "fit", "data").</param>
/// <param name="X">The x values.</param>
/// <param name="Y">The y values. Non-finite values (NaN, ±∞: a diverged or undefined run) are not drawn as points but
/// marked on the figure and named in the legend, never silently dropped.</param>
/// <param name="Style">How it is drawn.</param>
public sealed record Series(string Group, double[] X, double[] Y, SeriesStyle Style = SeriesStyle.Line)
{
    /// <summary>The lower edge of an interval band around <see cref="Y"/> (same length), e.g. a 95% interval across seeds.</summary>
    public double[]? Low { get; init; }

    /// <summary>The upper edge of the band.</summary>
    public double[]? High { get; init; }

    /// <summary>
    /// The key whose colour the series takes (an arm's name), when it is not its <see cref="Group"/>: a figure that
    /// draws two quantities per arm (training and test accuracy) gives both of an arm's groups its hue, and the
    /// renderer tells them apart by shade and marker (the first group of a hue dark with filled markers, the next
    /// lighter with open ones, the legend naming each). Null: the group's own colour.
    /// </summary>
    public string? Hue { get; init; }

    /// <summary>Drawn thin and pale, without a legend entry of its own (single seeds behind their arm's mean).</summary>
    public bool Faint { get; init; }

    /// <summary>
    /// Points that are censored (the run stopped before the event: a target not reached within the budget); drawn as
    /// open markers and named in the legend. Same length as <see cref="Y"/>; null when none are.
    /// </summary>
    public bool[]? Censored { get; init; }

    /// <summary>
    /// The mean across seeds at each x with its 95% Student-t interval as a band: <paramref name="samples"/>[i] holds
    /// the seeds' values at <paramref name="x"/>[i]. A non-finite sample makes that mean non-finite (marked on the
    /// figure, not averaged away); one sample gives the value without a band.
    /// </summary>
    /// <param name="group">The legend entry.</param>
    /// <param name="x">The x values.</param>
    /// <param name="samples">The seeds' values at each x.</param>
    /// <param name="style">How it is drawn.</param>
    /// <param name="range">The values the quantity can take: the band is clipped to it (an accuracy's interval ends at 1).</param>
    public static Series MeanOverSeeds(string group, double[] x, IReadOnlyList<double[]> samples, SeriesStyle style = SeriesStyle.LineAndMarkers,
        ValueRange? range = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count != x.Length) throw new ArgumentException($"series '{group}': {x.Length} x values but {samples.Count} sets of samples");
        var mean = new double[x.Length];
        var low = new double[x.Length];
        var high = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            var v = samples[i];
            if (v.Length == 0 || v.Any(d => !double.IsFinite(d))) { mean[i] = low[i] = high[i] = v.Length == 0 ? double.NaN : v.FirstOrDefault(d => !double.IsFinite(d)); continue; }
            mean[i] = v.Average();
            if (v.Length < 2) { low[i] = high[i] = double.NaN; continue; }
            double sd = Math.Sqrt(v.Sum(d => (d - mean[i]) * (d - mean[i])) / (v.Length - 1));
            double half = Statistics.StudentT.Quantile(0.975, v.Length - 1) * sd / Math.Sqrt(v.Length);
            (low[i], high[i]) = (mean[i] - half, mean[i] + half);
            if (range is { } r) (low[i], high[i]) = (r.Clip(low[i]), r.Clip(high[i]));
        }
        return new Series(group, x, mean, style) { Low = low, High = high };
    }

    /// <summary>
    /// The geometric mean across seeds at each x with the 95% Student-t interval of the logarithms, exponentiated: the
    /// centre of a quantity spread over decades (a loss on a log axis), where the arithmetic mean is its largest seed's.
    /// A value that is not finite and positive makes that point NaN (marked on the figure); one sample gives the value
    /// without a band.
    /// </summary>
    /// <param name="group">The legend entry.</param>
    /// <param name="x">The x values.</param>
    /// <param name="samples">The seeds' values at each x.</param>
    /// <param name="style">How it is drawn.</param>
    public static Series GeometricMeanOverSeeds(string group, double[] x, IReadOnlyList<double[]> samples, SeriesStyle style = SeriesStyle.Line)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count != x.Length) throw new ArgumentException($"series '{group}': {x.Length} x values but {samples.Count} sets of samples");
        var logs = samples.Select(v => v.Length > 0 && v.All(d => double.IsFinite(d) && d > 0) ? v.Select(d => Math.Log(d)).ToArray() : new[] { double.NaN }).ToList();
        var onLogs = MeanOverSeeds(group, x, logs, style);
        return onLogs with { Y = [.. onLogs.Y.Select(v => Math.Exp(v))], Low = [.. onLogs.Low!.Select(v => Math.Exp(v))], High = [.. onLogs.High!.Select(v => Math.Exp(v))] };
    }

    /// <summary>
    /// Series drawn one per seed (several sharing a <see cref="Group"/>) reduced to what a reader needs: each group's
    /// mean across its seeds at every x with the 95% interval (<see cref="MeanOverSeeds"/>), in the order the groups
    /// first appear, with the single seeds kept behind it as faint lines (or pale dots, for markers) when
    /// <paramref name="keepSeeds"/>. A group drawn by one series is returned as it is; a seed without a value at some x
    /// leaves that x to the others.
    /// </summary>
    /// <param name="perSeed">The series, one per seed and group.</param>
    /// <param name="keepSeeds">Whether the single seeds stay behind the mean, faint.</param>
    /// <param name="range">The values the quantity can take: the band is clipped to it.</param>
    /// <param name="geometric">
    /// The geometric mean with the interval of the logarithms (<see cref="GeometricMeanOverSeeds"/>), for a quantity
    /// drawn on a log axis; its mean is then drawn only where every seed of the group has a value, since a mean of the
    /// seeds that remain jumps by decades each time one stops.
    /// </param>
    public static IReadOnlyList<Series> MeansOverSeeds(IEnumerable<Series> perSeed, bool keepSeeds = true, ValueRange? range = null, bool geometric = false)
    {
        ArgumentNullException.ThrowIfNull(perSeed);
        var all = perSeed.ToList();
        var result = new List<Series>();
        foreach (var group in all.GroupBy(s => s.Group))
        {
            var members = group.ToList();
            if (members.Count == 1) { result.Add(members[0]); continue; }
            if (keepSeeds) result.AddRange(members.Select(s => s with { Faint = true, Low = null, High = null, Censored = null }));
            double[] xs = [.. members.SelectMany(s => s.X).Where(double.IsFinite).Distinct().Order()];
            var samples = xs.Select(x => members.SelectMany(s => Enumerable.Range(0, Math.Min(s.X.Length, s.Y.Length)).Where(i => s.X[i] == x).Select(i => s.Y[i]).Take(1)).ToArray()).ToList();
            if (geometric)
            {
                var every = Enumerable.Range(0, xs.Length).Where(i => samples[i].Length == members.Count).ToList();
                result.Add(GeometricMeanOverSeeds(group.Key, [.. every.Select(i => xs[i])], [.. every.Select(i => samples[i])], members[0].Style) with { Hue = members[0].Hue });
                continue;
            }
            result.Add(MeanOverSeeds(group.Key, xs, samples, members[0].Style, range) with { Hue = members[0].Hue });
        }
        // The seeds first, so every mean is drawn over every group's seeds.
        return [.. result.Where(s => s.Faint), .. result.Where(s => !s.Faint)];
    }
}

/// <summary>
/// A plot described as data, so a phenomenon file needs no plotting library: the report renders it (with ScottPlot,
/// to SVG and to PNG at twice the pixel density).
/// </summary>
/// <param name="Name">A file-name-safe name, unique within the phenomenon.</param>
/// <param name="Title">The title.</param>
/// <param name="XLabel">The x-axis label, with its unit in brackets where it has one.</param>
/// <param name="YLabel">The y-axis label, with its unit in brackets where it has one.</param>
/// <param name="Series">The series.</param>
/// <param name="LogX">Log-scale x (values must be positive).</param>
/// <param name="LogY">Log-scale y (values must be positive).</param>
/// <param name="Caption">A sentence under the figure saying what to see.</param>
public sealed record Figure(string Name, string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series,
    bool LogX = false, bool LogY = false, string Caption = "")
{
    /// <summary>
    /// The values the y quantity can take (<see cref="ValueRange.Fraction"/> for an accuracy): interval bands are
    /// clipped to it and the axis does not run past it (beyond the room its markers need). Unbounded by default.
    /// </summary>
    public ValueRange YRange { get; init; } = ValueRange.Unbounded;

    /// <summary>
    /// A y span the axis covers at least, padded as an automatic axis is: figures meant to be read side by side (one
    /// quantity under two conditions) declare the same span, so equal heights mean equal values. Values outside it
    /// still widen the axis. Null: the axis fits this figure's data alone. Ignored on a log axis.
    /// </summary>
    public (double Low, double High)? YSpan { get; init; }

    /// <summary>The least and greatest finite values of <paramref name="values"/>, or null where none is finite: a <see cref="YSpan"/>.</summary>
    public static (double Low, double High)? SpanOf(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var finite = values.Where(double.IsFinite).ToList();
        return finite.Count == 0 ? null : (finite.Min(), finite.Max());
    }

    /// <summary>Vertical reference lines (hinges, data edges) drawn behind the series.</summary>
    public IReadOnlyList<double> VerticalLines { get; init; } = [];

    /// <summary>A horizontal band shaded behind the series (the values that support a claim), or null.</summary>
    public (double Low, double High)? Band { get; init; }

    /// <summary>
    /// A category axis: the names of the positions x = 0, 1, …, drawn as tick labels instead of numbers (arms, models,
    /// regularizers). Null for a numeric x-axis.
    /// </summary>
    public IReadOnlyList<string>? XCategories { get; init; }

    /// <summary>
    /// The logged metrics (<see cref="Metric.Key"/>) this figure already draws; the report then draws no automatic
    /// per-step curve of them, so a page does not show one quantity twice.
    /// </summary>
    public IReadOnlyList<string> Metrics { get; init; } = [];
}
