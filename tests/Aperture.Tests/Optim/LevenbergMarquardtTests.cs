using Aperture.NN;
using Aperture.Optim;
using Xunit.Abstractions;

namespace Aperture.Tests.Optim;

public class LevenbergMarquardtTests(ITestOutputHelper output)
{
    /// <summary>A 6×6 target with singular values 1 … 1e-5 (condition number 1e5), from random orthogonal factors.</summary>
    private static Tensor IllConditionedTarget()
    {
        var g = new Generator(2017);
        var u = Init.Orthogonal().Sample([6, 6], DType.Float64, g);
        var v = Init.Orthogonal().Sample([6, 6], DType.Float64, g);
        var s = Tensor.FromArray(Enumerable.Range(0, 6).Select(i => Math.Pow(10, -i)).ToArray());
        return Ops.Mul(u, s).MatMul(v.T);
    }

    private static (Tensor W1, Tensor W2) Factors(ulong seed)
    {
        var g = new Generator(seed);
        return (Ops.Mul(Tensor.Randn([6, 6], g, DType.Float64), 0.3).RequiresGrad_(), Ops.Mul(Tensor.Randn([6, 6], g, DType.Float64), 0.3).RequiresGrad_());
    }

    private static double Loss(Tensor w1, Tensor w2, Tensor a)
    {
        using (Aperture.Autodiff.NoGrad()) return Ops.Sum(Ops.Square(Ops.Sub(w1.MatMul(w2), a))).Item();
    }

    [Fact]
    public void ForwardAndReverseJacobiansAgreeWithTheAnalyticOne()
    {
        var (w1, w2) = Factors(1);
        var a = IllConditionedTarget();
        Tensor R() => Ops.Sub(w1.MatMul(w2), a);
        var jf = LevenbergMarquardt.Jacobian(R, [w1, w2], JacobianMode.Forward);
        var jr = LevenbergMarquardt.Jacobian(R, [w1, w2], JacobianMode.Reverse);
        Assert.Equal([36, 72], jf.ShapeArray());
        // r_ij = Σ_k W1_ik·W2_kj: ∂r_ij/∂W1_ik = W2_kj and ∂r_ij/∂W2_kj = W1_ik.
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                for (int k = 0; k < 6; k++)
                {
                    Assert.Equal(w2.At(k, j), jf.At(i * 6 + j, i * 6 + k), 14);
                    Assert.Equal(w1.At(i, k), jf.At(i * 6 + j, 36 + k * 6 + j), 14);
                }
        Assert.Equal(jf.ToDoubleArray(), jr.ToDoubleArray());
        Assert.Null(w1.Grad); // the parameters are left as they were
    }

    [Fact]
    public void LevenbergMarquardtSolvesTheRankDeficientProductFarBetterThanGradientDescent()
    {
        var a = IllConditionedTarget();
        const int iterations = 60;

        var (g1, g2) = Factors(5);
        var gd = new SGD([g1, g2], lr: 0.05);
        for (int i = 0; i < iterations; i++)
        {
            gd.ZeroGrad();
            Ops.Sum(Ops.Square(Ops.Sub(g1.MatMul(g2), a))).Backward();
            gd.Step();
        }

        var (l1, l2) = Factors(5);
        double start = Loss(l1, l2, a);
        var lm = new LevenbergMarquardt([l1, l2], () => Ops.Sub(l1.MatMul(l2), a), lambda: 1e-2);
        for (int i = 0; i < iterations; i++) lm.Step();

        double gdLoss = Loss(g1, g2, a), lmLoss = Loss(l1, l2, a);
        output.WriteLine($"start {start:E3}, gradient descent {gdLoss:E3}, Levenberg–Marquardt {lmLoss:E3} after {iterations} iterations (λ = {lm.Lambda:E2})");
        Assert.Equal(lmLoss, lm.Loss, 1e-12 * Math.Max(1, lmLoss));
        Assert.True(lmLoss < 1e-4 * gdLoss, $"LM {lmLoss} vs GD {gdLoss}");
        Assert.True(gdLoss < start); // gradient descent is slow, not broken
    }

    [Fact]
    public void EachStepEitherDecreasesTheLossOrLeavesTheParameters()
    {
        var a = IllConditionedTarget();
        var (w1, w2) = Factors(8);
        var lm = new LevenbergMarquardt([w1, w2], () => Ops.Sub(w1.MatMul(w2), a), lambda: 1e-6, damping: DampingMatrix.Diagonal);
        double previous = Loss(w1, w2, a);
        for (int i = 0; i < 25; i++)
        {
            var before = w1.ToDoubleArray();
            double loss = lm.Step(() => Ops.Sub(w1.MatMul(w2), a));
            if (lm.LastStepAccepted) Assert.True(loss < previous);
            else Assert.Equal(before, w1.ToDoubleArray());
            previous = loss;
        }
        Assert.True(previous < 1e-3, $"final loss {previous}");
    }

    [Fact]
    public void LevenbergMarquardtSolvesALinearLeastSquaresProblem()
    {
        // A convex quadratic ‖Aθ − c‖²: Gauss–Newton is exact, so a few damped steps reach the normal equations' solution.
        var g = new Generator(12);
        var a = Tensor.Randn([10, 3], g, DType.Float64);
        var c = Tensor.Randn([10], g, DType.Float64);
        var theta = Tensor.Zeros([3], DType.Float64).RequiresGrad_();
        var lm = new LevenbergMarquardt([theta], () => Ops.Sub(a.MatMul(theta), c));
        for (int i = 0; i < 10; i++) lm.Step();
        var expected = Linalg.CholeskySolve(a.T.MatMul(a), a.T.MatMul(c)).ToDoubleArray();
        var actual = theta.ToDoubleArray();
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], actual[i], 1e-9);
    }

    [Fact]
    public void LevenbergMarquardtFitsASmallMlp()
    {
        var g = new Generator(3);
        var model = Models.Mlp(1, [6], 1, activation: "tanh", generator: g, dtype: DType.Float64);
        var x = Tensor.Linspace(-2, 2, 40, DType.Float64).Reshape(40, 1);
        var y = Ops.Sin(Ops.Mul(x, 1.5));
        var lm = new LevenbergMarquardt(model.Parameters(), () => Ops.Sub(model.Forward(x), y));
        double first = Losses.Mse(model.Forward(x), y, Reduction.Sum).Item();
        for (int i = 0; i < 30; i++) lm.Step();
        Assert.True(lm.Loss < 0.01 * first, $"loss went from {first} to {lm.Loss}");
    }

    [Fact]
    public void StateRestoresTheDamping()
    {
        var a = IllConditionedTarget();
        var (w1, w2) = Factors(9);
        var lm = new LevenbergMarquardt([w1, w2], () => Ops.Sub(w1.MatMul(w2), a));
        for (int i = 0; i < 3; i++) lm.Step();
        var state = lm.StateDict();
        var (v1, v2) = Factors(9);
        var fresh = new LevenbergMarquardt([v1, v2], () => Ops.Sub(v1.MatMul(v2), a), lambda: 5);
        fresh.LoadStateDict(state);
        Assert.Equal(lm.Lambda, fresh.Lambda);
        Assert.Equal(lm.Nu, fresh.Nu);
        Assert.Equal(3, fresh.StepCount);
        Assert.Contains("no residual function", Assert.Throws<InvalidOperationException>(() => new LevenbergMarquardt([v1]).Step()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LevenbergMarquardt([v1], lambda: 0));
    }
}
