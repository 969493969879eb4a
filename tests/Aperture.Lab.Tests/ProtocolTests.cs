using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

public class ProtocolTests
{
    private static readonly MomentumAcceleration Momentum = new();

    private static MomentumAcceleration.Protocol Apply(params (string, string)[] kv) =>
        ProtocolBinding.Apply(Momentum.Quick, kv.Select(p => KeyValuePair.Create(p.Item1, p.Item2)), Momentum.Id);

    [Fact]
    public void OverridesAreTyped()
    {
        var p = Apply(("dimension", "12"), ("kappas", "10, 1e3"), ("tolerance", "1e-4"), ("seeds", "3"), ("gd-exponent-low", "0.7"));
        Assert.Equal(12, p.Dimension);
        Assert.Equal([10.0, 1000.0], p.Kappas);
        Assert.Equal(1e-4, p.Tolerance);
        Assert.Equal(3, p.Seeds);
        Assert.Equal(0.7, p.GdExponentLow);
        Assert.Equal(50, Momentum.Quick.Dimension);   // the defaults are untouched
    }

    [Fact]
    public void BadOverridesSayWhatWasExpected()
    {
        var unknown = Assert.Throws<LabConfigException>(() => Apply(("dimesion", "12")));
        Assert.Contains("unknown setting 'dimesion'", unknown.Message);
        Assert.Contains("dimension", unknown.Message);
        var type = Assert.Throws<LabConfigException>(() => Apply(("dimension", "twelve")));
        Assert.Contains("'dimension' expects an integer, found 'twelve'", type.Message);
        var list = Assert.Throws<LabConfigException>(() => Apply(("kappas", "10,x")));
        Assert.Contains("comma-separated list of numbers", list.Message);
        var invalid = Assert.Throws<LabConfigException>(() => Apply(("seeds", "1"), ("kappas", "10")));
        Assert.Contains("seeds must lie in [2, 10000], found 1", invalid.Message);
        Assert.Contains("kappas needs at least 2", invalid.Message);
    }

    [Fact]
    public void RunIdentityIgnoresThresholdsAndSeedCount()
    {
        string baseline = ProtocolBinding.RunConfigJson(Momentum.Quick);
        Assert.Equal(baseline, ProtocolBinding.RunConfigJson(Apply(("seeds", "9"), ("momentum_exponent_high", "0.7"))));
        Assert.NotEqual(baseline, ProtocolBinding.RunConfigJson(Apply(("dimension", "9"))));
        Assert.DoesNotContain("threshold", baseline);
        Assert.DoesNotContain("exponent", baseline);
    }

    [Fact]
    public void SettingsAndDifferencesRoundTrip()
    {
        var p = Apply(("dimension", "12"), ("seeds", "3"));
        var diff = ProtocolBinding.Differences(p, Momentum.Quick);
        Assert.Equal([KeyValuePair.Create("dimension", "12"), KeyValuePair.Create("seeds", "3")], diff);
        var back = (MomentumAcceleration.Protocol)ProtocolBinding.FromJson(ProtocolBinding.ToJson(p), typeof(MomentumAcceleration.Protocol));
        Assert.Equal(12, back.Dimension);
        Assert.Equal(p.Kappas, back.Kappas);
        var settings = ProtocolBinding.Settings(p);
        Assert.Equal("dimension", settings[0].Key);
        Assert.Equal(["seeds", "seed_base"], settings.TakeLast(2).Select(s => s.Key));
        Assert.True(settings.Single(s => s.Key == "gd_exponent_low").IsThreshold);
        Assert.All(settings, s => Assert.False(string.IsNullOrWhiteSpace(s.Description)));
    }

    [Fact]
    public void EveryPhenomenonIsComplete()
    {
        Assert.NotEmpty(Catalogue.All);
        foreach (var p in Catalogue.All)
        {
            Assert.Matches("^[a-z0-9]+(-[a-z0-9]+)*$", p.Id);
            Assert.False(string.IsNullOrWhiteSpace(p.Claim));
            Assert.NotEmpty(p.Sources);
            Assert.NotEmpty(p.Models);
            foreach (var tier in new[] { Tier.Quick, Tier.Full })
            {
                ProtocolBinding.Validate(p.Defaults(tier), p.Id);
                Assert.NotEmpty(p.ArmsFor(p.Defaults(tier)));
            }
            Assert.Contains(ProtocolBinding.Settings(p.Defaults(Tier.Quick)), s => s.IsThreshold);
        }
        Assert.Same(Catalogue.Get("momentum-acceleration"), Catalogue.All.Single(p => p.Id == "momentum-acceleration"));
        Assert.Contains("the catalogue has", Assert.Throws<LabConfigException>(() => Catalogue.Get("nope")).Message);
    }
}
