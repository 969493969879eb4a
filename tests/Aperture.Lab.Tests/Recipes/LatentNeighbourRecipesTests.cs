using Aperture.Data;
using Aperture.Latent;
using Aperture.Lab.Recipes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Recipes;

public class LatentNeighbourRecipesTests
{
    private static BondMarketTask Market(int n, ulong seed) => Synthetic.BondMarket(n, new Generator(seed), nuisance: 3);

    [Fact]
    public void SplitKeepsRowsAndStandardizeUsesTrainingColumns()
    {
        var m = Market(50, 1);
        var (a, b) = BondSimilarity.Split(m, 30);
        Assert.Equal(30, a.Data.Count);
        Assert.Equal(20, b.Data.Count);
        Assert.Equal(m.Factors.ToArray<double>()[(30 * 3)..], b.Factors.ToArray<double>());
        Assert.Equal(m.Data.Inputs.ToArray<float>()[..(30 * m.FeatureNames.Count)], a.Data.Inputs.ToArray<float>());
        var (mean, std) = BondSimilarity.ColumnStatistics(a.Data.Inputs);
        var z = BondSimilarity.Standardize(a.Data.Inputs, mean, std).ToDoubleArray();
        int d = m.FeatureNames.Count;
        for (int j = 0; j < d; j++)
        {
            var col = Enumerable.Range(0, 30).Select(i => z[i * d + j]).ToArray();
            Assert.Equal(0, col.Average(), 5);
            Assert.Equal(1, Math.Sqrt(col.Select(v => v * v).Average()), 4);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => BondSimilarity.Split(m, 50));
    }

    [Fact]
    public void RawScoresAreTheProbeOnTheStandardizedFeaturesAndTrainingIsDeterministic()
    {
        var (train, held) = BondSimilarity.Split(Market(300, 2), 200);
        var net = BondSimilarity.Untrained(train.Data, [8], new Generator(3));
        var raw = BondSimilarity.Represent(BondRepresentation.RawFeatures, net, held.Data.Inputs);
        var s = BondSimilarity.Score(raw, held, 5, Distance.L2);
        // Recompute the yield score by hand from a search over the same standardized features.
        var nb = new NearestNeighbourIndex(raw).SearchSelf(5);
        var y = Enumerable.Range(0, 100).Select(i => held.Factors.ToArray<double>()[i * 3]).ToArray();
        Assert.Equal(Aperture.Lab.Probes.NeighbourAgreement.Measure(nb, y).Relative, s.Yield);
        Assert.Equal(3, s.Nuisance.Count);
        Assert.Equal((s.Yield + s.Coupon + s.Maturity) / 3, s.Driving);

        // The untrained net's codes are the last hidden layer of the initial weights; training from the same generator state
        // starts there and gives the same bits twice.
        var codes = BondSimilarity.Represent(BondRepresentation.RandomNet, net, held.Data.Inputs);
        Assert.Equal([100, 8], codes.ShapeArray());
        var t1 = BondSimilarity.Train(train.Data, [8], 2, 32, 1e-3, new Generator(3), new Generator(4));
        var t2 = BondSimilarity.Train(train.Data, [8], 2, 32, 1e-3, new Generator(3), new Generator(4));
        Assert.Equal(t1.Predict(held.Data.Inputs), t2.Predict(held.Data.Inputs));
        Assert.NotEqual(net.Predict(held.Data.Inputs), t1.Predict(held.Data.Inputs));
    }

    [Fact]
    public void APriceNetRoundTripsThroughItsFileAndBadFilesAreNamed()
    {
        using var dir = new TempDir();
        var (train, held) = BondSimilarity.Split(Market(120, 5), 100);
        var net = BondSimilarity.Train(train.Data, [6, 4], 1, 20, 1e-3, new Generator(1), new Generator(2));
        string path = dir.File("bond.safetensors");
        net.Save(path, [6, 4]);
        var back = BondPriceNet.Load(path);
        Assert.Equal(net.Predict(held.Data.Inputs), back.Predict(held.Data.Inputs));
        Assert.Equal("3", back.LastHidden);   // Linear, ReLU, Linear, ReLU (the last hidden layer), Linear
        File.WriteAllText(dir.File("junk"), "not a net");
        Assert.Contains("--model", Assert.Throws<LabConfigException>(() => BondPriceNet.Load(dir.File("junk"))).Message);
        Aperture.IO.SafeTensors.Save(dir.File("other.safetensors"), net.Model.StateDict());
        Assert.Contains("not saved by 'aperture similar", Assert.Throws<LabConfigException>(() => BondPriceNet.Load(dir.File("other.safetensors"))).Message);
    }

    [Fact]
    public void MajorityVoteBreaksTiesByTheNearestNeighbour()
    {
        // Items on a line with labels; queries placed so that votes tie.
        var items = Tensor.FromArray(new double[] { 0, 1, 2, 3, 10 }, [5, 1]);
        long[] labels = [0, 1, 1, 0, 2];
        var nb = new NearestNeighbourIndex(items).Search(Tensor.FromArray(new double[] { 0.1, 2.9, 9 }, [3, 1]), 4);
        // Query 0.1: neighbours 0,1,2,3 → labels 0,1,1,0: tie 2–2, nearest is item 0 (label 0).
        // Query 2.9: neighbours 3,2,1,0 → 0,1,1,0: tie, nearest item 3 (label 0).
        // Query 9: neighbours 4,3,2,1 → 2,0,1,1: label 1 has most votes.
        Assert.Equal([0L, 0, 1], ImageNeighbours.MajorityVote(nb, labels));
        var one = new NearestNeighbourIndex(items).Search(Tensor.FromArray(new double[] { 2.2 }, [1, 1]), 1);
        Assert.Equal([1L], ImageNeighbours.MajorityVote(one, labels));
    }

    [Fact]
    public void ImageScoresAgreeWithRetrievalAndTheVote()
    {
        var g = new Generator(9);
        var items = Tensor.Randn([40, 6], g);
        var queries = Tensor.Randn([12, 6], g);
        var il = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => (long)(i % 3)).ToArray());
        var ql = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (long)(i % 3)).ToArray());
        var s = ImageNeighbours.Score(items, il, queries, ql, 5, Distance.Cosine);
        var nb = new NearestNeighbourIndex(items, Distance.Cosine).Search(queries, 5);
        Assert.Equal(Retrieval.Score(nb, ql, il).PrecisionAtK, s.PrecisionAtK);
        var vote = ImageNeighbours.MajorityVote(nb, il.ToArray<long>());
        Assert.Equal(vote.Zip(ql.ToArray<long>()).Count(p => p.First == p.Second) / 12.0, s.KnnAccuracy);
        var model = ImageNeighbours.Model([7, 5], new Generator(1));
        Assert.Equal("3", BondSimilarity.LastHiddenLayer(model));
        var data = new TensorDataset(Tensor.Randn([4, 784], g), Tensor.FromArray(new long[] { 0, 1, 2, 3 }));
        Assert.Equal([4, 5], ImageNeighbours.Represent(ImageRepresentation.RandomNet, model, data).ShapeArray());
        Assert.Same(data.Inputs, ImageNeighbours.Represent(ImageRepresentation.Pixels, model, data));
    }

    [Fact]
    public void AListingLeavesTheQueryOutAndRoundTripsThroughJson()
    {
        // Items 0 and 2 are exact duplicates: the query (item 2) must still not list itself, and item 0 comes first.
        var x = Tensor.FromArray(new double[] { 1, 5, 1, 1.5, 9 }, [5, 1]);
        var d = new ItemDescriptions(Labels: [3, 4, 3, 3, 5], Attributes: [0, 1, 2, 3, 4], AttributeNames: ["a"]);
        var l = Similarity.List("toy", "raw", x, 2, 3, Distance.L2, d);
        Assert.Equal([0L, 3, 1], l.Neighbours.Select(n => n.Index));
        Assert.Equal([0, 0.5, 4], l.Neighbours.Select(n => n.Distance));
        Assert.Equal(3L, l.QueryLabel);
        Assert.Equal([2.0], l.QueryAttributes!);
        var back = NeighbourListing.FromJson(l.ToJson())!;
        Assert.Equal(l.Neighbours.Select(n => n.Index), back.Neighbours.Select(n => n.Index));
        Assert.Equal("l2", back.Metric);
        Assert.Null(NeighbourListing.FromJson("{ not json"));
        Assert.Contains("--item 5 is outside the 5 items", Assert.Throws<LabConfigException>(() => Similarity.List("toy", "raw", x, 5, 1, Distance.L2, d)).Message);
        Assert.Contains("--k 5 must lie in [1, 4]", Assert.Throws<LabConfigException>(() => Similarity.List("toy", "raw", x, 0, 5, Distance.L2, d)).Message);
        var bonds = Similarity.Bonds(Market(10, 1));
        Assert.Equal(["rating", "sector", "yield_pct", "coupon_pct", "maturity_years", "price", "nuisance_0", "nuisance_1", "nuisance_2"], bonds.AttributeNames);
    }
}
