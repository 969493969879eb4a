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
    public void Piecewise_constant_ops_carry_no_gradient()
    {
        var x = Tensor.FromArray([-1.5, 0.0, 2.5]).RequiresGrad_();
        Assert.False(Ops.Sign(x).RequiresGrad);
        Assert.False(Ops.Floor(x).RequiresGrad);
        Assert.False(Ops.Round(x).RequiresGrad);
        Assert.Equal([-1.0, 0.0, 1.0], Ops.Sign(x).ToDoubleArray());
        Assert.Equal([-2.0, 0.0, 2.0], Ops.Floor(x).ToDoubleArray());
        Assert.Equal([-2.0, 0.0, 2.0], Ops.Round(x).ToDoubleArray());
    }
}
