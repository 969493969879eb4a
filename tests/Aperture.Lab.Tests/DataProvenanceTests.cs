using Aperture.Data;
using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

/// <summary>
/// Two full-size copies of Fashion-MNIST written for the tests: the shipped subset's images at their original indices,
/// every other image a deterministic pattern; the second differs from the first in one image outside the subset.
/// </summary>
public sealed class FullSizeCopies : IDisposable
{
    private readonly TempDir _dir = new();

    public FullSizeCopies()
    {
        Aperture.Testing.FashionMnistCopies.WriteFullSize(A);
        // Copy B: one training image that is not in the subset is changed.
        Aperture.Testing.FashionMnistCopies.WriteFullSize(B, (split, pixels, indices) =>
        {
            if (split != "train") return;
            int outside = Enumerable.Range(0, FashionMnist.FullTrainCount).First(i => Array.BinarySearch(indices, i) < 0);
            pixels[outside * 784] ^= 0xFF;
        });
    }

    /// <summary>The first full-size copy.</summary>
    public string A => _dir.File("copy-a");

    /// <summary>The second, differing from the first outside the subset.</summary>
    public string B => _dir.File("copy-b");

    public void Dispose() => _dir.Dispose();
}

/// <summary>A run's identity carries the data it read: quick tiers read the same bits from any copy; another copy is another run.</summary>
public class DataProvenanceTests(FullSizeCopies copies) : IClassFixture<FullSizeCopies>
{
    private static string Subset => FashionMnist.FindBuiltInSubset()!;

    [Fact]
    public void QuickTiersGiveTheSameBitsFromTheShippedSubsetAndFromAFullSizeCopy()
    {
        var readers = Tiny.All(2).Where(t => t.Phenomenon.DataFor(t.Protocol, Tier.Quick) == LabDataset.FashionMnistSubset).ToList();
        Assert.NotEmpty(readers);
        using var dir = new TempDir();
        using var fromSubset = Tiny.NewStore(dir, "subset.db");
        using var fromFull = Tiny.NewStore(dir, "full.db");
        var a = new LabRunner(fromSubset, new LabDataSource(Subset));
        var b = new LabRunner(fromFull, new LabDataSource(copies.A));
        foreach (var (phenomenon, protocol) in readers)
        {
            var planA = a.Plan(phenomenon, Tier.Quick, protocol);
            var planB = b.Plan(phenomenon, Tier.Quick, protocol);
            // The same data hash, so the same run identities…
            Assert.Equal(planA.Select(s => s.RunId), planB.Select(s => s.RunId));
            Assert.All(planA, s => Assert.Equal(FashionMnist.SubsetSha256, s.DataFingerprint));
            Assert.NotEqual(planA[0].DataSource, planB[0].DataSource);
            a.Run(phenomenon, Tier.Quick, protocol);
            b.Run(phenomenon, Tier.Quick, protocol);
            // …and the same bits in every result and every logged value.
            foreach (var spec in planA)
            {
                var x = fromSubset.LoadRun(spec.RunId);
                var y = fromFull.LoadRun(spec.RunId);
                Assert.Equal(x.Results.OrderBy(kv => kv.Key).Select(kv => BitConverter.DoubleToInt64Bits(kv.Value)),
                             y.Results.OrderBy(kv => kv.Key).Select(kv => BitConverter.DoubleToInt64Bits(kv.Value)));
                foreach (var (key, points) in x.Metrics)
                    Assert.Equal(points.Select(p => BitConverter.DoubleToInt64Bits(p.Value)), y.Metrics[key].Select(p => BitConverter.DoubleToInt64Bits(p.Value)));
            }
        }
    }

    [Fact]
    public void AStoreFilledFromOneCopyIsNotReusedForAnother()
    {
        var phenomenon = new MeanPixel();
        var protocol = LabRunner.Resolve(phenomenon, Tier.Full, seeds: 2);
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var first = new LabRunner(store, new LabDataSource(copies.A)).Run(phenomenon, Tier.Full, protocol);
        Assert.Equal((4, 0), (first.RunsExecuted, first.RunsReused));
        // The same copy again: everything is reused.
        var again = new LabRunner(store, new LabDataSource(copies.A)).Run(phenomenon, Tier.Full, protocol);
        Assert.Equal((0, 4), (again.RunsExecuted, again.RunsReused));
        // Another copy, differing in one image: nothing is reused, and the runs and verdicts say which copy they read.
        var other = new LabRunner(store, new LabDataSource(copies.B)).Run(phenomenon, Tier.Full, protocol);
        Assert.Equal((4, 0), (other.RunsExecuted, other.RunsReused));
        Assert.NotEqual(first.DataFingerprint, other.DataFingerprint);
        Assert.Empty(first.RunIds.Intersect(other.RunIds));
        var rows = store.ListRuns(phenomenon.Id);
        Assert.Equal(8, rows.Count);
        Assert.Equal(2, rows.Select(r => r.DataFingerprint).Distinct().Count());
        Assert.All(rows, r => Assert.Contains(r.DataFingerprint == first.DataFingerprint ? copies.A : copies.B, r.DataSource));
        Assert.Equal(other.DataFingerprint, store.Verdicts(phenomenon.Id)[0].DataFingerprint);
    }

    [Fact]
    public void AFullTierWithoutTheFullDatasetStopsBeforeRunningAndSaysHowToGetIt()
    {
        var phenomenon = new MeanPixel();
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store, new LabDataSource(Subset));
        var e = Assert.Throws<LabConfigException>(() => runner.Run(phenomenon, Tier.Full, LabRunner.Resolve(phenomenon, Tier.Full, seeds: 2)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
        Assert.Contains("--data-dir", e.Message);
        Assert.Empty(store.ListRuns());
    }

    /// <summary>A phenomenon that reads Fashion-MNIST and records the mean pixel of a stratified sample.</summary>
    private sealed class MeanPixel : TestPhenomenon<MeanPixel.Protocol>
    {
        public sealed record Protocol : LabProtocol;
        public override string Id => "mean-pixel";
        public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("a"), new("b")];

        public override void Run(Protocol p, NamedArm arm, RunContext run)
        {
            var sample = LabData.FlatSample(run.Data.FashionMnist.Train, 3, run.Generator, "per_class");
            run.Record("mean_pixel", sample.Inputs.Mean().Item());
        }

        public override Verdict Judge(Protocol p, RunSet runs)
        {
            var e = Estimate.Mean("mean pixel", Unit.Dimensionless, runs.Results("a", "mean_pixel"));
            return Verdict.From(e, Check.Above(e, 0));
        }
    }
}
