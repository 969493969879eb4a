using Aperture.NN;
using Aperture.Optim;
using Aperture.Tests.Kernels;

namespace Aperture.Tests.NN;

/// <summary>
/// A <see cref="Sequential"/>'s run of Linear layers (with their ReLUs) at batch 1 without autodiff runs as one
/// <see cref="LinearChain"/>: the bits of the layers' ops run one by one, at every thread count and on every way a
/// pass can go (all participants present, the pool taken so the caller runs them all, the chain busy on another
/// thread, a layer whose copy is not built yet), with nothing allocated in steady state.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearChainTests
{
    private static void AssertSameBits(float[] e, float[] a, string what)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what}: element {i} is {a[i]}, the layers' ops one by one give {e[i]}");
    }

    /// <summary>The model's layers as separate ops (Linear never uses a cache; Relu makes its own output).</summary>
    private static Tensor Reference(Sequential model, Tensor x)
    {
        using var _ = Aperture.Autodiff.NoGrad();
        foreach (var layer in model)
            x = layer is Linear l ? Ops.Linear(x, l.Weight, l.Bias) : layer is ReLU ? Ops.Relu(x) : layer.Forward(x);
        return x;
    }

    private static Tensor Infer(Sequential model, Tensor x)
    {
        using var _ = Aperture.Autodiff.NoGrad();
        return model.Forward(x);
    }

    /// <summary>Runs <paramref name="body"/> with every multi-layer pass split across the threads, however small.</summary>
    private static void SplittingAll(Action body)
    {
        long saved = LinearChain.ParallelMinWork;
        LinearChain.ParallelMinWork = 0;
        try { body(); }
        finally { LinearChain.ParallelMinWork = saved; }
    }

    /// <summary>Nets of awkward widths, with and without biases and with ReLUs after some layers only.</summary>
    public static TheoryData<string> Nets => new() { "784-256-256-10", "1-1", "3-17-255-257-1", "17-300-129-33", "257-16-3", "255-400-1000-17", "5-64-64-64-64-2" };

    private static Sequential Build(string net, bool bias, int seed)
    {
        var widths = net.Split('-').Select(int.Parse).ToArray();
        var g = new Generator((ulong)seed);
        var model = new Sequential();
        for (int i = 0; i + 1 < widths.Length; i++)
        {
            model.Append(new Linear(widths[i], widths[i + 1], bias: bias || i == 0, generator: g));
            // A ReLU after every hidden layer but the second, so runs mix fused and plain layers.
            if (i + 2 < widths.Length && i != 1) model.Append(new ReLU());
        }
        return model;
    }

    [Theory]
    [MemberData(nameof(Nets))]
    public void Chain_gives_the_bits_of_the_layers_one_by_one_at_every_thread_count(string net)
    {
        foreach (bool bias in new[] { true, false })
            foreach (int threads in new[] { 1, 2, 3 })
                KernelSettings.WithThreads(threads, () => SplittingAll(() =>
                {
                    var model = Build(net, bias, 3);
                    int inputs = ((Linear)model[0]).InFeatures;
                    var g = new Generator(4);
                    var x = Tensor.Randn([1, inputs], g);
                    var expected = Reference(model, x).ToArray<float>();
                    long regions = LinearChain.Regions;
                    for (int call = 0; call < 4; call++)   // the first call notes the weights, the second builds the copies
                        AssertSameBits(expected, Infer(model, x).ToArray<float>(), $"{net}, bias {bias}, {threads} thread(s), call {call + 1}");
                    if (GemvTransposed.Supported) Assert.Equal(3, LinearChain.Regions - regions);
                    // Other batch-1 layouts: a vector, a leading 1 × 1, a strided row.
                    foreach (var xi in new[] { Tensor.Randn([inputs], g), Tensor.Randn([1, 1, inputs], g), Ops.Slice(Tensor.Randn([1, 2 * inputs], g), 1, 0, 2 * inputs, 2) })
                    {
                        var y = Infer(model, xi);
                        AssertSameBits(Reference(model, xi).ToArray<float>(), y.ToArray<float>(), $"{net}, input {Shapes.Format(xi.Shape)}, {threads} thread(s)");
                        Assert.Equal([.. xi.Shape[..^1].ToArray(), ((Linear)model[^1]).OutFeatures], y.Shape.ToArray());
                    }
                }));
    }

    [Fact]
    public void A_pass_is_one_parallel_loop_and_bits_do_not_depend_on_the_thread_count()
    {
        var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(5));
        var x = Tensor.Randn([1, 784], new Generator(6));
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3, 4 })
            KernelSettings.WithThreads(threads, () =>
            {
                Infer(model, x);
                Infer(model, x);
                long loops = Parallelism.SplitLoops;
                var y = Infer(model, x).ToArray<float>();
                // One region for the three layers (one wait per layer inside it), not a loop per layer.
                if (GemvTransposed.Supported) Assert.Equal(threads > 1 ? 1 : 0, Parallelism.SplitLoops - loops);
                first ??= y;
                AssertSameBits(first, y, $"{threads} thread(s) against 1");
            });
        AssertSameBits(Reference(model, x).ToArray<float>(), first!, "the layers one by one");
    }

    /// <summary>
    /// A pass run inside an enclosing loop (the pool taken, so no worker comes) at three threads, on every net:
    /// participant 0 takes each other participant over at the first part it waits for, which for some nets is a later
    /// layer's (3-17-255-257-1: the first layer has one part, the next three), while it runs its own chains over the
    /// earlier parts of that layer's input; the bits are still those of the layers one by one.
    /// </summary>
    [Theory]
    [MemberData(nameof(Nets))]
    public void Taken_over_participants_give_the_bits_of_the_layers_one_by_one(string net)
    {
        KernelSettings.WithThreads(3, () => SplittingAll(() =>
        {
            var model = Build(net, true, 5);
            var x = Tensor.Randn([1, ((Linear)model[0]).InFeatures], new Generator(8));
            var expected = Reference(model, x).ToArray<float>();
            Infer(model, x);
            Infer(model, x);
            float[]? nested = null;
            long regions = LinearChain.Regions;
            Parallelism.For(2, 1 << 20, (s, e) =>
            {
                if (s == 0) nested = Infer(model, x).ToArray<float>();
            });
            AssertSameBits(expected, nested!, $"{net}, nested pass at 3 threads");
            if (GemvTransposed.Supported) Assert.Equal(1, LinearChain.Regions - regions);
        }));
    }

    /// <summary>
    /// With the pool taken by an enclosing loop, a pass runs on its caller alone: participant 0 takes the other
    /// participants over. Two threads running the same model at once: one runs the chain, the other the layers one by one.
    /// </summary>
    [Fact]
    public void Pool_taken_or_chain_busy_gives_the_same_bits()
    {
        var model = Models.Mlp(300, [129, 257], 33, generator: new Generator(7));
        var inputs = Enumerable.Range(0, 8).Select(i => Tensor.Randn([1, 300], new Generator((ulong)(20 + i)))).ToArray();
        var expected = inputs.Select(x => Reference(model, x).ToArray<float>()).ToArray();
        KernelSettings.WithThreads(2, () => SplittingAll(() =>
        {
            Infer(model, inputs[0]);
            Infer(model, inputs[0]);
            // Nested: the enclosing loop holds the pool, so each pass inside it runs inline.
            var nested = new float[inputs.Length][];
            long takeOvers = LinearChain.TakeOvers;
            Parallelism.For(inputs.Length, 1 << 20, (s, e) =>
            {
                for (int i = s; i < e; i++) nested[i] = Infer(model, inputs[i]).ToArray<float>();
            });
            for (int i = 0; i < inputs.Length; i++) AssertSameBits(expected[i], nested[i], $"nested pass, input {i}");
            if (GemvTransposed.Supported) Assert.True(LinearChain.TakeOvers > takeOvers, "a pass inside a parallel loop must run its participants on the caller");

            // Concurrent: four threads share the model (and its one chain).
            var results = new float[4][][];
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                var mine = new float[200][];
                for (int r = 0; r < mine.Length; r++) mine[r] = Infer(model, inputs[(t + r) % inputs.Length]).ToArray<float>();
                results[t] = mine;
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 200; r++) AssertSameBits(expected[(t + r) % inputs.Length], results[t][r], $"concurrent pass, thread {t}, call {r}");
        }));
    }

    /// <summary>After any write to a weight or a bias the next pass sees it (the copy of that layer is rebuilt, the bias read live).</summary>
    [Fact]
    public void Passes_see_every_weight_and_bias_update()
    {
        KernelSettings.WithThreads(2, () => SplittingAll(() =>
        {
            var model = Models.Mlp(300, [64], 40, generator: new Generator(9));
            var x = Tensor.Randn([1, 300], new Generator(10));
            var optimizer = new SGD(model.Parameters(), lr: 0.05);
            for (int step = 0; step < 4; step++)
            {
                for (int call = 0; call < 3; call++)
                    AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), $"step {step}, call {call + 1}");
                optimizer.ZeroGrad();
                model.Forward(x).Square().Sum().Backward();
                optimizer.Step();
            }
            using (Aperture.Autodiff.NoGrad()) Ops.AddInPlace(((Linear)model[2]).Bias!, Tensor.Full([40], 0.5));
            AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), "after a bias write");
        }));
    }

    [Fact]
    public void Hooks_layers_in_between_and_appended_layers_end_or_extend_a_run()
    {
        KernelSettings.WithThreads(2, () => SplittingAll(() =>
        {
            var g = new Generator(11);
            var model = new Sequential(new Linear(40, 64, generator: g), new ReLU(), new Linear(64, 64, generator: g), new Tanh(), new Linear(64, 48, generator: g), new ReLU());
            var x = Tensor.Randn([1, 40], g);
            for (int call = 0; call < 3; call++) AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), $"around a Tanh, call {call + 1}");
            model.Append(new Linear(48, 7, generator: g));
            for (int call = 0; call < 3; call++) AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), $"appended layer, call {call + 1}");
            int hooked = 0;
            using (model[2].RegisterForwardHook((m, input, output) => { hooked++; return Ops.Mul(output, 2.0); }))
            {
                var expected = Reference(model, x);   // the reference calls Ops directly: the hook is not in it
                var y = Infer(model, x);
                Assert.Equal(1, hooked);
                Assert.NotEqual(expected.ToArray<float>(), y.ToArray<float>());
            }
            AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), "hook removed");
        }));
    }

    [Fact]
    public void Nan_and_infinite_inputs_propagate_as_the_ops_do()
    {
        KernelSettings.WithThreads(2, () => SplittingAll(() =>
        {
            var model = Models.Mlp(33, [65], 17, generator: new Generator(12));
            var x = Tensor.Randn([1, 33], new Generator(13));
            x.SetAt(double.NaN, 0, 5);
            x.SetAt(double.PositiveInfinity, 0, 7);
            for (int call = 0; call < 3; call++) AssertSameBits(Reference(model, x).ToArray<float>(), Infer(model, x).ToArray<float>(), $"NaN input, call {call + 1}");
        }));
    }

    [Fact]
    public void Autodiff_and_other_dtypes_and_batches_take_the_ordinary_path()
    {
        var model = Models.Mlp(20, [16], 4, generator: new Generator(14));
        var x = Tensor.Randn([1, 20], new Generator(15));
        Infer(model, x);
        Infer(model, x);
        long regions = LinearChain.Regions;
        var y = model.Forward(x);
        Assert.NotNull(y.GradFn);
        Infer(model, Tensor.Randn([3, 20], new Generator(16)));
        Assert.Equal(regions, LinearChain.Regions);
        var m64 = Models.Mlp(20, [16], 4, generator: new Generator(14), dtype: DType.Float64);
        var x64 = x.To(DType.Float64);
        for (int i = 0; i < 3; i++) Infer(m64, x64);
        Assert.Equal(regions, LinearChain.Regions);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Steady_state_passes_allocate_nothing(int threads)
    {
        KernelSettings.WithThreads(threads, () =>
        {
            var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(17));
            var x = Tensor.Randn([1, 784], new Generator(18));
            void Step()
            {
                using var _ = TensorScope.Begin();
                using var __ = Aperture.Autodiff.NoGrad();
                model.Forward(x);
            }
            for (int i = 0; i < 200; i++) Step();
            // The fewest bytes over three windows, as in AllocationTests: a one-off allocation by the runtime itself
            // (a tiered recompilation) is not the pass's.
            long best = long.MaxValue;
            for (int window = 0; window < 3; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20; i++) Step();
                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, best);
        });
    }
}
