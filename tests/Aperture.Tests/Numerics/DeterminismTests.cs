namespace Aperture.Tests.Numerics;

using Autodiff = Aperture.Autodiff;

/// <summary>Bitwise determinism of training, and the numerics policy's knobs changing the bits when asked to.</summary>
[Collection(ThreadCountCollection.Name)]
public class DeterminismTests
{
    private sealed record Run(double[][] Weights);

    /// <summary>100 steps of minibatch SGD on a 16-64-64-4 ReLU MLP with cross-entropy, all randomness from one seed.</summary>
    private static Run Train(DType dtype, NumericsPolicy? policy = null, int threads = 2, int steps = 100, double lr = 0.05)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            using var scope = NumericsPolicy.Use(policy ?? NumericsPolicy.Default);
            var g = new Generator(2024);
            var xAll = Tensor.Randn([256, 16], g, DType.Float64);
            var teacher = Tensor.Randn([16, 4], g, DType.Float64);
            var labels = Ops.ArgMax(Ops.MatMul(xAll, teacher), 1);
            xAll = xAll.To(dtype);
            Tensor Init(int rows, int cols) => (Tensor.Randn([rows, cols], g, DType.Float64) * Math.Sqrt(2.0 / cols)).To(dtype).RequiresGrad_();
            Tensor[] ps = [Init(64, 16), Tensor.Zeros([64], dtype).RequiresGrad_(), Init(64, 64), Tensor.Zeros([64], dtype).RequiresGrad_(),
                Init(4, 64), Tensor.Zeros([4], dtype).RequiresGrad_()];
            for (int step = 0; step < steps; step++)
            {
                var batch = Tensor.FromArray(g.Permutation(256).Take(64).Select(i => (long)i).ToArray());
                var x = Ops.IndexSelect(xAll, 0, batch);
                var y = Ops.IndexSelect(labels, 0, batch);
                var h = Ops.Linear(x, ps[0], ps[1]).Relu();
                h = Ops.Linear(h, ps[2], ps[3]).Relu();
                var logp = Ops.LogSoftmax(Ops.Linear(h, ps[4], ps[5]), 1);
                var loss = -Ops.Gather(logp, 1, y.Reshape(-1, 1)).Mean();
                foreach (var p in ps) p.ZeroGrad();
                loss.Backward();
                using (Autodiff.NoGrad())
                    foreach (var p in ps) Ops.SubInPlace(p, p.Grad! * lr);
            }
            return new Run(ps.Select(p => p.ToDoubleArray()).ToArray());
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    private static bool BitwiseEqual(Run a, Run b) =>
        a.Weights.Zip(b.Weights).All(p => p.First.Zip(p.Second).All(q => BitConverter.DoubleToInt64Bits(q.First) == BitConverter.DoubleToInt64Bits(q.Second)));

    private static double Distance(Run a, Run b) =>
        Math.Sqrt(a.Weights.Zip(b.Weights).Sum(p => p.First.Zip(p.Second).Sum(q => (q.First - q.Second) * (q.First - q.Second))));

    [Fact]
    public void Training_is_bitwise_identical_across_reruns_and_thread_counts()
    {
        var first = Train(DType.Float32, threads: 2);
        var again = Train(DType.Float32, threads: 2);
        var oneThread = Train(DType.Float32, threads: 1);
        Assert.True(BitwiseEqual(first, again), "two runs with the same seed differ");
        Assert.True(BitwiseEqual(first, oneThread), "1 and 2 threads give different bits");
    }

    [Fact]
    public void Reversed_reduction_order_changes_the_bits()
    {
        var baseline = Train(DType.Float32);
        var reversed = Train(DType.Float32, new NumericsPolicy { Order = ReductionOrder.Reversed });
        Assert.False(BitwiseEqual(baseline, reversed), "the reduction order had no effect");
        Assert.True(Distance(baseline, reversed) > 0);
    }

    [Fact]
    public void Float64_accumulation_lands_closer_to_the_float64_reference()
    {
        var reference = Train(DType.Float64);
        var native = Train(DType.Float32);
        var wide = Train(DType.Float32, new NumericsPolicy { Accumulation = AccumulationPrecision.Float64 });
        double dNative = Distance(native, reference), dWide = Distance(wide, reference);
        Assert.True(dWide < dNative, $"float64 accumulation: {dWide:E3} from the reference; float32 accumulation: {dNative:E3}");
    }
}
