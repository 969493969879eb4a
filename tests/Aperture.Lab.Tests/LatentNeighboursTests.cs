using Aperture.Lab.Phenomena;
using Aperture.Lab.Recipes;
using static Aperture.Lab.Phenomena.LatentNeighbours;

namespace Aperture.Lab.Tests;

/// <summary>latent-neighbours on a tiny protocol: its arms, what each records, its verdict and its gallery artifacts.</summary>
public class LatentNeighboursTests
{
    public static readonly LatentNeighbours Phenomenon = new();

    // 200 training and 60 held-out bonds, 10 training and 3 test images per class, tiny nets, two epochs: seconds.
    public static LabProtocol TinyProtocol(int seeds) =>
        Tiny.Resolve(Phenomenon, seeds, [("train_bonds", "200"), ("held_bonds", "60"), ("bond_hidden", "8"), ("bond_epochs", "2"),
            ("train_per_class", "10"), ("test_per_class", "3"), ("image_hidden", "16,8"), ("image_epochs", "2"), ("k", "5")]);

    [Fact]
    public void RunsSixArmsAndJudgesSixChecks()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, TinyProtocol(2));
        var p = (Protocol)outcome.Protocol;
        Assert.Equal(["bonds: raw features", "bonds: random net", "bonds: trained net", "fashion-mnist: pixels", "fashion-mnist: random net", "fashion-mnist: trained net"],
            Phenomenon.Arms(p).Select(a => a.Name));
        Assert.Equal((12, 0), (outcome.RunsExecuted, outcome.RunsReused));
        Assert.Equal(6, outcome.Verdict.Checks.Count);
        Assert.Equal("below 0.8", outcome.Verdict.Checks[0].Band);
        Assert.Equal("above 0.02", outcome.Verdict.Checks[5].Band);
        Assert.StartsWith("bonds: driving-factor spread, trained net / raw features", outcome.Verdict.Effect.Name);
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(2, Phenomenon.Figures(p, runs).Count());
        foreach (var r in runs.Runs)
        {
            var listing = NeighbourListing.FromJson(r.ReadArtifact("neighbours.json"))!;
            Assert.Equal(5, listing.Neighbours.Count);
            Assert.Equal(r.Arm, listing.Space);
            Assert.Equal(r.Arm.StartsWith("bonds", StringComparison.Ordinal) ? 0 : 28, listing.ImageSide);
        }
    }

    [Fact]
    public void ArmsOfASeedShareTheirDataAndTheRandomNetIsTheTrainedNetsStart()
    {
        var p = (Protocol)TinyProtocol(2);
        RunContext Run(Domain d, Space s)
        {
            var arm = new Search(d, s);
            var run = new RunContext(arm, 0, Tier.Quick, Tiny.Subset);
            Phenomenon.Run(p, arm, run);
            return run;
        }
        var raw = Run(Domain.Bonds, Space.Raw);
        var random = Run(Domain.Bonds, Space.RandomNet);
        var trained = Run(Domain.Bonds, Space.TrainedNet);
        // The raw and random arms share the untrained net (same init stream): the same price predictions.
        Assert.Equal(raw.Results["held_price_rmse"], random.Results["held_price_rmse"]);
        Assert.NotEqual(random.Results["held_price_rmse"], trained.Results["held_price_rmse"]);
        foreach (var r in new[] { raw, random, trained })
            Assert.InRange(r.Results["driving_spread"], 0, 2);
        var pixels = Run(Domain.FashionMnist, Space.Raw);
        Assert.InRange(pixels.Results["precision_at_k"], 0, 1);
        Assert.Equal(pixels.Results, Run(Domain.FashionMnist, Space.Raw).Results);
    }

    [Fact]
    public void ASeedsBondScoresAreTheMeansOverItsMarkets()
    {
        // The oracle: the seed's generator forked three at a time (data, initial weights, minibatch order) per market,
        // each market scored on its own, then averaged.
        var p = (Protocol)TinyProtocol(2) with { BondMarkets = 3 };
        foreach (var space in new[] { Space.Raw, Space.TrainedNet })
        {
            var arm = new Search(Domain.Bonds, space);
            var run = new RunContext(arm, 7, Tier.Quick, Tiny.Subset);
            Phenomenon.Run(p, arm, run);
            var g = new RunContext(arm, 7, Tier.Quick, Tiny.Subset).Generator;
            double driving = 0, price = 0, rmse = 0;
            for (int m = 0; m < p.BondMarkets; m++)
            {
                Generator data = g.Fork(), init = g.Fork(), order = g.Fork();
                var (train, held) = BondSimilarity.Split(Aperture.Data.Synthetic.BondMarket(p.TrainBonds + p.HeldBonds, data, nuisance: p.Nuisance, priceNoise: p.PriceNoise), p.TrainBonds);
                var net = space == Space.TrainedNet
                    ? BondSimilarity.Train(train.Data, p.BondHidden, p.BondEpochs, p.Training.BatchSize, p.Training.LearningRate, init, order)
                    : BondSimilarity.Untrained(train.Data, p.BondHidden, init);
                var s = BondSimilarity.Score(BondSimilarity.Represent(space == Space.Raw ? BondRepresentation.RawFeatures : BondRepresentation.TrainedNet, net, held.Data.Inputs), held, p.K, p.Metric);
                driving += s.Driving / p.BondMarkets;
                price += s.Price / p.BondMarkets;
                rmse += Math.Sqrt(net.Predict(held.Data.Inputs).Zip(held.Data.Targets.ToDoubleArray(), (a, b) => (a - b) * (a - b)).Average()) / p.BondMarkets;
            }
            Assert.Equal(driving, run.Results["driving_spread"], 12);
            Assert.Equal(price, run.Results["price_spread"], 12);
            Assert.Equal(rmse, run.Results["held_price_rmse"], 12);
        }
    }

    [Fact]
    public void ProblemsNameTheSettings()
    {
        Assert.Contains(new Protocol { SupportRatio = 1.2 }.Problems(), m => m.Contains("support_ratio"));
        Assert.Contains(new Protocol { K = 20, HeldBonds = 20 }.Problems(), m => m.Contains("held_bonds"));
    }
}
