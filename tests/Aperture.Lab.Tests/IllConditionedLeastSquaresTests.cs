using Aperture.Lab.Phenomena;
using Aperture.Lab.Recipes;

namespace Aperture.Lab.Tests;

/// <summary>ill-conditioned-least-squares on a tiny protocol: typed arms, the same target for every arm, the verdict's checks.</summary>
public class IllConditionedLeastSquaresTests
{
    private static readonly IllConditionedLeastSquares Phenomenon = Tiny.LeastSquares;

    private static IllConditionedLeastSquares.Protocol TinyProtocol(int seeds) =>
        (IllConditionedLeastSquares.Protocol)Tiny.Resolve(Phenomenon, seeds, [("first_order_steps", "200"), ("lm_iterations", "60"),
            ("gd_learning_rates", "0.01,0.2"), ("adam_learning_rates", "0.1,1")]);

    [Fact]
    public void ArmsAreTypedAndNamed()
    {
        var p = TinyProtocol(2);
        Assert.Equal(["levenberg-marquardt", "gd lr=0.01", "gd lr=0.2", "adam lr=0.1", "adam lr=1"], Phenomenon.Arms(p).Select(a => a.Name));
        var adam = new IllConditionedLeastSquares.Arm(IllConditionedLeastSquares.Solver.Adam, 0.1);
        Assert.Equal("""{"solver":"adam","learning_rate":0.1}""", adam.ToJson());
        Assert.Equal(adam, Phenomenon.ReadArm(adam.ToJson()));
        Assert.Equal(IllConditionedLeastSquares.LevenbergMarquardtArm, Phenomenon.ReadArm(IllConditionedLeastSquares.LevenbergMarquardtArm.ToJson()));
    }

    [Fact]
    public void RunsEveryArmAndJudges()
    {
        var p = TinyProtocol(2);
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, p);
        Assert.Equal(10, outcome.RunsExecuted);
        Assert.Equal(3, outcome.Verdict.Checks.Count);
        Assert.Equal("above 10", outcome.Verdict.Checks[1].Band);
        Assert.Equal("below 5", outcome.Verdict.Checks[1].ContradictingBand);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "measured condition number of A");

        // Levenberg–Marquardt, from the same start, ends far below gradient descent; a step of 0.2 diverges.
        RunContext Run(IllConditionedLeastSquares.Arm arm)
        {
            var run = new RunContext(arm, 0, Tier.Quick);
            Phenomenon.Run(p, arm, run);
            return run;
        }
        var lm = Run(IllConditionedLeastSquares.LevenbergMarquardtArm);
        var gd = Run(new(IllConditionedLeastSquares.Solver.GradientDescent, 0.01));
        var unstable = Run(new(IllConditionedLeastSquares.Solver.GradientDescent, 0.2));
        Assert.True(lm.Results["log10_best_loss"] < -20, $"LM reached only 10^{lm.Results["log10_best_loss"]}");
        Assert.True(gd.Results["log10_best_loss"] > lm.Results["log10_best_loss"] + 10);
        Assert.Equal(0, gd.Results["diverged"]);
        Assert.Equal(1, unstable.Results["diverged"]);
        Assert.Equal(lm.Results["measured_condition_number"], gd.Results["measured_condition_number"]);
        Assert.InRange(lm.Results["measured_condition_number"], 0.999e5, 1.001e5);
        // Levenberg–Marquardt logs every iteration (the verdict reads when it reached the floor from them).
        Assert.Equal(61, lm.Metrics.Count(m => m.Key == LossCurve.Key));
    }

    [Fact]
    public void ProtocolRejectsSettingsThatBreakTheDesign()
    {
        string Problem(string key, string value) =>
            Assert.Throws<LabConfigException>(() => LabRunner.Resolve(Phenomenon, Tier.Quick, [KeyValuePair.Create(key, value)])).Message;
        Assert.Contains("hidden must be at least min(outputs, inputs)", Problem("hidden", "3"));
        Assert.Contains("must be distinct", Problem("gd_learning_rates", "0.1,0.1"));
        Assert.Contains("first_order_steps must lie in", Problem("first_order_steps", "5"));
    }
}
