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
    public void ReluRunRecordsExactPiecesAndLinearTails()
    {
        var p = (ReluPiecewiseLinear.Protocol)Tiny.ReluProtocol(2);
        var relu = new RunContext(ReluPiecewiseLinear.Relu, 1, Tier.Quick);
        Tiny.Relu.Run(p, relu);
        Assert.True(relu.Results["pieces"] >= 2);
        Assert.Equal(relu.Results["pieces"] - 1, relu.Results["hinges_inside_data"] + relu.Results["hinges_beyond_data"]);
        Assert.True(relu.Results["pieces_reconstruction_error"] < 1e-9, $"reconstruction error {relu.Results["pieces_reconstruction_error"]}");
        Assert.True(relu.Results["second_difference_beyond_hinges"] < 1e-9);
        Assert.True(relu.Results["train_loss"] < relu.Metrics.First(m => m.Key == "train_loss").Value);
        Assert.Contains("hinges_x", relu.Artifacts["function.json"]);

        var tanh = new RunContext(ReluPiecewiseLinear.Tanh, 1, Tier.Quick);
        Tiny.Relu.Run(p, tanh);
        Assert.False(tanh.Results.ContainsKey("pieces"));
        Assert.True(tanh.Results["extrapolation_gap"] > 0);
    }

    [Fact]
    public void RunsAreDeterministic()
    {
        var p = (ReluPiecewiseLinear.Protocol)Tiny.ReluProtocol(2);
        var a = new RunContext(ReluPiecewiseLinear.Relu, 0, Tier.Quick);
        var b = new RunContext(ReluPiecewiseLinear.Relu, 0, Tier.Quick);
        Tiny.Relu.Run(p, a);
        Tiny.Relu.Run(p, b);
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

    private sealed class Exploding : Phenomenon<Exploding.Protocol>
    {
        public sealed record Protocol : LabProtocol;
        public override string Id => "exploding";
        public override string Title => "t";
        public override string Claim => "c";
        public override string Method => "m";
        public override IReadOnlyList<Source> Sources => [new("s")];
        public override IReadOnlyList<ModelBearing> Models => [];
        public override Protocol Quick => new() { Seeds = 2 };
        public override Protocol Full => Quick;
        public override IReadOnlyList<string> ArmNames(Protocol p) => ["only"];
        public override void Run(Protocol p, RunContext run) => throw new InvalidOperationException("the run went wrong");
        public override Verdict Judge(Protocol p, RunSet runs) => throw new InvalidOperationException("unreachable");
    }
}
