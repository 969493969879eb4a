using Aperture.Optim;

namespace Aperture.Tests.Optim;

/// <summary>
/// <see cref="Sgld"/>: the Langevin chain's stationary law on a quadratic is known exactly, including the
/// discretization: for L(w) = ½h·w² the update w' = (1 − εk/2)·w + (εγ/2)·w* + √ε·ξ with k = nβh + γ is an AR(1)
/// process with mean γw*/k and variance ε/(1 − (1 − εk/2)²) = 1/(k·(1 − εk/4)).
/// </summary>
public class SgldTests
{
    private static (double Mean, double Variance) RunQuadratic(double h, double nBeta, double gamma, double anchor, double eps, ulong seed,
        int coordinates = 4000, int steps = 400, bool preconditioned = false)
    {
        var w = Tensor.Full([coordinates], anchor, DType.Float64).RequiresGrad_();
        var sampler = new Sgld([w], new Generator(seed), eps, nBeta, gamma, preconditioned: preconditioned);
        for (int t = 0; t < steps; t++)
        {
            sampler.ZeroGrad();
            (w.Square().Sum() * (0.5 * h)).Backward();   // every coordinate is an independent chain
            sampler.Step();
        }
        var v = w.ToArray<double>();
        double mean = v.Average();
        return (mean, v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }

    [Theory]
    [InlineData(1.0, 100.0, 0.0, 1e-3)]
    [InlineData(2.0, 50.0, 10.0, 4e-3)]
    [InlineData(0.0, 1.0, 5.0, 1e-2)]     // no likelihood: the localization alone, a Gaussian at w*
    public void StationaryLawOnAQuadraticMatchesTheDiscreteOrnsteinUhlenbeckProcess(double h, double nBeta, double gamma, double eps)
    {
        double anchor = 2.0, k = nBeta * h + gamma;
        double expectedMean = gamma * anchor / k, expectedVar = 1 / (k * (1 - eps * k / 4));
        // Long enough for (1 − εk/2)^steps to be negligible.
        int steps = (int)Math.Ceiling(30 / (eps * k / 2));
        var (mean, variance) = RunQuadratic(h, nBeta, gamma, anchor, eps, seed: 7, steps: steps);
        // 4000 independent chains: the mean's standard error is √(var/4000), the variance's about var·√(2/4000).
        Assert.InRange(mean, expectedMean - 5 * Math.Sqrt(expectedVar / 4000), expectedMean + 5 * Math.Sqrt(expectedVar / 4000));
        Assert.InRange(variance, expectedVar * (1 - 5 * Math.Sqrt(2.0 / 4000)), expectedVar * (1 + 5 * Math.Sqrt(2.0 / 4000)));
    }

    [Fact]
    public void TheChainIsAFunctionOfItsSeed()
    {
        var a = RunQuadratic(1, 100, 1, 0.5, 1e-3, seed: 3, coordinates: 50, steps: 20);
        var b = RunQuadratic(1, 100, 1, 0.5, 1e-3, seed: 3, coordinates: 50, steps: 20);
        var c = RunQuadratic(1, 100, 1, 0.5, 1e-3, seed: 4, coordinates: 50, steps: 20);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void TheAnchorIsACopyTakenAtConstruction()
    {
        var w = Tensor.FromArray([1.0, -2.0]).RequiresGrad_();
        var sampler = new Sgld([w], new Generator(0), 1e-2, 10, 1);
        w.Grad = Tensor.FromArray([0.5, 0.5]);
        sampler.Step();
        Assert.NotEqual([1.0, -2.0], w.ToArray<double>());
        Assert.Equal([1.0, -2.0], sampler.Anchor(w).ToArray<double>());
    }

    [Fact]
    public void OneStepIsTheFormulaElementByElement()
    {
        double eps = 0.01, nBeta = 20, gamma = 3, wd = 0.5;
        var w = Tensor.FromArray([0.3, -0.7, 1.1]).RequiresGrad_();
        var sampler = new Sgld([w], new Generator(11), eps, nBeta, gamma, wd);
        var anchor = w.ToArray<double>();
        // Move w off the anchor first so the localization term is non-zero.
        w.Grad = Tensor.FromArray([1.0, 2.0, -1.0]);
        sampler.Step();
        var before = w.ToArray<double>();
        var g = new[] { 0.2, -0.4, 0.9 };
        w.Grad = Tensor.FromArray(g);
        var noiseAt = new Generator(11) { Offset = sampler.Noise.Offset };
        var xi = Tensor.Randn([3], noiseAt, DType.Float64).ToArray<double>();
        sampler.Step();
        var after = w.ToArray<double>();
        for (int i = 0; i < 3; i++)
        {
            double drift = nBeta * g[i] + gamma * (before[i] - anchor[i]) + wd * before[i];
            Assert.Equal(before[i] - eps / 2 * drift + Math.Sqrt(eps) * xi[i], after[i], 1e-14);
        }
    }

    [Fact]
    public void PreconditionedChainsStayFiniteAndDeterministic()
    {
        var a = RunQuadratic(1, 100, 1, 0.5, 1e-3, seed: 5, coordinates: 200, steps: 300, preconditioned: true);
        var b = RunQuadratic(1, 100, 1, 0.5, 1e-3, seed: 5, coordinates: 200, steps: 300, preconditioned: true);
        Assert.Equal(a, b);
        Assert.True(double.IsFinite(a.Mean) && double.IsFinite(a.Variance) && a.Variance > 0);
    }

    [Fact]
    public void SavedStateResumesTheSameChain()
    {
        Tensor Run(Sgld s, Tensor w, int steps)
        {
            for (int t = 0; t < steps; t++)
            {
                s.ZeroGrad();
                (w.Square().Sum() * 0.5).Backward();
                s.Step();
            }
            return w;
        }
        var w1 = Tensor.FromArray([0.3, -0.2, 0.8]).RequiresGrad_();
        var s1 = new Sgld([w1], new Generator(9), 1e-2, 50, 2, preconditioned: true);
        Run(s1, w1, 10);
        var saved = s1.StateDict();
        var copy = w1.Detach().Clone();
        Run(s1, w1, 10);

        var w2 = Tensor.FromArray([9.0, 9.0, 9.0]).RequiresGrad_();
        var s2 = new Sgld([w2], new Generator(9), 1e-2, 50, 2, preconditioned: true);
        s2.LoadStateDict(saved);
        using (Aperture.Autodiff.NoGrad()) Ops.CopyInPlace(w2, copy);
        Run(s2, w2, 10);
        Assert.Equal(w1.ToArray<double>(), w2.ToArray<double>());
        Assert.Equal(s1.Anchor(w1).ToArray<double>(), s2.Anchor(w2).ToArray<double>());
    }

    [Theory]
    [InlineData(0.0, 1.0, 0.0, "lr")]
    [InlineData(1e-3, 0.0, 0.0, "nbeta")]
    [InlineData(1e-3, 1.0, -1.0, "localization")]
    [InlineData(double.NaN, 1.0, 0.0, "lr")]
    public void InvalidSettingsAreRejectedByName(double lr, double nBeta, double gamma, string name)
    {
        var w = Tensor.Zeros([2], DType.Float64).RequiresGrad_();
        var e = Assert.ThrowsAny<ArgumentException>(() => new Sgld([w], new Generator(0), lr, nBeta, gamma));
        Assert.Contains(name, e.Message);
    }
}
