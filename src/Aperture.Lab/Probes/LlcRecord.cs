using System.Globalization;
using Aperture.Lab.Statistics;

namespace Aperture.Lab.Probes;

/// <summary>
/// How an LLC estimate is kept in the run store (the keys a verdict and the report read), and the calibration
/// figure drawn from stored calibration runs: λ̂/λ against ε, one line per (γ, nβ), with 95% intervals over seeds.
/// </summary>
public static class LlcRecord
{
    /// <summary>λ̂, the mean over chains.</summary>
    public const string LambdaHat = "lambda_hat";
    /// <summary>The exact λ (as a double; the rational is in the oracle).</summary>
    public const string Exact = "lambda_exact";
    /// <summary>d/2.</summary>
    public const string HalfDimension = "half_dimension";
    /// <summary>λ̂/λ.</summary>
    public const string Ratio = "ratio";
    /// <summary>λ̂/(d/2).</summary>
    public const string HalfDimensionRatio = "half_dimension_ratio";
    /// <summary>The metric key of the running mean of λ̂ along the draws (averaged over chains).</summary>
    public const string RunningMean = "lambda_hat_running";

    /// <summary>
    /// Records <paramref name="estimate"/> and its diagnostics in <paramref name="run"/>: λ̂, λ, d/2, the two ratios, the
    /// chains' standard error, the stationarity drift and its standard error, the share of draws below L(w*), the
    /// number of diverged chains, nβ and ε; and, as a curve, the running mean of λ̂ over the draws (every 1/50th of the
    /// draws, averaged over chains) so the report shows whether it settled.
    /// </summary>
    public static void Write(RunContext run, LlcEstimate estimate, double exact)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(estimate);
        double half = estimate.Dimension / 2.0;
        run.Record(LambdaHat, estimate.Mean);
        run.Record(Exact, exact);
        run.Record(HalfDimension, half);
        run.Record(Ratio, estimate.Mean / exact);
        run.Record(HalfDimensionRatio, estimate.Mean / half);
        run.Record("chain_standard_error", estimate.StandardError);
        run.Record("drift", estimate.Diagnostics.Drift);
        run.Record("drift_standard_error", estimate.Diagnostics.DriftStandardError);
        run.Record("share_below_anchor", estimate.Diagnostics.ShareBelowAnchor);
        run.Record("diverged_chains", estimate.Diagnostics.DivergedChains);
        run.Record("nbeta", estimate.NBeta);
        run.Record("step_size", estimate.Settings.StepSize);
        run.Record("localization", estimate.Settings.Localization);
        if (estimate.Diagnostics.DivergedChains > 0) return;
        int draws = estimate.Chains.Min(c => c.LossTrace.Count), every = Math.Max(1, draws / 50);
        double sum = 0;
        for (int t = 0; t < draws; t++)
        {
            foreach (var c in estimate.Chains) sum += c.LossTrace[t] - (c.AnchorTrace.Count > 0 ? c.AnchorTrace[t] : c.AnchorLoss);
            if ((t + 1) % every == 0 || t == draws - 1) run.Log(RunningMean, t + 1, estimate.NBeta * sum / ((t + 1) * estimate.Chains.Count));
        }
    }

    /// <summary>
    /// The running mean of λ̂/λ along the draws, each arm's mean over seeds with its 95% interval, in two figures: one for
    /// <paramref name="architectures"/> and one for <paramref name="calibration"/> (in one plot their fourteen lines could
    /// not be told apart). They replace the automatic figure of <see cref="RunningMean"/>. Dividing by each arm's exact λ
    /// puts every architecture on one scale, where a settled estimate is a flat line at 1. A seed whose chains diverged
    /// logged no running mean; its arm's line is drawn from the other seeds, and its legend entry says how many.
    /// </summary>
    /// <param name="runs">The stored runs.</param>
    /// <param name="architectures">The arms judged against the exact λ.</param>
    /// <param name="calibration">The calibration arms.</param>
    public static IEnumerable<Figure> RunningMeanFigures<TArm>(RunSet runs, IReadOnlyList<TArm> architectures, IReadOnlyList<TArm> calibration) where TArm : Arm
    {
        ArgumentNullException.ThrowIfNull(runs);
        Series? Line(TArm arm)
        {
            var logged = runs.Seeds.Select(s => runs.Get(arm.Name, s)).Where(r => r.Metrics.ContainsKey(RunningMean)).ToList();
            if (logged.Count == 0) return null;
            var steps = logged[0].Metrics[RunningMean];
            double lambda = logged[0].Result(Exact);
            string label = logged.Count == runs.Seeds.Count ? arm.Name : $"{arm.Name} ({logged.Count} of {runs.Seeds.Count} seeds; the others diverged)";
            return Series.MeanOverSeeds(label, [.. steps.Select(m => (double)m.Step)],
                [.. steps.Select((_, i) => logged.Select(r => r.Metrics[RunningMean][i].Value / lambda).ToArray())], SeriesStyle.Line);
        }
        foreach (var (id, title, arms) in new[] { ("running-mean", "λ̂/λ from the draws so far, per architecture", architectures),
                                                  ("running-mean-calibration", "λ̂/λ from the draws so far, per calibration setting", calibration) })
        {
            var lines = arms.Select(Line).OfType<Series>().ToList();
            if (lines.Count == 0) continue;
            double last = lines.Max(l => l.X[^1]);
            lines.Add(new Series("λ̂ = λ", [0, last], [1, 1], SeriesStyle.Dashed));
            yield return new Figure(id, title, "SGLD draw", "λ̂/λ (running mean over draws and chains)", lines,
                Caption: "Each arm's mean over seeds, with its 95% interval where the bands do not hide each other. A settled " +
                         "estimate is flat; a line still moving at the " +
                         "last draw needed more draws.") { Metrics = [RunningMean] };
        }
    }

    /// <summary>
    /// The calibration figure: for the stored runs of <paramref name="calibration"/> (arms that differ only in step
    /// size ε, localization γ and nβ), λ̂/λ against ε on a log axis, one line per (γ, nβ) through the means over seeds,
    /// with each point's 95% Student-t interval drawn as a vertical segment; the supporting band as dashed lines.
    /// </summary>
    /// <param name="runs">The stored runs.</param>
    /// <param name="calibration">The calibration arms with their settings.</param>
    /// <param name="low">The lower edge of the band λ̂/λ is judged against.</param>
    /// <param name="high">The upper edge.</param>
    public static IEnumerable<Figure> CalibrationFigures<TArm>(RunSet runs, IReadOnlyList<TArm> calibration, double low, double high) where TArm : Arm
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(calibration);
        if (calibration.Count == 0) yield break;
        var points = calibration.Select(a => (Arm: a, Eps: runs.Get(a.Name, runs.Seeds[0]).Result("step_size"),
            Gamma: runs.Get(a.Name, runs.Seeds[0]).Result("localization"), NBeta: runs.Get(a.Name, runs.Seeds[0]).Result("nbeta"))).ToArray();
        var series = new List<Series>();
        foreach (var line in points.GroupBy(x => (x.Gamma, x.NBeta)))
        {
            string label = string.Create(CultureInfo.InvariantCulture, $"γ = {line.Key.Gamma:G4}, nβ = {line.Key.NBeta:F0}");
            var ordered = line.OrderBy(x => x.Eps).ToArray();
            var means = new List<(double Eps, double Mean)>();
            foreach (var x in ordered)
            {
                var ratios = runs.Results(x.Arm.Name, Ratio);
                if (ratios.Any(v => !double.IsFinite(v))) continue;   // a diverged chain: no point
                var ci = Stats.TInterval(ratios);
                means.Add((x.Eps, ci.Value));
                if (double.IsFinite(ci.Low)) series.Add(new Series(label, [x.Eps, x.Eps], [ci.Low, ci.High]));
            }
            if (means.Count > 0) series.Add(new Series(label, [.. means.Select(m => m.Eps)], [.. means.Select(m => m.Mean)], SeriesStyle.LineAndMarkers));
        }
        double lo = points.Min(x => x.Eps), hi = points.Max(x => x.Eps);
        series.Add(new Series("supporting band of the verdict", [lo, hi], [low, low], SeriesStyle.Dashed));
        series.Add(new Series("supporting band of the verdict", [lo, hi], [high, high], SeriesStyle.Dashed));
        series.Add(new Series("λ̂ = λ", [lo, hi], [1, 1], SeriesStyle.Dashed));
        yield return new Figure("calibration", "Calibration sweep: λ̂/λ against the SGLD step size ε", "step size ε", "λ̂/λ", series, LogX: true,
            Caption: "Mean over the calibration seeds (data from seed + offset, never judged) with 95% intervals; one line per " +
                     "localization γ and nβ. Too large an ε inflates λ̂ (discretization and minibatch noise) and then diverges " +
                     "(missing points); too large a γ shrinks it. A trustworthy setting sits on the plateau near λ̂/λ = 1.");
    }
}
