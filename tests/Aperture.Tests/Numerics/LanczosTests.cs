namespace Aperture.Tests.Numerics;

public class LanczosTests
{
    /// <summary>A dense symmetric operator y = A·x over a row-major n×n matrix.</summary>
    private static SymmetricOperator Dense(double[] a, int n) => (x, y) =>
    {
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += a[i * n + j] * x[j];
            y[i] = s;
        }
    };

    /// <summary>Q·diag(λ)·Qᵀ for a Haar-random orthogonal Q: a symmetric matrix with a chosen spectrum.</summary>
    private static double[] WithSpectrum(double[] lambda, ulong seed)
    {
        int n = lambda.Length;
        var q = Linalg.RandomOrthogonal(n, new Generator(seed)).ToDoubleArray();
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += q[i * n + k] * lambda[k] * q[j * n + k];
                a[i * n + j] = s;
            }
        return a;
    }

    private static double[] RandomSymmetric(int n, Generator g)
    {
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) a[i * n + j] = a[j * n + i] = g.NextNormal();
        return a;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(37)]
    [InlineData(200)]
    public void TridiagonalEigenvaluesOfAToeplitzMatrixAreTheCosineFormula(int n)
    {
        // tridiag(b, a, b) has eigenvalues a + 2b·cos(kπ/(n + 1)), k = 1..n.
        const double a = 0.75, b = -1.25;
        var r = Linalg.TridiagonalEigen(Enumerable.Repeat(a, n).ToArray(), Enumerable.Repeat(b, n - 1).ToArray());
        var expected = Enumerable.Range(1, n).Select(k => a + 2 * b * Math.Cos(k * Math.PI / (n + 1))).Order().ToArray();
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], r.Values[i], 1e-13);
    }

    [Theory]
    [InlineData(3, 0)]
    [InlineData(9, 1)]
    [InlineData(24, 2)]
    [InlineData(61, 3)]
    public void TridiagonalEigenMatchesDenseJacobiAndItsVectorsAreEigenvectors(int n, int seed)
    {
        var g = new Generator((ulong)seed);
        var d = Enumerable.Range(0, n).Select(_ => g.NextNormal()).ToArray();
        var e = Enumerable.Range(0, n - 1).Select(i => i % 5 == 3 ? 0.0 : g.NextNormal()).ToArray(); // some exact splits
        if (n > 4) { d[1] = d[2]; e[1] = 0; } // a repeated diagonal block
        var dense = new double[n * n];
        for (int i = 0; i < n; i++) dense[i * n + i] = d[i];
        for (int i = 0; i < n - 1; i++) dense[i * n + i + 1] = dense[(i + 1) * n + i] = e[i];
        var reference = Linalg.SymmetricEigen(Tensor.FromArray(dense, [n, n])).Values.ToDoubleArray();
        var r = Linalg.TridiagonalEigen(d, e);
        for (int i = 0; i < n; i++) Assert.Equal(reference[i], r.Values[i], 1e-12);
        // T·v_j = λ_j·v_j and the vectors are orthonormal.
        for (int j = 0; j < n; j++)
        {
            for (int i = 0; i < n; i++)
            {
                double tv = d[i] * r.Vectors[i * n + j] + (i > 0 ? e[i - 1] * r.Vectors[(i - 1) * n + j] : 0) + (i < n - 1 ? e[i] * r.Vectors[(i + 1) * n + j] : 0);
                Assert.Equal(r.Values[j] * r.Vectors[i * n + j], tv, 1e-12);
            }
            for (int k = 0; k <= j; k++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += r.Vectors[i * n + j] * r.Vectors[i * n + k];
                Assert.Equal(j == k ? 1 : 0, dot, 1e-12);
            }
        }
        // Tracking only rows 0 and n − 1 gives exactly those rows of the full matrix.
        var rows = Linalg.TridiagonalEigen(d, e, [0, n - 1]);
        Assert.Equal(r.Values, rows.Values);
        for (int j = 0; j < n; j++)
        {
            Assert.Equal(r.Vectors[j], rows.Vectors[j]);
            Assert.Equal(r.Vectors[(n - 1) * n + j], rows.Vectors[n + j]);
        }
    }

    [Fact]
    public void TridiagonalEigenRejectsBadInputClearly()
    {
        Assert.Contains("off-diagonal must have 2 entries", Assert.Throws<ShapeMismatchException>(() => Linalg.TridiagonalEigen([1.0, 2, 3], [1.0])).Message);
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => Linalg.TridiagonalEigen([1.0, double.NaN], [1.0])).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => Linalg.TridiagonalEigen([], [])).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(40)]
    public void JacobiEigenDecomposesRandomSymmetricMatrices(int n)
    {
        var a = RandomSymmetric(n, new Generator((ulong)n + 10));
        var (values, vectors) = Linalg.SymmetricEigen(Tensor.FromArray(a, [n, n]));
        var lam = values.ToDoubleArray();
        var v = vectors.ToDoubleArray();
        for (int j = 0; j < n; j++)
        {
            if (j > 0) Assert.True(lam[j] >= lam[j - 1]);
            for (int i = 0; i < n; i++)
            {
                double av = 0;
                for (int k = 0; k < n; k++) av += a[i * n + k] * v[k * n + j];
                Assert.Equal(lam[j] * v[i * n + j], av, 1e-11);
            }
        }
        double trace = 0;
        for (int i = 0; i < n; i++) trace += a[i * n + i];
        Assert.Equal(trace, lam.Sum(), 1e-11);
    }

    [Fact]
    public void LanczosFindsTheTopEigenvaluesOfAKnownSpectrum()
    {
        const int n = 300;
        var lambda = Enumerable.Range(0, n).Select(i => i < 6 ? 50.0 - 7 * i : Math.Sin(i) * 3).ToArray();
        var op = Dense(WithSpectrum(lambda, 1), n);
        var r = Lanczos.Largest(op, n, 5, new Generator(7), tolerance: 1e-10, vectors: true);
        Assert.True(r.Converged);
        Assert.True(r.MatrixVectorProducts < n / 2, $"{r.MatrixVectorProducts} products");
        var expected = lambda.OrderDescending().Take(5).ToArray();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(expected[i], r.Values[i], 1e-9 * 50);
            Assert.True(r.Residuals[i] <= 1e-10 * 50 * 1.0001);
            // The Ritz vector is an eigenvector: ‖A·y − θ·y‖ matches the reported residual bound.
            var ay = new double[n];
            op(r.Vectors[i], ay);
            double res = Math.Sqrt(ay.Select((v, t) => (v - r.Values[i] * r.Vectors[i][t]) * (v - r.Values[i] * r.Vectors[i][t])).Sum());
            Assert.True(res <= 1e-8, $"residual {res}");
        }
    }

    [Fact]
    public void TheShiftedIterationFindsTheMostNegativeEigenvalues()
    {
        const int n = 200;
        // A Hessian-like spectrum: a few large outliers, a bulk near zero, and small negative eigenvalues.
        var lambda = Enumerable.Range(0, n).Select(i => i switch { 0 => 120.0, 1 => 80.0, 2 => -0.9, 3 => -0.5, _ => 0.01 * Math.Cos(i) }).ToArray();
        var op = Dense(WithSpectrum(lambda, 2), n);
        var r = Lanczos.Smallest(op, n, 2, new Generator(3), tolerance: 1e-10, maxSteps: n);
        Assert.True(r.Converged);
        Assert.Equal(-0.9, r.Values[0], 1e-8);
        Assert.Equal(-0.5, r.Values[1], 1e-8);
        // An explicit shift gives the same values.
        var s = Lanczos.Smallest(op, n, 1, new Generator(3), tolerance: 1e-10, maxSteps: n, shift: 200);
        Assert.Equal(-0.9, s.Values[0], 1e-8);
    }

    [Fact]
    public void RepeatedEigenvaluesAreFoundByRestartingPastAnInvariantSubspace()
    {
        // diag(5, 5, 5, 1, …): a single Krylov space holds one copy of 5; the restarts find the others.
        const int n = 12;
        var lambda = new double[n];
        for (int i = 0; i < n; i++) lambda[i] = i < 3 ? 5 : 1 + 0.1 * i;
        var r = Lanczos.Largest(Dense(WithSpectrum(lambda, 4), n), n, 4, new Generator(5), tolerance: 1e-12);
        Assert.Equal(5, r.Values[0], 1e-10);
        Assert.Equal(5, r.Values[1], 1e-10);
        Assert.Equal(5, r.Values[2], 1e-10);
        Assert.Equal(2.1, r.Values[3], 1e-10);
    }

    [Fact]
    public void LanczosIsBitwiseDeterministicForASeed()
    {
        const int n = 90;
        var op = Dense(RandomSymmetric(n, new Generator(11)), n);
        var a = Lanczos.Largest(op, n, 3, new Generator(1), maxSteps: 30);
        var b = Lanczos.Largest(op, n, 3, new Generator(1), maxSteps: 30);
        Assert.Equal(a.Values, b.Values);
        Assert.Equal(a.Residuals, b.Residuals);
        var c = Lanczos.Largest(op, n, 3, new Generator(2), maxSteps: 30);
        Assert.NotEqual(a.Residuals, c.Residuals);
    }

    [Fact]
    public void TheBasisIsOrthonormalAndTridiagonalizesTheOperator()
    {
        const int n = 60;
        var a = RandomSymmetric(n, new Generator(12));
        var start = Enumerable.Range(0, n).Select(i => 1.0 + i % 3).ToArray();
        var t = Lanczos.Tridiagonalize(Dense(a, n), n, start, 25);
        Assert.Equal(25, t.Steps);
        Assert.Equal(24, t.Beta.Length);
        var aq = new double[n];
        for (int i = 0; i < 25; i++)
        {
            Dense(a, n)(t.Basis[i], aq);
            for (int j = 0; j < 25; j++)
            {
                double dot = t.Basis.ElementAt(j).Zip(t.Basis[i], (x, y) => x * y).Sum();
                Assert.Equal(i == j ? 1 : 0, dot, 1e-13);
                double tij = t.Basis[j].Zip(aq, (x, y) => x * y).Sum();
                double expected = i == j ? t.Alpha[i] : Math.Abs(i - j) == 1 ? t.Beta[Math.Min(i, j)] : 0;
                Assert.Equal(expected, tij, 1e-11);
            }
        }
    }

    [Fact]
    public void LanczosRejectsBadArgumentsClearly()
    {
        var op = Dense(RandomSymmetric(4, new Generator(0)), 4);
        Assert.Contains("k must be in 1..4", Assert.Throws<ArgumentOutOfRangeException>(() => Lanczos.Largest(op, 4, 5, new Generator(0))).Message);
        Assert.Contains("zero", Assert.Throws<ArgumentException>(() => Lanczos.Tridiagonalize(op, 4, new double[4], 2)).Message);
        Assert.Contains("length 3", Assert.Throws<ShapeMismatchException>(() => Lanczos.Tridiagonalize(op, 4, new double[3], 2)).Message);
        SymmetricOperator bad = (x, y) => y.Fill(double.NaN);
        Assert.Contains("non-finite", Assert.Throws<ArithmeticException>(() => Lanczos.Largest(bad, 4, 1, new Generator(0))).Message);
    }

    [Fact]
    public void HutchinsonIsExactOnDiagonalMatricesAndWithinItsErrorElsewhere()
    {
        const int n = 50;
        var diag = new double[n * n];
        for (int i = 0; i < n; i++) diag[i * n + i] = i - 10.5;
        var exact = Spectrum.Hutchinson(Dense(diag, n), n, 4, new Generator(0));
        Assert.Equal(Enumerable.Range(0, n).Sum(i => i - 10.5), exact.Mean, 1e-12); // z_i² = 1: every probe is exact
        Assert.Equal(0, exact.StandardError, 1e-12);

        var a = RandomSymmetric(n, new Generator(13));
        double trace = Enumerable.Range(0, n).Sum(i => a[i * n + i]);
        var est = Spectrum.Hutchinson(Dense(a, n), n, 400, new Generator(1));
        Assert.Equal(400, est.Probes);
        Assert.True(Math.Abs(est.Mean - trace) < 3 * est.StandardError, $"{est.Mean} vs {trace} ± {est.StandardError}");
        // The standard error matches the known variance 2·Σ_{i≠j} a_ij² of a Rademacher probe to within sampling error.
        double offDiagonal = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) offDiagonal += a[i * n + j] * a[i * n + j];
        Assert.InRange(est.StandardError / Math.Sqrt(2 * offDiagonal / 400), 0.85, 1.15);
    }

    [Fact]
    public void QuadratureMomentsAreExactForEachProbeAndEstimateTheNormalizedTraces()
    {
        const int n = 80;
        var a = RandomSymmetric(n, new Generator(14));
        var op = Dense(a, n);
        var density = Spectrum.StochasticLanczosQuadrature(op, n, 12, 30, new Generator(2));
        // Redraw the same probes to compute vᵀAv and vᵀA²v directly.
        var g = new Generator(2);
        var z = new double[n];
        var az = new double[n];
        var m1 = density.ProbeMoments(1);
        var m2 = density.ProbeMoments(2);
        var m0 = density.ProbeMoments(0);
        var m23 = density.ProbeMoments(23); // degree 2m − 1 = 23 is still exact
        var a2z = new double[n];
        for (int k = 0; k < 30; k++)
        {
            Spectrum.Rademacher(z, g);
            for (int i = 0; i < n; i++) z[i] /= Math.Sqrt(n);
            op(z, az);
            Assert.Equal(1, m0[k], 1e-12);
            Assert.Equal(z.Zip(az, (x, y) => x * y).Sum(), m1[k], 1e-11);
            Assert.Equal(az.Sum(x => x * x), m2[k], 1e-10);
            var p = (double[])z.Clone();
            for (int s = 0; s < 11; s++) { op(p, a2z); (p, a2z) = (a2z, p); } // p = A^11·z
            op(p, a2z); // A^12 z
            double quad = p.Zip(a2z, (x, y) => x * y).Sum(); // zᵀA^23 z
            Assert.Equal(quad, m23[k], Math.Abs(quad) * 1e-8);
        }
        // The density's moments estimate tr(A)/n and tr(A²)/n within sampling error.
        double tr = 0, tr2 = 0;
        for (int i = 0; i < n; i++) { tr += a[i * n + i]; for (int j = 0; j < n; j++) tr2 += a[i * n + j] * a[i * n + j]; }
        Assert.True(Math.Abs(density.Moment(1) - tr / n) < 3 * StdErr(m1), $"{density.Moment(1)} vs {tr / n}");
        Assert.True(Math.Abs(density.Moment(2) - tr2 / n) < 3 * StdErr(m2), $"{density.Moment(2)} vs {tr2 / n}");
        // The smoothed density integrates to 1.
        var grid = Enumerable.Range(0, 4001).Select(i => -40 + i * 0.02).ToArray();
        Assert.Equal(1, density.Smoothed(grid, 0.5).Sum() * 0.02, 1e-6);
    }

    private static double StdErr(double[] x)
    {
        double mean = x.Average();
        return Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1) / x.Length);
    }
}

/// <summary>Curvature on a model's Hessian gives the same bits whatever the thread count.</summary>
[Collection(ThreadCountCollection.Name)]
public class LanczosThreadCountTests
{
    private static (double[] Top, double[] Moments, double Trace) Measure(int threads)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            var model = Aperture.NN.Models.Mlp(32, [64, 64], 5, generator: new Generator(3));
            var g = new Generator(4);
            var x = Tensor.Randn([300, 32], g);
            var y = Tensor.RandInt(0, 5, [300], g);
            var ps = model.Parameters().ToArray();
            int n = ps.Sum(p => p.Numel);
            void Hessian(ReadOnlySpan<double> v, Span<double> hv)
            {
                var vs = new Tensor[ps.Length];
                int offset = 0;
                for (int i = 0; i < ps.Length; i++)
                {
                    vs[i] = Tensor.FromArray(v.Slice(offset, ps[i].Numel), ps[i].ShapeArray()).To(ps[i].DType);
                    offset += ps[i].Numel;
                }
                offset = 0;
                foreach (var t in Aperture.Autodiff.Hvp(() => Aperture.NN.Losses.CrossEntropy(model.Forward(x), y), ps, vs))
                {
                    t.ToDoubleArray().CopyTo(hv[offset..]);
                    offset += t.Numel;
                }
            }
            var top = Lanczos.Largest(Hessian, n, 3, new Generator(5), tolerance: 1e-4, maxSteps: 40);
            var density = Spectrum.StochasticLanczosQuadrature(Hessian, n, 10, 2, new Generator(6));
            var trace = Spectrum.Hutchinson(Hessian, n, 3, new Generator(7));
            return (top.Values, [density.Moment(1), density.Moment(2)], trace.Mean);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Fact]
    public void HessianEigenvaluesTraceAndDensityAreTheSameBitsOnOneOrFourThreads()
    {
        var one = Measure(1);
        var four = Measure(4);
        Assert.Equal(one.Top, four.Top);
        Assert.Equal(one.Moments, four.Moments);
        Assert.Equal(one.Trace, four.Trace);
    }
}
