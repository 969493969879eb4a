using Aperture.Lab.Statistics;

namespace Aperture.Lab.Probes;

/// <summary>Extreme Hessian eigenvalues of one parameter group.</summary>
/// <param name="Group">The group measured.</param>
/// <param name="Parameters">Its number of parameters (the Hessian block is Parameters × Parameters).</param>
/// <param name="Values">The eigenvalues, from the extreme inwards (largest first for the top, most negative first for the bottom).</param>
/// <param name="Residuals">Each Ritz pair's residual ‖H·y − θ·y‖, a bound on the value's error.</param>
/// <param name="HessianVectorProducts">Hessian-vector products used (each one pass over the data).</param>
/// <param name="Converged">Whether every residual met the tolerance.</param>
/// <param name="BatchNorm">The batch norm mode the loss was evaluated in.</param>
/// <param name="Seed">The seed of the start vector.</param>
/// <param name="Vectors">The unit eigenvectors (Ritz vectors), flat over the group's parameters in order, one per value; empty unless asked for.</param>
public sealed record HessianEigenvalues(string Group, int Parameters, double[] Values, double[] Residuals, int HessianVectorProducts, bool Converged,
    BatchNormMode BatchNorm, ulong Seed, double[][] Vectors);

/// <summary>Hutchinson's estimate of a Hessian block's trace, with a Student-t confidence interval over the probes.</summary>
/// <param name="Group">The group measured.</param>
/// <param name="Parameters">Its number of parameters.</param>
/// <param name="Mean">The estimate of tr(H).</param>
/// <param name="StandardError">The standard error of the mean over probes.</param>
/// <param name="Low">The interval's lower end.</param>
/// <param name="High">The interval's upper end.</param>
/// <param name="Confidence">The interval's confidence level.</param>
/// <param name="Probes">The number of Rademacher probes.</param>
/// <param name="BatchNorm">The batch norm mode the loss was evaluated in.</param>
/// <param name="Seed">The seed of the probes.</param>
public sealed record HessianTrace(string Group, int Parameters, double Mean, double StandardError, double Low, double High, double Confidence, int Probes,
    BatchNormMode BatchNorm, ulong Seed);

/// <summary>A Hessian block's spectral density by stochastic Lanczos quadrature.</summary>
/// <param name="Group">The group measured.</param>
/// <param name="Density">The quadrature nodes and weights per probe (moments, smoothed density).</param>
/// <param name="Steps">Lanczos steps per probe.</param>
/// <param name="BatchNorm">The batch norm mode the loss was evaluated in.</param>
/// <param name="Seed">The seed of the probes.</param>
public sealed record HessianDensity(string Group, SpectralDensity Density, int Steps, BatchNormMode BatchNorm, ulong Seed);

/// <summary>The curvature of one parameter group: top eigenvalues, optionally the most negative ones, trace and density.</summary>
/// <param name="Top">The largest eigenvalues.</param>
/// <param name="Bottom">The most negative eigenvalues (null when not asked for).</param>
/// <param name="Trace">The trace estimate (null when not asked for).</param>
/// <param name="Density">The spectral density (null when not asked for).</param>
public sealed record GroupCurvature(HessianEigenvalues Top, HessianEigenvalues? Bottom, HessianTrace? Trace, HessianDensity? Density);

/// <summary>
/// Curvature of a model's loss, matrix-free, on Hessian-vector products (<see cref="Autodiff.Hvp(Func{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/>)
/// of an <see cref="EmpiricalLoss"/>: the extreme eigenvalues by Lanczos with full reorthogonalization, the trace by
/// Hutchinson's estimator, and the spectral density by stochastic Lanczos quadrature (Yao, Gholami, Keutzer and
/// Mahoney's PyHessian, 2020, measures the same quantities; here each is deterministic for a seed and tested against a
/// dense Hessian). Every measurement takes a <see cref="ParameterGroup"/> (null: the whole model) and measures that
/// group's diagonal block of the Hessian. The random draws of a measurement come from <c>new Generator(seed, stream)</c>
/// with a stream fixed per kind of measurement, so a result depends only on its own seed.
/// </summary>
public static class Curvature
{
    /// <summary>
    /// The <paramref name="k"/> largest Hessian eigenvalues of a group (see <see cref="Lanczos.Largest"/>), and with
    /// <paramref name="vectors"/> their eigenvectors (the directions an edge-of-stability or saddle analysis projects on).
    /// </summary>
    public static HessianEigenvalues TopEigenvalues(EmpiricalLoss loss, int k = 1, ulong seed = 0, ParameterGroup? group = null, double tolerance = 1e-6, int? maxSteps = null,
        bool vectors = false)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var (name, ps, n) = Resolve(loss, group);
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"Curvature: k must be in 1..{n} (the parameters of group \"{name}\")");
        var r = Lanczos.Largest(loss.Hessian(ps), n, k, new Generator(seed, 1), tolerance, maxSteps, vectors);
        return new HessianEigenvalues(name, n, r.Values, r.Residuals, r.MatrixVectorProducts, r.Converged, loss.BatchNorm, seed, r.Vectors);
    }

    /// <summary>
    /// The <paramref name="k"/> most negative Hessian eigenvalues of a group, by the shifted iteration of
    /// <see cref="Lanczos.Smallest"/>, and with <paramref name="vectors"/> their eigenvectors (escape directions from a saddle).
    /// </summary>
    public static HessianEigenvalues MostNegativeEigenvalues(EmpiricalLoss loss, int k = 1, ulong seed = 0, ParameterGroup? group = null, double tolerance = 1e-6, int? maxSteps = null,
        bool vectors = false)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var (name, ps, n) = Resolve(loss, group);
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"Curvature: k must be in 1..{n} (the parameters of group \"{name}\")");
        var r = Lanczos.Smallest(loss.Hessian(ps), n, k, new Generator(seed, 2), tolerance, maxSteps, vectors);
        return new HessianEigenvalues(name, n, r.Values, r.Residuals, r.MatrixVectorProducts, r.Converged, loss.BatchNorm, seed, r.Vectors);
    }

    /// <summary>Hutchinson's estimate of tr(H) for a group with <paramref name="probes"/> Rademacher probes and a Student-t interval.</summary>
    public static HessianTrace Trace(EmpiricalLoss loss, int probes = 100, ulong seed = 0, ParameterGroup? group = null, double confidence = 0.95)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (probes < 2) throw new ArgumentOutOfRangeException(nameof(probes), probes, "Curvature: the trace needs at least 2 probes for an interval");
        if (!(confidence is > 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Curvature: the confidence must be in (0, 1)");
        var (name, ps, n) = Resolve(loss, group);
        var t = Spectrum.Hutchinson(loss.Hessian(ps), n, probes, new Generator(seed, 3));
        double half = StudentT.Quantile(0.5 + confidence / 2, probes - 1) * t.StandardError;
        return new HessianTrace(name, n, t.Mean, t.StandardError, t.Mean - half, t.Mean + half, confidence, probes, loss.BatchNorm, seed);
    }

    /// <summary>The spectral density of a group's Hessian by stochastic Lanczos quadrature (<paramref name="probes"/> probes × <paramref name="steps"/> steps).</summary>
    public static HessianDensity Density(EmpiricalLoss loss, int steps = 80, int probes = 1, ulong seed = 0, ParameterGroup? group = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var (name, ps, n) = Resolve(loss, group);
        var d = Spectrum.StochasticLanczosQuadrature(loss.Hessian(ps), n, Math.Min(steps, n), probes, new Generator(seed, 4));
        return new HessianDensity(name, d, Math.Min(steps, n), loss.BatchNorm, seed);
    }

    /// <summary>
    /// The curvature of the whole model and of each layer (<see cref="EmpiricalLoss.Layers"/>), the whole model first:
    /// the top <paramref name="k"/> eigenvalues, and when asked for the most negative, the trace
    /// (<paramref name="traceProbes"/> &gt; 0) and the density (<paramref name="densityProbes"/> &gt; 0).
    /// </summary>
    public static IReadOnlyList<GroupCurvature> Report(EmpiricalLoss loss, int k = 1, ulong seed = 0, bool mostNegative = false, int traceProbes = 0,
        int densitySteps = 80, int densityProbes = 0, double tolerance = 1e-6)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var groups = new List<ParameterGroup> { loss.Whole };
        groups.AddRange(loss.Layers());
        var result = new List<GroupCurvature>();
        foreach (var g in groups)
        {
            int n = EmpiricalLoss.Count(loss.Select(g));
            int kk = Math.Min(k, n);
            result.Add(new GroupCurvature(
                TopEigenvalues(loss, kk, seed, g, tolerance),
                mostNegative ? MostNegativeEigenvalues(loss, kk, seed, g, tolerance) : null,
                traceProbes > 0 ? Trace(loss, Math.Max(traceProbes, 2), seed, g) : null,
                densityProbes > 0 ? Density(loss, densitySteps, densityProbes, seed, g) : null));
        }
        return result;
    }

    private static (string Name, IReadOnlyList<Tensor> Parameters, int Count) Resolve(EmpiricalLoss loss, ParameterGroup? group)
    {
        var ps = loss.Select(group);
        return (group?.Name ?? "model", ps, EmpiricalLoss.Count(ps));
    }
}
