namespace Aperture.Tests.Autodiff;

using Autodiff = Aperture.Autodiff;

public class AutodiffTests
{
    /// <summary>The worked example: y = sin(a·x + b) has dy/dx = a·cos(a·x + b) by forward and by reverse accumulation.</summary>
    [Fact]
    public void Chain_rule_worked_example_in_both_modes()
    {
        const double a = 1.7, b = -0.4;
        var xs = Tensor.Linspace(-2, 2, 9, DType.Float64);
        var expected = xs.ToDoubleArray().Select(x => a * Math.Cos(a * x + b)).ToArray();
        Func<Tensor, Tensor> f = x => (x * a + b).Sin();

        var x = xs.Clone().RequiresGrad_();
        f(x).Sum().Backward();
        var reverse = x.Grad!.ToDoubleArray();
        var (_, forward) = Autodiff.Jvp(f, xs, Tensor.OnesLike(xs));   // elementwise: the JVP with ones is the derivative

        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], reverse[i], 14);
            Assert.Equal(expected[i], forward.ToDoubleArray()[i], 14);
        }
    }

    [Fact]
    public void Gradients_accumulate_until_cleared_and_detach_cuts_the_graph()
    {
        var x = Tensor.FromArray([2.0, 3.0]).RequiresGrad_();
        (x * x).Sum().Backward();
        (x * 3.0).Sum().Backward();
        Assert.Equal([7.0, 9.0], x.Grad!.ToDoubleArray());
        x.ZeroGrad();
        (x.Detach() * x).Sum().Backward();
        Assert.Equal([2.0, 3.0], x.Grad!.ToDoubleArray());
        using (Autodiff.NoGrad()) Assert.False((x * 2.0).RequiresGrad);
        Assert.True((x * 2.0).RequiresGrad);
    }

    [Fact]
    public void A_second_backward_needs_retain_graph()
    {
        var x = Tensor.FromArray([1.0]).RequiresGrad_();
        var y = (x * x).Sum();
        y.Backward(retainGraph: true);
        y.Backward();
        Assert.Equal(4.0, x.Grad!.Item());
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("retainGraph", ex.Message);
    }

    [Fact]
    public void Create_graph_gives_differentiable_gradients()
    {
        var x = Tensor.FromArray([0.7]).RequiresGrad_();
        var y = x.Pow(4).Sum();
        var g = Autodiff.Grad(y, x, createGraph: true);            // 4x³
        var h = Autodiff.Grad(g.Sum(), x, createGraph: true);      // 12x²
        var t = Autodiff.Grad(h.Sum(), x);                         // 24x
        Assert.Equal(4 * Math.Pow(0.7, 3), g.Item(), 14);
        Assert.Equal(12 * 0.49, h.Item(), 14);
        Assert.Equal(24 * 0.7, t.Item(), 13);
    }

    [Fact]
    public void Functional_transforms_compose_without_perturbation_confusion()
    {
        // d/dx [ x · d/dy (x + y) ] = d/dx [x · 1] = 1: a naive implementation that confuses the two perturbations gives 2.
        var one = Tensor.Scalar(1, DType.Float64);
        var reverse = Autodiff.Grad(x => x * Autodiff.Grad(y => (x + y).Sum(), one), one);
        Assert.Equal(1.0, reverse.Item(), 15);
        var (_, forward) = Autodiff.Jvp(x => x * Autodiff.Jvp(y => x + y, one, one).Jvp, one, one);
        Assert.Equal(1.0, forward.Item(), 15);
        // Nested forward mode: d²/dx² x³ = 6x through two tagged levels.
        var x0 = Tensor.Scalar(2, DType.Float64);
        var second = Autodiff.Jvp(x => Autodiff.Jvp(z => z.Pow(3), x, one).Jvp, x0, one).Jvp;
        Assert.Equal(12.0, second.Item(), 12);
        // Reverse over reverse with the outer variable captured inside: d/dx [∂/∂z (z²·x) at z = x] = d/dx (2x²) = 4x.
        var dd = Autodiff.Grad(x => Autodiff.Grad(z => (z * z * x).Sum(), x).Sum(), x0);
        Assert.Equal(8.0, dd.Item(), 12);
    }

    [Fact]
    public void Vjp_and_jacobians_agree_between_modes()
    {
        var g = new Generator(2);
        var w = Tensor.Randn([3, 4], g, DType.Float64);
        Func<Tensor, Tensor> f = x => Ops.MatMul(w, x).Tanh();
        var x = Tensor.Randn([4], g, DType.Float64);
        var jf = Autodiff.JacobianForward(f, x);
        var jr = Autodiff.JacobianReverse(f, x);
        Assert.Equal([3, 4], jf.ShapeArray());
        var a = jf.ToDoubleArray();
        var b = jr.ToDoubleArray();
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 14);
        var v = Tensor.Randn([3], g, DType.Float64);
        var (_, vjp) = Autodiff.Vjp(f, x, v);
        var expected = Ops.MatMul(v, jr).ToDoubleArray();
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], vjp.ToDoubleArray()[i], 14);
    }

    [Fact]
    public void Hvp_matches_the_analytic_hessian_of_a_quadratic_form()
    {
        var g = new Generator(4);
        var m = Tensor.Randn([5, 5], g, DType.Float64);
        var a = m + m.T;                                       // symmetric: f(x) = ½ xᵀAx has Hessian A
        var x = Tensor.Randn([5], g, DType.Float64);
        var v = Tensor.Randn([5], g, DType.Float64);
        var hv = Autodiff.Hvp(t => Ops.MatMul(t, Ops.MatMul(a, t)) * 0.5, x, v).ToDoubleArray();
        var expected = Ops.MatMul(a, v).ToDoubleArray();
        for (int i = 0; i < 5; i++) Assert.True(Math.Abs(hv[i] - expected[i]) <= 1e-12 * Math.Max(1, Math.Abs(expected[i])));
    }

    [Fact]
    public void Hvp_of_an_mlp_loss_matches_finite_differences_of_gradients()
    {
        var g = new Generator(5);
        var x = Tensor.Randn([8, 3], g, DType.Float64);
        var y = Tensor.Randn([8, 2], g, DType.Float64);
        var w1 = Tensor.Randn([4, 3], g, DType.Float64).RequiresGrad_();
        var w2 = Tensor.Randn([2, 4], g, DType.Float64).RequiresGrad_();
        Tensor Loss(Tensor a, Tensor b) => (Ops.Linear(Ops.Linear(x, a).Tanh(), b) - y).Square().Mean();
        var v1 = Tensor.Randn([4, 3], g, DType.Float64);
        var v2 = Tensor.Randn([2, 4], g, DType.Float64);

        var hv = Autodiff.Hvp(() => Loss(w1, w2), [w1, w2], [v1, v2]);

        // Central difference of the gradient along v: (∇L(w + εv) − ∇L(w − εv)) / 2ε.
        const double eps = 1e-5;
        Tensor[] GradAt(double s) => Autodiff.Grad(ws => Loss(ws[0], ws[1]), w1.Detach() + v1 * s, w2.Detach() + v2 * s);
        var plus = GradAt(eps);
        var minus = GradAt(-eps);
        for (int k = 0; k < 2; k++)
        {
            var fd = ((plus[k] - minus[k]) / (2 * eps)).ToDoubleArray();
            var an = hv[k].ToDoubleArray();
            double scale = fd.Max(Math.Abs);
            for (int i = 0; i < fd.Length; i++) Assert.True(Math.Abs(an[i] - fd[i]) <= 1e-6 * Math.Max(1, scale), $"param {k}[{i}]: {an[i]} vs {fd[i]}");
        }
        // The single-input transform gives the same product for the flattened problem.
        Assert.Null(w1.Grad);
    }

    [Fact]
    public void Retain_grad_keeps_an_intermediate_gradient()
    {
        var x = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var h = (x * 3.0).RetainGrad();
        (h * h).Sum().Backward();
        Assert.Equal([6.0, 12.0], h.Grad!.ToDoubleArray());
        Assert.Equal([18.0, 36.0], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Gradient_of_a_function_returning_a_non_scalar_is_refused_with_a_clear_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => Autodiff.Grad(t => t * 2.0, Tensor.Ones([3], DType.Float64)));
        Assert.Contains("scalar", ex.Message);
        var x = Tensor.Ones([3]).RequiresGrad_();
        var ex2 = Assert.Throws<ArgumentException>(() => (x * 2.0).Backward());
        Assert.Contains("[3]", ex2.Message);
        var ex3 = Assert.Throws<InvalidOperationException>(() => Tensor.Ones([1]).Backward());
        Assert.Contains("does not require grad", ex3.Message);
    }
}
