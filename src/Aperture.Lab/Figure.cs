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

/// <summary>One series of a figure. Series with the same <paramref name="Group"/> share a colour and one legend entry.</summary>
/// <param name="Group">The legend entry (an arm, "fit", "data").</param>
/// <param name="X">The x values.</param>
/// <param name="Y">The y values.</param>
/// <param name="Style">How it is drawn.</param>
public sealed record Series(string Group, double[] X, double[] Y, SeriesStyle Style = SeriesStyle.Line)
{
    /// <summary>Lower ends of each point's interval (drawn as a vertical bar from <see cref="Low"/> to <see cref="High"/>), or null.</summary>
    public double[]? Low { get; init; }

    /// <summary>Upper ends of each point's interval, or null.</summary>
    public double[]? High { get; init; }
}

/// <summary>
/// A plot described as data, so a phenomenon file needs no plotting library: the report renders it (with ScottPlot).
/// </summary>
/// <param name="Name">A file-name-safe name, unique within the phenomenon.</param>
/// <param name="Title">The title.</param>
/// <param name="XLabel">The x-axis label.</param>
/// <param name="YLabel">The y-axis label.</param>
/// <param name="Series">The series.</param>
/// <param name="LogX">Log-scale x (values must be positive).</param>
/// <param name="LogY">Log-scale y (values must be positive).</param>
/// <param name="Caption">A sentence under the figure saying what to see.</param>
public sealed record Figure(string Name, string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series,
    bool LogX = false, bool LogY = false, string Caption = "")
{
    /// <summary>Vertical reference lines (hinges, data edges) drawn behind the series.</summary>
    public IReadOnlyList<double> VerticalLines { get; init; } = [];

    /// <summary>A horizontal band shaded behind the series (the values that support a claim), or null.</summary>
    public (double Low, double High)? Band { get; init; }
}
