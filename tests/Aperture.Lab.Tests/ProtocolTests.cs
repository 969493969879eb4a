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

    private static readonly RandomLabels Labels = new();

    [Fact]
    public void SettingGroupsReadAsTheProtocolsOwnSettings()
    {
        // The group's members are settings of the protocol under their own keys, in place of the group, with the
        // protocol's note on the group appended to each member's description.
        var settings = ProtocolBinding.Settings(Labels.Quick);
        var keys = settings.Select(s => s.Key).ToList();
        Assert.DoesNotContain("sample", keys);
        Assert.DoesNotContain("training", keys);
        Assert.Equal(["train_per_class", "test_per_class", "hidden", "learning_rate", "batch_size"], keys.Take(5));
        var test = settings.Single(s => s.Key == "test_per_class");
        Assert.Equal("15", test.Value);
        Assert.Contains("test images per class", test.Description);
        Assert.Contains("fold s mod", test.Description);
        Assert.Contains("Adam", settings.Single(s => s.Key == "batch_size").Description);

        // --set reaches into the group, and leaves the group's other member at the protocol's default.
        var p = ProtocolBinding.Apply(Labels.Quick, [KeyValuePair.Create("train-per-class", "70"), KeyValuePair.Create("learning_rate", "0.002")], Labels.Id);
        Assert.Equal(70, p.Sample.TrainPerClass);
        Assert.Equal(15, p.Sample.TestPerClass);
        Assert.Equal(0.002, p.Training.LearningRate);
        Assert.Equal(64, p.Training.BatchSize);
        Assert.Equal([KeyValuePair.Create("train_per_class", "70"), KeyValuePair.Create("learning_rate", "0.002")],
            ProtocolBinding.Differences(p, Labels.Quick));

        // The group's declared range is checked, naming the flat key.
        var bad = Assert.Throws<LabConfigException>(() => ProtocolBinding.Apply(Labels.Quick, [KeyValuePair.Create("batch_size", "0")], Labels.Id));
        Assert.Contains("batch_size must lie in [1, 60000], found 0", bad.Message);

        // Stored JSON and run identity are flat, and read back into the groups.
        string json = ProtocolBinding.ToJson(p);
        Assert.DoesNotContain("\"sample\"", json);
        Assert.Contains("\"train_per_class\":70", json);
        var back = (RandomLabels.Protocol)ProtocolBinding.FromJson(json, typeof(RandomLabels.Protocol));
        Assert.Equal(p.Sample, back.Sample);
        Assert.Equal(p.Training, back.Training);
        Assert.Equal(ProtocolBinding.RunConfigJson(p), ProtocolBinding.RunConfigJson(back));
        Assert.Contains("\"train_per_class\":70,\"test_per_class\":15,\"hidden\":128,\"learning_rate\":0.002,\"batch_size\":64", ProtocolBinding.RunConfigJson(p));
        Assert.NotEqual(ProtocolBinding.RunConfigJson(Labels.Quick), ProtocolBinding.RunConfigJson(p));
    }

    private sealed record Clashing : LabProtocol
    {
        [System.ComponentModel.Description("declared twice: here and in the group")]
        public int BatchSize { get; init; } = 1;
        public Minibatches Training { get; init; } = new();
    }

    [Fact]
    public void ASettingDeclaredTwiceIsRefused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ProtocolBinding.Settings(new Clashing()));
        Assert.Contains("'batch_size' more than once", e.Message);
    }

    [Fact]
    public void SharedGroupsAreSharedAcrossTheCatalogue()
    {
        // Each group is declared once and used by several protocols: what "shared" means here, checked.
        var users = Catalogue.All.ToDictionary(p => p.Id, p => p.ProtocolType.GetProperties().Select(q => q.PropertyType).ToHashSet());
        Assert.True(users.Count(u => u.Value.Contains(typeof(ImageSample))) >= 4);
        Assert.True(users.Count(u => u.Value.Contains(typeof(Minibatches))) >= 5);
        foreach (var p in Catalogue.All)
            foreach (var tier in new[] { Tier.Quick, Tier.Full })
            {
                var d = p.Defaults(tier);
                Assert.Equal(ProtocolBinding.ToJson(d), ProtocolBinding.ToJson(ProtocolBinding.FromJson(ProtocolBinding.ToJson(d), p.ProtocolType)));
            }
    }
}
