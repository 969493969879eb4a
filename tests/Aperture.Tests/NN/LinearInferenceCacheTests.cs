using Aperture.NN;
using Aperture.Optim;
using Aperture.Tests.Kernels;
using static Aperture.Tests.NN.LinearCacheChecks;

namespace Aperture.Tests.NN;

/// <summary>
/// The batch-1 inference path of <see cref="Linear"/> over its cached transposed weight: the same bits as
/// <see cref="Ops.Linear"/> (which never uses the cache), and never stale after any kind of write to the weight.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearInferenceCacheTests
{
    [Fact]
    public void Cached_path_is_taken_and_gives_the_bits_of_ops_linear()
    {
        foreach (var (inF, outF, bias) in new[] { (784, 256, true), (256, 10, true), (17, 33, false), (1, 1, true), (255, 257, true), (3, 300, false) })
            foreach (int threads in new[] { 1, 2 })
                KernelSettings.WithThreads(threads, () =>
                {
                    var layer = new Linear(inF, outF, bias, generator: new Generator(3));
                    var g = new Generator(4);
                    foreach (var x in new[] { Tensor.Randn([1, inF], g), Tensor.Randn([inF], g), Tensor.Randn([1, 1, inF], g) })
                    {
                        using var _ = Aperture.Autodiff.NoGrad();
                        var first = layer.Forward(x);
                        for (int rep = 0; rep < 3; rep++)
                            AssertSameBits(Reference(layer, x), layer.Forward(x), $"{inF}→{outF}, input {Shapes.Format(x.Shape)}, call {rep + 2}, {threads} thread(s)");
                        AssertSameBits(first, layer.Forward(x), $"{inF}→{outF}: first (uncached) call against a cached one");
                        Assert.Equal(x.Shape[..^1].ToArray().Append(outF), layer.Forward(x).Shape.ToArray());
                    }
                    // A strided input row (every other element of a wider tensor).
                    var wide = Tensor.Randn([1, 2 * inF], g);
                    var strided = Ops.Slice(wide, 1, 0, 2 * inF, 2);
                    AssertSameBits(Reference(layer, strided), Infer(layer, strided), $"{inF}→{outF}, strided input");
                });
        Assert.True(!GemvTransposed.Supported || CachedCopyExists(new Linear(8, 8, generator: new Generator(1))));
    }

    /// <summary>Whether the layer holds a built copy after two inference calls (the path is really taken).</summary>
    private static bool CachedCopyExists(Linear layer)
    {
        Infer(layer, Tensor.Randn([1, 8], new Generator(2)));
        var field = typeof(Linear).GetField("_transposed", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        return field.GetValue(layer) is WeightCacheSlot<TransposedWeight> { Copy: { } t } && t.Matches(layer.Weight);
    }

    [Fact]
    public void With_autodiff_the_layer_records_its_node_as_before()
    {
        var layer = new Linear(20, 7, generator: new Generator(5));
        var x = Tensor.Randn([1, 20], new Generator(6));
        Infer(layer, x);
        var y = layer.Forward(x);
        Assert.NotNull(y.GradFn);
        y.Sum().Backward();
        Assert.NotNull(layer.Weight.Grad);
    }

    /// <summary>Each kind of write to the weight (or bias) after the copy is built; the next output must see it.</summary>
    public static TheoryData<string> Writes => new()
    {
        "add_", "sub_", "mul_", "copy_", "fill_", "SetAt", "RoundInPlace", "copy_ through a view", "SetAt through a view",
        "Init.Apply", "LoadStateDict", "Checkpoint load", "SGD step", "SGD momentum step", "Adam step", "Sgld step",
        "bias add_",
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public void Cached_copy_is_never_stale_after_a_write(string write)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                var layer = new Linear(300, 40, generator: new Generator(7));
                var other = new Linear(300, 40, generator: new Generator(8));
                var x = Tensor.Randn([1, 300], new Generator(9));
                var before = Infer(layer, x);
                AssertSameBits(Reference(layer, x), before, "before the write");
                Write(write, layer, other, x);
                var after = Infer(layer, x);
                AssertSameBits(Reference(layer, x), after, $"after {write}, {threads} thread(s)");
                Assert.NotEqual(before.ToArray<float>(), after.ToArray<float>());
                // And once more after a second write of the same kind (the copy rebuilt at the new version is replaced again).
                Write(write, layer, other, x);
                AssertSameBits(Reference(layer, x), Infer(layer, x), $"after a second {write}, {threads} thread(s)");
            });
    }

    /// <summary>Writes the weight (or bias) of a [n, 300] layer one way; shared with the packed-copy tests.</summary>
    internal static void Write(string write, Linear layer, Linear other, Tensor x)
    {
        var w = layer.Weight;
        var g = new Generator((ulong)w.Version + 100);
        using var _ = Aperture.Autodiff.NoGrad();
        switch (write)
        {
            case "add_": Ops.AddInPlace(w, Tensor.Randn(w.Shape, g)); break;
            case "sub_": Ops.SubInPlace(w, Tensor.Randn(w.Shape, g)); break;
            case "mul_": Ops.MulInPlace(w, Tensor.Randn(w.Shape, g)); break;
            case "copy_": Ops.CopyInPlace(w, Tensor.Randn(w.Shape, g)); break;
            case "fill_": Ops.FillInPlace(w, 0.25 + w.Version); break;
            case "SetAt": w.SetAt(w.At(3, 5) + 1, 3, 5); break;
            case "RoundInPlace": Rounding.RoundInPlace(w, StorageFormat.BFloat16); break;
            case "copy_ through a view": Ops.CopyInPlace(Ops.Narrow(w, 0, 2, 3), Tensor.Randn([3, 300], g)); break;
            case "SetAt through a view": Ops.Narrow(w, 1, 7, 2).SetAt(2.5 + w.Version, 10, 1); break;
            case "Init.Apply": Init.XavierUniform().Apply(w, g); break;
            case "LoadStateDict":
                Ops.AddInPlace(other.Weight, Tensor.Randn(w.Shape, g));
                layer.LoadStateDict(other.StateDict());
                break;
            case "Checkpoint load":
            {
                Ops.AddInPlace(other.Weight, Tensor.Randn(w.Shape, g));
                var path = Path.Combine(Path.GetTempPath(), $"aperture-cache-{Guid.NewGuid():N}.safetensors");
                try
                {
                    Aperture.IO.Checkpoint.Save(path, other.StateDict());
                    layer.LoadStateDict(Aperture.IO.Checkpoint.Load(path).Model);
                }
                finally { File.Delete(path); }
                break;
            }
            case "SGD step": Step(new SGD(layer.Parameters(), lr: 0.1), layer, x); break;
            case "SGD momentum step": Step(new SGD(layer.Parameters(), lr: 0.1, momentum: 0.9), layer, x); break;
            case "Adam step": Step(new Adam(layer.Parameters(), lr: 0.01), layer, x); break;
            case "Sgld step": Step(new Sgld(layer.Parameters(), new Generator(11), lr: 1e-3, nBeta: 10), layer, x); break;
            case "bias add_": Ops.AddInPlace(layer.Bias!, Tensor.Randn([layer.OutFeatures], g)); break;
            default: throw new ArgumentException(write);
        }
    }

    private static void Step(Optimizer optimizer, Linear layer, Tensor x)
    {
        using (Aperture.Autodiff.EnableGrad())
        {
            optimizer.ZeroGrad();
            layer.Forward(x).Square().Sum().Backward();
        }
        optimizer.Step();
    }

    [Fact]
    public unsafe void A_wrapped_array_is_never_cached()
    {
        var data = new float[40 * 300];
        var rng = new Random(3);
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        var w = Tensor.Wrap(data, [40, 300]);
        var key = TransposedWeight.Of(w);
        Assert.False(key.Matches(w));   // the array may change behind the counter's back
        Assert.False(key.Matches(Ops.Narrow(w, 0, 0, 40)));
        var owned = Tensor.FromArray(data, [40, 300]);
        var ownedKey = TransposedWeight.Of(owned);
        Assert.True(ownedKey.Matches(owned));
        Assert.False(ownedKey.Matches(Ops.Clone(owned)));   // another tensor object, another buffer
        Ops.AddInPlace(owned, 1.0);
        Assert.False(ownedKey.Matches(owned));
    }

    /// <summary>
    /// The engine's own writes into existing gradient buffers count too: accumulation into a kept gradient, and the
    /// reuse (cleared, then refilled) of last step's gradient buffer inside a recycling scope.
    /// </summary>
    [Fact]
    public void Gradient_buffers_count_their_writes()
    {
        var layer = new Linear(6, 4, generator: new Generator(12));
        var x = Tensor.Randn([3, 6], new Generator(13));
        layer.Forward(x).Sum().Backward();
        var g = layer.Weight.Grad!;
        int v0 = g.Version;
        var before = g.ToArray<float>();
        layer.Forward(x).Sum().Backward();   // accumulates into the same buffer
        Assert.True(g.Version > v0, "accumulation into a kept gradient must count a version");
        Assert.NotEqual(before, g.ToArray<float>());

        // Inside scopes, ZeroGrad sets gradients aside and a later backward refills the same buffers.
        var seen = new List<(Tensor Grad, int Version)>();
        for (int step = 0; step < 4; step++)
        {
            using (TensorScope.Begin())
            {
                layer.ZeroGrad();
                layer.Forward(x * (step + 2.0)).Sum().Backward();
            }
            seen.Add((layer.Weight.Grad!, layer.Weight.Grad!.Version));
        }
        bool reused = false;
        for (int i = 0; i < seen.Count; i++)
            for (int j = i + 1; j < seen.Count; j++)
                if (ReferenceEquals(seen[i].Grad, seen[j].Grad))
                {
                    reused = true;
                    Assert.True(seen[j].Version > seen[i].Version, $"the gradient buffer of step {i} was refilled at step {j} without counting a version");
                }
        Assert.True(reused, "expected the scope to reuse a gradient buffer");
    }

    /// <summary>
    /// A loop that changes the weight before every batch-1 call (a sampler drawing one prediction per step) never builds
    /// the copy and allocates nothing; one that keeps the weight builds it once and then allocates nothing either.
    /// </summary>
    [Fact]
    public void The_copy_is_built_only_for_a_weight_used_twice_and_steady_state_allocates_nothing() =>
        BuiltOnlyForAWeightUsedTwiceAndSteadyStateAllocatesNothing<TransposedWeight>(
            new Linear(64, 48, generator: new Generator(21)), Tensor.Randn([1, 64], new Generator(22)), "_transposed", GemvTransposed.Supported);
}
