using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.NN;

/// <summary>
/// A training step in steady state allocates nothing on the managed heap: every tensor, buffer and graph node of the
/// step comes from the <see cref="TensorScope"/> pools, gradients reuse their buffers, and optimizers update in place.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class AllocationTests
{
    /// <summary>One training step: forward, loss and backward inside a recycling scope, then the optimizer.</summary>
    private static void Step(Module model, Optimizer optimizer, Tensor x, Tensor y, bool classify)
    {
        using (TensorScope.Begin())
        {
            optimizer.ZeroGrad();
            var output = model.Forward(x);
            var loss = classify ? Losses.CrossEntropy(output, y) : Losses.Mse(output, y);
            loss.Backward();
        }
        optimizer.Step();
    }

    /// <summary>
    /// The fewest bytes the calling thread allocated over one window of <paramref name="steps"/> steps, out of three
    /// windows after a warm-up (the minimum discards a one-off allocation by the runtime itself, such as a tiered JIT
    /// recompilation landing in a window).
    /// </summary>
    private static long SteadyStateBytes(Module model, Optimizer optimizer, Tensor x, Tensor y, bool classify, int warmup, int steps)
    {
        for (int i = 0; i < warmup; i++) Step(model, optimizer, x, y, classify);
        long best = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) Step(model, optimizer, x, y, classify);
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }

    private static long WithThreads(int threads, Func<long> measure)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try { return measure(); }
        finally { Parallelism.Threads = saved; }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void An_mlp_step_with_cross_entropy_and_momentum_allocates_nothing(int threads)
    {
        long bytes = WithThreads(threads, () =>
        {
            var g = new Generator(0);
            var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(1));
            var optimizer = new SGD(model.Parameters(), lr: 0.01, momentum: 0.9);
            var x = Tensor.Randn([128, 784], g);
            var y = Tensor.RandInt(0, 10, [128], g);
            return SteadyStateBytes(model, optimizer, x, y, classify: true, warmup: 100, steps: 20);
        });
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void A_tiny_mlp_step_with_mse_and_adam_allocates_nothing()
    {
        // A backward pass that threw earlier on this thread must not leave its working sets taken.
        var w = Tensor.Randn([3], new Generator(5));
        w.RequiresGrad = true;
        var once = Ops.Sum(Ops.Mul(w, w));
        once.Backward();
        Assert.Throws<InvalidOperationException>(() => once.Backward());

        long bytes = WithThreads(1, () =>
        {
            var g = new Generator(0);
            var model = Models.Mlp(2, [16, 16], 1, generator: new Generator(1));
            var optimizer = new Adam(model.Parameters(), lr: 1e-3);
            var x = Tensor.Randn([16, 2], g);
            var y = Tensor.Randn([16, 1], g);
            return SteadyStateBytes(model, optimizer, x, y, classify: false, warmup: 300, steps: 100);
        });
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_lenet5_step_allocates_nothing(int threads)
    {
        long bytes = WithThreads(threads, () =>
        {
            var g = new Generator(0);
            var model = Models.LeNet5(generator: new Generator(1));
            var optimizer = new SGD(model.Parameters(), lr: 0.01, momentum: 0.9);
            var x = Tensor.Randn([16, 1, 28, 28], g);
            var y = Tensor.RandInt(0, 10, [16], g);
            return SteadyStateBytes(model, optimizer, x, y, classify: true, warmup: 60, steps: 10);
        });
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void A_step_through_dropout_layers_allocates_nothing()
    {
        long bytes = WithThreads(2, () =>
        {
            var g = new Generator(0);
            var model = Models.Mlp(784, [128, 128], 10, dropout: 0.5, generator: new Generator(1));
            var optimizer = new Adam(model.Parameters(), lr: 1e-3);
            var x = Tensor.Randn([64, 784], g);
            var y = Tensor.RandInt(0, 10, [64], g);
            return SteadyStateBytes(model, optimizer, x, y, classify: true, warmup: 100, steps: 20);
        });
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    public void An_sgld_step_and_a_forward_pass_through_transposed_weights_allocate_nothing(int threads, bool preconditioned)
    {
        // The local learning coefficient's inner loop on a deep linear network: h = x·W1ᵀ·…·W4ᵀ through transposed
        // views of the weights, recorded for backward inside a recycling scope, and the Langevin step outside it.
        var (forward, step) = WithThreadsBoth(threads, () =>
        {
            var g = new Generator(0);
            var x = Tensor.Randn([100, 50], g);
            var weights = Enumerable.Range(0, 4).Select(_ => (Tensor.Randn([50, 50], g) * 0.1).Detach().RequiresGrad_()).ToArray();
            foreach (var w in weights) w.Grad = Tensor.Randn([50, 50], g);
            var sampler = new Sgld(weights, new Generator(1), lr: 1e-4, nBeta: 144.8, localization: 1, preconditioned: preconditioned);
            void Forward()
            {
                using (TensorScope.Begin())
                {
                    var h = x;
                    foreach (var w in weights) h = Ops.MatMul(h, w.Transpose(0, 1));
                }
            }
            return (Fewest(Forward), Fewest(sampler.Step));
        });
        Assert.Equal(0, forward);
        Assert.Equal(0, step);
    }

    [Theory]
    [InlineData(1, DType.Float32)]
    [InlineData(2, DType.Float32)]
    [InlineData(1, DType.Float64)]
    public void A_whole_sgld_step_with_a_handwritten_squared_error_allocates_nothing(int threads, DType dtype)
    {
        // The sampler's whole step as the bench's sgld-dln-10k row and the LLC estimator run it: the loss written with
        // tensor ops (a difference, its square, a sum over every axis, a constant factor), its backward pass (a sum's
        // broadcast gradient, the square's chain, the gradients of weights used through transposed views) inside a
        // recycling scope, then the Langevin step outside it.
        long bytes = WithThreads(threads, () =>
        {
            var g = new Generator(0);
            var x = Tensor.Randn([100, 50], g).To(dtype);
            var y = Tensor.Randn([100, 50], g).To(dtype);
            var weights = Enumerable.Range(0, 4).Select(_ => (Tensor.Randn([50, 50], g) * 0.1).To(dtype).Detach().RequiresGrad_()).ToArray();
            var sampler = new Sgld(weights, new Generator(1), lr: 1e-4, nBeta: 144.8, localization: 1);
            double lastLoss = double.NaN;
            void Step()
            {
                using (TensorScope.Begin())
                {
                    var h = x;
                    foreach (var w in weights) h = Ops.MatMul(h, w.Transpose(0, 1));
                    var loss = (h - y).Square().Sum() * (0.5 / x.Shape[0]);
                    sampler.ZeroGrad();
                    loss.Backward();
                    lastLoss = loss.Item();
                }
                sampler.Step();
            }
            long fewest = Fewest(Step);
            Assert.True(double.IsFinite(lastLoss) && lastLoss > 0, $"the chain's loss is {lastLoss}");
            Assert.All(weights, w => Assert.NotNull(w.Grad));
            return fewest;
        });
        Assert.Equal(0, bytes);
    }

    private static (long, long) WithThreadsBoth(int threads, Func<(long, long)> measure)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try { return measure(); }
        finally { Parallelism.Threads = saved; }
    }

    /// <summary>The fewest bytes <paramref name="step"/> allocated over a window of 20 calls, of three, after 100 calls of warm-up.</summary>
    private static long Fewest(Action step)
    {
        for (int i = 0; i < 100; i++) step();
        long best = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) step();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }
}
