using Aperture.Data;
using Aperture.Latent;
using Aperture.NN;

namespace Aperture.Tests.Latent;

/// <summary>The exact index against a naive O(n²) reference, its tie and zero-vector rules, and its errors.</summary>
[Collection(ThreadCountCollection.Name)]
public class NearestNeighbourTests
{
    /// <summary>
    /// The naive reference: every distance by the documented formula, written out with scalar FMA chains (the bits
    /// the engine's matmul promises), then a full sort by (distance, index).
    /// </summary>
    private static (long[] Idx, double[] Dist) Naive(double[,] items, double[,] queries, Distance metric, int k, bool excludeSelf)
    {
        int n = items.GetLength(0), d = items.GetLength(1), q = queries.GetLength(0);
        double[][] Rows(double[,] m, int count)
        {
            var rows = new double[count][];
            for (int i = 0; i < count; i++)
            {
                rows[i] = new double[d];
                for (int j = 0; j < d; j++) rows[i][j] = m[i, j];
                if (metric == Distance.Cosine)
                {
                    double s = 0;
                    foreach (var v in rows[i]) s = Math.FusedMultiplyAdd(v, v, s);
                    if (s != 0) for (int j = 0; j < d; j++) rows[i][j] /= Math.Sqrt(s);
                }
            }
            return rows;
        }
        double Dot(double[] a, double[] b)
        {
            double s = 0;
            for (int j = 0; j < d; j++) s = Math.FusedMultiplyAdd(a[j], b[j], s);
            return s;
        }
        var xs = Rows(items, n);
        var qs = Rows(queries, q);
        var idx = new long[q * k];
        var dist = new double[q * k];
        for (int i = 0; i < q; i++)
        {
            var all = new List<(double D, long I)>();
            for (int j = 0; j < n; j++)
            {
                if (excludeSelf && i == j) continue;
                double g = Dot(qs[i], xs[j]);
                double v = metric == Distance.L2 ? Math.Max(0, Dot(qs[i], qs[i]) + Dot(xs[j], xs[j]) - (g + g)) : Math.Clamp(1 - g, 0, 2);
                all.Add((v, j));
            }
            all.Sort((a, b) => a.D != b.D ? a.D.CompareTo(b.D) : a.I.CompareTo(b.I));
            for (int t = 0; t < k; t++)
            {
                idx[i * k + t] = all[t].I;
                dist[i * k + t] = metric == Distance.L2 ? Math.Sqrt(all[t].D) : all[t].D;
            }
        }
        return (idx, dist);
    }

    private static double[,] Random(int rows, int cols, Generator g, int levels = 0)
    {
        var t = Tensor.Randn([rows, cols], g, DType.Float64).ToArray<double>();
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                m[i, j] = levels > 0 ? Math.Round(t[i * cols + j] * levels / 3) : t[i * cols + j];   // coarse grid: many exact ties
        return m;
    }

    private static void WithBlocks(int queryBlock, int itemBlock, Action body)
    {
        var (q, i) = (NearestNeighbourIndex.QueryBlock, NearestNeighbourIndex.ItemBlock);
        NearestNeighbourIndex.QueryBlock = queryBlock;
        NearestNeighbourIndex.ItemBlock = itemBlock;
        try { body(); }
        finally { (NearestNeighbourIndex.QueryBlock, NearestNeighbourIndex.ItemBlock) = (q, i); }
    }

    [Theory]
    [InlineData(Distance.L2, 37, 13, 5, 7, 0)]
    [InlineData(Distance.Cosine, 37, 13, 5, 7, 0)]
    [InlineData(Distance.L2, 50, 3, 1, 1, 0)]
    [InlineData(Distance.L2, 29, 2, 29, 17, 2)]     // coarse grid: many exact ties, k = n
    [InlineData(Distance.Cosine, 29, 2, 9, 17, 2)]
    [InlineData(Distance.L2, 200, 33, 10, 64, 0)]   // n not a multiple of the block; d across a kernel width
    public void MatchesTheNaiveReferenceBitForBit(Distance metric, int n, int d, int k, int block, int levels)
    {
        var g = new Generator((ulong)(n * 31 + d));
        var items = Random(n, d, g, levels);
        var queries = Random(11, d, g, levels);
        var (wantIdx, wantDist) = Naive(items, queries, metric, k, excludeSelf: false);
        WithBlocks(Math.Max(1, block / 3), block, () =>
        {
            var index = new NearestNeighbourIndex(Tensor.FromArray(items), metric);
            var got = index.Search(Tensor.FromArray(queries), k);
            Assert.Equal([11, k], got.Indices.ShapeArray());
            Assert.Equal(wantIdx, got.Indices.ToArray<long>());
            Assert.Equal(wantDist, got.Distances.ToArray<double>());
        });
    }

    [Theory]
    [InlineData(Distance.L2)]
    [InlineData(Distance.Cosine)]
    public void SearchSelfLeavesEachItemOut(Distance metric)
    {
        var g = new Generator(5);
        var items = Random(41, 6, g, levels: 2);
        var (wantIdx, wantDist) = Naive(items, items, metric, 40, excludeSelf: true);
        WithBlocks(4, 16, () =>
        {
            var got = new NearestNeighbourIndex(Tensor.FromArray(items), metric).SearchSelf(40);
            Assert.Equal(wantIdx, got.Indices.ToArray<long>());
            Assert.Equal(wantDist, got.Distances.ToArray<double>());
        });
    }

    [Fact]
    public void DistancesAgreeWithTheDirectFormulaInFloat32()
    {
        var g = new Generator(9);
        var items = Tensor.Randn([300, 24], g);
        var queries = Tensor.Randn([7, 24], g);
        var got = new NearestNeighbourIndex(items, Distance.L2).Search(queries, 300);
        var x = items.ToArray<float>();
        var qv = queries.ToArray<float>();
        var idx = got.Indices.ToArray<long>();
        var dist = got.Distances.ToArray<float>();
        for (int i = 0; i < 7; i++)
        {
            for (int t = 0; t < 300; t++)
            {
                double s = 0;
                for (int j = 0; j < 24; j++) s += Math.Pow(qv[i * 24 + j] - x[idx[i * 300 + t] * 24 + j], 2);
                Assert.Equal(Math.Sqrt(s), dist[i * 300 + t], 1e-3);
            }
            for (int t = 1; t < 300; t++) Assert.True(dist[i * 300 + t - 1] <= dist[i * 300 + t]);
        }
    }

    [Fact]
    public void TiesAreBrokenByIndex()
    {
        // Items 1, 3 and 4 are the same point; 0 and 2 are equidistant from the query in the other direction.
        var items = Tensor.FromArray(new double[,] { { -1, 0 }, { 1, 0 }, { 0, 1 }, { 1, 0 }, { 1, 0 } });
        var got = new NearestNeighbourIndex(items).Search(Tensor.FromArray(new double[,] { { 1, 0 } }), 5);
        Assert.Equal([1L, 3, 4, 2, 0], got.Indices.ToArray<long>());
        Assert.Equal([0, 0, 0, Math.Sqrt(2), 2], got.Distances.ToArray<double>());
    }

    [Fact]
    public void ZeroVectorsHaveCosineDistanceOne()
    {
        var items = Tensor.FromArray(new double[,] { { 0, 0 }, { 3, 0 }, { -2, 0 }, { 0, 0 } });
        var got = new NearestNeighbourIndex(items, Distance.Cosine).Search(Tensor.FromArray(new double[,] { { 1, 0 }, { 0, 0 } }), 4);
        Assert.Equal([1L, 0, 3, 2, 0, 1, 2, 3], got.Indices.ToArray<long>());
        Assert.Equal([0, 1, 1, 2, 1, 1, 1, 1], got.Distances.ToArray<double>());
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        var g = new Generator(3);
        var items = Tensor.Randn([700, 40], g);
        var queries = Tensor.Randn([300, 40], g);
        int saved = Parallelism.Threads;
        try
        {
            (long[], float[]) Run(int threads, Distance metric)
            {
                Parallelism.Threads = threads;
                var r = new NearestNeighbourIndex(items, metric).Search(queries, 10);
                return (r.Indices.ToArray<long>(), r.Distances.ToArray<float>());
            }
            foreach (var metric in new[] { Distance.L2, Distance.Cosine })
            {
                var one = Run(1, metric);
                Assert.Equal(one.Item1, Run(2, metric).Item1);
                Assert.Equal(one.Item2, Run(2, metric).Item2);
                Assert.Equal(one.Item2, Run(4, metric).Item2);
            }
        }
        finally { Parallelism.Threads = saved; }
    }

    [Fact]
    public void BadArgumentsAreRejectedWithClearErrors()
    {
        var index = new NearestNeighbourIndex(Tensor.Ones([4, 3]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(Tensor.Ones([2, 3]), 5));
        Assert.Contains("k = 5 is more than the 4 items", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => index.SearchSelf(4));
        Assert.Contains("k = 4 is more than the 3 other items", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(Tensor.Ones([2, 3]), 0));
        Assert.Contains("have 2 columns", Assert.Throws<ShapeMismatchException>(() => index.Search(Tensor.Ones([2, 2]), 1)).Message);
        Assert.Contains("float32", Assert.Throws<DTypeMismatchException>(() => index.Search(Tensor.Ones([2, 3], DType.Float64), 1)).Message);
        Assert.Contains("matrix", Assert.Throws<ShapeMismatchException>(() => new NearestNeighbourIndex(Tensor.Ones([4]))).Message);
        Assert.Contains("at least one row", Assert.Throws<ShapeMismatchException>(() => new NearestNeighbourIndex(Tensor.Zeros([0, 3]))).Message);
        var nan = Tensor.FromArray(new double[,] { { 1, double.NaN } });
        Assert.Contains("items[0, 1] is NaN", Assert.Throws<ArgumentException>(() => new NearestNeighbourIndex(nan)).Message);
    }

    [Fact]
    public void PrecisionAndRecallAtKCountSharedLabels()
    {
        // Two tight clusters on a line, one of them with an outlier item labelled like the other cluster.
        var items = Tensor.FromArray(new double[,] { { 0 }, { 0.1 }, { 0.2 }, { 10 }, { 10.1 }, { 0.3 } });
        var labels = Tensor.FromArray(new long[] { 0, 0, 0, 1, 1, 1 });
        var nb = new NearestNeighbourIndex(items).SearchSelf(2);
        // Neighbours: 0→{1,2}, 1→{0,2}, 2→{1,5}... (0.3 is 0.1 from 0.2, tied with 0.1→ index 1 first), 3→{4,5}, 4→{3,5}, 5→{2,1}
        var s = Retrieval.Score(nb, labels, labels, queriesAreItems: true);
        var idx = nb.Indices.ToArray<long>();
        var lab = labels.ToArray<long>();
        var perClass = new[] { 3, 3 };
        double pWant = 0, rWant = 0;
        for (int i = 0; i < 6; i++)
        {
            int hits = (lab[idx[2 * i]] == lab[i] ? 1 : 0) + (lab[idx[2 * i + 1]] == lab[i] ? 1 : 0);
            Assert.Equal(hits / 2.0, s.PerQueryPrecision[i]);
            Assert.Equal(hits / 2.0, s.PerQueryRecall[i]);   // two other items share each label
            pWant += hits / 2.0;
            rWant += hits / (perClass[lab[i]] - 1.0);
        }
        Assert.Equal(pWant / 6, s.PrecisionAtK, 12);
        Assert.Equal(rWant / 6, s.RecallAtK, 12);
        Assert.Equal(6, s.RecallQueries);
        Assert.Equal(0.0, s.PerQueryPrecision[5]);   // item 5 (label 1) sits inside cluster 0
    }

    [Theory]
    [InlineData(1, 3, 41, 1, false)]
    [InlineData(7, 2, 53, 5, true)]
    [InlineData(33, 9, 33, 32, true)]
    [InlineData(19, 1, 60, 4, false)]
    public void ScoresMatchABruteForceCountOnRandomSearches(int queries, int classes, int items, int k, bool queriesAreItems)
    {
        // Labels drawn at random over few classes (so ties of labels and classes without members both occur), and the
        // neighbours of a real search: every precision and recall recounted from scratch over the item list.
        var g = new Generator((ulong)(queries * 1000 + items));
        int q = queriesAreItems ? items : queries;
        var itemX = Tensor.Randn([items, 3], g, DType.Float64);
        var index = new NearestNeighbourIndex(itemX);
        var nb = queriesAreItems ? index.SearchSelf(k) : index.Search(Tensor.Randn([q, 3], g, DType.Float64), k);
        var il = new long[items];
        for (int i = 0; i < items; i++) il[i] = g.NextLong(classes);
        var ql = queriesAreItems ? il : Enumerable.Range(0, q).Select(_ => g.NextLong(classes + 1)).ToArray();   // label `classes` has no items
        var s = Retrieval.Score(nb, Tensor.FromArray(ql), Tensor.FromArray(il), queriesAreItems);
        var idx = nb.Indices.ToArray<long>();
        double pSum = 0, rSum = 0;
        int rCount = 0;
        for (int i = 0; i < q; i++)
        {
            int hits = 0;
            for (int j = 0; j < k; j++) if (il[idx[i * k + j]] == ql[i]) hits++;
            int relevant = 0;
            for (int t = 0; t < items; t++) if (il[t] == ql[i] && !(queriesAreItems && t == i)) relevant++;
            Assert.Equal((double)hits / k, s.PerQueryPrecision[i]);
            pSum += (double)hits / k;
            if (relevant == 0) Assert.True(double.IsNaN(s.PerQueryRecall[i]));
            else
            {
                Assert.Equal((double)hits / relevant, s.PerQueryRecall[i]);
                rSum += (double)hits / relevant;
                rCount++;
            }
        }
        Assert.Equal(pSum / q, s.PrecisionAtK, 12);
        Assert.Equal(rCount, s.RecallQueries);
        if (rCount > 0) Assert.Equal(rSum / rCount, s.RecallAtK, 12);
        else Assert.True(double.IsNaN(s.RecallAtK));
    }

    [Fact]
    public void RecallIsUndefinedForAQueryWithoutRelevantItems()
    {
        var index = new NearestNeighbourIndex(Tensor.FromArray(new double[,] { { 0 }, { 1 }, { 2 } }));
        var nb = index.Search(Tensor.FromArray(new double[,] { { 0.1 }, { 5 } }), 2);
        var s = Retrieval.Score(nb, Tensor.FromArray(new long[] { 0, 7 }), Tensor.FromArray(new long[] { 0, 0, 1 }));
        Assert.Equal([1.0, 0.0], s.PerQueryPrecision);
        Assert.Equal(1.0, s.PerQueryRecall[0]);
        Assert.True(double.IsNaN(s.PerQueryRecall[1]));
        Assert.Equal(1, s.RecallQueries);
        Assert.Equal(0.5, s.PrecisionAtK);
        Assert.Equal(1.0, s.RecallAtK);
        Assert.Contains("2 queries", Assert.Throws<ShapeMismatchException>(() => Retrieval.Score(nb, Tensor.FromArray(new long[] { 0 }), Tensor.FromArray(new long[] { 0, 0, 1 }))).Message);
    }
}

/// <summary>Reading a named layer's activations for a dataset.</summary>
public class LatentCodesTests
{
    [Fact]
    public void ExtractGivesTheLayerOutputForEveryExampleInOrder()
    {
        var g = new Generator(4);
        var model = Models.Mlp(5, [7, 6], 3, generator: g);
        var x = Tensor.Randn([23, 5], g);
        var data = new TensorDataset(x, Tensor.Zeros([23]));
        // "2" is the second Linear: its output is the pre-activation of the second hidden layer.
        Tensor want;
        using (Aperture.Autodiff.NoGrad()) want = ((Module)model[2]).Forward(((Module)model[1]).Forward(((Module)model[0]).Forward(x)));
        model.Train();
        var codes = LatentCodes.Extract(model, "2", data, batchSize: 5);
        Assert.Equal([23, 6], codes.ShapeArray());
        Assert.Equal(want.ToArray<float>(), codes.ToArray<float>());
        Assert.True(model.Training);
        Assert.False(codes.RequiresGrad);
        Assert.Equal(codes.ToArray<float>(), LatentCodes.Extract(model, "2", data, batchSize: 100).ToArray<float>());
    }

    [Fact]
    public void ExtractAllocatesPerBatchNotPerExample()
    {
        // Four batches of 16 and forty batches of 16: beyond the result itself (n × 32 floats), the extra bytes must stay
        // below a small budget per extra batch, far below one example's input and code (16 + 32 floats = 192 bytes) per
        // extra example; a loop that ran or copied example by example would exceed it.
        var model = Models.Mlp(16, [32], 4, generator: new Generator(1));
        long Bytes(int n)
        {
            var data = new TensorDataset(Tensor.Randn([n, 16], new Generator(2)), Tensor.Zeros([n]));
            LatentCodes.Extract(model, "1", data, batchSize: 16);   // warm-up: JIT, pools
            long best = long.MaxValue;
            for (int t = 0; t < 3; t++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                LatentCodes.Extract(model, "1", data, batchSize: 16);
                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            return best - (long)n * 32 * sizeof(float);
        }
        long small = Bytes(64), large = Bytes(640);
        long perExtraBatch = (large - small) / 36;
        Assert.True(perExtraBatch < 1024, $"{perExtraBatch} bytes per extra batch of 16 examples ({small} and {large} bytes besides the result)");
    }

    [Fact]
    public void ExtractRestoresEachModulesTrainingFlag()
    {
        var model = Models.Mlp(2, [3], 1, generator: new Generator(1));
        model.Train();
        ((Module)model[1]).Eval();
        LatentCodes.Extract(model, "0", new TensorDataset(Tensor.Ones([4, 2]), Tensor.Zeros([4])));
        Assert.True(model.Training);
        Assert.False(((Module)model[1]).Training);
        Assert.True(((Module)model[0]).Training);
    }

    [Fact]
    public void ExtractKeepsTheLayerShapeWhenAsked()
    {
        var conv = new Sequential(new Conv2d(1, 2, 3, generator: new Generator(2)), new ReLU());
        var data = new TensorDataset(Tensor.Randn([5, 1, 6, 6], new Generator(3)), Tensor.Zeros([5]));
        Assert.Equal([5, 2, 4, 4], LatentCodes.Extract(conv, "0", data, batchSize: 2, flatten: false).ShapeArray());
        Assert.Equal([5, 32], LatentCodes.Extract(conv, "1", data, batchSize: 2).ShapeArray());
    }

    [Fact]
    public void ExtractNamesAMissingOrReusedLayer()
    {
        var model = Models.Mlp(2, [3], 1, generator: new Generator(1));
        var data = new TensorDataset(Tensor.Ones([4, 2]), Tensor.Zeros([4]));
        var e = Assert.Throws<ArgumentException>(() => LatentCodes.Extract(model, "9", data));
        Assert.Contains("no layer named '9'", e.Message);
        Assert.Contains("0, 1, 2", e.Message);
        var shared = new Linear(2, 2, generator: new Generator(0));
        var twice = new Sequential(shared, shared);
        Assert.Contains("more than once", Assert.Throws<InvalidOperationException>(() => LatentCodes.Extract(twice, "0", new TensorDataset(Tensor.Ones([4, 2]), Tensor.Zeros([4])))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LatentCodes.Extract(model, "0", data, batchSize: 0));
    }
}
