using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.NN;

/// <summary>
/// Embedding with sparse: true gives its table a row-sparse gradient: the dense path's bits on the touched rows,
/// finite differences in float64, duplicates summed in lookup order, plain SGD identical to the dense path, Adam's
/// lazy rows against a naive reference, clear refusals where a lazy update would change the algorithm, and a step
/// that allocates nothing.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class RowSparseGradientTests
{
    private static readonly long[] Repeated = [3, 0, 3, 5, 3, 0, 6];

    private static (Embedding Dense, Embedding Sparse) Pair(int rows, int dim, DType dtype, int seed = 11) =>
        (new Embedding(rows, dim, generator: new Generator((ulong)seed), dtype: dtype),
         new Embedding(rows, dim, generator: new Generator((ulong)seed), dtype: dtype, sparse: true));

    private static double[] D(Tensor t) => t.To(DType.Float64).ToArray<double>();

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void The_sparse_gradient_is_the_dense_one_on_the_touched_rows_bit_for_bit(DType dtype)
    {
        var (dense, sparse) = Pair(9, 4, dtype);
        var idx = Tensor.FromArray(Repeated, [7]);
        var upstream = Tensor.Randn([7, 4], new Generator(5), dtype);
        for (int pass = 0; pass < 2; pass++)   // the second pass accumulates
        {
            Ops.Sum(Ops.Mul(dense.Forward(idx), upstream)).Backward();
            Ops.Sum(Ops.Mul(sparse.Forward(idx), upstream)).Backward();
        }
        Assert.Null(sparse.Weight.Grad);
        var rows = sparse.Weight.RowSparseGrad!;
        Assert.Equal(new long[] { 0, 3, 5, 6 }, rows.Indices.ToArray());
        Assert.Equal(4, rows.Count);
        Assert.Equal(D(dense.Weight.Grad!), D(rows.ToDense([9, 4])));
        // Clearing the gradient clears the rows; the next pass starts from zero.
        sparse.ZeroGrad();
        Assert.Null(sparse.Weight.RowSparseGrad);
        Ops.Sum(Ops.Mul(sparse.Forward(Tensor.FromArray(new long[] { 8 })), Tensor.Ones([1, 4], dtype))).Backward();
        Assert.Equal(new long[] { 8 }, sparse.Weight.RowSparseGrad!.Indices.ToArray());
        Assert.All(D(sparse.Weight.RowSparseGrad!.ToDense([9, 4]))[32..], v => Assert.Equal(1.0, v));
    }

    [Fact]
    public void Duplicates_are_summed_in_lookup_order()
    {
        // float32 addition is not associative: the rows must be summed in the order they were looked up, from zero.
        var emb = new Embedding(3, 1, generator: new Generator(0), sparse: true);
        var idx = Tensor.FromArray(new long[] { 2, 2, 2, 1 });
        var upstream = Tensor.FromArray(new float[] { 1e8f, 1f, -1e8f, 0.5f }, [4, 1]);
        Ops.Sum(Ops.Mul(emb.Forward(idx), upstream)).Backward();
        var g = emb.Weight.RowSparseGrad!;
        Assert.Equal(new long[] { 1, 2 }, g.Indices.ToArray());
        float expect = 0f + 1e8f;
        expect += 1f;
        expect += -1e8f;
        Assert.Equal(new[] { 0.5f, expect }, g.Values<float>().ToArray());
    }

    [Fact]
    public void The_sparse_gradient_agrees_with_finite_differences_in_float64()
    {
        var emb = new Embedding(5, 3, generator: new Generator(4), dtype: DType.Float64, sparse: true);
        var idx = Tensor.FromArray(new long[] { 4, 0, 4, 2, 4, 2 }, [2, 3]);
        Tensor Loss()
        {
            var rows = emb.Forward(idx);
            return Ops.Sum(Ops.Mul(Ops.Sin(rows), rows));
        }
        Loss().Backward();
        var analytic = D(emb.Weight.RowSparseGrad!.ToDense([5, 3]));
        var w = emb.Weight.Buffer<double>();
        const double eps = 1e-6;
        for (int j = 0; j < 15; j++)
        {
            double saved = w[j];
            double plus, minus;
            using (Aperture.Autodiff.NoGrad())
            {
                w[j] = saved + eps;
                plus = Loss().Item();
                w[j] = saved - eps;
                minus = Loss().Item();
            }
            w[j] = saved;
            Assert.Equal((plus - minus) / (2 * eps), analytic[j], 1e-7);
        }
        // Both modes of the general check see the same lookup (Autodiff.Grad and forward mode use the dense rule).
        Tensor F(Tensor[] x) => Ops.Sum(Ops.Mul(Ops.Sin(Ops.IndexSelect(x[0], 0, Ops.Reshape(idx, [-1]), rowSparseGrad: true)), 1.5));
        Assert.True(GradCheck.Check(F, [Tensor.Randn([5, 3], new Generator(1), DType.Float64)]).Passed);
    }

    [Fact]
    public void Autodiff_grad_returns_the_dense_gradient()
    {
        var (dense, sparse) = Pair(6, 2, DType.Float64);
        var idx = Tensor.FromArray(new long[] { 1, 4, 1 });
        var want = Aperture.Autodiff.Grad([Ops.Sum(Ops.Tanh(dense.Forward(idx)))], [dense.Weight])[0]!;
        var got = Aperture.Autodiff.Grad([Ops.Sum(Ops.Tanh(sparse.Forward(idx)))], [sparse.Weight])[0]!;
        Assert.Equal(D(want), D(got));
        Assert.Null(sparse.Weight.RowSparseGrad);
    }

    [Fact]
    public void Tied_weights_turn_the_gradient_dense()
    {
        var (dense, sparse) = Pair(6, 3, DType.Float64, seed: 2);
        var idx = Tensor.FromArray(new long[] { 1, 4, 1 });
        Tensor Loss(Embedding e) => Ops.Sum(Ops.Tanh(Ops.MatMul(e.Forward(idx), Ops.Transpose(e.Weight, 0, 1))));
        Loss(dense).Backward();
        Loss(sparse).Backward();
        Assert.Null(sparse.Weight.RowSparseGrad);
        var want = D(dense.Weight.Grad!);
        var got = D(sparse.Weight.Grad!);
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-14);
    }

    private static long[][] Batches(int steps, int n, int rows, int seed)
    {
        var g = new Generator((ulong)seed);
        return Enumerable.Range(0, steps).Select(_ => Tensor.RandInt(0, rows, [n], g).ToArray<long>()).ToArray();
    }

    private static void Train(Embedding emb, Optimizer optimizer, long[][] batches, Tensor target)
    {
        foreach (var b in batches)
        {
            optimizer.ZeroGrad();
            var h = emb.Forward(Tensor.FromArray(b));
            Ops.Sum(Ops.Square(Ops.Sub(h, Ops.Narrow(target, 0, 0, b.Length)))).Backward();
            optimizer.Step();
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Plain_sgd_gives_the_dense_paths_bits(DType dtype)
    {
        var (dense, sparse) = Pair(50, 8, dtype);
        var batches = Batches(20, 12, 50, 3);
        var target = Tensor.Randn([12, 8], new Generator(9), dtype);
        Train(dense, new SGD(dense.Parameters(), lr: 0.05), batches, target);
        Train(sparse, new SGD(sparse.Parameters(), lr: 0.05), batches, target);
        Assert.Equal(D(dense.Weight), D(sparse.Weight));
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Adam_touching_every_row_gives_the_dense_paths_bits(DType dtype)
    {
        var (dense, sparse) = Pair(6, 5, dtype);
        // Each batch is a permutation of all rows plus repeats, so every row is touched at every step.
        var batches = Batches(15, 4, 6, 7).Select(b => Enumerable.Range(0, 6).Select(i => (long)i).Concat(b).ToArray()).ToArray();
        var target = Tensor.Randn([10, 5], new Generator(9), dtype);
        Train(dense, new Adam(dense.Parameters(), lr: 0.01, weightDecay: 0.1), batches, target);
        Train(sparse, new Adam(sparse.Parameters(), lr: 0.01, weightDecay: 0.1), batches, target);
        Assert.Equal(D(dense.Weight), D(sparse.Weight));
    }

    [Fact]
    public void Adam_updates_only_the_touched_rows_lazily()
    {
        const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var emb = new Embedding(4, 2, generator: new Generator(1), dtype: DType.Float64, sparse: true);
        var w = D(emb.Weight);
        var optimizer = new Adam(emb.Parameters(), lr: lr);
        long[][] batches = [[0, 2, 0], [2, 3], [0]];
        var m = new double[8];
        var v = new double[8];
        for (int t = 1; t <= batches.Length; t++)
        {
            optimizer.ZeroGrad();
            var h = emb.Forward(Tensor.FromArray(batches[t - 1]));
            Ops.Sum(Ops.Mul(Ops.Square(h), 0.5)).Backward();   // the gradient of a row is the row times its count
            optimizer.Step();
            // The naive lazy rule: a row's moments and value move only at a step that touched it.
            foreach (long r in batches[t - 1].Distinct())
                for (int j = 0; j < 2; j++)
                {
                    int e = (int)r * 2 + j;
                    double g = w[e] * batches[t - 1].Count(x => x == r);
                    m[e] = b1 * m[e] + (1 - b1) * g;
                    v[e] = b2 * v[e] + (1 - b2) * g * g;
                    w[e] -= lr / (1 - Math.Pow(b1, t)) * (m[e] / (Math.Sqrt(v[e]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps));
                }
        }
        var got = D(emb.Weight);
        for (int i = 0; i < 8; i++) Assert.Equal(w[i], got[i], 1e-12);
        Assert.Equal(D(new Embedding(4, 2, generator: new Generator(1), dtype: DType.Float64).Weight)[2..4], got[2..4]);   // row 1 never touched
    }

    [Fact]
    public void Optimizers_that_cannot_apply_rows_lazily_say_so()
    {
        var emb = new Embedding(4, 2, generator: new Generator(1), sparse: true);
        void StepWith(Optimizer o)
        {
            o.ZeroGrad();
            Ops.Sum(emb.Forward(Tensor.FromArray(new long[] { 1 }))).Backward();
            o.Step();
        }
        var e = Assert.Throws<NotSupportedException>(() => StepWith(new SGD(emb.Parameters(), lr: 0.1, momentum: 0.9)));
        Assert.Contains("momentum = 0 and weight_decay = 0", e.Message);
        e = Assert.Throws<NotSupportedException>(() => StepWith(new RMSprop(emb.Parameters())));
        Assert.Contains("RMSprop does not support row-sparse gradients", e.Message);
    }

    [Fact]
    public void Gradient_clipping_sees_the_rows()
    {
        var (dense, sparse) = Pair(7, 3, DType.Float64);
        var idx = Tensor.FromArray(Repeated);
        Ops.Sum(Ops.Exp(dense.Forward(idx))).Backward();
        Ops.Sum(Ops.Exp(sparse.Forward(idx))).Backward();
        Assert.Equal(GradClip.ClipGradNorm(dense.Parameters(), 0.5), GradClip.ClipGradNorm(sparse.Parameters(), 0.5), 12);
        Assert.Equal(D(dense.Weight.Grad!), D(sparse.Weight.RowSparseGrad!.ToDense([7, 3])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_sparse_embedding_step_with_adam_allocates_nothing(int threads)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            var g = new Generator(0);
            var emb = new Embedding(5000, 32, generator: new Generator(1), sparse: true);
            var head = new Linear(32, 10, generator: new Generator(2));
            var optimizer = new Adam(emb.Parameters().Concat(head.Parameters()), lr: 1e-3);
            var batches = Enumerable.Range(0, 4).Select(_ => Tensor.RandInt(0, 5000, [64], g)).ToArray();
            var y = Tensor.RandInt(0, 10, [64], g);
            int step = 0;
            void Step()
            {
                using (TensorScope.Begin())
                {
                    optimizer.ZeroGrad();
                    var h = emb.Forward(batches[step++ % batches.Length]);
                    Losses.CrossEntropy(head.Forward(h), y).Backward();
                }
                optimizer.Step();
            }
            for (int i = 0; i < 50; i++) Step();
            long best = long.MaxValue;
            for (int window = 0; window < 3; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) Step();
                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, best);
        }
        finally { Parallelism.Threads = saved; }
    }
}
