using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.Kernels;

/// <summary>
/// Work is split across threads only where it pays: the small steps the lab runs by the thousand (an SGLD step of a
/// 10k-parameter deep linear network, a tiny MLP's step) stay on the calling thread at two threads, where a split
/// cost more than it saved, while a large optimizer update is split. The thresholds decide only where work runs, never
/// the bits.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class SplitThresholdTests
{
    /// <summary>Loops split across the pool by <paramref name="step"/>'s thread over three calls, after two of warm-up.</summary>
    private static long Splits(Action step)
    {
        step();
        step();
        long before = Parallelism.SplitLoops;
        for (int i = 0; i < 3; i++) step();
        return Parallelism.SplitLoops - before;
    }

    private static (Action Step, Func<float[]> State) SgldChain()
    {
        var g = new Generator(0);
        var x = Tensor.Randn([100, 50], g);
        var y = Tensor.Randn([100, 50], g);
        var weights = Enumerable.Range(0, 4).Select(_ => (Tensor.Randn([50, 50], g) * 0.1).Detach().RequiresGrad_()).ToArray();
        var sampler = new Sgld(weights, new Generator(1), lr: 1e-4, nBeta: 144.8, localization: 1);
        void Step()
        {
            using (TensorScope.Begin())
            {
                var h = x;
                foreach (var w in weights) h = Ops.MatMul(h, w.Transpose(0, 1));
                var loss = (h - y).Square().Sum() * (0.5 / 100);
                sampler.ZeroGrad();
                loss.Backward();
            }
            sampler.Step();
        }
        return (Step, () => [.. weights.SelectMany(w => w.Detach().ToFloatArray())]);
    }

    [Fact]
    public void An_sgld_step_on_a_10k_parameter_deep_linear_network_stays_on_one_thread_and_keeps_its_bits()
    {
        float[] one = [], two = [];
        KernelSettings.WithThreads(1, () =>
        {
            var (step, state) = SgldChain();
            Assert.Equal(0, Splits(step));
            one = state();
        });
        KernelSettings.WithThreads(2, () =>
        {
            var (step, state) = SgldChain();
            Assert.Equal(0, Splits(step));
            two = state();
        });
        Assert.Equal(one, two);
    }

    [Fact]
    public void A_tiny_mlp_step_stays_on_one_thread()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var g = new Generator(0);
            var model = Models.Mlp(2, [16, 16], 1, generator: new Generator(1));
            var optimizer = new SGD(model.Parameters(), lr: 0.01, momentum: 0.9);
            var x = Tensor.Randn([16, 2], g);
            var y = Tensor.Randn([16, 1], g);
            Assert.Equal(0, Splits(() =>
            {
                using (TensorScope.Begin())
                {
                    optimizer.ZeroGrad();
                    Losses.Mse(model.Forward(x), y).Backward();
                }
                optimizer.Step();
            }));
        });
    }

    [Fact]
    public void An_adam_update_of_a_million_parameters_is_split_and_a_small_one_is_not()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var g = new Generator(0);
            var big = Tensor.Randn([1024, 1024], g).RequiresGrad_();
            var small = Tensor.Randn([100, 100], g).RequiresGrad_();
            big.Grad = Tensor.Randn(big.Shape, g);
            small.Grad = Tensor.Randn(small.Shape, g);
            Assert.Equal(3, Splits(new Adam([big]).Step));
            Assert.Equal(0, Splits(new Adam([small]).Step));
        });
    }

    [Fact]
    public void An_sgd_update_of_a_layer_weight_is_split_and_a_small_one_is_not()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var g = new Generator(0);
            var big = Tensor.Randn([256, 784], g).RequiresGrad_();
            var small = Tensor.Randn([10, 256], g).RequiresGrad_();
            big.Grad = Tensor.Randn(big.Shape, g);
            small.Grad = Tensor.Randn(small.Shape, g);
            Assert.Equal(3, Splits(new SGD([big], lr: 0.01, momentum: 0.9).Step));
            Assert.Equal(0, Splits(new SGD([small], lr: 0.01, momentum: 0.9).Step));
        });
    }

    /// <summary>A 784-256-256-10 MLP's training step (cross-entropy, SGD with momentum 0.9) at batch <paramref name="batch"/>.</summary>
    private static (Action Step, Func<float[]> State) MlpStep(int batch)
    {
        var g = new Generator(0);
        var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(1));
        var optimizer = new SGD(model.Parameters(), lr: 0.01, momentum: 0.9);
        var x = Tensor.Randn([batch, 784], g);
        var y = Tensor.RandInt(0, 10, [batch], g);
        void Step()
        {
            using (TensorScope.Begin())
            {
                optimizer.ZeroGrad();
                Losses.CrossEntropy(model.Forward(x), y).Backward();
            }
            optimizer.Step();
        }
        return (Step, () => [.. model.Parameters().SelectMany(p => p.Detach().ToFloatArray())]);
    }

    [Fact]
    public void An_mlp_step_at_batch_32_splits_by_the_cores_threshold_and_keeps_its_bits()
    {
        // With the full-width AVX-512 threshold (8M) every product of the step is below ThinGemm.SplitMinWork: the
        // forward products stay on this thread, the weight gradients are asked unsplit, and each weight's update
        // follows its gradient, so the step at two threads is the one-thread step. With the threshold of cores that
        // halve each 512-bit FMA (1M) the five products of 2.1M and 6.4M multiply-adds split, and the two 256-row
        // weights' updates with them (docs/threads.md). The bits are the same in all three.
        float[] one = [];
        KernelSettings.WithThreads(1, () =>
        {
            var (step, state) = MlpStep(32);
            Assert.Equal(0, Splits(step));
            one = state();
        });
        long saved = ThinGemm.SplitMinWork;
        try
        {
            foreach (var (threshold, splits) in new[] { (8L << 20, 0L), (1L << 20, 7L) })
            {
                ThinGemm.SplitMinWork = threshold;
                KernelSettings.WithThreads(2, () =>
                {
                    var (step, state) = MlpStep(32);
                    Assert.Equal(3 * splits, Splits(step));
                    Assert.Equal(one, state());
                });
            }
        }
        finally { ThinGemm.SplitMinWork = saved; }
        Assert.Equal(Microarchitecture.HalvedAvx512 ? 1L << 20 : 8L << 20, ThinGemm.SplitMinWork);
    }

    [Fact]
    public void An_mlp_step_at_batch_128_keeps_its_split_products_and_updates()
    {
        // Its products are 8M multiply-adds and more (128 x 256 x 256): split, one loop each on the thin path (the two
        // forward products, the second layer's input gradient and both weight gradients), as is each weight's update
        // that follows a split gradient (the two 256-row weights). So are the hidden layers' passes over their 32k
        // outputs (Parallelism.PassSplitMin): the bias and ReLU after each forward product, and in the backward pass
        // each ReLU mask and bias gradient. The 10-row output layer's products, passes and update stay on this
        // thread. The bits are those of one thread.
        float[] one = [];
        KernelSettings.WithThreads(1, () =>
        {
            var (step, state) = MlpStep(128);
            Assert.Equal(0, Splits(step));
            one = state();
        });
        KernelSettings.WithThreads(2, () =>
        {
            var (step, state) = MlpStep(128);
            long perStep = Splits(step) / 3;
            Assert.Equal(7 + 2 * 3, perStep);
            Assert.Equal(one, state());
        });
    }

    [Fact]
    public void An_sgd_update_follows_its_gradient_onto_one_thread()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var g = new Generator(0);
            var w = Tensor.Randn([256, 784], g).RequiresGrad_();
            w.Grad = Tensor.Randn(w.Shape, g);
            var sgd = new SGD([w], lr: 0.01, momentum: 0.9);
            Assert.Equal(3, Splits(sgd.Step));
            // The same update of a gradient written on this thread alone (as Linear's backward marks an unsplit
            // product) stays here; the values are the same either way (OptimizerKernelTests).
            w.Grad._writtenOnOneThread = true;
            Assert.Equal(0, Splits(sgd.Step));
        });
    }
}
