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
    public void NormalCrossingOneTwoMatchesItsTemperedValue()
    {
        // x·w₁·w₂² has λ = 1/4, but its second pole (−1/2, from w₁) leaves a slow t^−¼ correction: the tempered
        // posterior at nβ = 200, γ = 1 has λ(t) = 0.206 (TemperedLearningCoefficient, by quadrature), 18% below λ. The
        // estimate is held to the value of the posterior it samples, within 3.5 standard errors (devinterp's criterion);
        // earlier versions compared it with λ itself and called it low.
        var settings = new LlcSettings { StepSize = 5e-4, Localization = 1, NBeta = 200, BatchSize = 250, Chains = 1, BurnIn = 1000, Draws = 3000 };
        var res = LearningCoefficientCheck.Run(s => LearningCoefficientModels.NormalCrossing([1, 2], 10_000, s), Seeds(6), settings);
        double tempered = TemperedLearningCoefficient.NormalCrossing([1, 2], 200, 1);
        Assert.InRange(tempered, 0.204, 0.208);
        Assert.True(Math.Abs(res.Mean - tempered) <= 3.5 * res.StandardError, $"λ̂ = {res.Mean} ± {res.StandardError}, λ(200) = {tempered}");
        Assert.True(3.5 * res.StandardError < tempered, $"standard error {res.StandardError} too large to test λ(200) = {tempered}");
    }

    [Fact]
    public void TemperedValuesMatchClosedFormsAndApproachTheLearningCoefficient()
    {
        // One power-1 coordinate is Gaussian with precision t + γ: λ(t) = t/(2(t + γ)) exactly.
        Assert.Equal(100.0 / (2 * 101), TemperedLearningCoefficient.NormalCrossing([1], 100, 1), 12);
        Assert.Equal(100.0 / (2 * 110), TemperedLearningCoefficient.NormalCrossing([0, 1], 100, 10), 12);
        // w²: the quadrature against the limit 1/4 (the correction at t = 10⁸ is below 10⁻⁴ of it) and its monotone approach.
        double[] w2 = [.. new[] { 1e2, 1e4, 1e8 }.Select(t => TemperedLearningCoefficient.NormalCrossing([2], t, 1))];
        Assert.True(w2[0] < w2[1] && w2[1] < w2[2], string.Join(", ", w2));
        Assert.Equal(0.25, w2[2], 3);
        // x·w₁·w₂² computed two ways: with w₁ integrated in closed form, and on the two-dimensional grid (powers 2, 2
        // → the closed form does not apply; the tie gives multiplicity 2, a ln t correction, far slower than t^−¼).
        Assert.Equal(TemperedLearningCoefficient.NormalCrossing([1, 2], 200, 1), TemperedLearningCoefficient.NormalCrossing([2, 1], 200, 1), 12);
        double tie = TemperedLearningCoefficient.NormalCrossing([2, 2], 1e4, 1);
        Assert.InRange(tie, 0.1, 0.25);
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperedLearningCoefficient.NormalCrossing([2], 100, 0));
        Assert.Throws<ArgumentException>(() => TemperedLearningCoefficient.NormalCrossing([2, 2, 2], 100, 1));
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
