namespace Aperture.Lab.Recipes;

/// <summary>
/// Strongly convex quadratics with a chosen spectrum, and gradient descent / heavy-ball iterations on them, with exact
/// gradients or with stochastic gradients from sampled rows of a least-squares problem (Polyak 1964; Kidambi et al.
/// 2018, arXiv 1803.05591). Float64 throughout; every draw comes from the generator passed in.
/// </summary>
public static class Quadratics
{
    /// <summary>n eigenvalues log-spaced from 1 to <paramref name="kappa"/> (so μ = 1, L = κ), smallest first.</summary>
    public static double[] LogSpacedSpectrum(int n, double kappa)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 2);
        return [.. Enumerable.Range(0, n).Select(j => Math.Pow(kappa, j / (double)(n - 1)))];
    }

    /// <summary>A = Q·diag(<paramref name="spectrum"/>)·Qᵀ, float64 [n, n], with Q Haar-random (<see cref="Linalg.RandomOrthogonal"/>).</summary>
    public static Tensor Rotated(double[] spectrum, Generator g)
    {
        using var _ = Autodiff.NoGrad();
        var q = Linalg.RandomOrthogonal(spectrum.Length, g);
        var a = (q * Tensor.FromArray(spectrum, [1, spectrum.Length])).MatMul(q.T);
        return ((a + a.T) * 0.5).Contiguous();  // exactly symmetric, whatever the product's rounding
    }

    /// <summary>Gradient descent's optimal fixed step on a quadratic with extreme eigenvalues μ and L: 2/(L + μ).</summary>
    public static (double Step, double Momentum) GradientDescent(double mu, double l) => (2 / (l + mu), 0);

    /// <summary>Polyak's heavy-ball parameters: step 4/(√L + √μ)², momentum ((√L − √μ)/(√L + √μ))².</summary>
    public static (double Step, double Momentum) HeavyBall(double mu, double l)
    {
        double sl = Math.Sqrt(l), sm = Math.Sqrt(mu);
        return (4 / ((sl + sm) * (sl + sm)), Math.Pow((sl - sm) / (sl + sm), 2));
    }

    /// <summary>
    /// Heavy ball on ½·xᵀAx (minimum at 0) with exact gradients: x_{t+1} = x_t − α·A·x_t + β·(x_t − x_{t−1}); β = 0
    /// is gradient descent. Returns the first t with ‖x_t‖ ≤ tol·‖x_0‖, or −1 when <paramref name="maxIterations"/>
    /// pass first. <paramref name="log"/> receives (t, ‖x_t‖/‖x_0‖) at steps about 5% apart.
    /// </summary>
    public static long IterationsToTolerance(Tensor a, Tensor x0, double step, double momentum, double tol, long maxIterations,
        Action<long, double>? log = null, Action<long>? progress = null)
    {
        using var _ = Autodiff.NoGrad();
        double norm0 = Norm(x0.ToDoubleArray());
        Tensor x = x0, previous = x0;
        long nextLog = 0;
        for (long t = 0; t <= maxIterations; t++)
        {
            double err = Norm(x.ToDoubleArray()) / norm0;
            if (log is not null && (t >= nextLog || err <= tol))
            {
                log(t, err);
                nextLog = Math.Max(t + 1, (long)(t * 1.05));
            }
            if (err <= tol) return t;
            if ((t & 1023) == 0) progress?.Invoke(t);
            var next = x - a.MatMul(x) * step;
            if (momentum != 0) next += (x - previous) * momentum;
            previous = x;
            x = next;
        }
        return -1;
    }

    /// <summary>
    /// A realizable least-squares problem f(w) = (1/2N)·‖X(w − w*)‖² whose Hessian XᵀX/N is exactly
    /// diag(<paramref name="spectrum"/>): X = √N·U·diag(√λ) with U [N, n] Haar-random orthonormal columns (the Q of a
    /// Gaussian matrix's QR). Coordinates are the Hessian's eigenbasis and w* = 0, so the iterate is the error.
    /// </summary>
    public static SampledRowsProblem SampledRows(double[] spectrum, int rows, Generator g)
    {
        int n = spectrum.Length;
        if (rows < n) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"SampledRows: need at least n = {n} rows");
        var (u, _) = Linalg.Qr(Tensor.Randn([rows, n], g, DType.Float64));
        var x = u.ToDoubleArray();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++) x[i * n + j] *= Math.Sqrt(rows * spectrum[j]);
        var start = Tensor.Randn([n], g, DType.Float64).ToDoubleArray();
        return new SampledRowsProblem(spectrum, rows, x, start);
    }

    /// <summary>
    /// Heavy ball with the stochastic gradient of one uniformly sampled row, g_t = x_i·x_iᵀ·w_t (unbiased for the
    /// full gradient). Returns the first t with ‖w_t‖ ≤ tol·‖w_0‖, or −1 when <paramref name="maxIterations"/> pass
    /// first or the error grows a millionfold (an unstable step). Rows are drawn from <paramref name="sampler"/>.
    /// </summary>
    public static long StochasticIterations(SampledRowsProblem problem, double step, double momentum, double tol, long maxIterations,
        Generator sampler, Action<long, double>? log = null)
    {
        int n = problem.Spectrum.Length;
        var w = (double[])problem.Start.Clone();
        var previous = (double[])w.Clone();
        var next = new double[n];
        double norm0 = Norm(w);
        long nextLog = 0;
        for (long t = 0; t <= maxIterations; t++)
        {
            double err = Norm(w) / norm0;
            if (log is not null && (t >= nextLog || err <= tol))
            {
                log(t, err);
                nextLog = Math.Max(t + 1, (long)(t * 1.05));
            }
            if (err <= tol) return t;
            if (!(err < 1e6)) return -1;
            var row = problem.Row((int)sampler.NextLong(problem.Rows));
            double dot = 0;
            for (int j = 0; j < n; j++) dot += row[j] * w[j];
            for (int j = 0; j < n; j++) next[j] = w[j] - step * dot * row[j] + momentum * (w[j] - previous[j]);
            (previous, w, next) = (w, next, previous);
        }
        return -1;
    }

    /// <summary>
    /// Grid search for the (step, momentum) that reaches <paramref name="tol"/> fastest in the worst case over
    /// <paramref name="problems"/> (each run with its own row sequence, a replay of the matching sampler): a pair that
    /// fails on any of them is out, so the choice is not balanced on the edge of stability of one draw. Each run stops
    /// as soon as it passes the best count so far. Steps are multiples of 1/tr(H), the scale at which sampled-row SGD
    /// is stable. Ties go to the earlier pair. Returns (−1, −1, −1) when no pair reached the tolerance.
    /// </summary>
    public static (double Step, double Momentum, long Iterations) Tune(IReadOnlyList<SampledRowsProblem> problems, double[] stepScales,
        double[] momenta, double tol, long maxIterations, IReadOnlyList<Generator> samplers)
    {
        (double, double, long) best = (-1, -1, -1);
        long cap = maxIterations;
        foreach (double beta in momenta)
            foreach (double c in stepScales)
            {
                double step = c / problems[0].Trace;
                long worst = 0;
                for (int i = 0; i < problems.Count && worst >= 0; i++)
                {
                    long it = StochasticIterations(problems[i], step, beta, tol, cap, Replay(samplers[i]));
                    worst = it < 0 ? -1 : Math.Max(worst, it);
                }
                if (worst >= 0 && (best.Item3 < 0 || worst < best.Item3))
                {
                    best = (step, beta, worst);
                    cap = worst;
                }
            }
        return best;
    }

    /// <summary>
    /// The sampled-row comparison of one seed: <paramref name="tuningProblems"/> problems with their row sequences are
    /// drawn for the tuning (<see cref="Tune"/>), then the judged problem and its rows, on streams forked from
    /// <paramref name="g"/> in that order, so the tuning never sees the judged problem and every arm of a seed sees the
    /// same draws. The tuned pair is then run on the judged problem (−1 iterations when it never reaches the tolerance).
    /// </summary>
    public static TunedRun TunedStochasticRun(double[] spectrum, int rows, int tuningProblems, double[] stepScales, double[] momenta,
        double tol, Generator g, Action<long, double>? log = null)
    {
        var tuning = g.Fork();
        var judged = g.Fork();
        var problems = Enumerable.Range(0, tuningProblems).Select(_ => SampledRows(spectrum, rows, tuning)).ToArray();
        var samplers = problems.Select(_ => tuning.Fork()).ToArray();
        var problem = SampledRows(spectrum, rows, judged);
        // Far beyond SGD's need at its stable steps (about tr(H)/μ·ln(1/tol)): reaching it means no convergence.
        long max = (long)(50 * problem.Trace / spectrum.Min() * Math.Log(1 / tol)) + 10_000;
        var (step, momentum, tuned) = Tune(problems, stepScales, momenta, tol, max, samplers);
        long iterations = step > 0 ? StochasticIterations(problem, step, momentum, tol, max, judged, log) : -1;
        return new TunedRun(step * problem.Trace, momentum, tuned, iterations);
    }

    /// <summary>A generator that replays <paramref name="g"/>'s next draws without advancing it.</summary>
    public static Generator Replay(Generator g) => new(g.Seed, g.Stream) { Offset = g.Offset };

    private static double Norm(double[] v)
    {
        double s = 0;
        foreach (double e in v) s += e * e;
        return Math.Sqrt(s);
    }
}

/// <summary>The outcome of <see cref="Quadratics.TunedStochasticRun"/>.</summary>
/// <param name="StepScale">The tuned step × tr(H) (−tr(H) when no pair converged).</param>
/// <param name="Momentum">The tuned momentum.</param>
/// <param name="TuningIterations">The tuned pair's worst count over the tuning problems.</param>
/// <param name="Iterations">Its count on the judged problem, or −1.</param>
public sealed record TunedRun(double StepScale, double Momentum, long TuningIterations, long Iterations);

/// <summary>A least-squares problem with sampled-row gradients, built by <see cref="Quadratics.SampledRows"/>.</summary>
/// <param name="Spectrum">The Hessian's eigenvalues (its diagonal: coordinates are its eigenbasis).</param>
/// <param name="Rows">N, the number of rows.</param>
/// <param name="Design">X, row-major [N, n].</param>
/// <param name="Start">The starting error w_0 − w*.</param>
public sealed record SampledRowsProblem(double[] Spectrum, int Rows, double[] Design, double[] Start)
{
    /// <summary>tr(H) = E‖x_i‖², the scale of sampled-row SGD's largest stable step (about 2/tr(H) for spread rows).</summary>
    public double Trace => Spectrum.Sum();

    /// <summary>Row <paramref name="i"/> of X.</summary>
    public ReadOnlySpan<double> Row(int i) => Design.AsSpan(i * Spectrum.Length, Spectrum.Length);
}
