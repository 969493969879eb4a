using System.ComponentModel;
using System.Globalization;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Heavy-ball momentum turns gradient descent's κ iterations into √κ on quadratics: a quadratic acceleration.
/// </summary>
public sealed class MomentumAcceleration : Phenomenon<MomentumAcceleration.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Dimension of the quadratic.</summary>
        [Description("dimension n of the quadratic ½·xᵀAx")]
        public int Dimension { get; init; } = 50;

        /// <summary>Condition numbers κ to sweep.</summary>
        [Description("condition numbers κ = L/μ to sweep (eigenvalues log-spaced in [1, κ])")]
        public double[] Kappas { get; init; } = [10, 100, 1000, 10000];

        /// <summary>Relative tolerance ‖x_t − x*‖ / ‖x_0 − x*‖ that counts as converged.</summary>
        [Description("relative distance to the minimum that counts as converged")]
        public double Tolerance { get; init; } = 1e-6;

        /// <summary>Lower edge of the band for gradient descent's fitted exponent.</summary>
        [Threshold, Description("gradient descent's exponent must lie at or above this")]
        public double GdExponentLow { get; init; } = 0.8;

        /// <summary>Upper edge of the band for gradient descent's fitted exponent.</summary>
        [Threshold, Description("gradient descent's exponent must lie at or below this")]
        public double GdExponentHigh { get; init; } = 1.2;

        /// <summary>Lower edge of the band for heavy ball's fitted exponent.</summary>
        [Threshold, Description("heavy ball's exponent must lie at or above this")]
        public double MomentumExponentLow { get; init; } = 0.4;

        /// <summary>Upper edge of the band for heavy ball's fitted exponent.</summary>
        [Threshold, Description("heavy ball's exponent must lie at or below this")]
        public double MomentumExponentHigh { get; init; } = 0.6;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Dimension < 2 || Dimension > 2000) yield return $"dimension must be between 2 and 2000, found {Dimension}";
            if (Kappas.Length < 2) yield return $"kappas needs at least 2 condition numbers to fit an exponent, found {Kappas.Length}";
            if (Kappas.Any(k => !(k > 1) || k > 1e7)) yield return $"every kappa must lie in (1, 1e7], found {string.Join(",", Kappas)}";
            if (Kappas.Distinct().Count() != Kappas.Length) yield return "kappas must be distinct";
            if (!(Tolerance > 0 && Tolerance < 1)) yield return $"tolerance must lie in (0, 1), found {Tolerance}";
        }
    }

    /// <summary>The arm that runs plain gradient descent.</summary>
    public const string GradientDescent = "gradient-descent";

    /// <summary>The arm that runs Polyak's heavy ball.</summary>
    public const string HeavyBall = "heavy-ball";

    /// <inheritdoc/>
    public override string Id => "momentum-acceleration";

    /// <inheritdoc/>
    public override string Title => "Momentum accelerates gradient descent quadratically";

    /// <inheritdoc/>
    public override string Claim =>
        "On a quadratic with condition number κ, gradient descent needs iterations proportional to κ to reach a fixed " +
        "accuracy, and heavy-ball momentum needs iterations proportional to √κ.";

    /// <inheritdoc/>
    public override string Method =>
        "For each κ, a quadratic ½·xᵀAx with A = Q·diag(λ)·Qᵀ, eigenvalues λ log-spaced in [1, κ] and a random rotation Q " +
        "(drawn per seed, shared by both arms), is minimized from a Gaussian start until ‖x_t‖/‖x_0‖ ≤ tolerance. Gradient " +
        "descent uses the optimal fixed step 2/(L+μ); heavy ball uses step 4/(√L+√μ)² and momentum ((√κ−1)/(√κ+1))². Per " +
        "seed and arm, the slope of log(iterations) against log(κ) is fitted by least squares; the verdict compares each " +
        "arm's mean exponent (95% t-interval over seeds) with a pre-stated band.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("B. T. Polyak (1964), Some methods of speeding up the convergence of iteration methods, USSR Comp. Math. and Math. Physics 4(5)",
            Url: "https://doi.org/10.1016/0041-5553(64)90137-5"),
        new("Lecture 3: Deep neural nets, course notes, 31 January 2021: momentum \"effects a quadratic acceleration\" for linear models"),
        new("G. Goh (2017), Why momentum really works, Distill", Url: "https://distill.pub/2017/momentum/"),
        new("I. Sutskever, J. Martens, G. Dahl, G. Hinton (2013), On the importance of initialization and momentum in deep learning, ICML",
            Url: "https://proceedings.mlr.press/v28/sutskever13.html"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.LocalQuadratic.Predicts(Outcome.Held,
            "Chebyshev-polynomial analysis of the linear iteration gives rates (κ−1)/(κ+1) and (√κ−1)/(√κ+1)."),
        MentalModels.MomentumAveragesNoise.Predicts(Outcome.DidNotHold,
            "There is no gradient noise here, so averaging has nothing to remove and the scaling should not change."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new()
    {
        Seeds = 20,
        Dimension = 100,
        Kappas = [.. Enumerable.Range(0, 7).Select(i => Math.Round(Math.Pow(10, 1 + i / 2.0), 6))],
    };

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) => [GradientDescent, HeavyBall];

    /// <summary>The key of the iteration count at condition number κ.</summary>
    public static string IterationsKey(double kappa) => "iterations@" + kappa.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        int n = p.Dimension;
        // Work is roughly proportional to the iteration count, κ for gradient descent and √κ for heavy ball.
        double total = p.Kappas.Sum(k => Cost(run.Arm, k)), done = 0;
        for (int i = 0; i < p.Kappas.Length; i++)
        {
            double kappa = p.Kappas[i];
            // Draw the rotation and the start from the run's generator: the same for both arms of a seed.
            var q = RandomRotation(n, run.Generator);
            var eig = Enumerable.Range(0, n).Select(j => Math.Pow(kappa, j / (double)(n - 1))).ToArray();
            var a = Tensor.FromArray(ComposeSymmetric(q, eig), [n, n]);
            var x0 = Tensor.Randn([n, 1], run.Generator, DType.Float64);

            double mu = 1, big = kappa, sqk = Math.Sqrt(kappa);
            var (step, momentum) = run.Arm == HeavyBall
                ? (4 / Math.Pow(Math.Sqrt(big) + Math.Sqrt(mu), 2), Math.Pow((sqk - 1) / (sqk + 1), 2))
                : (2 / (big + mu), 0.0);
            bool curve = kappa == p.Kappas.Max();
            double cost = Cost(run.Arm, kappa), before = done;
            long iterations = Minimize(a, x0, step, momentum, p.Tolerance, MaxIterations(kappa, p.Tolerance),
                curve ? (t, err) => run.Log("relative_error", t, err) : null,
                t => run.ReportProgress((before + Math.Min(1, t / Expected(run.Arm, kappa, p.Tolerance)) * cost) / total));
            run.Record(IterationsKey(kappa), iterations);
            done += cost;
            run.ReportProgress(done / total);
        }
    }

    // Heavy ball: x_{t+1} = x_t − α·∇f(x_t) + β·(x_t − x_{t−1}), with ∇f(x) = A·x (x* = 0). β = 0 is gradient descent.
    // Returns the first t with ‖x_t‖ ≤ tol·‖x_0‖, or −1 if maxIterations pass first.
    private static long Minimize(Tensor a, Tensor x0, double step, double momentum, double tol, long maxIterations,
        Action<long, double>? log, Action<long> progress)
    {
        using var _ = Autodiff.NoGrad();
        double norm0 = Norm(x0);
        Tensor x = x0, previous = x0;
        long nextLog = 0;
        for (long t = 0; t <= maxIterations; t++)
        {
            double err = Norm(x) / norm0;
            if (log is not null && (t >= nextLog || err <= tol))
            {
                log(t, err);
                nextLog = Math.Max(t + 1, (long)(t * 1.05));
            }
            if (err <= tol) return t;
            if ((t & 1023) == 0) progress(t);
            var next = x - a.MatMul(x) * step;
            if (momentum != 0) next += (x - previous) * momentum;
            previous = x;
            x = next;
        }
        return -1;
    }

    private static double Norm(Tensor x)
    {
        double s = 0;
        foreach (var v in x.ToDoubleArray()) s += v * v;
        return Math.Sqrt(s);
    }

    private static double Cost(string arm, double kappa) => arm == HeavyBall ? Math.Sqrt(kappa) : kappa;

    // The asymptotic rates: (κ−1)/(κ+1) for gradient descent, (√κ−1)/(√κ+1) for heavy ball; used only for progress.
    private static double Expected(string arm, double kappa, double tol)
    {
        double r = arm == HeavyBall ? Math.Sqrt(kappa) : kappa;
        return Math.Log(1 / tol) / Math.Log((r + 1) / (r - 1)) + 1;
    }

    // Far beyond either method's need (gradient descent needs about κ/2·ln(1/tol)): hitting it means divergence.
    private static long MaxIterations(double kappa, double tol) => (long)(10 * kappa * Math.Log(1 / tol)) + 10_000;

    // A Haar-random rotation: Gram–Schmidt (twice, for orthogonality to rounding) on a Gaussian matrix's columns.
    private static double[,] RandomRotation(int n, Generator g)
    {
        var m = Tensor.Randn([n, n], g, DType.Float64).ToDoubleArray();
        var q = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            var v = new double[n];
            for (int i = 0; i < n; i++) v[i] = m[i * n + j];
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++) dot += q[i, k] * v[i];
                    for (int i = 0; i < n; i++) v[i] -= dot * q[i, k];
                }
            double norm = Math.Sqrt(v.Sum(e => e * e));
            for (int i = 0; i < n; i++) q[i, j] = v[i] / norm;
        }
        return q;
    }

    // A = Q·diag(λ)·Qᵀ, row-major.
    private static double[] ComposeSymmetric(double[,] q, double[] eig)
    {
        int n = eig.Length;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += q[i, k] * eig[k] * q[j, k];
                a[i * n + j] = a[j * n + i] = s;
            }
        return a;
    }

    /// <summary>The fitted exponent of one run: the least-squares slope of log(iterations) on log(κ).</summary>
    public static double Exponent(Protocol p, StoredRun run)
    {
        var logK = p.Kappas.Select(k => Math.Log(k)).ToArray();
        var logN = p.Kappas.Select(k => run.Result(IterationsKey(k))).Select(it => it > 0 ? Math.Log(it) : double.NaN).ToArray();
        return Statistics.Stats.LinearFit(logK, logN).Slope;
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] gd = [.. runs.Seeds.Select(s => Exponent(p, runs.Get(GradientDescent, s)))];
        double[] hb = [.. runs.Seeds.Select(s => Exponent(p, runs.Get(HeavyBall, s)))];
        var hbExp = Estimate.Mean("heavy-ball exponent", hb);
        var gdExp = Estimate.Mean("gradient-descent exponent", gd);
        double[] ratio = [.. gd.Zip(hb, (g, h) => h / g)];
        return Verdict.From(hbExp,
                Check.Within(hbExp, p.MomentumExponentLow, p.MomentumExponentHigh),
                Check.Within(gdExp, p.GdExponentLow, p.GdExponentHigh))
            .WithExtra(Estimate.Mean("heavy-ball / gradient-descent exponent ratio", ratio),
                Estimate.Mean($"speed-up at κ = {p.Kappas.Max():G6} (iterations ratio)",
                    [.. runs.Seeds.Select(s => runs.Get(GradientDescent, s).Result(IterationsKey(p.Kappas.Max()))
                                              / runs.Get(HeavyBall, s).Result(IterationsKey(p.Kappas.Max())))]));
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var series = new List<Series>();
        foreach (var arm in ArmNames(p))
            foreach (var s in runs.Seeds)
                series.Add(new Series(arm, p.Kappas, [.. p.Kappas.Select(k => runs.Get(arm, s).Result(IterationsKey(k)))], SeriesStyle.Markers));
        double lnTol = Math.Log(1 / p.Tolerance);
        var ks = Enumerable.Range(0, 50).Select(i => p.Kappas.Min() * Math.Pow(p.Kappas.Max() / p.Kappas.Min(), i / 49.0)).ToArray();
        series.Add(new Series("theory κ/2·ln(1/tol)", ks, [.. ks.Select(k => k / 2 * lnTol)], SeriesStyle.Dashed));
        series.Add(new Series("theory √κ/2·ln(1/tol)", ks, [.. ks.Select(k => Math.Sqrt(k) / 2 * lnTol)], SeriesStyle.Dashed));
        yield return new Figure("scaling", "Iterations to converge against condition number", "condition number κ",
            "iterations to tolerance", series, LogX: true, LogY: true,
            Caption: "Each marker is one seed. On log-log axes gradient descent climbs with slope about 1, heavy ball with slope about ½; dashed lines are the textbook rates.");
    }
}
