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
