namespace Aperture.Tests.Autodiff;

/// <summary>
/// Hessian-vector products (forward-over-reverse) of the losses the curvature instruments take them of: a ReLU MLP
/// with biases under cross-entropy, against the dense Hessian and finite differences, and the fused rules on their path
/// (ReLU's mask, the linear layer's backward pass with tangents) against the composites they replace, bit for bit.
/// </summary>
public class HvpTests
{
    internal static void AssertBitwise(Tensor a, Tensor b, string what)
    {
        Assert.Equal(a.ShapeArray(), b.ShapeArray());
        var x = a.ToDoubleArray();
        var y = b.ToDoubleArray();
        for (int i = 0; i < x.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(x[i]) == BitConverter.DoubleToInt64Bits(y[i]), $"{what}, element {i}: {x[i]:R} vs {y[i]:R}");
    }

    /// <summary>Normal values with the awkward ones mixed in: ±0, ±∞, NaN, and tiny values on both sides of 0.</summary>
    private static Tensor Awkward(int n, Generator g, DType dtype)
    {
        var d = Tensor.Randn([n], g, DType.Float64).ToDoubleArray();
        double[] special = [0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1e-30, -1e-30];
        for (int i = 0; i < n; i += 5) d[i] = special[(i / 5) % special.Length];
        return Tensor.FromArray(d).To(dtype);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Relu_mask_matches_the_composite_bitwise_on_awkward_lengths(DType dtype)
    {
        var g = new Generator(21);
        foreach (int n in new[] { 1, 3, 17, 255, 257 })
        {
            var x = Awkward(n, g, dtype);
            var grad = Awkward(n, g, dtype);
            AssertBitwise(Ops.Mul(grad, Ops.To(Ops.Gt(x, 0), dtype)), Ops.ReluMask(grad, x), $"n = {n}");
            // A strided (non-contiguous) operand takes the same kernel after a copy.
            var x2 = Ops.Transpose(Ops.Reshape(Awkward(2 * n, g, dtype), [n, 2]), 0, 1);
            var g2 = Ops.Transpose(Ops.Reshape(Awkward(2 * n, g, dtype), [n, 2]), 0, 1);
            AssertBitwise(Ops.Mul(g2, Ops.To(Ops.Gt(x2, 0), dtype)), Ops.ReluMask(g2, x2), $"strided, n = {n}");
        }
    }

    [Fact]
    public void Relu_rules_with_tangents_or_a_recorded_backward_give_the_plain_bits()
    {
        var g = new Generator(22);
        var x = Tensor.Randn([7, 13], g, DType.Float64);
        var v = Tensor.Randn([7, 13], g, DType.Float64);
        var w = Tensor.Randn([7, 13], g, DType.Float64);
        var step = Ops.To(Ops.Gt(x, 0), DType.Float64);
        // Forward mode: the tangent of relu(x) along v is v·step(x).
        var (_, jvp) = Aperture.Autodiff.Jvp(Ops.Relu, x, v);
        AssertBitwise(Ops.Mul(v, step), jvp, "jvp");
        // A recorded backward pass (create_graph) gives the plain gradient's bits, and its own gradient in w.
        var xr = x.Detach().RequiresGrad_();
        var wr = w.Detach().RequiresGrad_();
        var gx = Aperture.Autodiff.Grad([Ops.Sum(Ops.Mul(Ops.Relu(xr), wr))], [xr], createGraph: true)[0]!;
        AssertBitwise(Ops.Mul(w, step), gx.Detach(), "recorded gradient");
        var gw = Aperture.Autodiff.Grad([Ops.Sum(Ops.Mul(gx, v))], [wr])[0]!;
        AssertBitwise(Ops.Mul(v, step), gw, "gradient of the gradient");
    }

    /// <summary>The parameters of a ReLU MLP with biases, [w0, b0, w1, b1, ...], in float64.</summary>
    private static Tensor[] Parameters(Generator g, int[] sizes)
    {
        var ps = new List<Tensor>();
        for (int i = 0; i + 1 < sizes.Length; i++)
        {
            ps.Add((Tensor.Randn([sizes[i + 1], sizes[i]], g, DType.Float64) * (1.0 / Math.Sqrt(sizes[i]))).RequiresGrad_());
            ps.Add((Tensor.Randn([sizes[i + 1]], g, DType.Float64) * 0.1).RequiresGrad_());
        }
        return [.. ps];
    }

    private static Tensor MlpLoss(Tensor x, Tensor y, IReadOnlyList<Tensor> ps)
    {
        var h = x;
        for (int i = 0; i < ps.Count; i += 2)
        {
            h = Ops.Linear(h, ps[i], ps[i + 1]);
            if (i + 2 < ps.Count) h = Ops.Relu(h);
        }
        return Ops.CrossEntropy(Ops.Reshape(h, [-1, h.Shape[^1]]), y);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Hvp_of_a_relu_mlp_cross_entropy_matches_the_dense_hessian_and_finite_differences(bool batchOf3d)
    {
        var g = new Generator(23);
        int[] sizes = [5, 7, 6, 4];
        var ps = Parameters(g, sizes);
        // A [3, 3, 5] batch goes through the linear layers' 3-d path; the loss sees the 9 rows either way.
        var x = batchOf3d ? Tensor.Randn([3, 3, 5], g, DType.Float64) : Tensor.Randn([9, 5], g, DType.Float64);
        var y = Tensor.FromArray(new long[] { 0, 3, 1, 2, 2, 0, 1, 3, 3 });
        var vs = ps.Select(p => Tensor.Randn(p.Shape, g, DType.Float64)).ToArray();

        var hv = Aperture.Autodiff.Hvp(() => MlpLoss(x, y, ps), ps, vs);

        // The dense Hessian by reverse-over-reverse, row by row: H·v = Σ_j H[:, j]·v[j].
        var grads = Aperture.Autodiff.Grad([MlpLoss(x, y, ps)], ps, createGraph: true);
        var flatV = vs.SelectMany(v => v.ToDoubleArray()).ToArray();
        var dense = new List<double>();
        foreach (var gp in grads)
        {
            int n = gp!.Numel;
            var flat = Ops.Reshape(gp, [-1]);
            for (int i = 0; i < n; i++)
            {
                var row = Aperture.Autodiff.Grad([Ops.Select(flat, 0, i)], ps, retainGraph: true, allowUnused: true);
                var r = row.SelectMany((t, k) => t?.ToDoubleArray() ?? new double[ps[k].Numel]).ToArray();
                double s = 0;
                for (int j = 0; j < r.Length; j++) s += r[j] * flatV[j];
                dense.Add(s);
            }
        }
        var an = hv.SelectMany(t => t.ToDoubleArray()).ToArray();
        Assert.Equal(dense.Count, an.Length);
        double scale = dense.Max(Math.Abs);
        for (int i = 0; i < an.Length; i++)
            Assert.True(Math.Abs(an[i] - dense[i]) <= 1e-12 * Math.Max(1, scale), $"element {i}: HVP {an[i]:R}, dense Hessian {dense[i]:R}");

        // Central differences of the gradient along v.
        const double eps = 1e-6;
        double[] GradAt(double s)
        {
            var shifted = ps.Select((p, k) => (p.Detach() + vs[k] * s).RequiresGrad_()).ToArray();
            return Aperture.Autodiff.Grad([MlpLoss(x, y, shifted)], shifted).SelectMany(t => t!.ToDoubleArray()).ToArray();
        }
        var plus = GradAt(eps);
        var minus = GradAt(-eps);
        for (int i = 0; i < an.Length; i++)
        {
            double fd = (plus[i] - minus[i]) / (2 * eps);
            Assert.True(Math.Abs(an[i] - fd) <= 1e-6 * Math.Max(1, scale), $"element {i}: HVP {an[i]:R}, finite difference {fd:R}");
        }
        Assert.All(ps, p => Assert.Null(p.Grad));
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Hvp_through_the_fused_backward_rules_has_the_bits_of_the_differentiable_form(DType dtype)
    {
        // Anomaly detection keeps the backward pass on the ops' differentiable form (matmul and add nodes with their
        // forward-mode rules); without it the linear layer's tangent path runs. Both must give the same bits.
        var g = new Generator(24);
        int[] sizes = [17, 33, 19, 10];
        var ps = Parameters(g, sizes).Select(p => p.Detach().To(dtype).RequiresGrad_()).ToArray();
        var x = Tensor.Randn([37, 17], g, dtype);
        var y = Ops.To(Ops.Floor(Ops.Mul(Tensor.Rand([37], g, DType.Float64), 10.0)), DType.Int64);
        var vs = ps.Select(p => Tensor.Randn(p.Shape, g, dtype)).ToArray();
        var fast = Aperture.Autodiff.Hvp(() => MlpLoss(x, y, ps), ps, vs);
        Tensor[] general;
        using (Anomaly.Detect()) general = Aperture.Autodiff.Hvp(() => MlpLoss(x, y, ps), ps, vs);
        for (int i = 0; i < ps.Length; i++) AssertBitwise(general[i], fast[i], $"parameter {i}");
        // A transposed (strided) batch and a 3-d batch take the same path.
        var xt = Ops.Transpose(Tensor.Randn([17, 37], g, dtype), 0, 1);
        fast = Aperture.Autodiff.Hvp(() => MlpLoss(xt, y, ps), ps, vs);
        using (Anomaly.Detect()) general = Aperture.Autodiff.Hvp(() => MlpLoss(xt, y, ps), ps, vs);
        for (int i = 0; i < ps.Length; i++) AssertBitwise(general[i], fast[i], $"strided batch, parameter {i}");
    }

    /// <summary>
    /// Hvp over a model's parameters computes no primal gradient for a Linear weight (only the tangent is returned);
    /// the tangents must still be those of the forms that compute every primal: the JVP of the gradient function
    /// (<c>Hvp(f, x, v)</c>, whose gradient is an ordinary output), and the differentiable form under anomaly
    /// detection. Also with a weight used by two layers, whose gradient is the sum of two contributions, and with a
    /// parameter that is not a Linear weight.
    /// </summary>
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Hvp_without_the_weights_primal_gradients_has_the_bits_of_the_forms_that_compute_them(DType dtype)
    {
        var g = new Generator(27);
        var x = Tensor.Randn([29, 13], g, dtype);
        var y = Ops.To(Ops.Floor(Ops.Mul(Tensor.Rand([29], g, DType.Float64), 7.0)), DType.Int64);
        var w0 = (Tensor.Randn([13, 13], g, dtype) * 0.3).RequiresGrad_();
        var b0 = (Tensor.Randn([13], g, dtype) * 0.1).RequiresGrad_();
        var w1 = (Tensor.Randn([7, 13], g, dtype) * 0.3).RequiresGrad_();
        var scale = Tensor.Full([13], 1.5, dtype).RequiresGrad_();
        // w0 twice (shared), a scale that is not a Linear weight, w1 last.
        Tensor Loss(Tensor a, Tensor b, Tensor c, Tensor s) =>
            Ops.CrossEntropy(Ops.Linear(Ops.Mul(Ops.Relu(Ops.Linear(Ops.Relu(Ops.Linear(x, a, b)), a)), s), c), y);
        Tensor[] ps = [w0, b0, w1, scale];
        var vs = ps.Select(p => Tensor.Randn(p.Shape, g, dtype)).ToArray();
        var fast = Aperture.Autodiff.Hvp(() => Loss(w0, b0, w1, scale), ps, vs);
        Tensor[] general;
        using (Anomaly.Detect()) general = Aperture.Autodiff.Hvp(() => Loss(w0, b0, w1, scale), ps, vs);
        for (int i = 0; i < ps.Length; i++) AssertBitwise(general[i], fast[i], $"parameter {i} against the differentiable form");
        // Each weight alone through Hvp(f, x, v) = Jvp(Grad(f)): the gradient there is an output, so computed whole.
        AssertBitwise(Aperture.Autodiff.Hvp(a => Loss(a, b0, w1, scale), w0, vs[0]),
            Aperture.Autodiff.Hvp(() => Loss(w0, b0, w1, scale), [w0], [vs[0]])[0], "the shared weight against the JVP of its gradient");
        AssertBitwise(Aperture.Autodiff.Hvp(c => Loss(w0, b0, c, scale), w1, vs[2]),
            Aperture.Autodiff.Hvp(() => Loss(w0, b0, w1, scale), [w1], [vs[2]])[0], "the last weight against the JVP of its gradient");
        // Where the gradient is itself an output (the JVP of the gradient function), its primal is computed whole:
        // the same bits as the differentiable form's.
        Tensor GradientCarried() =>
            Aperture.Autodiff.Jvp(c => Aperture.Autodiff.Grad(cc => Loss(w0, b0, cc, scale), c), w1, vs[2]).Output;
        var gradient = GradientCarried();
        Tensor reference;
        using (Anomaly.Detect()) reference = GradientCarried();
        Assert.True(Ops.Sum(Ops.Abs(reference)).Item() > 0);
        AssertBitwise(reference, gradient, "the gradient carried by the JVP");
        // The tensor form of Grad inside a JVP (an unrecorded backward pass carrying tangents): its gradient is an
        // output there, with the differentiable form's bits.
        Tensor TensorGradCarried() =>
            Aperture.Autodiff.Jvp(c => Aperture.Autodiff.Grad([Loss(w0, b0, c, scale)], [c])[0]!, w1, vs[2]).Output;
        gradient = TensorGradCarried();
        using (Anomaly.Detect()) reference = TensorGradCarried();
        Assert.True(Ops.Sum(Ops.Abs(reference)).Item() > 0);
        AssertBitwise(reference, gradient, "the gradient of Grad's tensor form inside a JVP");
        Assert.All(ps, p => Assert.Null(p.Grad));
    }
}

[Collection(ThreadCountCollection.Name)]
public class HvpThreadTests
{
    [Fact]
    public void Hvp_bits_do_not_depend_on_the_thread_count()
    {
        // The bench's shapes (784-256-256-10, batch 256): large enough that the products split across threads.
        var g = new Generator(25);
        var model = Aperture.NN.Models.Mlp(784, [256, 256], 10, "relu", generator: new Generator(26));
        var ps = model.Parameters().ToArray();
        var x = Tensor.Randn([256, 784], g);
        var y = Ops.To(Ops.Floor(Ops.Mul(Tensor.Rand([256], g), 10.0)), DType.Int64);
        var vs = ps.Select(p => Tensor.Randn(p.Shape, g)).ToArray();
        int saved = Parallelism.Threads;
        try
        {
            Tensor[]? reference = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Parallelism.Threads = threads;
                var hv = Aperture.Autodiff.Hvp(() => Aperture.NN.Losses.CrossEntropy(model.Forward(x), y), ps, vs);
                if (reference is null) reference = hv;
                else for (int i = 0; i < hv.Length; i++) HvpTests.AssertBitwise(reference[i], hv[i], $"{threads} threads, parameter {i}");
            }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
