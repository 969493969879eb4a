using Aperture.NN;
using Aperture.Tests.Kernels;

namespace Aperture.Tests.NN;

/// <summary>
/// A <see cref="Sequential"/> runs a Linear layer and the ReLU after it as one call where the layer's cached inference
/// path applies: the bits of the two ops run apart, the hooks of either module still honoured, autodiff untouched.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LinearReluFusionTests
{
    private static void AssertSameBits(float[] e, float[] a, string what)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what}: element {i} is {a[i]}, the unfused ops give {e[i]}");
    }

    /// <summary>The model's layers as separate ops (Linear never uses a cache; Relu makes its own output).</summary>
    private static Tensor Unfused(Sequential model, Tensor x)
    {
        using var _ = Aperture.Autodiff.NoGrad();
        foreach (var layer in model)
            x = layer is Linear l ? Ops.Linear(x, l.Weight, l.Bias) : layer is ReLU ? Ops.Relu(x) : layer.Forward(x);
        return x;
    }

    [Theory]
    [InlineData(784, 256, 10, 1)]
    [InlineData(784, 256, 10, 128)]
    [InlineData(17, 33, 3, 1)]
    [InlineData(255, 257, 64, 1)]
    [InlineData(255, 257, 64, 17)]
    [InlineData(300, 64, 33, 128)]
    public void Fused_layers_give_the_bits_of_the_unfused_ops(int inputs, int hidden, int outputs, int rows)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                var model = Models.Mlp(inputs, [hidden, hidden], outputs, generator: new Generator(5));
                var x = Tensor.Randn([rows, inputs], new Generator(6));
                // A NaN row (beside ordinary ones) and a −0: the maximum must treat them as Relu does.
                if (rows > 1) x.SetAt(double.NaN, rows - 1, 0);
                x.SetAt(-0.0, 0, inputs - 1);
                var expected = Unfused(model, x).ToArray<float>();
                using var _ = Aperture.Autodiff.NoGrad();
                for (int call = 0; call < 4; call++)   // the first calls note the weights, later ones take the fused path
                    AssertSameBits(expected, model.Forward(x).ToArray<float>(), $"{inputs}-{hidden}-{hidden}-{outputs}, {rows} row(s), call {call + 1}, {threads} thread(s)");
                var hiddenOut = new Sequential(model[0], model[1]).Forward(x).ToArray<float>();
                Assert.Equal(rows > 1, hiddenOut.Any(float.IsNaN));
                Assert.Contains(hiddenOut, v => v == 0);
                Assert.Contains(hiddenOut, v => v > 0);
            });
    }

    [Fact]
    public void Hooks_on_either_module_are_run_and_see_the_unfused_values()
    {
        var model = Models.Mlp(64, [48], 8, generator: new Generator(7));
        var x = Tensor.Randn([1, 64], new Generator(8));
        var plain = Unfused(model, x).ToArray<float>();
        int reluCalls = 0, linearPre = 0;
        Tensor? seenByHook = null;
        using var post = model[1].RegisterForwardHook((m, input, output) => { reluCalls++; seenByHook = input; return Ops.Mul(output, 2.0); });
        using var pre = model[0].RegisterForwardPreHook((m, input) => { linearPre++; return null; });
        using var _ = Aperture.Autodiff.NoGrad();
        for (int call = 0; call < 4; call++)
        {
            var y = model.Forward(x);
            Assert.NotNull(seenByHook);
            Assert.Equal(new[] { 1, 48 }, seenByHook!.Shape.ToArray());   // the ReLU's input is the Linear's output
            var doubled = Unfused(new Sequential(model[0], model[1]), x);
            AssertSameBits(Ops.Mul(doubled, 2.0).ToArray<float>(), new Sequential(model[0], model[1]).Forward(x).ToArray<float>(), "hooked ReLU");
            Assert.Equal(8, y.Shape[1]);
        }
        Assert.Equal(8, reluCalls);
        Assert.Equal(8, linearPre);
        Assert.NotEqual(plain, model.Forward(x).ToArray<float>());
    }

    [Fact]
    public void With_autodiff_the_layers_record_their_nodes_as_before()
    {
        var model = Models.Mlp(20, [16], 4, generator: new Generator(9));
        var x = Tensor.Randn([1, 20], new Generator(10));
        using (Aperture.Autodiff.NoGrad())
            for (int i = 0; i < 3; i++) model.Forward(x);
        var y = model.Forward(x);
        Assert.NotNull(y.GradFn);
        y.Sum().Backward();
        Assert.NotNull(((Linear)model[0]).Weight.Grad);
        Assert.NotEqual(0.0, ((Linear)model[0]).Weight.Grad!.Abs().Sum().Item());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(128)]
    public void Fused_inference_allocates_nothing_in_steady_state(int rows)
    {
        KernelSettings.WithThreads(1, () =>
        {
            var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(11));
            var x = Tensor.Randn([rows, 784], new Generator(12));
            void Step()
            {
                using var _ = TensorScope.Begin();
                using var __ = Aperture.Autodiff.NoGrad();
                model.Forward(x);
            }
            for (int i = 0; i < 5; i++) Step();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Step();
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        });
    }
}
