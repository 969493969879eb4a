using Aperture.NN;
using Aperture.Tests.Kernels;
using Aperture.Tests.OpTests;

namespace Aperture.Tests.NN;

/// <summary>
/// A convolution adds its bias, and under a <see cref="Sequential"/> applies the ReLU that follows it, as each output
/// plane leaves the kernel (<see cref="Ops.Conv2dRelu"/>): one op and one node where there were three ops. The bits of
/// the separate ops, on the direct kernel and the im2col path, at one thread and two, in the forward pass and in the
/// gradients; the separate ops still run where hooks, anomaly detection or a rounding policy need them.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class ConvReluFusionTests
{
    public static TheoryData<ConvCase, DType, bool> Cases()
    {
        ConvCase[] cases =
        [
            new("lenet1", 3, 1, 28, 28, 6, 5, 5, 1, 2, 1),
            new("lenet2", 2, 6, 14, 14, 16, 5, 5, 1, 0, 1),
            new("one_column", 3, 2, 9, 1, 3, 3, 1, 1, (1, 0), 1),         // planes one element wide: the scalar tail
            new("wide_rows", 2, 3, 5, 37, 7, 2, 4, 1, (0, 2), 1),          // rows past two vectors, an odd channel
            new("groups_odd", 3, 6, 8, 9, 9, 3, 3, 1, 1, 1, Groups: 3),
            new("strided", 2, 3, 9, 9, 4, 3, 3, 2, 1, 1),                  // the im2col path whatever the switch
        ];
        var data = new TheoryData<ConvCase, DType, bool>();
        foreach (var c in cases)
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
                foreach (bool direct in new[] { true, false })
                    data.Add(c, dtype, direct);
        return data;
    }

    private static T WithDirect<T>(bool enabled, Func<T> f)
    {
        bool saved = DirectConv2d.Enabled;
        DirectConv2d.Enabled = enabled;
        try { return f(); }
        finally { DirectConv2d.Enabled = saved; }
    }

    private static Tensor Conv(ConvCase k, Tensor x, Tensor w, Tensor? b) => Ops.Conv2d(x, w, b, k.Stride, k.Padding, k.Dilation, k.Groups);

    private static Tensor ConvRelu(ConvCase k, Tensor x, Tensor w, Tensor? b) => Ops.Conv2dRelu(x, w, b, k.Stride, k.Padding, k.Dilation, k.Groups);

    /// <summary>The three ops apart, each with its own output (and node, under autodiff).</summary>
    private static Tensor Apart(ConvCase k, Tensor x, Tensor w, Tensor b, bool relu)
    {
        var y = Ops.AddChannelBias(Conv(k, x, w, null), b);
        return relu ? Ops.Relu(y) : y;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_bias_and_relu_in_the_kernel_give_the_bits_of_the_separate_ops(ConvCase k, DType dtype, bool direct)
    {
        var (x, w, b) = ConvTests.Inputs(k, dtype, seed: 41);
        // A NaN, infinities, and −0 in the bias: the pre-activations hold NaN, ±∞, ±0 and values of either sign.
        x.SetAt(double.NaN, 0, 0, 0, 0);
        x.SetAt(double.PositiveInfinity, k.N - 1, k.C - 1, k.H - 1, k.W - 1);
        b!.SetAt(-0.0, 0);
        using var _ = Aperture.Autodiff.NoGrad();
        // The reference on one thread: a kernel split across threads must give its bits too.
        var (biased, activated) = Close.WithThreads(1, () => WithDirect(false, () => (Apart(k, x, w, b, false), Apart(k, x, w, b, true))));
        var unbiased = Close.WithThreads(1, () => WithDirect(false, () => Ops.Relu(Conv(k, x, w, null))));
        var values = activated.ToDoubleArray();
        Assert.Contains(values, double.IsNaN);
        Assert.Contains(values, v => v == 0);
        Assert.Contains(values, v => v > 0);
        foreach (int threads in new[] { 1, 2 })
        {
            var (y, r, u) = Close.WithThreads(threads, () => WithDirect(direct, () => (Conv(k, x, w, b), ConvRelu(k, x, w, b), ConvRelu(k, x, w, null))));
            Close.Bitwise(biased, y, $"conv2d with bias, {threads} thread(s)");
            Close.Bitwise(activated, r, $"conv2d_relu, {threads} thread(s)");
            Close.Bitwise(unbiased, u, $"conv2d_relu without a bias, {threads} thread(s)");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_fused_node_gives_the_gradients_of_the_separate_nodes(ConvCase k, DType dtype, bool direct)
    {
        var (x0, w0, b0) = ConvTests.Inputs(k, dtype, seed: 43);
        var gy = Tensor.Randn([k.N, k.O, k.OH, k.OW], new Generator(44), dtype);
        Tensor[] Gradients(Func<Tensor, Tensor, Tensor, Tensor> f)
        {
            var (x, w, b) = (x0.Clone().RequiresGrad_(), w0.Clone().RequiresGrad_(), b0!.Clone().RequiresGrad_());
            var g = Aperture.Autodiff.Grad([Ops.Sum(Ops.Mul(f(x, w, b), gy))], [x, w, b]);
            return [g[0]!, g[1]!, g[2]!];
        }
        foreach (bool relu in new[] { false, true })
        {
            // On the same path: the direct kernel's input gradient sums in an order of its own (DirectConvTests).
            var expected = Close.WithThreads(1, () => WithDirect(direct, () => Gradients((x, w, b) => Apart(k, x, w, b, relu))));
            foreach (int threads in new[] { 1, 2 })
            {
                var actual = Close.WithThreads(threads, () => WithDirect(direct, () =>
                    Gradients((x, w, b) => relu ? ConvRelu(k, x, w, b) : Conv(k, x, w, b))));
                string what = $"{(relu ? "conv2d_relu" : "conv2d with bias")}, {threads} thread(s)";
                Close.Bitwise(expected[0], actual[0], $"{what}: input gradient");
                Close.Bitwise(expected[1], actual[1], $"{what}: weight gradient");
                Close.Bitwise(expected[2], actual[2], $"{what}: bias gradient");
            }
        }
    }

    /// <summary>LeNet-5's layers one op at a time under autodiff: Conv2d, bias and ReLU each with their own node.</summary>
    private static Tensor UnfusedRecorded(Sequential model, Tensor x)
    {
        foreach (var layer in model)
            x = layer switch
            {
                Conv2d c => Ops.AddChannelBias(Ops.Conv2d(x, c.Weight, null, c.Stride, c.Padding, c.Dilation, c.Groups), c.Bias!),
                Linear l => Ops.Linear(x, l.Weight, l.Bias),
                ReLU => Ops.Relu(x),
                _ => layer.Forward(x),
            };
        return x;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_lenet_step_through_the_fused_layers_has_the_bits_of_the_separate_ops(int threads)
    {
        KernelSettings.WithThreads(threads, () =>
        {
            var model = Models.LeNet5(generator: new Generator(51));
            var parameters = model.Parameters().ToArray();
            var x = Tensor.Randn([5, 1, 28, 28], new Generator(52));
            var y = Tensor.RandInt(0, 10, [5], new Generator(53));
            Assert.Equal("conv2d_relu", new Sequential(model[0], model[1]).Forward(x).GradFn!.Name);
            AssertSame(UnfusedRecorded(model, x), model.Forward(x), "logits");
            var fused = Aperture.Autodiff.Grad([Losses.CrossEntropy(model.Forward(x), y)], parameters);
            var apart = Aperture.Autodiff.Grad([Losses.CrossEntropy(UnfusedRecorded(model, x), y)], parameters);
            for (int i = 0; i < parameters.Length; i++) AssertSame(apart[i]!, fused[i]!, $"gradient of parameter {i}");
            // Through Backward into the leaves, inside a recycling scope (the training loop's form).
            foreach (var p in parameters) p.Grad = null;
            using (TensorScope.Begin()) Losses.CrossEntropy(model.Forward(x), y).Backward();
            for (int i = 0; i < parameters.Length; i++) AssertSame(apart[i]!, parameters[i].Grad!, $"Backward, parameter {i}");
            using var _ = Aperture.Autodiff.NoGrad();
            AssertSame(UnfusedRecorded(model, x), model.Forward(x), "logits without autodiff");
        });
    }

    private static void AssertSame(Tensor e, Tensor a, string what) => Close.Bitwise(e, a, what);

    [Fact]
    public void Hooks_anomaly_detection_and_rounding_policies_keep_the_separate_ops()
    {
        var model = Models.LeNet5(generator: new Generator(61));
        var x = Tensor.Randn([2, 1, 28, 28], new Generator(62));
        var pair = new Sequential(model[0], model[1]);
        Assert.Equal("conv2d_relu", pair.Forward(x).GradFn!.Name);
        using (model[1].RegisterForwardHook((m, input, output) => null))
            Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (Anomaly.Detect())
            Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
        using (NumericsPolicy.Use(NumericsPolicy.Current with { Activations = StorageFormat.BFloat16 }))
        {
            Assert.Equal("relu", pair.Forward(x).GradFn!.Name);
            // The convolution's output is rounded before its bias is added, as when the bias was an op of its own.
            Assert.Equal("add_channel_bias", model[0].Forward(x).GradFn!.Name);
        }
        Assert.Equal("conv2d", model[0].Forward(x).GradFn!.Name);
    }
}
