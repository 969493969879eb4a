using Aperture.Lab.Statistics;

namespace Aperture.Lab.Probes;

/// <summary>
/// λ̂ over several seeds for a model with a known λ. Each seed draws its own true parameter and training set, places
/// w*, and runs the chains; the seeds' λ̂ vary with the data (Watanabe's WBIC fluctuation, of relative size
/// ~√(β/λ)), which the chains of one seed cannot see, so the interval is taken across seeds.
/// </summary>
/// <param name="Model">The model's name.</param>
/// <param name="Exact">The exact learning coefficient.</param>
/// <param name="Dimension">d (d/2 is what a regular model of this size would have).</param>
/// <param name="SampleSize">n.</param>
/// <param name="Anchor">How w* was placed.</param>
/// <param name="Seeds">The seeds, in order.</param>
/// <param name="Estimates">Each seed's estimate.</param>
/// <param name="Mean">The mean of the seeds' λ̂.</param>
/// <param name="StandardError">The standard error of that mean: across seeds with ≥ 2 seeds, else the chains' standard error.</param>
/// <param name="Interval">A 95% interval: Student-t across seeds, or across chains with one seed.</param>
public sealed record LearningCoefficientCheckResult(string Model, LearningCoefficient Exact, int Dimension, int SampleSize, LlcAnchor Anchor,
    IReadOnlyList<ulong> Seeds, IReadOnlyList<LlcEstimate> Estimates, double Mean, double StandardError, Interval Interval)
{
    /// <summary>λ̂/λ (NaN when λ = 0).</summary>
    public double Ratio => Exact.Lambda.Sign == 0 ? double.NaN : Mean / Exact.Lambda.ToDouble();
}

/// <summary>Runs <see cref="LocalLearningCoefficient.Estimate"/> over seeds for a model built per seed.</summary>
public static class LearningCoefficientCheck
{
    /// <summary>
    /// Builds the model for each seed with <paramref name="build"/>, estimates λ̂ at its anchor with the same seed, and
    /// summarizes across seeds.
    /// </summary>
    public static LearningCoefficientCheckResult Run(Func<ulong, LearningCoefficientModel> build, IReadOnlyList<ulong> seeds, LlcSettings settings,
        Action<int, LlcEstimate>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(settings);
        if (seeds.Count == 0) throw new ArgumentException("LLC check: no seeds given", nameof(seeds));
        settings.Validate();
        var estimates = new List<LlcEstimate>(seeds.Count);
        LearningCoefficientModel? first = null;
        for (int i = 0; i < seeds.Count; i++)
        {
            var model = build(seeds[i]);
            first ??= model;
            var e = LocalLearningCoefficient.Estimate(model.Problem, settings, seeds[i], cancel);
            estimates.Add(e);
            progress?.Invoke(i, e);
        }
        var values = estimates.Select(e => e.Mean).ToArray();
        double mean, se;
        Interval interval;
        if (values.Any(v => !double.IsFinite(v)))
        {
            mean = se = double.NaN;
            interval = new Interval(double.NaN, double.NaN, double.NaN);
        }
        else if (values.Length >= 2)
        {
            interval = Stats.TInterval(values);
            mean = interval.Value;
            se = Stats.StdDev(values) / Math.Sqrt(values.Length);
        }
        else
        {
            var chains = estimates[0].Chains.Select(c => c.Estimate).ToArray();
            mean = values[0];
            se = estimates[0].StandardError;
            interval = chains.Length >= 2 ? Stats.TInterval(chains) : new Interval(mean, double.NaN, double.NaN);
        }
        return new LearningCoefficientCheckResult(first!.Name, first.Exact, first.Problem.Dimension, first.Problem.SampleSize, first.Anchor,
            seeds, estimates, mean, se, interval);
    }
}
