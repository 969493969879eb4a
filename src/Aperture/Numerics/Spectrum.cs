namespace Aperture;

/// <summary>Hutchinson's estimate of a trace: the mean of zᵀ·A·z over random sign vectors z, with its standard error.</summary>
/// <param name="Mean">The estimate of tr(A) (unbiased).</param>
/// <param name="StandardError">The sample standard deviation of the zᵀ·A·z divided by √probes (NaN with one probe).</param>
/// <param name="Samples">Each probe's zᵀ·A·z, in draw order.</param>
public sealed record TraceEstimate(double Mean, double StandardError, double[] Samples)
{
    /// <summary>The number of probes.</summary>
    public int Probes => Samples.Length;
}

/// <summary>
/// A spectral density estimated by stochastic Lanczos quadrature: for each probe v (a random unit vector), the Gauss
/// quadrature of the spectral measure μ_v = Σᵢ (uᵢᵀv)²·δ(λᵢ) given by m Lanczos steps from v — nodes the eigenvalues
/// θ_j of T, weights the squared first components of T's eigenvectors (Golub and Welsch, 1969) — and the density is the
/// average over probes. It is exact for every polynomial of degree ≤ 2m − 1: Σⱼ w_j·θ_j^p = vᵀ·A^p·v.
/// </summary>
/// <param name="Nodes">Per probe, the quadrature nodes θ_j (ascending).</param>
/// <param name="Weights">Per probe, the weights w_j (non-negative, summing to 1).</param>
/// <param name="Dimension">The operator's dimension n.</param>
public sealed record SpectralDensity(double[][] Nodes, double[][] Weights, int Dimension)
{
    /// <summary>The number of probes.</summary>
    public int Probes => Nodes.Length;

    /// <summary>
    /// The p-th moment of the estimated density, (1/probes)·Σ_probes Σⱼ w_j·θ_j^p, an unbiased estimate of tr(A^p)/n
    /// for p ≤ 2m − 1 with Rademacher probes.
    /// </summary>
    public double Moment(int p)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(p);
        return ProbeMoments(p).Average();
    }

    /// <summary>Each probe's Σⱼ w_j·θ_j^p (= vᵀ·A^p·v for its unit probe v when p ≤ 2m − 1).</summary>
    public double[] ProbeMoments(int p)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(p);
        var r = new double[Probes];
        for (int k = 0; k < Probes; k++)
            for (int j = 0; j < Nodes[k].Length; j++) r[k] += Weights[k][j] * Math.Pow(Nodes[k][j], p);
        return r;
    }

    /// <summary>
    /// The density smoothed by a Gaussian kernel of standard deviation <paramref name="sigma"/> on the given grid
    /// (Ghorbani, Krishnan and Xiao 2019; PyHessian): φ(t) = (1/probes)·Σ_probes Σⱼ w_j·N(t; θ_j, σ²). It integrates to 1.
    /// </summary>
    public double[] Smoothed(ReadOnlySpan<double> grid, double sigma)
    {
        if (!(sigma > 0) || !double.IsFinite(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "SpectralDensity: sigma must be positive and finite");
        var r = new double[grid.Length];
        double norm = 1 / (sigma * Math.Sqrt(2 * Math.PI) * Probes);
        for (int g = 0; g < grid.Length; g++)
        {
            double s = 0;
            for (int k = 0; k < Probes; k++)
                for (int j = 0; j < Nodes[k].Length; j++)
                {
                    double z = (grid[g] - Nodes[k][j]) / sigma;
                    s += Weights[k][j] * Math.Exp(-0.5 * z * z);
                }
            r[g] = s * norm;
        }
        return r;
    }
}

/// <summary>
/// Randomized estimates of a symmetric operator's spectrum from matrix-vector products only: Hutchinson's trace and
/// the spectral density by stochastic Lanczos quadrature (Lin, Saad and Yang 2016; Ubaru, Chen and Saad 2017).
/// The probes are Rademacher vectors (entries ±1 with probability ½) drawn from the given generator, so the same
/// generator state gives the same bits.
/// </summary>
public static class Spectrum
{
    /// <summary>
    /// Hutchinson's (1989) trace estimate with <paramref name="probes"/> Rademacher probes z: the mean of zᵀ·A·z,
    /// unbiased, with variance 2·Σ_{i≠j} A_ij² per probe (the minimum among i.i.d. probe distributions).
    /// </summary>
    public static TraceEstimate Hutchinson(SymmetricOperator a, int n, int probes, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(probes, 1);
        var z = new double[n];
        var az = new double[n];
        var samples = new double[probes];
        for (int k = 0; k < probes; k++)
        {
            Rademacher(z, generator);
            a(z, az);
            samples[k] = Lanczos.Dot(z, az);
        }
        double mean = samples.Average();
        double se = double.NaN;
        if (probes > 1)
        {
            double ss = 0;
            foreach (double s in samples) ss += (s - mean) * (s - mean);
            se = Math.Sqrt(ss / (probes - 1) / probes);
        }
        return new TraceEstimate(mean, se, samples);
    }

    /// <summary>
    /// The spectral density of <paramref name="a"/> by stochastic Lanczos quadrature: <paramref name="probes"/>
    /// Rademacher probes (normalized, so vᵀ·A·v = zᵀ·A·z/n exactly), each run for <paramref name="steps"/> Lanczos steps
    /// with full reorthogonalization (fewer when the Krylov space becomes invariant; the quadrature is then exact).
    /// Cost: probes·steps operator applications, and steps stored vectors of length n.
    /// </summary>
    public static SpectralDensity StochasticLanczosQuadrature(SymmetricOperator a, int n, int steps, int probes, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(probes, 1);
        var nodes = new double[probes][];
        var weights = new double[probes][];
        var z = new double[n];
        for (int k = 0; k < probes; k++)
        {
            Rademacher(z, generator);
            var t = Lanczos.Tridiagonalize(a, n, z, steps);
            var eig = Linalg.TridiagonalEigen(t.Alpha, t.Beta, [0]);
            nodes[k] = eig.Values;
            weights[k] = [.. eig.Vectors.Select(u => u * u)];
        }
        return new SpectralDensity(nodes, weights, n);
    }

    /// <summary>Fills z with independent ±1 signs, 128 per generator block.</summary>
    internal static void Rademacher(Span<double> z, Generator generator)
    {
        int i = 0;
        while (i < z.Length)
        {
            var (w0, w1, w2, w3) = generator.Next();
            foreach (uint w in (ReadOnlySpan<uint>)[w0, w1, w2, w3])
                for (int b = 0; b < 32 && i < z.Length; b++, i++) z[i] = ((w >> b) & 1) == 0 ? 1.0 : -1.0;
        }
    }
}
