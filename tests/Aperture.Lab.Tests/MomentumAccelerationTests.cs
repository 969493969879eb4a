using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

/// <summary>momentum-acceleration's typed arms and its sampled-row (stochastic-gradient) arms.</summary>
public class MomentumAccelerationTests
{
    [Fact]
    public void ArmsAreTypedRecords()
    {
        var p = (MomentumAcceleration.Protocol)Tiny.MomentumProtocol(2);
        Assert.Equal(["gradient-descent", "heavy-ball", "sgd", "stochastic-heavy-ball"], Tiny.Momentum.Arms(p).Select(a => a.Name));
        var arm = MomentumAcceleration.StochasticHeavyBall;
        Assert.Equal("""{"algorithm":"heavy-ball","gradient":"sampled-rows"}""", arm.ToJson());
        Assert.Equal(arm, Tiny.Momentum.ReadArm(arm.ToJson()));
    }

    [Fact]
    public void SampledRowArmsAreTunedOnTheirOwnProblemAndPaired()
    {
        var p = (MomentumAcceleration.Protocol)Tiny.MomentumProtocol(2);
        RunContext Run(MomentumAcceleration.Arm arm, int seed)
        {
            var run = new RunContext(arm, seed, Tier.Quick);
            Tiny.Momentum.Run(p, arm, run);
            return run;
        }
        var sgd = Run(MomentumAcceleration.Sgd, 0);
        var hb = Run(MomentumAcceleration.StochasticHeavyBall, 0);
        string key = MomentumAcceleration.IterationsKey(p.NoisyKappa);
        Assert.True(sgd.Results[key] > 0 && hb.Results[key] > 0);
        Assert.Equal(0, sgd.Results["tuned_momentum"]);
        Assert.Contains(hb.Results["tuned_momentum"], p.Momenta);
        Assert.Contains(sgd.Results["tuned_step_scale"], p.StepScales.Select(s => Math.Round(s, 10)).Concat(p.StepScales), new ToleranceComparer());
        // Deterministic: the same seed gives the same bits.
        Assert.Equal(hb.Results, Run(MomentumAcceleration.StochasticHeavyBall, 0).Results);
        Assert.NotEmpty(hb.Metrics);
    }

    [Fact]
    public void NoisyKappaMustBeOneOfTheKappas()
    {
        var e = Assert.Throws<LabConfigException>(() => Tiny.MomentumProtocol(2, ("noisy_kappa", "500")));
        Assert.Contains("noisy_kappa must be one of kappas", e.Message);
    }

    private sealed class ToleranceComparer : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= 1e-9 * Math.Abs(y);

        public int GetHashCode(double obj) => 0;
    }
}
