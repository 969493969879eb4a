using System.Reflection;

namespace Aperture.Tests.Autodiff;

public class GradCheckCatalogueTests
{
    public static TheoryData<string> Names() => new(OpCatalogue.All().Select(c => c.Name));

    private static OpCase Find(string name) => OpCatalogue.All().Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(Names))]
    public void Reverse_and_forward_mode_match_finite_differences(string name)
    {
        var op = Find(name);
        var result = GradCheck.Check(op.F, op.Inputs(new Generator(7)), eps: op.Eps, tolerance: op.Tolerance);
        Assert.True(result.Passed, $"{name}: {result}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Second_derivatives_match_finite_differences(string name)
    {
        var op = Find(name);
        if (!op.SecondOrder) return;
        var result = GradCheck.CheckSecondOrder(op.F, op.Inputs(new Generator(11)), tolerance: 1e-5);
        Assert.True(result.Passed, $"{name}: {result}");
    }

    /// <summary>Every derivative rule in the engine (every node type, every elementwise function) is exercised by a catalogue entry.</summary>
    [Fact]
    public void Every_registered_rule_has_a_passing_check()
    {
        var exercised = Node.TrackCreated();
        try
        {
            foreach (var op in OpCatalogue.All())
            {
                var xs = op.Inputs(new Generator(3));
                using var level = ForwardMode.Enter();
                var duals = xs.Select(x => ForwardMode.MakeDual(x.RequiresGrad_(), Tensor.OnesLike(x), level)).ToArray();
                var y = op.F(duals);
                if (y.RequiresGrad) y.Backward(Tensor.OnesLike(y));
            }
        }
        finally
        {
            Node.StopTracking();
        }

        var assembly = typeof(Tensor).Assembly;
        var rules = assembly.GetTypes()
            .Where(t => !t.IsAbstract && (typeof(Node).IsAssignableFrom(t) || typeof(UnaryOp).IsAssignableFrom(t)))
            .Where(t => t.Name != "UnaryNode") // carries the rules of a UnaryOp, counted through that op
            .Where(t => !typeof(UnaryOp).IsAssignableFrom(t) || IsDifferentiable(t))
            .ToList();
        var missing = rules.Where(t => !exercised.Contains(t)).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0, "derivative rules with no gradient check in OpCatalogue: " + string.Join(", ", missing));
        Assert.True(rules.Count >= 30, $"found only {rules.Count} rule types: the reflection scan is broken");
    }

    /// <summary>Piecewise-constant functions (sign, floor, round) declare no derivative; parametric ops are differentiable.</summary>
    private static bool IsDifferentiable(Type unaryOp)
    {
        var ctor = unaryOp.GetConstructor(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes);
        return ctor is null || ((UnaryOp)ctor.Invoke(null)).Differentiable;
    }

    [Fact]
    public void Piecewise_constant_ops_backpropagate_zeros_as_in_pytorch()
    {
        var x = Tensor.FromArray([-1.5, 0.0, 2.5, -0.5]).RequiresGrad_();
        Assert.Equal([-1.0, 0.0, 1.0, -1.0], Ops.Sign(x).ToDoubleArray());
        Assert.Equal([-2.0, 0.0, 2.0, -1.0], Ops.Floor(x).ToDoubleArray());
        Assert.Equal([-1.0, 0.0, 3.0, -0.0], Ops.Ceil(x).ToDoubleArray());
        Assert.Equal([-1.0, 0.0, 2.0, -0.0], Ops.Trunc(x).ToDoubleArray());
        Assert.Equal([-2.0, 0.0, 2.0, -0.0], Ops.Round(x).ToDoubleArray());
        // torch: (x.sign() + x.floor() + x.ceil() + x.trunc() + x.round()).sum().backward() gives x.grad = 0.
        var y = Ops.Sum(Ops.Sign(x) + Ops.Floor(x) + Ops.Ceil(x) + Ops.Trunc(x) + Ops.Round(x));
        Assert.True(y.RequiresGrad);
        y.Backward();
        Assert.Equal([0.0, 0.0, 0.0, 0.0], x.Grad!.ToDoubleArray());
        var (_, t) = Aperture.Autodiff.Jvp(v => Ops.Floor(v) * v, Tensor.FromArray([1.5, -0.25]), Tensor.FromArray([1.0, 1.0]));
        Assert.Equal([1.0, -1.0], t.ToDoubleArray());            // d(floor(v)·v) = floor(v)

        // Comparisons and arg-max give bool and int64 tensors: as in PyTorch they are outside the graph, and a loss
        // that uses them next to differentiable terms gets zeros through them.
        x.ZeroGrad();
        var mask = Ops.Gt(x, 0);
        Assert.Equal(DType.Bool, mask.DType);
        Assert.False(mask.RequiresGrad);
        Assert.False(Ops.ArgMax(x, 0).RequiresGrad);
        var loss = Ops.Sum(Ops.Mul(Ops.To(mask, DType.Float64), x)) + Ops.Sum(Ops.Round(x));
        loss.Backward();
        Assert.Equal([0.0, 0.0, 1.0, 0.0], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Gradients_at_kinks_are_pytorchs_zero_not_nan()
    {
        // torch.tensor([2., 2., 2.], requires_grad=True).std().backward() → grad [0, 0, 0]
        var c = Tensor.Full([3], 2, DType.Float64).RequiresGrad_();
        Ops.Std(c).Backward();
        Assert.Equal([0.0, 0.0, 0.0], c.Grad!.ToDoubleArray());
        // torch.linalg.vector_norm(torch.zeros(3, requires_grad=True)).backward() → grad [0, 0, 0], also for p = 3
        foreach (double p in new[] { 2.0, 3.0, 1.0 })
        {
            var z = Tensor.Zeros([3], DType.Float64).RequiresGrad_();
            Ops.Norm(z, p).Backward();
            Assert.Equal([0.0, 0.0, 0.0], z.Grad!.ToDoubleArray());
        }
        // torch.zeros(2, requires_grad=True).pow(0) → value [1, 1], grad [0, 0]
        var x = Tensor.FromArray([0.0, 3.0]).RequiresGrad_();
        var y = Ops.Pow(x, 0.0);
        Assert.Equal([1.0, 1.0], y.ToDoubleArray());
        y.Sum().Backward();
        Assert.Equal([0.0, 0.0], x.Grad!.ToDoubleArray());
        // torch.pow(a, b) at a = 0: d/da with b = 0 is 0; d/db with b ≥ 0 is 0.
        var a = Tensor.FromArray([0.0, 0.0, 2.0]).RequiresGrad_();
        var b = Tensor.FromArray([0.0, 1.5, 0.0]).RequiresGrad_();
        Ops.Sum(Ops.Pow(a, b)).Backward();
        Assert.Equal([0.0, 0.0, 0.0], a.Grad!.ToDoubleArray());
        Assert.Equal([0.0, 0.0, Math.Log(2)], b.Grad!.ToDoubleArray());

        // The same values in forward mode.
        Assert.Equal(0.0, Aperture.Autodiff.Jvp(v => Ops.Std(v), Tensor.Full([3], 2, DType.Float64), Tensor.FromArray([1.0, -2.0, 0.5])).Jvp.Item());
        Assert.Equal(0.0, Aperture.Autodiff.Jvp(v => Ops.Norm(v), Tensor.Zeros([3], DType.Float64), Tensor.FromArray([1.0, -2.0, 0.5])).Jvp.Item());
        Assert.Equal([0.0, 0.0], Aperture.Autodiff.Jvp(v => Ops.Pow(v, 0.0), Tensor.FromArray([0.0, 3.0]), Tensor.FromArray([1.0, 1.0])).Jvp.ToDoubleArray());
    }

    [Fact]
    public void Ties_split_the_gradient_as_pytorch_does()
    {
        // torch.maximum(a, b) with a = b at position 0: each gets half there.
        var a = Tensor.FromArray([1.0, 3.0, -2.0]).RequiresGrad_();
        var b = Tensor.FromArray([1.0, 2.0, 5.0]).RequiresGrad_();
        var y = Ops.Maximum(a, b);
        Assert.Equal([1.0, 3.0, 5.0], y.ToDoubleArray());
        y.Sum().Backward();
        Assert.Equal([0.5, 1.0, 0.0], a.Grad!.ToDoubleArray());
        Assert.Equal([0.5, 0.0, 1.0], b.Grad!.ToDoubleArray());
        // NaN wins, as torch.maximum.
        Assert.True(double.IsNaN(Ops.Minimum(Tensor.FromArray([double.NaN]), Tensor.FromArray([1.0])).Item()));
        // Mixed dtypes promote.
        Assert.Equal(DType.Float64, Ops.Maximum(Tensor.FromArray([1f]), Tensor.FromArray([2.0])).DType);

        // torch.tensor([2., 7, 7, 7, 1]).max() backward: 1/3 to each of the three tied maxima (the value is exactly 7).
        var x = Tensor.FromArray([2.0, 7.0, 7.0, 7.0, 1.0]).RequiresGrad_();
        var m = Ops.Max(x);
        Assert.Equal(7.0, m.Item());
        m.Backward();
        Assert.Equal([0.0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.0], x.Grad!.ToDoubleArray());
        // Max along an axis gives it all to the index it returns (the first), as torch.max(x, dim).
        var z = Tensor.FromArray([7.0, 7.0, 1.0]).RequiresGrad_();
        Ops.Max(z, 0).Values.Backward();
        Assert.Equal([1.0, 0.0, 0.0], z.Grad!.ToDoubleArray());
        // The ∞-norm splits among the tied magnitudes with the sign of each.
        var v = Tensor.FromArray([-3.0, 3.0, 1.0]).RequiresGrad_();
        Ops.Norm(v, double.PositiveInfinity).Backward();
        Assert.Equal([-0.5, 0.5, 0.0], v.Grad!.ToDoubleArray());
        // Forward mode agrees.
        Assert.Equal(2.0, Aperture.Autodiff.Jvp(t => Ops.Max(t), Tensor.FromArray([2.0, 7.0, 7.0, 7.0]), Tensor.FromArray([5.0, 3.0, 0.0, 3.0])).Jvp.Item(), 14);
    }
}
