using Aperture.NN;
using Aperture.Tests.Kernels;
using static Aperture.Tests.NN.LinearCacheChecks;

namespace Aperture.Tests.NN;

/// <summary>
/// The batched inference path of <see cref="Linear"/> over its cached packed weight (<see cref="PackedWeight"/>): the
/// bits of the naive fused chain and of <see cref="Ops.Linear"/> (which never uses the cache) on awkward shapes, at one
/// and two threads, under tiny cache blocks, and never stale after any kind of write to the weight.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearPackedCacheTests
{
    private static PackedWeight? Copy(Linear layer) => Copy<PackedWeight>(layer, "_packed");

    /// <summary>
    /// Whether the packed path applies to a [m, in] · [out, in]ᵀ product as the settings stand now: the GEMM would pack
    /// it on this thread, and the thin kernels' cached panels (<see cref="ThinPackedWeight"/>, tried first) do not take it.
    /// </summary>
    private static unsafe bool Applies(int m, int inF, int outF) =>
        PackedWeight.Supported && PackedWeight.Packs(new GemmProblem<float>(null, inF, 1, null, 1, inF, null, outF, 1, m, outF, inF))
        && !ThinGemm.TakesPackedB(m, outF, inF);

    // (in, out, rows): the bench's layer, ragged panels of both sides, a 3-row batch over a long k, equal orientations
    // (all taken by the thin kernels' cache); then shapes past the thin kernels' bounds, which this cache serves: k over
    // 1024, a weight's panels over 1 MiB, a batch and a k both over 256, a 3-row batch over k over 1024.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 784, 256, 128 }, { 255, 257, 17 }, { 1000, 33, 3 }, { 257, 64, 255 }, { 300, 64, 128 }, { 17, 300, 129 },
        { 1100, 64, 128 }, { 1000, 330, 17 }, { 300, 600, 300 }, { 1100, 33, 3 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Packed_path_gives_the_bits_of_the_naive_chain_and_of_ops_linear(int inF, int outF, int rows)
    {
        foreach (bool tiny in new[] { false, true })
            foreach (int threads in new[] { 1, 2 })
                KernelSettings.WithThreads(threads, () =>
                {
                    void Body()
                    {
                        foreach (bool bias in new[] { true, false })
                        {
                            var layer = new Linear(inF, outF, bias, generator: new Generator(3));
                            var g = new Generator(4);
                            var x = Tensor.Randn([rows, inF], g);
                            var naive = Naive(x.ToArray<float>(), layer.Weight.ToArray<float>(), layer.Bias?.ToArray<float>(), rows, outF, inF);
                            string what = $"{inF}→{outF} at {rows} rows, bias {bias}, {threads} thread(s){(tiny ? ", tiny blocks" : "")}";
                            using var _ = Aperture.Autodiff.NoGrad();
                            var first = layer.Forward(x).ToArray<float>();   // uncached (the version is only noted)
                            for (int rep = 0; rep < 3; rep++)
                            {
                                var y = layer.Forward(x);
                                AssertSameBits(naive, y.ToArray<float>(), what + $", call {rep + 2} against the naive chain");
                                AssertSameBits(Reference(layer, x).ToArray<float>(), y.ToArray<float>(), what + ", against Ops.Linear");
                            }
                            AssertSameBits(first, layer.Forward(x).ToArray<float>(), what + ", first (uncached) call against a cached one");
                            // The same rows as a rank-3 batch.
                            var x3 = Ops.Reshape(x, [1, rows, inF]);
                            var y3 = layer.Forward(x3);
                            Assert.Equal(new[] { 1, rows, outF }, y3.Shape.ToArray());
                            AssertSameBits(naive, y3.ToArray<float>(), what + ", rank-3 input");
                            if (threads == 1 && Applies(rows, inF, outF))
                                Assert.True(Copy(layer) is { } c && c.Matches(layer.Weight), what + ": the packed copy should be built and used");
                        }
                    }
                    if (tiny) KernelSettings.WithTinyBlocks(Body);
                    else Body();
                });
    }

    [Fact]
    public void The_shapes_above_take_the_packed_path_at_one_thread()
    {
        if (!PackedWeight.Supported) return;
        KernelSettings.WithThreads(1, () =>
        {
            foreach (var (inF, outF, rows) in new[] { (1100, 64, 128), (1000, 330, 17), (300, 600, 300), (1100, 33, 3) })
                Assert.True(Applies(rows, inF, outF), $"{inF}→{outF} at {rows} rows");
            // The 256→10 output layer runs its product transposed (C is 10 wide), which a packed B cannot serve.
            Assert.False(Applies(128, 256, 10));
        });
    }

    /// <summary>Each kind of write to the weight (or bias) after the copy is built; the next output must see it.</summary>
    [Theory]
    [MemberData(nameof(LinearInferenceCacheTests.Writes), MemberType = typeof(LinearInferenceCacheTests))]
    public void Packed_copy_is_never_stale_after_a_write(string write)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                var layer = new Linear(300, 600, generator: new Generator(7));
                var other = new Linear(300, 600, generator: new Generator(8));
                var x = Tensor.Randn([300, 300], new Generator(9));
                var before = Infer(layer, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), before.ToArray<float>(), "before the write");
                if (threads == 1 && PackedWeight.Supported) Assert.NotNull(Copy(layer));
                LinearInferenceCacheTests.Write(write, layer, other, x);
                var after = Infer(layer, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), after.ToArray<float>(), $"after {write}, {threads} thread(s)");
                Assert.NotEqual(before.ToArray<float>(), after.ToArray<float>());
                LinearInferenceCacheTests.Write(write, layer, other, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), Infer(layer, x).ToArray<float>(), $"after a second {write}, {threads} thread(s)");
            });
    }

    [Fact]
    public void A_wrapped_array_is_never_cached_and_a_new_blocking_depth_repacks()
    {
        var data = new float[64 * 300];
        var rng = new Random(3);
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        var w = Tensor.Wrap(data, [64, 300]);
        Assert.False(PackedWeight.Of(w).Matches(w));   // the array may change behind the counter's back
        var owned = Tensor.FromArray(data, [64, 300]);
        var key = PackedWeight.Of(owned);
        Assert.True(key.Matches(owned));
        Assert.False(key.Matches(Ops.Clone(owned)));   // another tensor object, another buffer
        int kc = GemmBlocking.Kc;
        GemmBlocking.Kc = 128;   // 300 = 3 × 100 instead of 1 × 300: the packed panels would be read at the wrong depth
        try { Assert.False(key.Matches(owned)); }
        finally { GemmBlocking.Kc = kc; }
        Assert.True(key.Matches(owned));
        Ops.AddInPlace(owned, 1.0);
        Assert.False(key.Matches(owned));
    }

    /// <summary>The copy costs nothing until a weight is used twice, and then no allocation.</summary>
    [Fact]
    public void The_copy_is_built_only_for_a_weight_used_twice_and_steady_state_allocates_nothing() =>
        KernelSettings.WithThreads(1, () => BuiltOnlyForAWeightUsedTwiceAndSteadyStateAllocatesNothing<PackedWeight>(
            new Linear(300, 600, generator: new Generator(21)), Tensor.Randn([300, 300], new Generator(22)), "_packed", PackedWeight.Supported));
}
