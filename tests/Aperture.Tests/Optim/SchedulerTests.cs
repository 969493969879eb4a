using Aperture.Optim;

namespace Aperture.Tests.Optim;

public class SchedulerTests
{
    private static SGD Opt(double lr = 1.0) => new([Tensor.Zeros([1]).RequiresGrad_()], lr: lr);

    private static double[] Rates(LRScheduler s, int count)
    {
        var rates = new double[count];
        for (int t = 0; t < count; t++)
        {
            rates[t] = s.Optimizer.ParamGroups[0].LearningRate;
            s.Step();
        }
        return rates;
    }

    private static void AssertRates(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-12);
    }

    [Fact]
    public void StepLRDecaysEveryStepSize() =>
        AssertRates([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25], Rates(new StepLR(Opt(), stepSize: 3, gamma: 0.5), 8));

    [Fact]
    public void ExponentialLRDecaysEveryStep() =>
        AssertRates(Enumerable.Range(0, 6).Select(t => 2 * Math.Pow(0.9, t)).ToArray(), Rates(new ExponentialLR(Opt(2), 0.9), 6));

    [Fact]
    public void CosineAnnealingReachesEtaMinAtTMax()
    {
        var r = Rates(new CosineAnnealingLR(Opt(), tMax: 10, etaMin: 0.1), 11);
        Assert.Equal(1, r[0], 12);
        Assert.Equal(0.55, r[5], 12);
        Assert.Equal(0.1, r[10], 12);
        Assert.Equal(0.1 + 0.9 * (1 + Math.Cos(Math.PI * 3 / 10)) / 2, r[3], 12);
    }

    [Fact]
    public void LinearWarmupRampsThenHolds()
    {
        AssertRates([0.25, 0.4375, 0.625, 0.8125, 1, 1], Rates(new LinearLR(Opt(), startFactor: 0.25, endFactor: 1, totalIters: 4), 6));
        AssertRates([0.2, 0.4, 0.6, 0.8, 1, 1], Rates(LinearLR.Warmup(Opt(), 5), 6));
    }

    [Fact]
    public void InverseSqrtDecaysLikeOneOverSqrtT() =>
        AssertRates(Enumerable.Range(0, 6).Select(t => Math.Sqrt(4.0 / (t + 4))).ToArray(), Rates(new InverseSqrtLR(Opt(), timescale: 4), 6));

    [Fact]
    public void LambdaLRUsesTheFactor() =>
        AssertRates([3, 1.5, 1], Rates(new LambdaLR(Opt(3), t => 1.0 / (t + 1)), 3));

    [Fact]
    public void SequentialLRChainsWarmupAndCosine()
    {
        var opt = Opt();
        var warmup = LinearLR.Warmup(opt, 3);
        var cosine = new CosineAnnealingLR(opt, tMax: 4);
        var r = Rates(new SequentialLR(opt, [warmup, cosine], [3]), 8);
        AssertRates([1 / 3.0, 2 / 3.0, 1, 1, (1 + Math.Cos(Math.PI / 4)) / 2, 0.5, (1 + Math.Cos(3 * Math.PI / 4)) / 2, 0], r);
    }

    [Fact]
    public void EachGroupKeepsItsOwnBaseRate()
    {
        var opt = new SGD([new ParamGroup([Tensor.Zeros([1]).RequiresGrad_()]) { ["lr"] = 1 }, new ParamGroup([Tensor.Zeros([1]).RequiresGrad_()]) { ["lr"] = 0.1 }]);
        var s = new StepLR(opt, 1, 0.5);
        s.Step();
        Assert.Equal([0.5, 0.05], s.LastLearningRates);
    }

    [Fact]
    public void StateRestoresTheScheduleExactly()
    {
        var s = new CosineAnnealingLR(Opt(0.3), tMax: 7);
        for (int i = 0; i < 4; i++) s.Step();
        var state = s.StateDict();
        Assert.Equal(4, state["t"]);
        var fresh = new CosineAnnealingLR(Opt(99), tMax: 7);
        fresh.LoadStateDict(state);
        Assert.Equal(s.Optimizer.ParamGroups[0].LearningRate, fresh.Optimizer.ParamGroups[0].LearningRate);
        s.Step();
        fresh.Step();
        Assert.Equal(s.Optimizer.ParamGroups[0].LearningRate, fresh.Optimizer.ParamGroups[0].LearningRate);
        Assert.Throws<ArgumentException>(() => fresh.LoadStateDict(new Dictionary<string, double> { ["t"] = 1 }));
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepLR(Opt(), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(Opt(), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(Opt(), startFactor: 0));
        Assert.Throws<ArgumentException>(() => new SequentialLR(Opt(), [new StepLR(Opt(), 1)], [2]));
    }
}
