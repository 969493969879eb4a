using Aperture.Lab.Phenomena;
using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

public class PhenomenaTests
{
    [Fact]
    public void GradientDescentAndHeavyBallMatchTheirRates()
    {
        var p = (MomentumAcceleration.Protocol)Tiny.MomentumProtocol(2);
        var gd = new RunContext(MomentumAcceleration.GradientDescent, 0, Tier.Quick);
        var hb = new RunContext(MomentumAcceleration.HeavyBall, 0, Tier.Quick);
        Tiny.Momentum.Run(p, MomentumAcceleration.GradientDescent, gd);
        Tiny.Momentum.Run(p, MomentumAcceleration.HeavyBall, hb);
        foreach (var kappa in p.Kappas)
        {
            double g = gd.Results[MomentumAcceleration.IterationsKey(kappa)], h = hb.Results[MomentumAcceleration.IterationsKey(kappa)];
            // Gradient descent contracts the slowest mode by (κ−1)/(κ+1) per step: about κ/2·ln(1/tol) steps, less a
            // little for the start's smaller component along it. Heavy ball needs far fewer.
            double predicted = Math.Log(1 / p.Tolerance) / Math.Log((kappa + 1) / (kappa - 1));
            Assert.InRange(g, 0.6 * predicted, 1.05 * predicted);
            Assert.True(h < g / 2 || kappa < 20, $"κ = {kappa}: heavy ball {h}, gradient descent {g}");
        }
        Assert.NotEmpty(gd.Metrics);
    }

    [Fact]
    public void ReluRunRecordsExactPiecesAndStraightnessAtEachDistance()
    {
        var p = (ReluPiecewiseLinear.Protocol)Tiny.ReluProtocol(2);
        RunContext Run(ReluPiecewiseLinear.Arm arm)
        {
            var run = new RunContext(arm, 1, Tier.Quick);
            Tiny.Relu.Run(p, arm, run);
            return run;
        }
        var relu = Run(ReluPiecewiseLinear.Relu);
        Assert.True(relu.Results["pieces"] >= 2);
        Assert.True(relu.Results["pieces_reconstruction_error"] < 1e-9, $"reconstruction error {relu.Results["pieces_reconstruction_error"]}");
        Assert.Equal([1.0, 3, 10, 30], p.Distances);
        foreach (var key in new[] { "deviation_r1", "deviation_r3", "deviation_r10", "deviation_r30" })
            Assert.InRange(relu.Results[key], 0, 100);
        Assert.Contains("hinges_x", relu.Artifacts["function.json"]);

        // The untrained arm is the trained arm's starting point: the same pieces machinery, but it does not fit the data.
        var untrained = Run(ReluPiecewiseLinear.Untrained);
        Assert.True(untrained.Results["relative_train_mse"] > 0.2, $"untrained relative MSE {untrained.Results["relative_train_mse"]}");
        Assert.True(relu.Results["relative_train_mse"] < untrained.Results["relative_train_mse"] / 2);
        Assert.Empty(untrained.Metrics);

        var tanh = Run(ReluPiecewiseLinear.Tanh);
        Assert.False(tanh.Results.ContainsKey("pieces"));
        Assert.True(tanh.Results["deviation_r1"] > 0);
        Assert.Equal(["relu", "tanh", "relu-untrained"], Tiny.Relu.Arms(p).Select(a => a.Name));
    }

    [Fact]
    public void ReluVerdictHasAFitCheckFourDistancesAndTheTanhControl()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Tiny.Relu, Tier.Quick, Tiny.ReluProtocol(3));
        Assert.Equal(9, outcome.RunsExecuted);
        var checks = outcome.Verdict.Checks;
        Assert.Equal(6, checks.Count);
        Assert.StartsWith("relu: training MSE", checks[0].Estimate.Name);
        Assert.All(checks.Skip(1).Take(4), c => Assert.Equal("below 0.05", c.Band));
        Assert.StartsWith("tanh:", checks[^1].Estimate.Name);
        Assert.Equal("above 0.25", checks[^1].Band);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name.StartsWith("relu: seeds exactly linear beyond 30 spans", StringComparison.Ordinal));
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(3, Tiny.Relu.Figures((ReluPiecewiseLinear.Protocol)Tiny.ReluProtocol(3), runs).Count());
    }

    [Fact]
    public void RunsAreDeterministic()
    {
        var p = (ReluPiecewiseLinear.Protocol)Tiny.ReluProtocol(2);
        var a = new RunContext(ReluPiecewiseLinear.Relu, 0, Tier.Quick);
        var b = new RunContext(ReluPiecewiseLinear.Relu, 0, Tier.Quick);
        Tiny.Relu.Run(p, ReluPiecewiseLinear.Relu, a);
        Tiny.Relu.Run(p, ReluPiecewiseLinear.Relu, b);
        Assert.Equal(a.Results, b.Results);
    }

    [Fact]
    public void AFailingRunIsStoredAsFailedAndNamed()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var e = Assert.Throws<LabRunException>(() => new LabRunner(store).Run(new Exploding(), Tier.Quick, new Exploding().Quick));
        Assert.Contains("exploding", e.Message);
        Assert.Contains("seed 0", e.Message);
        Assert.Equal(RunStatus.Failed, store.ListRuns().Single().Status);
    }

    private sealed class Exploding : TestPhenomenon<Exploding.Protocol>
    {
        public sealed record Protocol : LabProtocol;
        public override string Id => "exploding";
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("only")];
        public override void Run(Protocol p, NamedArm arm, RunContext run) => throw new InvalidOperationException("the run went wrong");
        public override Verdict Judge(Protocol p, RunSet runs) => throw new InvalidOperationException("unreachable");
    }
}
