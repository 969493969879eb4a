using Aperture.NN;
using Aperture.Tests.Kernels;

namespace Aperture.Tests.NN;

/// <summary>
/// A <see cref="Sequential"/> runs a Linear layer and the ReLU after it as one call: where the layer's cached inference
/// path applies, and under autodiff as one primitive with one node (<see cref="Ops.LinearRelu"/>). The bits of the two
/// ops run apart, in the forward pass and in every mode of differentiation; the hooks of either module still honoured.
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
    [InlineData(255, 257, 64, 129)]   // hidden outputs past Parallelism.PassSplitMin, rows not a multiple of the 8-row blocks
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
                // The reference on one thread: a pass split across threads must give its bits too.
                float[] expected = [];
                KernelSettings.WithThreads(1, () => expected = Unfused(model, x).ToArray<float>());
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
    public void The_fused_bias_and_relu_pass_gives_the_bits_of_the_bias_pass_then_relu_on_every_path()
    {
        // Widths around each register's (16, 8 and 4 lanes; the scalar tail), inputs with a NaN row, infinities that
        // cancel into NaN, and zeros: the pre-activations hold NaN, ±0 and values of either sign.
        foreach (var path in KernelPaths.Available())
        {
            using var scope = KernelPaths.Force(path);
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
                foreach (int n in new[] { 1, 7, 16, 19, 33 })
                {
                    var g = new Generator(31);
                    var x = Tensor.Randn([6, 11], g, dtype);
                    var w = Tensor.Randn([n, 11], g, dtype);
                    var b = Tensor.Randn([n], g, dtype);
                    x.SetAt(double.NaN, 1, 3);
                    for (int k = 0; k < 11; k++) x.SetAt(0.0, 2, k);
                    x.SetAt(double.PositiveInfinity, 3, 0);
                    x.SetAt(double.NegativeInfinity, 3, 1);
                    b.SetAt(-0.0, 0);
                    var expected = Ops.Relu(Ops.Linear(x, w, b)).ToDoubleArray();
                    var actual = Ops.LinearRelu(x, w, b).ToDoubleArray();
                    for (int i = 0; i < expected.Length; i++)
                        if (BitConverter.DoubleToInt64Bits(expected[i]) != BitConverter.DoubleToInt64Bits(actual[i]))
                            Assert.Fail($"{path}, {dtype}, n = {n}: element {i} is {actual[i]:R}, the unfused ops give {expected[i]:R}");
                    Assert.Contains(expected, double.IsNaN);
                    Assert.Contains(expected, v => v == 0);
                    Assert.Contains(expected, v => v > 0);
                }
        }
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

    /// <summary>The model's layers as separate ops under autodiff: Linear then Relu, each with its own node.</summary>
    private static Tensor UnfusedRecorded(Sequential model, Tensor x)
    {
        foreach (var layer in model)
            x = layer is Linear l ? Ops.Linear(x, l.Weight, l.Bias) : layer is ReLU ? Ops.Relu(x) : layer.Forward(x);
        return x;
    }

    private static void AssertSameBits(Tensor e, Tensor a, string what)
    {
        Assert.Equal(e.ShapeArray(), a.ShapeArray());
        var x = e.ToDoubleArray();
        var y = a.ToDoubleArray();
        for (int i = 0; i < x.Length; i++)
            if (BitConverter.DoubleToInt64Bits(x[i]) != BitConverter.DoubleToInt64Bits(y[i]))
                Assert.Fail($"{what}: element {i} is {y[i]:R}, the unfused ops give {x[i]:R}");
    }

    /// <summary>
    /// A 7-16-16-3 MLP whose first hidden unit's pre-activation is exactly 0 (a zero weight row and bias), and whose
    /// second one's is −0 + 0 sums: the ReLU's step at its kink, taken from the output, must be the unfused one.
    /// </summary>
    private static Sequential KinkedMlp(DType dtype)
    {
        var model = Models.Mlp(7, [16, 16], 3, generator: new Generator(21), dtype: dtype);
        using var _ = Aperture.Autodiff.NoGrad();
        var first = (Linear)model[0];
        for (int k = 0; k < 7; k++)
        {
            first.Weight.SetAt(0.0, 0, k);
            first.Weight.SetAt(-0.0, 1, k);
        }
        first.Bias!.SetAt(0.0, 0);
        first.Bias!.SetAt(-0.0, 1);
        return model;
    }

    [Theory]
    [InlineData(DType.Float32, 1)]
    [InlineData(DType.Float32, 16)]
    [InlineData(DType.Float64, 33)]
    public void Under_autodiff_a_pair_is_one_node_with_the_bits_of_the_two_ops(DType dtype, int rows)
    {
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                var model = KinkedMlp(dtype);
                var parameters = model.Parameters().ToArray();
                var x = Tensor.Randn([rows, 7], new Generator(22), dtype);
                var y = Tensor.Randn([rows, 3], new Generator(23), dtype);
                Assert.Equal("linear_relu", new Sequential(model[0], model[1]).Forward(x).GradFn!.Name);
                var fused = Aperture.Autodiff.Grad([Ops.MseLoss(model.Forward(x), y)], parameters);
                var unfused = Aperture.Autodiff.Grad([Ops.MseLoss(UnfusedRecorded(model, x), y)], parameters);
                for (int i = 0; i < parameters.Length; i++)
                    AssertSameBits(unfused[i]!, fused[i]!, $"{dtype}, {rows} row(s), {threads} thread(s): gradient of parameter {i}");
                AssertSameBits(Ops.MseLoss(UnfusedRecorded(model, x), y), Ops.MseLoss(model.Forward(x), y), "loss");
                // The unit at the kink passes no gradient to its weights, as the unfused ReLU's step says.
                Assert.Equal(0.0, Ops.Abs(fused[0]![0]).Sum().Item());

                // Through Backward into the leaves' gradients, inside a recycling scope (the training loop's form).
                foreach (var p in parameters) p.Grad = null;
                using (TensorScope.Begin()) Ops.MseLoss(model.Forward(x), y).Backward();
                var fromBackward = parameters.Select(p => p.Grad!.Clone()).ToArray();
                foreach (var p in parameters) p.Grad = null;
                using (TensorScope.Begin()) Ops.MseLoss(UnfusedRecorded(model, x), y).Backward();
                for (int i = 0; i < parameters.Length; i++) AssertSameBits(parameters[i].Grad!, fromBackward[i], $"Backward, parameter {i}");
            });
    }

    [Fact]
    public void Second_order_and_forward_mode_through_a_pair_give_the_bits_of_the_two_ops()
    {
        var model = KinkedMlp(DType.Float64);
        var parameters = model.Parameters().ToArray();
        var x = Tensor.Randn([5, 7], new Generator(24), DType.Float64);
        var y = Tensor.Randn([5, 3], new Generator(25), DType.Float64);
        var direction = parameters.Select((p, i) => Tensor.Randn(p.ShapeArray(), new Generator(30 + (ulong)i), DType.Float64)).ToArray();

        // Hessian-vector products (forward over reverse: tangents ride on the backward pass).
        var hvpFused = Aperture.Autodiff.Hvp(() => Ops.MseLoss(model.Forward(x), y), parameters, direction);
        var hvpUnfused = Aperture.Autodiff.Hvp(() => Ops.MseLoss(UnfusedRecorded(model, x), y), parameters, direction);
        for (int i = 0; i < parameters.Length; i++) AssertSameBits(hvpUnfused[i], hvpFused[i], $"HVP, parameter {i}");

        // Double backward: the recorded gradient's own gradient.
        Tensor GradNormGrad(Func<Tensor, Tensor> f)
        {
            var g = Aperture.Autodiff.Grad(Ops.MseLoss(f(x), y), parameters[0], createGraph: true);
            return Aperture.Autodiff.Grad(Ops.Sum(Ops.Square(g)), parameters[2]);
        }
        AssertSameBits(GradNormGrad(v => UnfusedRecorded(model, v)), GradNormGrad(v => model.Forward(v)), "double backward");

        // Forward mode: the JVP of the outputs along an input direction.
        var v = Tensor.Randn([5, 7], new Generator(26), DType.Float64);
        var (outFused, jvpFused) = Aperture.Autodiff.Jvp(t => model.Forward(t), x, v);
        var (outUnfused, jvpUnfused) = Aperture.Autodiff.Jvp(t => UnfusedRecorded(model, t), x, v);
        AssertSameBits(outUnfused, outFused, "JVP's output");
        AssertSameBits(jvpUnfused, jvpFused, "JVP");
    }

    [Fact]
    public void Hooks_anomaly_detection_and_rounding_policies_keep_the_two_modules_under_autodiff()
    {
        var model = Models.Mlp(6, [8], 2, generator: new Generator(27));
        var pair = new Sequential(model[0], model[1]);
        var x = Tensor.Randn([4, 6], new Generator(28));
        Assert.Equal("linear_relu", pair.Forward(x).GradFn!.Name);
        using (model[1].RegisterForwardHook((m, input, output) => null)) Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (model[0].RegisterForwardPreHook((m, input) => null)) Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (Anomaly.Detect()) Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (NumericsPolicy.Use(new NumericsPolicy { Activations = StorageFormat.BFloat16 })) Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (NumericsPolicy.Use(new NumericsPolicy { Gradients = StorageFormat.BFloat16 })) Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        // Frozen layers and an input without a gradient record no node: the inference paths, not the fused node.
        using (Aperture.Autodiff.NoGrad()) Assert.Null(pair.Forward(x).GradFn);
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
