using Aperture.NN;
using Aperture.Tests.Kernels;
using static Aperture.Tests.NN.LinearCacheChecks;

namespace Aperture.Tests.NN;

/// <summary>
/// The batched inference path of <see cref="Linear"/> over its weight packed into the thin kernels' panels
/// (<see cref="ThinPackedWeight"/>): the bits of the naive fused chain and of <see cref="Ops.Linear"/> (which never
/// uses the cache) on shapes with partial row blocks, half and ragged panels, at one and two threads, through the
/// fused Linear + ReLU of a <see cref="Sequential"/>, never stale after any kind of write to the weight, and no
/// allocation once built.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearThinPackedCacheTests
{
    private static ThinPackedWeight? Copy(Linear layer) => Copy<ThinPackedWeight>(layer, "_thinPacked");

    // (in, out, rows): the bench's two wide layers at batch 128 and 32; a partial last row block (255, 3 and 9 rows);
    // ragged last panels of 1, 8 and 17 columns; a last half panel (48 = 32 + 16) with partial and whole row blocks; a
    // short k; the deepest k taken.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 784, 256, 128 }, { 256, 256, 32 }, { 257, 64, 255 }, { 1000, 33, 3 }, { 255, 40, 9 }, { 300, 49, 128 },
        { 300, 48, 24 }, { 300, 48, 13 }, { 17, 300, 129 }, { 1024, 32, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Thin_packed_path_gives_the_bits_of_the_naive_chain_and_of_ops_linear(int inF, int outF, int rows)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                foreach (bool bias in new[] { true, false })
                {
                    var layer = new Linear(inF, outF, bias, generator: new Generator(3));
                    var x = Tensor.Randn([rows, inF], new Generator(4));
                    var naive = Naive(x.ToArray<float>(), layer.Weight.ToArray<float>(), layer.Bias?.ToArray<float>(), rows, outF, inF);
                    string what = $"{inF}→{outF} at {rows} rows, bias {bias}, {threads} thread(s)";
                    using var _ = Aperture.Autodiff.NoGrad();
                    var first = layer.Forward(x).ToArray<float>();   // uncached (the version is only noted)
                    for (int rep = 0; rep < 3; rep++)
                    {
                        var y = layer.Forward(x);
                        AssertSameBits(naive, y.ToArray<float>(), what + $", call {rep + 2} against the naive chain");
                        AssertSameBits(Reference(layer, x).ToArray<float>(), y.ToArray<float>(), what + ", against Ops.Linear");
                    }
                    AssertSameBits(first, layer.Forward(x).ToArray<float>(), what + ", first (uncached) call against a cached one");
                    var y3 = layer.Forward(Ops.Reshape(x, [1, rows, inF]));
                    Assert.Equal(new[] { 1, rows, outF }, y3.Shape.ToArray());
                    AssertSameBits(naive, y3.ToArray<float>(), what + ", rank-3 input");
                    // Linear then ReLU as a Sequential runs the two fused: the maximum taken on the cached path's output.
                    var relu = new Sequential(layer, new ReLU());
                    relu.Forward(x);
                    var fused = relu.Forward(x).ToArray<float>();
                    AssertSameBits(Ops.Relu(Reference(layer, x)).ToArray<float>(), fused, what + ", fused with the ReLU");
                    if (ThinGemm.TakesPackedB(rows, outF, inF))
                        Assert.True(Copy(layer) is { } c && c.Matches(layer.Weight), what + ": the thin packed copy should be built and used");
                }
            });
    }

    [Fact]
    public void The_shapes_above_take_the_thin_packed_path_and_the_bounds_hold()
    {
        if (KernelPaths.Active != KernelPath.Avx512) return;   // the thin kernels are AVX-512 only
        foreach (var row in Shapes)
        {
            var (inF, outF, rows) = ((int)row[0], (int)row[1], (int)row[2]);
            Assert.True(ThinGemm.TakesPackedB(rows, outF, inF), $"{inF}→{outF} at {rows} rows");
        }
        Assert.False(ThinGemm.TakesPackedB(1, 256, 784));      // one row: the matrix–vector path
        Assert.False(ThinGemm.TakesPackedB(128, 10, 256));     // narrower than a panel: the output layer's own path
        Assert.False(ThinGemm.TakesPackedB(128, 64, 1100));    // k past the thin kernels' depth
        Assert.False(ThinGemm.TakesPackedB(17, 330, 1000));    // panels over 1 MiB
        Assert.False(ThinGemm.TakesPackedB(300, 600, 300));    // batch and k both over 256
    }

    /// <summary>Each kind of write to the weight (or bias) after the copy is built; the next output must see it.</summary>
    [Theory]
    [MemberData(nameof(LinearInferenceCacheTests.Writes), MemberType = typeof(LinearInferenceCacheTests))]
    public void Thin_packed_copy_is_never_stale_after_a_write(string write)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                var layer = new Linear(300, 64, generator: new Generator(7));
                var other = new Linear(300, 64, generator: new Generator(8));
                var x = Tensor.Randn([128, 300], new Generator(9));
                var before = Infer(layer, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), before.ToArray<float>(), "before the write");
                if (KernelPaths.Active == KernelPath.Avx512) Assert.NotNull(Copy(layer));
                LinearInferenceCacheTests.Write(write, layer, other, x);
                var after = Infer(layer, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), after.ToArray<float>(), $"after {write}, {threads} thread(s)");
                Assert.NotEqual(before.ToArray<float>(), after.ToArray<float>());
                LinearInferenceCacheTests.Write(write, layer, other, x);
                AssertSameBits(Reference(layer, x).ToArray<float>(), Infer(layer, x).ToArray<float>(), $"after a second {write}, {threads} thread(s)");
            });
    }

    [Fact]
    public void A_wrapped_array_is_never_cached()
    {
        var data = new float[64 * 300];
        var rng = new Random(3);
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        var w = Tensor.Wrap(data, [64, 300]);
        Assert.False(ThinPackedWeight.Of(w).Matches(w));   // the array may change behind the counter's back
        var owned = Tensor.FromArray(data, [64, 300]);
        var key = ThinPackedWeight.Of(owned);
        Assert.True(key.Matches(owned));
        Assert.False(key.Matches(Ops.Clone(owned)));   // another tensor object, another buffer
        Ops.AddInPlace(owned, 1.0);
        Assert.False(key.Matches(owned));
    }

    /// <summary>The copy costs nothing until a weight is used twice, and then no allocation, at one thread and at two.</summary>
    [Fact]
    public void The_copy_is_built_only_for_a_weight_used_twice_and_steady_state_allocates_nothing()
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () => BuiltOnlyForAWeightUsedTwiceAndSteadyStateAllocatesNothing<ThinPackedWeight>(
                new Linear(784, 256, generator: new Generator(21)), Tensor.Randn([128, 784], new Generator(22)), "_thinPacked",
                KernelPaths.Active == KernelPath.Avx512));
    }
}
