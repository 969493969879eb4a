namespace Aperture.Tests.Numerics;

public class MeanFieldTests
{
    private const MeanFieldActivation Tanh = MeanFieldActivation.Tanh;
    private const MeanFieldActivation Relu = MeanFieldActivation.Relu;
    private const MeanFieldActivation Linear = MeanFieldActivation.Linear;

    [Fact]
    public void GaussHermiteMatchesTheTextbookRulesAndIsExactOnPolynomials()
    {
        var (z2, w2) = MeanField.GaussHermite(2);
        Assert.Equal([-1.0, 1.0], z2.Select(v => Math.Round(v, 14)));
        Assert.Equal([0.5, 0.5], w2.Select(v => Math.Round(v, 14)));
        var (z3, w3) = MeanField.GaussHermite(3);
        Assert.Equal(-Math.Sqrt(3), z3[0], 13);
        Assert.Equal(0, z3[1]);
        Assert.Equal(2.0 / 3, w3[1], 13);
        Assert.Equal(1.0 / 6, w3[2], 13);
        foreach (int n in new[] { 5, 20, 64 })
        {
            var (z, w) = MeanField.GaussHermite(n);
            // E[z^k] = (k − 1)!! for even k, 0 for odd k, exactly for k < 2n.
            for (int k = 0; k < Math.Min(2 * n, 24); k++)
            {
                double moment = 0;
                for (int i = 0; i < n; i++) moment += w[i] * Math.Pow(z[i], k);
                double exact = k % 2 == 1 ? 0 : DoubleFactorial(k - 1);
                Assert.True(Math.Abs(moment - exact) <= 1e-11 * DoubleFactorial(k + k % 2 - 1), $"n = {n}, E[z^{k}] = {moment}, expected {exact}");
            }
        }
    }

    [Theory]
    [InlineData(1e-6)]
    [InlineData(0.05)]
    [InlineData(0.4)]
    [InlineData(1.0)]
    public void TanhExpectationsAgreeWithGaussHermiteWhereItConverges(double q)
    {
        // An independent rule: 256-point Gauss–Hermite, converged to ~1e-14 for q ≤ 1.
        var (z, w) = MeanField.GaussHermite(256);
        double Gh(Func<double, double> f) => z.Select((zi, i) => w[i] * f(Math.Sqrt(q) * zi)).Sum();
        Assert.Equal(Gh(h => Math.Tanh(h) * Math.Tanh(h)), MeanField.SecondMoment(Tanh, q), 13);
        Assert.Equal(Gh(h => Math.Pow(1 - Math.Tanh(h) * Math.Tanh(h), 2)), MeanField.SlopeSecondMoment(Tanh, q), 13);
    }

    [Theory]
    [InlineData(5.0)]
    [InlineData(60.0)]
    [InlineData(2000.0)]
    public void TanhExpectationsStayAccurateAtLargeVariance(double q)
    {
        // Composite Simpson on h with a step far below tanh's scale, over ±12√q: accurate to ~1e-12 relative.
        double sd = Math.Sqrt(q), h0 = Math.Min(0.002, sd / 50);
        int n = 2 * (int)Math.Ceiling(12 * sd / h0);
        double Simpson(Func<double, double> f)
        {
            double a = -n / 2 * h0, sum = 0;
            for (int i = 0; i <= n; i++)
            {
                double h = a + i * h0, weight = i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2;
                sum += weight * f(h) * Math.Exp(-h * h / (2 * q));
            }
            return sum * h0 / 3 / Math.Sqrt(2 * Math.PI * q);
        }
        double second = Simpson(h => Math.Tanh(h) * Math.Tanh(h));
        double slope = Simpson(h => Math.Pow(1 - Math.Tanh(h) * Math.Tanh(h), 2));
        Assert.True(Math.Abs(MeanField.SecondMoment(Tanh, q) / second - 1) < 1e-10, $"E[tanh²] = {MeanField.SecondMoment(Tanh, q)}, Simpson {second}");
        Assert.True(Math.Abs(MeanField.SlopeSecondMoment(Tanh, q) / slope - 1) < 1e-10, $"E[tanh′²] = {MeanField.SlopeSecondMoment(Tanh, q)}, Simpson {slope}");
        // Gauss–Hermite with 256 nodes is already visibly off here, which is why it is not the integrator.
        if (q >= 60)
        {
            var (z, w) = MeanField.GaussHermite(256);
            double gh = z.Select((zi, i) => w[i] * Math.Pow(1 - Math.Tanh(sd * zi) * Math.Tanh(sd * zi), 2)).Sum();
            Assert.True(Math.Abs(gh / slope - 1) > 1e-3);
        }
    }

    [Fact]
    public void PairMomentsHaveTheirExactValuesAtTheEnds()
    {
        // ReLU: the arc-cosine kernels (Cho and Saul 2009) at c = 1, 0, −1.
        Assert.Equal(1.5, MeanField.PairMoment(Relu, 3, 3, 1), 14);
        Assert.Equal(Math.Sqrt(6) / (2 * Math.PI), MeanField.PairMoment(Relu, 2, 3, 0), 14);
        Assert.Equal(0, MeanField.PairMoment(Relu, 2, 3, -1), 14);
        Assert.Equal(0.5, MeanField.PairSlopeMoment(Relu, 2, 3, 1), 14);
        Assert.Equal(0.25, MeanField.PairSlopeMoment(Relu, 2, 3, 0), 14);
        Assert.Equal(0, MeanField.PairSlopeMoment(Relu, 2, 3, -1), 14);
        // tanh: at c = ±1 the pair is one variable; at c = 0 it factorizes and E[tanh] = 0.
        foreach (double q in new[] { 0.3, 2.0 })
        {
            Assert.Equal(MeanField.SecondMoment(Tanh, q), MeanField.PairMoment(Tanh, q, q, 1), 13);
            Assert.Equal(-MeanField.SecondMoment(Tanh, q), MeanField.PairMoment(Tanh, q, q, -1), 13);
            Assert.Equal(0, MeanField.PairMoment(Tanh, q, 1.7, 0), 14);
            Assert.Equal(MeanField.SlopeSecondMoment(Tanh, q), MeanField.PairSlopeMoment(Tanh, q, q, 1), 13);
        }
    }

    [Fact]
    public void TanhPairMomentAgreesWithATensorProductGaussHermiteRule()
    {
        var (z, w) = MeanField.GaussHermite(200);
        foreach (var (qa, qb, c) in new[] { (0.4, 0.7, 0.3), (1.0, 1.0, -0.8), (0.2, 0.9, 0.999) })
        {
            double s = Math.Sqrt(1 - c * c), sum = 0, slope = 0;
            for (int i = 0; i < z.Length; i++)
                for (int j = 0; j < z.Length; j++)
                {
                    double ua = Math.Sqrt(qa) * z[i], ub = Math.Sqrt(qb) * (c * z[i] + s * z[j]);
                    sum += w[i] * w[j] * Math.Tanh(ua) * Math.Tanh(ub);
                    slope += w[i] * w[j] * (1 - Math.Tanh(ua) * Math.Tanh(ua)) * (1 - Math.Tanh(ub) * Math.Tanh(ub));
                }
            Assert.Equal(sum, MeanField.PairMoment(Tanh, qa, qb, c), 11);
            Assert.Equal(slope, MeanField.PairSlopeMoment(Tanh, qa, qb, c), 11);
        }
    }

    [Fact]
    public void TheCriticalLineMatchesThePublishedValues()
    {
        // Schoenholz et al. 2016 (arXiv 1611.01232), Fig. 1 and §3: with σ_b² = 0.05 the tanh network's
        // order-to-chaos transition is at σ_w² ≈ 1.76 (computed here: 1.76095).
        double tanh005 = MeanField.CriticalWeightVariance(Tanh, 0.05);
        Assert.InRange(tanh005, 1.755, 1.765);
        Assert.Equal(1, MeanField.Chi1(Tanh, tanh005, 0.05), 10);
        // Poole et al. 2016 (arXiv 1606.05340): without bias the transition is at σ_w² = 1, and the line rises with σ_b².
        Assert.Equal(1, MeanField.CriticalWeightVariance(Tanh, 0));
        double[] line = [.. new[] { 0.0, 0.01, 0.05, 0.1, 0.3 }.Select(b => MeanField.CriticalWeightVariance(Tanh, b))];
        for (int i = 1; i < line.Length; i++) Assert.True(line[i] > line[i - 1]);
        // ReLU: χ₁ = σ_w²/2 whatever q, so the critical point is σ_w² = 2 (with σ_b² = 0; He et al. 2015's init).
        Assert.Equal(2, MeanField.CriticalWeightVariance(Relu, 0.1));
        foreach (double sw2 in new[] { 0.5, 1.3, 2.0, 3.1 }) Assert.Equal(sw2 / 2, MeanField.Chi1(Relu, sw2, 0.2), 15);
        var critical = MeanField.Analyze(Relu, 2, 0);
        Assert.Equal("critical", critical.Phase);
        Assert.True(double.IsNaN(critical.QStar));
        Assert.True(double.IsPositiveInfinity(critical.DepthScaleC));
    }

    [Theory]
    [InlineData(1.5, 0.05)]
    [InlineData(2.5, 0.05)]
    [InlineData(4.0, 0.3)]
    [InlineData(2.0, 0.0)]
    [InlineData(1.2, 0.5)]
    public void FixedPointsAndSlopesAreWhatTheirDefinitionsSay(double sw2, double sb2)
    {
        var p = MeanField.Analyze(Tanh, sw2, sb2);
        Assert.Equal(p.QStar, MeanField.QMap(Tanh, sw2, sb2, p.QStar), 12);
        Assert.Equal(p.CStar, MeanField.CMap(Tanh, sw2, sb2, p.QStar, p.CStar), 11);
        // The slopes by central differences of the maps they are the slopes of.
        double dq = 1e-5;
        double qSlope = (MeanField.QMap(Tanh, sw2, sb2, p.QStar + dq) - MeanField.QMap(Tanh, sw2, sb2, p.QStar - dq)) / (2 * dq);
        Assert.Equal(qSlope, p.QMapSlope, 8);
        double dc = 1e-5;
        double c0 = Math.Min(p.CStar, 1 - dc);
        double cSlope = (MeanField.CMap(Tanh, sw2, sb2, p.QStar, c0 + dc) - MeanField.CMap(Tanh, sw2, sb2, p.QStar, c0 - dc)) / (2 * dc);
        Assert.Equal(MeanField.ChiC(Tanh, sw2, p.QStar, c0), cSlope, 7);
        Assert.Equal(MeanField.Chi(Tanh, sw2, p.QStar), MeanField.ChiC(Tanh, sw2, p.QStar, 1), 12);
        Assert.Equal(p.Chi1 > 1 ? "chaotic" : "ordered", p.Phase);
        Assert.Equal(p.Chi1 > 1, p.CStar < 1);
        Assert.Equal(-1 / Math.Log(p.ChiC), p.DepthScaleC, 10);
        Assert.Equal(-1 / Math.Log(p.QMapSlope), p.DepthScaleQ, 10);
    }

    [Fact]
    public void TheRecursionConvergesAtTheRatesItsDepthScalesSay()
    {
        // Chaotic tanh: c^l − c* shrinks by χ_c per layer and q^l − q* by the q-map's slope.
        var p = MeanField.Analyze(Tanh, 2.5, 0.05);
        var layers = MeanField.Propagate(Tanh, 2.5, 0.05, 200, 2.0, 0.9);
        Assert.Equal(p.QStar, layers[^1].Q, 12);
        Assert.Equal(p.CStar, layers[^1].C, tolerance: 1e-7);   // c^200 − c* ≈ χ_c^200 ≈ 4e-8
        double ratio = (layers[150].C - p.CStar) / (layers[149].C - p.CStar);
        Assert.Equal(p.ChiC, ratio, 4);
        double qRatio = (layers[20].Q - p.QStar) / (layers[19].Q - p.QStar);
        Assert.Equal(p.QMapSlope, qRatio, 4);
        // Ordered: correlated inputs converge, 1 − c^l shrinks by χ₁.
        var o = MeanField.Analyze(Tanh, 1.5, 0.05);
        var ordered = MeanField.Propagate(Tanh, 1.5, 0.05, 260, 1.0, 0.2);
        Assert.Equal(o.Chi1, (1 - ordered[250].C) / (1 - ordered[249].C), 5);
    }

    [Fact]
    public void ReluAndLinearRecursionsHaveClosedForms()
    {
        // ReLU: q^l = σ_w²·q^(l−1)/2 + σ_b², q¹ = σ_w²·x + σ_b².
        var relu = MeanField.Propagate(Relu, 1.6, 0.1, 5, 0.7, 0.3);
        double q = 1.6 * 0.7 + 0.1;
        for (int l = 0; l < 5; l++)
        {
            Assert.Equal(q, relu[l].Q, 13);
            Assert.Equal(0.5, relu[l].ActiveFraction);
            q = 1.6 * q / 2 + 0.1;
        }
        // Gradient variance: E[φ′²] = ½ at the top, then ×σ_w²/2 per layer; the Jacobian gain is σ_w²·(σ_w²/2)^(l−1).
        Assert.Equal(0.5, relu[4].GradientVariance, 15);
        Assert.Equal(0.5 * Math.Pow(0.8, 4), relu[0].GradientVariance, 14);
        Assert.Equal(1.6 * Math.Pow(0.8, 3), relu[3].JacobianGain, 14);
        // ReLU with σ_b² = 0 at equal norms: c ↦ (sin θ + (π − θ)c)/π, whatever σ_w².
        double c0 = 0.3, theta = Math.Acos(c0);
        Assert.Equal((Math.Sin(theta) + (Math.PI - theta) * c0) / Math.PI, MeanField.Propagate(Relu, 3.0, 0, 2, 1, c0)[1].C, 14);
        // Linear: correlations are kept when σ_b² = 0, and every variance scales by σ_w².
        var linear = MeanField.Propagate(Linear, 0.9, 0, 4, 2, -0.4);
        Assert.All(linear, l => Assert.Equal(-0.4, l.C, 14));
        Assert.Equal(2 * Math.Pow(0.9, 4), linear[3].Q, 14);
    }

    [Fact]
    public void UnequalWidthsScaleTheGradientAndTheJacobian()
    {
        MeanFieldLayer[] layers = [new(Relu, 2, 0, WidthRatio: 4), new(Relu, 2, 0, WidthRatio: 0.5), new(Linear, 1, 0, WidthRatio: 0.25)];
        var p = MeanField.Propagate(layers, 1, 1, 0.5);
        Assert.Equal(1, p[2].GradientVariance);
        Assert.Equal(0.25 * 0.5, p[1].GradientVariance, 15);
        Assert.Equal(0.125 * 0.5 * 2 * 0.5, p[0].GradientVariance, 15);
        Assert.Equal(4 * 2, p[0].JacobianGain, 15);
        Assert.Equal(8 * 0.5 * 2 * 0.5, p[1].JacobianGain, 15);
    }

    [Fact]
    public void BadArgumentsAreClearErrors()
    {
        Assert.Contains("σ_w²", Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.QStar(Tanh, -1, 0)).Message);
        Assert.Contains("σ_b²", Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.Analyze(Relu, 1, double.NaN)).Message);
        Assert.Contains("correlation", Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.PairMoment(Tanh, 1, 1, 1.5)).Message);
        Assert.Contains("variance", Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.SecondMoment(Tanh, -0.1)).Message);
        Assert.Contains("Cauchy–Schwarz", Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.Propagate([new(Tanh, 1, 0)], 1, 1, 2)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MeanField.Propagate(Tanh, 1, 0, 0, 1, 0.5));
    }

    private static double DoubleFactorial(int k)
    {
        double r = 1;
        for (int i = k; i > 1; i -= 2) r *= i;
        return r;
    }
}
