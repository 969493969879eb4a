using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

/// <summary>
/// The SGLD estimate of the local learning coefficient against exact values. Each validation averages over seeds
/// (each its own data, true parameter and chains), because λ̂ of one training set fluctuates around λ by Watanabe's
/// WBIC term; the sizes are the smallest that keep each test to a few seconds. The larger runs behind docs/instruments.md
/// are `aperture llc` commands.
/// </summary>
public class LocalLearningCoefficientTests
{
    private static ulong[] Seeds(int count) => [.. Enumerable.Range(0, count).Select(i => (ulong)i)];

    [Fact]
    public void RegularModelIsWithinTenPercentOfHalfItsDimension()
    {
        // Linear regression 4→3, d = 12, λ = 6, at the least-squares minimum (the trained anchor).
        var settings = new LlcSettings { StepSize = 3e-4, Localization = 1, Chains = 2, BurnIn = 500, Draws = 2000 };
        var res = LearningCoefficientCheck.Run(s => LearningCoefficientModels.Regular(4, 3, 1000, s), Seeds(3), settings);
        Assert.Equal(new Rational(6), res.Exact.Lambda);
        Assert.InRange(res.Ratio, 0.9, 1.1);
        Assert.All(res.Estimates, e => Assert.Equal(0, e.Diagnostics.DivergedChains));
    }

    [Theory]
    [InlineData(new[] { 3, 3, 3, 3 }, 0, 1e-3)]   // depth 3 at rank 0, λ = 3 (d/2 = 13.5)
    [InlineData(new[] { 4, 3, 4 }, 1, 1e-3)]      // reduced-rank regression, λ = 6 (d/2 = 12)
    [InlineData(new[] { 2, 3, 2 }, 2, 3e-4)]      // full rank through a wide middle, λ = MN/2 = 2 (d/2 = 6)
    public void DeepLinearNetworkIsWithinTwentyPercentOfAoyagisValue(int[] widths, int rank, double stepSize)
    {
        // The step sizes are those the learning-coefficient phenomenon calibrated on seeds 1000–1005 (docs/phenomena.md).
        var settings = new LlcSettings { StepSize = stepSize, Localization = 1, Chains = 2, BurnIn = 500, Draws = 2500 };
        var res = LearningCoefficientCheck.Run(s => LearningCoefficientModels.DeepLinear(widths, rank, 1000, s, LlcAnchor.True), Seeds(4), settings);
        Assert.InRange(res.Ratio, 0.8, 1.2);
        // And far from the parameter count's answer.
        Assert.True(res.Interval.High < res.Dimension / 2.0, $"λ̂ interval reaches d/2 = {res.Dimension / 2.0}: {res.Interval}");
    }

    [Theory]
    [InlineData(new[] { 2 })]      // λ = 1/4
    [InlineData(new[] { 1 })]      // λ = 1/2, the regular one-parameter case
    public void NormalCrossingIsWithinThreeAndAHalfStandardErrors(int[] powers)
    {
        // At w₀ the training set shifts λ̂ by O(β) (the data's own fit, Sxy·w^{2k}, enters at scale √β), so β is taken
        // small: n = 10,000 with nβ = 200 (β = 0.02) instead of n/ln n (β = 0.11, which gives λ̂ ≈ 0.09 for w²).
        // Batches of 250 keep the minibatch gradient noise, ε·(nβ)²·Var(g_B)/4, near 2% of the injected noise.
        var settings = new LlcSettings { StepSize = 5e-4, Localization = 1, NBeta = 200, BatchSize = 250, Chains = 1, BurnIn = 1000, Draws = 2000 };
        var res = LearningCoefficientCheck.Run(s => LearningCoefficientModels.NormalCrossing(powers, 10_000, s), Seeds(5), settings);
        double lambda = res.Exact.Lambda.ToDouble();
        Assert.True(Math.Abs(res.Mean - lambda) <= 3.5 * res.StandardError, $"λ̂ = {res.Mean} ± {res.StandardError}, λ = {lambda}");
        // The standard error is small enough for the check to mean something: it rules out 0 and 2λ.
        Assert.True(3.5 * res.StandardError < lambda, $"standard error {res.StandardError} too large to test λ = {lambda}");
    }

    [Fact]
    public void AnEstimateIsAFunctionOfItsSeedAndLeavesTheParametersAtTheAnchor()
    {
        var model = LearningCoefficientModels.DeepLinear([3, 2, 3], 1, 200, 5, LlcAnchor.True);
        var before = model.Problem.Parameters.Select(p => p.ToArray<double>()).ToArray();
        var settings = new LlcSettings { StepSize = 1e-3, Localization = 1, Chains = 2, BurnIn = 20, Draws = 30, BatchSize = 50 };
        var a = LocalLearningCoefficient.Estimate(model.Problem, settings, 9);
        var b = LocalLearningCoefficient.Estimate(model.Problem, settings, 9);
        var c = LocalLearningCoefficient.Estimate(model.Problem, settings, 10);
        Assert.Equal(a.Mean, b.Mean);
        Assert.Equal(a.Chains[1].LossTrace, b.Chains[1].LossTrace);
        Assert.NotEqual(a.Mean, c.Mean);
        Assert.NotEqual(a.Chains[0].Estimate, a.Chains[1].Estimate);   // chains draw from their own streams
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i], model.Problem.Parameters[i].ToArray<double>());
            Assert.Null(model.Problem.Parameters[i].Grad);
        }
        Assert.Equal(30, a.Chains[0].LossTrace.Count);
        Assert.Equal(30, a.Chains[0].AnchorTrace.Count);
        Assert.Equal("n/ln n", a.NBetaConvention);
        Assert.Equal(200 / Math.Log(200), a.NBeta, 12);
    }

    [Fact]
    public void TheAnchorLossModesAgreeOnAverage()
    {
        // Paired, full and batch-averaged L(w*) have the same expectation; paired has by far the least variance.
        var model = LearningCoefficientModels.Regular(2, 2, 500, 3);
        var baseSettings = new LlcSettings { StepSize = 3e-4, Localization = 1, Chains = 3, BurnIn = 300, Draws = 800 };
        var paired = LocalLearningCoefficient.Estimate(model.Problem, baseSettings, 1);
        var full = LocalLearningCoefficient.Estimate(model.Problem, baseSettings with { AnchorLoss = LlcAnchorLoss.Full }, 1);
        Assert.True(Math.Abs(paired.Mean - full.Mean) < 4 * Math.Sqrt(paired.StandardError * paired.StandardError + full.StandardError * full.StandardError),
            $"paired {paired.Mean} ± {paired.StandardError}, full {full.Mean} ± {full.StandardError}");
        Assert.True(paired.StandardError < full.StandardError);
        Assert.Empty(full.Chains[0].AnchorTrace);
    }

    [Fact]
    public void ATooLargeStepDivergesAndIsFlagged()
    {
        // ε·nβ·h ≫ 4 makes the discretized Langevin chain unstable on the regular directions.
        var model = LearningCoefficientModels.Regular(2, 1, 500, 1);
        var res = LocalLearningCoefficient.Estimate(model.Problem, new LlcSettings { StepSize = 1, Chains = 2, BurnIn = 10, Draws = 300 }, 0);
        Assert.True(double.IsNaN(res.Mean));
        Assert.Equal(2, res.Diagnostics.DivergedChains);
        Assert.False(res.Diagnostics.Stationary);
        Assert.All(res.Chains, c => Assert.True(c.Diverged));
    }

    [Fact]
    public void CalibrationSweepCoversTheGridAndStrongLocalizationShrinksTheEstimate()
    {
        // For a regular model the localized posterior's precision is nβh + γ, so λ̂ ≈ (d/2)·nβh/(nβh + γ): γ = nβ halves it.
        var model = LearningCoefficientModels.Regular(2, 2, 1000, 2);
        double nBeta = LocalLearningCoefficient.DefaultNBeta(1000);
        var settings = new LlcSettings { Chains = 2, BurnIn = 300, Draws = 800 };
        var points = LocalLearningCoefficient.Calibrate(model.Problem, settings, 0, [1e-4, 3e-4], [1, nBeta], [nBeta]);
        Assert.Equal(4, points.Count);
        Assert.Equal((1e-4, 1.0), (points[0].StepSize, points[0].Localization));
        Assert.Equal((3e-4, nBeta), (points[3].StepSize, points[3].Localization));
        foreach (var eps in new[] { 1e-4, 3e-4 })
        {
            double weak = points.Single(p => p.StepSize == eps && p.Localization == 1).Estimate.Mean;
            double strong = points.Single(p => p.StepSize == eps && p.Localization == nBeta).Estimate.Mean;
            Assert.InRange(strong / weak, 0.35, 0.7);
        }
    }

    [Fact]
    public void InvalidSettingsNameTheSetting()
    {
        var model = LearningCoefficientModels.Regular(1, 1, 50, 0);
        Assert.Contains("step size", Assert.Throws<ArgumentException>(() => LocalLearningCoefficient.Estimate(model.Problem, new LlcSettings { StepSize = -1 }, 0)).Message);
        Assert.Contains("draws", Assert.Throws<ArgumentException>(() => LocalLearningCoefficient.Estimate(model.Problem, new LlcSettings { Draws = 2 }, 0)).Message);
        Assert.Contains("nβ", Assert.Throws<ArgumentException>(() => LocalLearningCoefficient.Estimate(model.Problem, new LlcSettings { NBeta = double.NaN }, 0)).Message);
    }
}
