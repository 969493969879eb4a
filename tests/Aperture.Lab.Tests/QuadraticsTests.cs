using Aperture.Lab.Recipes;

namespace Aperture.Lab.Tests;

/// <summary>The quadratic problems and the heavy-ball iterations of momentum-acceleration.</summary>
public class QuadraticsTests
{
    [Fact]
    public void RotatedQuadraticHasTheSpectrumAndIsSymmetric()
    {
        var spectrum = Quadratics.LogSpacedSpectrum(6, 100);
        Assert.Equal(1, spectrum[0], 12);
        Assert.Equal(100, spectrum[^1], 10);
        var a = Quadratics.Rotated(spectrum, new Generator(3));
        var v = a.ToDoubleArray();
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) Assert.Equal(v[i * 6 + j], v[j * 6 + i]);
        var sv = Linalg.SingularValues(a).ToDoubleArray();  // = eigenvalues for a positive definite matrix
        Assert.Equal(spectrum.Reverse(), sv, (x, y) => Math.Abs(x - y) < 1e-10 * x);
        // The same generator state, the same matrix (the rotation is the engine's RandomOrthogonal).
        Assert.Equal(v, Quadratics.Rotated(spectrum, new Generator(3)).ToDoubleArray());
    }

    [Fact]
    public void ExactIterationsMatchTheirRates()
    {
        var g = new Generator(1);
        double kappa = 400, tol = 1e-6;
        var a = Quadratics.Rotated(Quadratics.LogSpacedSpectrum(20, kappa), g);
        var x0 = Tensor.Randn([20, 1], g, DType.Float64);
        var (gdStep, gdMomentum) = Quadratics.GradientDescent(1, kappa);
        var (hbStep, hbMomentum) = Quadratics.HeavyBall(1, kappa);
        Assert.Equal(2 / 401.0, gdStep, 15);
        Assert.Equal(Math.Pow(19.0 / 21, 2), hbMomentum, 14);
        long gd = Quadratics.IterationsToTolerance(a, x0, gdStep, gdMomentum, tol, 100_000);
        long hb = Quadratics.IterationsToTolerance(a, x0, hbStep, hbMomentum, tol, 100_000);
        double gdRate = Math.Log(1 / tol) / Math.Log((kappa + 1) / (kappa - 1));
        Assert.InRange(gd, 0.6 * gdRate, 1.05 * gdRate);
        Assert.InRange(hb, 0.5 * Math.Sqrt(kappa) / 2 * Math.Log(1 / tol), 3 * Math.Sqrt(kappa) / 2 * Math.Log(1 / tol));
        Assert.Equal(-1, Quadratics.IterationsToTolerance(a, x0, gdStep, 0, tol, 10));
    }

    [Fact]
    public void SampledRowsHaveTheExactHessianAndConverge()
    {
        var spectrum = Quadratics.LogSpacedSpectrum(5, 50);
        var problem = Quadratics.SampledRows(spectrum, 20, new Generator(4));
        // XᵀX/N = diag(λ): the problem's Hessian is exactly the chosen one, in its eigenbasis.
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
            {
                double s = 0;
                for (int r = 0; r < 20; r++) s += problem.Row(r)[i] * problem.Row(r)[j];
                Assert.Equal(i == j ? spectrum[i] : 0, s / 20, 1e-10 * spectrum[^1]);
            }
        Assert.Equal(spectrum.Sum(), problem.Trace, 12);

        var sampler = new Generator(9);
        long sgd = Quadratics.StochasticIterations(problem, 0.5 / problem.Trace, 0, 1e-4, 1_000_000, Quadratics.Replay(sampler));
        Assert.True(sgd > 0);
        // The same sampler replayed gives the same count; a step far past stability diverges (−1).
        Assert.Equal(sgd, Quadratics.StochasticIterations(problem, 0.5 / problem.Trace, 0, 1e-4, 1_000_000, Quadratics.Replay(sampler)));
        Assert.Equal(-1, Quadratics.StochasticIterations(problem, 50 / problem.Trace, 0, 1e-4, 1_000_000, Quadratics.Replay(sampler)));

        var (step, momentum, iterations) = Quadratics.Tune([problem], [1, 0.5, 0.25], [0, 0.5], 1e-4, 1_000_000, [sampler]);
        Assert.True(iterations > 0 && iterations <= sgd, $"tuned {iterations}, plain {sgd}");
        Assert.Equal(iterations, Quadratics.StochasticIterations(problem, step, momentum, 1e-4, 1_000_000, Quadratics.Replay(sampler)));
        // Over two problems the tuning takes the worst case, which is at least either problem's own best.
        var other = Quadratics.SampledRows(spectrum, 20, new Generator(5));
        var worst = Quadratics.Tune([problem, other], [1, 0.5, 0.25], [0, 0.5], 1e-4, 1_000_000, [sampler, new Generator(10)]);
        Assert.True(worst.Iterations >= iterations);
    }
}
