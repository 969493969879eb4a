using Aperture.Lab.Phenomena;
using Aperture.Lab.Probes;
using LearningCoefficient = Aperture.Lab.Phenomena.LearningCoefficient;

namespace Aperture.Lab.Tests;

/// <summary>learning-coefficient on a tiny protocol: typed arms, the stored diagnostics, the calibration runs and figure, the checks.</summary>
public class LearningCoefficientTests
{
    internal static readonly LearningCoefficient Phenomenon = new();

    // Short chains: every code path of a real run in seconds (the estimates themselves are not judged here).
    internal static LabProtocol TinyProtocol(int seeds) =>
        Tiny.Resolve(Phenomenon, seeds, [("sample_size", "200"), ("burn_in", "20"), ("draws", "60"), ("calibration_step_sizes", "1e-4,3e-4"),
            ("calibration_localizations", "1")]);

    [Fact]
    public void ArmsAreTypedAndNamed()
    {
        var p = (LearningCoefficient.Protocol)TinyProtocol(2);
        var arms = Phenomenon.Arms(p);
        Assert.Equal(6 + 2, arms.Count);
        Assert.Equal("dln 3,3,3 r1", arms[0].Name);
        Assert.Equal("calibration ε=0.0001 γ=1 nβ×1", arms[6].Name);
        Assert.Equal(arms.Count, arms.Select(a => a.Name).Distinct().Count());
        // At least six architectures, two depths or more, rank-deficient ones among them, each with λ ≤ ½·d/2.
        var verdict = LearningCoefficient.Architectures(p).ToArray();
        Assert.True(verdict.Select(a => a.Widths.Length).Distinct().Count() >= 2);
        Assert.Contains(verdict, a => a.Rank < a.Widths.Min());
        foreach (var a in verdict)
            Assert.True(ExactLearningCoefficients.DeepLinear(a.Widths, a.Rank).Lambda.ToDouble() <= a.Widths.Zip(a.Widths.Skip(1), (x, y) => x * y).Sum() / 4.0, a.Name);
        var json = arms[6].ToJson();
        Assert.Equal("""{"role":"calibration","widths":[3,3,3],"rank":1,"step_size":0.0001,"localization":1,"n_beta_factor":1}""", json);
        Assert.Equal(arms[6], Phenomenon.ReadArm(json));
        Assert.NotEqual(arms[0], arms[1]);
    }

    [Fact]
    public void RunRecordsTheEstimateItsDiagnosticsAndTheCalibrationUsesOtherData()
    {
        var p = (LearningCoefficient.Protocol)TinyProtocol(2);
        RunContext Run(LearningCoefficient.Arm arm)
        {
            var run = new RunContext(arm, 3, Tier.Quick);
            Phenomenon.Run(p, arm, run);
            return run;
        }
        var judged = Run(new(LearningCoefficient.Role.Verdict, [3, 3, 3], 1, 3e-4));
        var calibration = Run(new(LearningCoefficient.Role.Calibration, [3, 3, 3], 1, 3e-4, 1, 1));
        Assert.Equal(4, judged.Results[LlcRecord.Exact]);
        Assert.Equal(9, judged.Results[LlcRecord.HalfDimension]);
        Assert.Equal(judged.Results[LlcRecord.LambdaHat] / 4, judged.Results[LlcRecord.Ratio], 12);
        Assert.Equal(200 / Math.Log(200), judged.Results["nbeta"], 12);
        Assert.Equal(0, judged.Results["diverged_chains"]);
        Assert.Contains(judged.Metrics, m => m.Key == LlcRecord.RunningMean && m.Step == 60);
        // Same settings, same seed, but the calibration arm draws its data from seed + offset: a different estimate.
        Assert.NotEqual(judged.Results[LlcRecord.LambdaHat], calibration.Results[LlcRecord.LambdaHat]);
        var again = Run(new(LearningCoefficient.Role.Verdict, [3, 3, 3], 1, 3e-4));
        Assert.Equal(judged.Results[LlcRecord.LambdaHat], again.Results[LlcRecord.LambdaHat]);
    }

    [Fact]
    public void RunsEveryArmJudgesEveryArchitectureAndDrawsTheCalibration()
    {
        var p = TinyProtocol(2);
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, p);
        Assert.Equal(16, outcome.RunsExecuted);
        Assert.Equal(18, outcome.Verdict.Checks.Count);
        Assert.Equal("above 0.8", outcome.Verdict.Checks[0].Band);
        Assert.Equal("below 0.6", outcome.Verdict.Checks[0].ContradictingBand);
        Assert.Equal("below 1.2", outcome.Verdict.Checks[1].Band);
        Assert.Equal("above 1.4", outcome.Verdict.Checks[1].ContradictingBand);
        Assert.Equal("below 0.75", outcome.Verdict.Checks[2].Band);
        var runs = store.LoadRunSet(outcome.RunIds);
        var figures = Phenomenon.FiguresFor(p, runs).ToArray();
        Assert.Equal(["estimate-vs-exact", "calibration", "running-mean", "running-mean-calibration"], figures.Select(f => f.Name));
        // The calibration figure: one line of means over ε plus one interval segment per ε.
        Assert.Contains(figures[1].Series, s => s.Style == SeriesStyle.LineAndMarkers && s.X.SequenceEqual([1e-4, 3e-4]));
        // The running means, architectures and calibration apart, each arm's λ̂/λ over seeds (ending at its final ratio)
        // beside the line λ̂ = λ; they replace the automatic per-arm curve.
        var lc = (LearningCoefficient.Protocol)p;
        var architectures = LearningCoefficient.Architectures(lc).ToArray();
        var running = figures[2];
        Assert.Equal([.. architectures.Select(a => a.Name), "λ̂ = λ"], running.Series.Select(s => s.Group));
        Assert.Equal(LearningCoefficient.CalibrationArms(lc).Count() + 1, figures[3].Series.Count);
        Assert.Contains(LlcRecord.RunningMean, running.Metrics);
        var first = running.Series[0];
        Assert.Equal(runs.Results(architectures[0].Name, LlcRecord.Ratio).Average(), first.Y[^1], 12);
    }

    [Fact]
    public void ProtocolRejectsInconsistentThresholds()
    {
        var e = Assert.Throws<LabConfigException>(() => LabRunner.Resolve(Phenomenon, Tier.Quick, [KeyValuePair.Create("ratio_low", "1.3")]));
        Assert.Contains("ratio_contradict_below ≤ ratio_low < ratio_high", e.Message);
        Assert.Contains("all distinct", Assert.Throws<LabConfigException>(() =>
            LabRunner.Resolve(Phenomenon, Tier.Quick, [KeyValuePair.Create("calibration_step_sizes", "1e-3,1e-3")])).Message);
    }
}
