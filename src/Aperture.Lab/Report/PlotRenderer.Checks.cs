using System.Globalization;
using System.Text;
using Aperture.Lab.Statistics;
using ScottPlot;

namespace Aperture.Lab.Report;

/// <summary>The verdict-check plots: one check's estimate and interval against its bands.</summary>
internal static partial class PlotRenderer
{
    /// <summary>
    /// A forest plot of one check: its estimate with the 95% interval, over the region that supports the claim (shaded
    /// green) and the one that contradicts it (shaded red), on an axis of its own, labelled with the estimate's name.
    /// </summary>
    /// <remarks>Written wide (legend to the right) and narrow (legend below), as <see cref="Render"/> does.</remarks>
    public static Output RenderCheck(Check check, int index, int count, string pathWithoutExtension)
    {
        ArgumentNullException.ThrowIfNull(check);
        var narrow = DrawCheck(check, index, count, pathWithoutExtension + "-narrow", narrow: true);
        return DrawCheck(check, index, count, pathWithoutExtension, narrow: false) with { Narrow = narrow };
    }

    /// <summary>
    /// The values a check's estimate can take: [0, 1] for a share of seeds, and for a share or an accuracy unless the
    /// check reaches below 0 (a difference of two, then [−1, 1]); [0, ∞) for a ratio, and for steps, epochs, iterations,
    /// seconds and counts unless the check reaches below 0; unbounded otherwise. A check reaches below 0 when a number
    /// in it is negative or one of its regions lies at or below 0.
    /// </summary>
    internal static ValueRange CheckRange(Check check)
    {
        ArgumentNullException.ThrowIfNull(check);
        var e = check.Estimate;
        // A region that lies wholly at or below 0 ("below 0": the difference went the wrong way) says the quantity can
        // be negative, even when every number in sight is positive; stopping the axis at 0 would draw it as a sliver.
        bool negative = new[] { e.Low, e.High, e.Value, check.Supports.Low, check.Supports.High, check.Contradicts.Low, check.Contradicts.High }
            .Any(v => double.IsFinite(v) && v < 0)
            || new[] { check.Supports, check.Contradicts }.Any(r => !r.IsEmpty && r.High <= 0);
        if (e.Unit == Unit.ShareOfSeeds || e.Kind == EstimatorKind.Share) return ValueRange.Fraction;
        if (e.Unit == Unit.Share || e.Unit == Unit.Accuracy) return negative ? new ValueRange(-1, 1) : ValueRange.Fraction;
        if (e.Unit == Unit.Ratio) return negative ? ValueRange.Unbounded : ValueRange.NonNegative;
        if (!negative && (e.Unit == Unit.Steps || e.Unit == Unit.Epochs || e.Unit == Unit.Iterations || e.Unit == Unit.Seconds || e.Unit == Unit.Count))
            return ValueRange.NonNegative;
        return ValueRange.Unbounded;
    }

    /// <summary>
    /// A check plot's x-axis: the estimate, its interval and the finite edges of both regions, padded by 15% of their
    /// span, and stopped at the values the quantity can take (<see cref="CheckRange"/>: a share at 0 and 1, not at
    /// −0.05 and 1.05). Where it stops at the range, it leaves only the room the estimate's marker needs (its radius,
    /// <paramref name="markerShare"/> of the axis), so a share of 1 is drawn as a whole dot, not half of one.
    /// </summary>
    internal static (double Min, double Max) CheckLimits(Check check, double markerShare = 0.01)
    {
        ArgumentNullException.ThrowIfNull(check);
        var e = check.Estimate;
        var finite = new[] { e.Low, e.High, e.Value, check.Supports.Low, check.Supports.High, check.Contradicts.Low, check.Contradicts.High }
            .Where(double.IsFinite).ToList();
        double min = finite.Count > 0 ? finite.Min() : 0, max = finite.Count > 0 ? finite.Max() : 1;
        double pad = Math.Max(Math.Max(Math.Abs(min), Math.Abs(max)) * 1e-3 + 1e-12, 0.15 * (max - min));
        var range = CheckRange(check);
        double lo = Math.Max(min - pad, range.Low), hi = Math.Min(max + pad, range.High), room = markerShare * (hi - lo);
        return (min - pad < range.Low ? lo - room : lo, max + pad > range.High ? hi + room : hi);
    }

    /// <summary>The legend's note on a check whose interval has zero width (or none), which cannot decide.</summary>
    internal const string DegenerateNote = "zero-width interval: cannot decide";

    /// <summary>The check plots' tick density, relative to ScottPlot's default.</summary>
    private const double CheckTickDensity = 0.5;

    /// <summary>Half the height of a check interval's end caps, in the plot's y units (the data area spans −1 to 1).</summary>
    internal const double CapHalfHeight = 0.3;

    private static Output DrawCheck(Check check, int index, int count, string pathWithoutExtension, bool narrow)
    {
        var plt = NewPlot();
        var e = check.Estimate;
        // The estimate's dot is 14 px across, on a data area about 40 px narrower than the figure.
        var (min, max) = CheckLimits(check, 7.0 / ((narrow ? NarrowWidth : Width) - 40));
        void Shade(Region r, Color c)
        {
            if (r.IsEmpty) return;
            double lo = Math.Max(min, r.Low), hi = Math.Min(max, r.High);
            if (!(hi > lo)) return;
            var band = plt.Add.Rectangle(lo, hi, -1, 1);
            band.FillColor = c;
            band.LineWidth = 0;
        }
        Shade(check.Contradicts, Color.FromHex("#c0392b").WithAlpha(0.13));
        Shade(check.Supports, Color.FromHex("#27ae60").WithAlpha(0.22));
        var color = check.Outcome switch { Outcome.Held => Color.FromHex("#1e7b34"), Outcome.DidNotHold => Color.FromHex("#a3231a"), _ => Color.FromHex("#b26b00") };
        if (!double.IsNaN(e.Low) && !double.IsNaN(e.High) && e.High >= e.Low)
        {
            // An unbounded end (a one-sided interval) runs to the axis's edge, uncapped.
            var line = plt.Add.Line(Math.Max(e.Low, min), 0, Math.Min(e.High, max), 0);
            line.LineWidth = 4;
            line.LineColor = color;
            // End caps taller than the dot: an interval narrower than the dot (a tight t-interval) still shows its ends.
            foreach (var end in new[] { e.Low, e.High }.Where(double.IsFinite))
            {
                var cap = plt.Add.Line(end, -CapHalfHeight, end, CapHalfHeight);
                cap.LineWidth = 3;
                cap.LineColor = color;
            }
        }
        if (double.IsFinite(e.Value)) plt.Add.Marker(e.Value, 0, MarkerShape.FilledCircle, 14, color);
        // Half ScottPlot's default density: a lone axis of 20 labels a hundredth apart reads as a ruler, not a scale.
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { TickDensity = CheckTickDensity };
        plt.Axes.Left.SetTicks([], []);
        plt.Axes.Left.MajorTickStyle.Length = 0;
        plt.Axes.Left.MinorTickStyle.Length = 0;
        plt.Axes.SetLimits(min, max, -1, 1);
        plt.Grid.XAxisStyle.MajorLineStyle.Color = Grid;
        plt.Grid.YAxisStyle.MajorLineStyle.Width = 0;
        string outcome = check.Outcome.Text();
        int height = Decorate(plt, count > 1 ? $"Check {index + 1} of {count}: {outcome}" : $"Check: {outcome}", e.Unit.IsStated ? $"{e.Name}  [{e.Unit.Name}]" : e.Name, "",
            narrow ? NarrowWidth - 40 : Width - 40, 190);
        plt.Axes.Title.Label.FontSize = 15;
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "estimate, 95% interval", LineColor = color, LineWidth = 4, MarkerShape = MarkerShape.FilledCircle, MarkerFillColor = color, MarkerLineColor = color, MarkerSize = 9 });
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "supports the claim", FillColor = Color.FromHex("#27ae60").WithAlpha(0.4), LineWidth = 0 });
        if (!check.Contradicts.IsEmpty)
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = "contradicts it", FillColor = Color.FromHex("#c0392b").WithAlpha(0.3), LineWidth = 0 });
        // A degenerate interval decides nothing whatever region its dot lies in: say so, or an inconclusive dot deep
        // in the red reads as a mistake.
        if (check.Degenerate)
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = DegenerateNote, LineWidth = 0 });
        ShowLegend(plt, narrow);
        if (narrow) height += LegendHeight(plt.Legend.ManualItems) + 8;
        return Save(plt, pathWithoutExtension, narrow ? NarrowWidth : Width + 200, height);
    }
}
