using Aperture.Lab.Recipes;
using Aperture.Optim;

namespace Aperture.Lab.Tests;

/// <summary>The W1·W2 fitting recipe: the module computes the product, both solvers lower the same loss, divergence is caught.</summary>
public class MatrixProductFitTests
{
    private static (MatrixProduct Model, Tensor A) Problem(ulong seed)
    {
        var g = new Generator(seed);
        var a = Tensor.Randn([4, 3], g, DType.Float64);
        return (new MatrixProduct(Tensor.Randn([4, 3], g, DType.Float64), Tensor.Randn([3, 3], g, DType.Float64)), a);
    }

    [Fact]
    public void ForwardOfTheIdentityIsTheProduct()
    {
        var (model, _) = Problem(1);
        var product = model.Forward(Tensor.Eye(3, dtype: DType.Float64)).ToDoubleArray();
        var direct = model.W1.MatMul(model.W2).ToDoubleArray();
        Assert.Equal(direct, product);
        Assert.Equal(["w1", "w2"], model.NamedParameters().Select(p => p.Name));
        Assert.Throws<ShapeMismatchException>(() => new MatrixProduct(Tensor.Zeros([4, 3], DType.Float64), Tensor.Zeros([2, 3], DType.Float64)));
    }

    [Fact]
    public void SolversLowerTheLossAndDivergenceIsCaught()
    {
        var run = new RunContext("fit", 0, Tier.Quick);
        var (model, a) = Problem(2);
        double normA = a.ToDoubleArray().Sum(v => v * v);
        var curve = new LossCurve(run, normA, logEveryStep: false);
        var (steps, diverged) = MatrixProductFit.FirstOrder(model, a, new SGD(model.Parameters(), lr: 0.01), 300, curve);
        Assert.Equal((300, false), (steps, diverged));
        var logged = run.Metrics.Where(m => m.Key == LossCurve.Key).ToList();
        Assert.True(logged[^1].Value < logged[0].Value / 10, $"{logged[0].Value} → {logged[^1].Value}");
        Assert.True(curve.Best <= logged.Min(m => m.Value));  // the best over every step, logged or not

        var (lmModel, _) = Problem(2);
        var lmCurve = new LossCurve(new RunContext("lm", 0, Tier.Quick), normA, logEveryStep: true);
        int accepted = MatrixProductFit.LevenbergMarquardt(lmModel, a, 40, lmCurve);
        Assert.True(accepted > 10);
        Assert.True(lmCurve.Best < 1e-20, $"Levenberg–Marquardt reached {lmCurve.Best}");

        var (wild, _) = Problem(2);
        var wildCurve = new LossCurve(new RunContext("wild", 0, Tier.Quick), normA, logEveryStep: false);
        var (wildSteps, wildDiverged) = MatrixProductFit.FirstOrder(wild, a, new SGD(wild.Parameters(), lr: 5), 300, wildCurve);
        Assert.True(wildDiverged);
        Assert.True(wildSteps < 300);
    }
}
