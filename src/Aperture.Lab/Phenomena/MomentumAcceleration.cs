namespace Aperture.Lab.Phenomena;

/// <summary>
/// Heavy-ball momentum turns gradient descent's κ iterations into √κ on quadratics, and the advantage shrinks when the
/// gradients are stochastic (Polyak 1964; Kidambi et al. 2018).
/// </summary>
[LogsMetric("relative_error", AxisKind.Step, "relative error ‖x_t − x*‖ / ‖x_0 − x*‖", XLabel = "iteration t", Low = 0)]
public sealed class MomentumAcceleration : Phenomenon<MomentumAcceleration.Protocol, MomentumAcceleration.Arm>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Dimension of the quadratic.</summary>
        [Description("dimension n of the quadratic ½·xᵀAx"), Range(2, 2000)]
        public int Dimension { get; init; } = 50;
        /// <summary>Condition numbers κ to sweep.</summary>
        [Description("condition numbers κ = L/μ to sweep with exact gradients (eigenvalues log-spaced in [1, κ])"), Range(1, 1e7)]
        public double[] Kappas { get; init; } = [10, 100, 1000, 10000];
        /// <summary>Relative distance ‖x_t − x*‖ / ‖x_0 − x*‖ that counts as converged.</summary>
        [Description("relative distance to the minimum that counts as converged"), Range(1e-14, 0.5)]
        public double Tolerance { get; init; } = 1e-6;
        /// <summary>The condition number of the stochastic-gradient comparison (one of <see cref="Kappas"/>).</summary>
        [Description("κ of the sampled-row (stochastic-gradient) comparison; must be one of kappas"), Range(1, 1e5)]
        public double NoisyKappa { get; init; } = 1000;
        /// <summary>Rows of the least-squares problem per dimension.</summary>
        [Description("rows N of the sampled-row least-squares problem, per dimension"), Range(1, 100)]
        public int RowsPerDimension { get; init; } = 4;
        /// <summary>How many problems (each with its own rows and row sequence) the tuning takes the worst case over.</summary>
        [Description("problems the grid tuning takes the worst case over (drawn apart from the judged one)"), Range(1, 10)]
        public int TuningProblems { get; init; } = 2;
        /// <summary>The step sizes tried in the tuning, in units of 1/tr(H).</summary>
        [Description("step sizes tuned over, in units of 1/tr(H) (sampled-row SGD is stable up to about 2/tr(H))"), Range(1e-4, 10)]
        public double[] StepScales { get; init; } = [0.125, 0.25, 0.5, 1, 1.5];
        /// <summary>The momenta tried in the tuning of stochastic heavy ball.</summary>
        [Description("momenta tuned over for stochastic heavy ball"), Range(0.01, 0.999)]
        public double[] Momenta { get; init; } = [0.5, 0.8, 0.9, 0.95, 0.99];
        /// <summary>Gradient descent's exponent is supported inside [this, <see cref="GdExponentHigh"/>]. Why: theory gives 1 (iterations ≈ κ/2·ln(1/tol)); ±0.2 allows the fit's curvature over a few decades of κ.</summary>
        [Threshold, Description("gradient descent's exponent supports the claim at or above this")]
        public double GdExponentLow { get; init; } = 0.8;
        /// <summary>Upper edge of gradient descent's supporting band.</summary>
        [Threshold, Description("gradient descent's exponent supports the claim at or below this")]
        public double GdExponentHigh { get; init; } = 1.2;
        /// <summary>Gradient descent's exponent contradicts the claim below this. Why: below 0.75 gradient descent scales closer to √κ than to κ: the contrast the claim is about is gone.</summary>
        [Threshold, Description("gradient descent's exponent contradicts the claim below this (closer to ½ than to 1)")]
        public double GdExponentContradict { get; init; } = 0.75;
        /// <summary>Heavy ball's exponent is supported inside [this, <see cref="MomentumExponentHigh"/>]. Why: theory gives ½; its transient (a double root, error ≈ t·ρ^t) adds a log factor that lifts the fit a little.</summary>
        [Threshold, Description("heavy ball's exponent supports the claim at or above this")]
        public double MomentumExponentLow { get; init; } = 0.4;
        /// <summary>Upper edge of heavy ball's supporting band.</summary>
        [Threshold, Description("heavy ball's exponent supports the claim at or below this")]
        public double MomentumExponentHigh { get; init; } = 0.6;
        /// <summary>Heavy ball's exponent contradicts the claim above this. Why: above 0.75 heavy ball scales closer to κ than to √κ: no quadratic acceleration. (Below ½ is ruled out by the first-order lower bound, Nemirovski–Yudin, so only this side can contradict.)</summary>
        [Threshold, Description("heavy ball's exponent contradicts the claim above this (closer to 1 than to ½)")]
        public double MomentumExponentContradict { get; init; } = 0.75;
        /// <summary>The speed-up with sampled-row gradients ÷ the speed-up without supports the claim below this. Why: Kidambi et al.: with sampled-row gradients heavy ball gains at most a constant over tuned SGD, against √κ-fold without noise. "Shrinks" is taken to mean at least halves.</summary>
        [Threshold, Description("speed-up with sampled-row gradients ÷ speed-up with exact ones supports the claim below this")]
        public double ShrinkSupportBelow { get; init; } = 0.5;
        /// <summary>The shrink ratio contradicts the claim above this. Why: at or above 1 the noise did not shrink the advantage at all.</summary>
        [Threshold, Description("speed-up ratio contradicts the claim above this (no shrinking)")]
        public double ShrinkContradictAbove { get; init; } = 1.0;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Kappas.Length < 2) yield return $"kappas needs at least 2 condition numbers to fit an exponent, found {Kappas.Length}";
            if (Kappas.Any(k => !(k > 1)) || Kappas.Distinct().Count() != Kappas.Length) yield return $"kappas must be distinct and each exceed 1, found {string.Join(",", Kappas)}";
            if (!Kappas.Contains(NoisyKappa)) yield return $"noisy_kappa must be one of kappas ({string.Join(",", Kappas)}), found {NoisyKappa}";
            if (StepScales.Length == 0 || Momenta.Length == 0) yield return "step_scales and momenta need at least one value each";
        }
    }

    /// <summary>The algorithm an arm runs.</summary>
    public enum Algorithm
    {
        /// <summary>Gradient descent (β = 0).</summary>
        GradientDescent,
        /// <summary>Polyak's heavy ball.</summary>
        HeavyBall,
    }

    /// <summary>The gradients an arm sees.</summary>
    public enum Gradient
    {
        /// <summary>Exact gradients, theory's parameters, swept over κ.</summary>
        Exact,
        /// <summary>One sampled row's gradient per step, grid-tuned parameters, at noisy_kappa.</summary>
        SampledRows,
    }

    /// <summary>One arm: an algorithm and the gradients it sees.</summary>
    /// <param name="Algorithm">Gradient descent or heavy ball.</param>
    /// <param name="Gradient">Exact or sampled-row gradients.</param>
    public sealed record Arm(Algorithm Algorithm, Gradient Gradient) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => (Algorithm, Gradient) switch
        {
            (Algorithm.GradientDescent, Gradient.Exact) => "gradient-descent",
            (Algorithm.HeavyBall, Gradient.Exact) => "heavy-ball",
            (Algorithm.GradientDescent, _) => "sgd",
            _ => "stochastic-heavy-ball",
        };
    }

    /// <summary>Gradient descent with exact gradients.</summary>
    public static Arm GradientDescent => new(Algorithm.GradientDescent, Gradient.Exact);
    /// <summary>Heavy ball with exact gradients.</summary>
    public static Arm HeavyBall => new(Algorithm.HeavyBall, Gradient.Exact);
    /// <summary>SGD on sampled rows.</summary>
    public static Arm Sgd => new(Algorithm.GradientDescent, Gradient.SampledRows);
    /// <summary>Heavy ball on sampled rows.</summary>
    public static Arm StochasticHeavyBall => new(Algorithm.HeavyBall, Gradient.SampledRows);

    /// <inheritdoc/>
    public override string Id => "momentum-acceleration";

    /// <inheritdoc/>
    public override string Title => "Momentum accelerates gradient descent quadratically, less so with stochastic gradients";

    /// <inheritdoc/>
    public override string Claim =>
        "On a quadratic with condition number κ, gradient descent needs iterations proportional to κ to reach a fixed " +
        "accuracy and heavy-ball momentum iterations proportional to √κ; with stochastic gradients from sampled rows the " +
        "heavy-ball speed-up over (tuned) SGD is much smaller.";

    /// <inheritdoc/>
    public override string Method =>
        "Exact arms: for each κ, ½·xᵀAx with A = Q·diag(λ)·Qᵀ, λ log-spaced in [1, κ], Q Haar-random (drawn per seed, shared " +
        "by both arms), minimized from a Gaussian start until ‖x_t‖/‖x_0‖ ≤ tolerance; gradient descent with step 2/(L+μ), " +
        "heavy ball with step 4/(√L+√μ)² and momentum ((√κ−1)/(√κ+1))². Per seed and arm the slope of log(iterations) on " +
        "log(κ) is fitted; each arm's mean exponent (t-interval) is checked against a band. Sampled-row arms: a realizable " +
        "least-squares problem at κ = noisy_kappa with Hessian exactly diag(λ) (N = rows_per_dimension·n rows), one " +
        "uniformly sampled row's gradient per step; SGD's step and heavy ball's (step, momentum) are grid-tuned for the " +
        "fewest iterations to tolerance on a separate problem and row sequence (a generator stream forked off the seed, " +
        "never judged), then run on the judged problem. Per seed, (SGD ÷ heavy-ball iterations) ÷ (gradient-descent ÷ " +
        "heavy-ball iterations with exact gradients at the same κ) is the shrink ratio, judged by its geometric mean " +
        "(t-interval on the log scale).";

    /// <inheritdoc/>
    public override int Version => 2;

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("B. T. Polyak (1964), Some methods of speeding up the convergence of iteration methods, USSR Comp. Math. and Math. Physics 4(5)", Url: "https://doi.org/10.1016/0041-5553(64)90137-5"),
        new("R. Kidambi, P. Netrapalli, P. Jain, S. Kakade (2018), On the insufficiency of existing momentum schemes for stochastic optimization", ArXiv: "1803.05591"),
        new("G. Goh (2017), Why momentum really works, Distill", Url: "https://distill.pub/2017/momentum/"),
        new("I. Sutskever, J. Martens, G. Dahl, G. Hinton (2013), On the importance of initialization and momentum in deep learning, ICML", Url: "https://proceedings.mlr.press/v28/sutskever13.html"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.LocalQuadratic.Predicts(Outcome.Held,
            "Chebyshev-polynomial analysis of the linear iteration gives rates (κ−1)/(κ+1) and (√κ−1)/(√κ+1)."),
        MentalModels.MomentumAveragesNoise.Predicts(Outcome.DidNotHold,
            "If momentum's value were averaging gradient noise, it would help more with sampled-row gradients, not less, and not at all without noise."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 20, Dimension = 100, Kappas = [.. Enumerable.Range(0, 7).Select(i => Math.Round(Math.Pow(10, 1 + i / 2.0), 6))] };

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [GradientDescent, HeavyBall, Sgd, StochasticHeavyBall];

    /// <summary>The key of the iteration count at condition number κ.</summary>
    public static string IterationsKey(double kappa) => "iterations@" + kappa.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        if (arm.Gradient == Gradient.SampledRows)
        {
            var r = Quadratics.TunedStochasticRun(Quadratics.LogSpacedSpectrum(p.Dimension, p.NoisyKappa), p.RowsPerDimension * p.Dimension,
                p.TuningProblems, [.. p.StepScales.OrderDescending()], arm.Algorithm == Algorithm.HeavyBall ? p.Momenta : [0], p.Tolerance,
                run.Generator, (t, err) => run.Log("relative_error", t, err));
            run.Record("tuned_step_scale", r.StepScale);
            run.Record("tuned_momentum", r.Momentum);
            run.Record("tuning_iterations", r.TuningIterations);
            run.Record(IterationsKey(p.NoisyKappa), r.Iterations);
            return;
        }
        for (int i = 0; i < p.Kappas.Length; i++)
        {
            double kappa = p.Kappas[i];
            // The rotation and the start come from the seed's generator in this order: the same for both arms of a seed.
            var a = Quadratics.Rotated(Quadratics.LogSpacedSpectrum(p.Dimension, kappa), run.Generator);
            var x0 = Tensor.Randn([p.Dimension, 1], run.Generator, DType.Float64);
            var (step, momentum) = arm.Algorithm == Algorithm.HeavyBall ? Quadratics.HeavyBall(1, kappa) : Quadratics.GradientDescent(1, kappa);
            // Far beyond either method's need (gradient descent needs about κ/2·ln(1/tol)): reaching it means divergence.
            long max = (long)(10 * kappa * Math.Log(1 / p.Tolerance)) + 10_000;
            long iterations = Quadratics.IterationsToTolerance(a, x0, step, momentum, p.Tolerance, max,
                kappa == p.Kappas.Max() ? (t, err) => run.Log("relative_error", t, err) : null,
                _ => run.ReportProgress((i + 0.5) / p.Kappas.Length));
            run.Record(IterationsKey(kappa), iterations);
            run.ReportProgress((i + 1.0) / p.Kappas.Length);
        }
    }

    /// <summary>The fitted exponent of one exact-gradient run: the least-squares slope of log(iterations) on log(κ).</summary>
    public static double Exponent(Protocol p, StoredRun run) => Scaling.LogLogSlope(p.Kappas, [.. p.Kappas.Select(k => run.Result(IterationsKey(k)))]);

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] gd = [.. runs.Seeds.Select(s => Exponent(p, runs.Get(GradientDescent.Name, s)))], hb = [.. runs.Seeds.Select(s => Exponent(p, runs.Get(HeavyBall.Name, s)))];
        Estimate hbExp = Estimate.Mean("heavy-ball exponent", Unit.Dimensionless, hb), gdExp = Estimate.Mean("gradient-descent exponent", Unit.Dimensionless, gd);
        string key = IterationsKey(p.NoisyKappa), at = $"κ = {p.NoisyKappa:G6}";
        // A run that never reached the tolerance (−1) gives no ratio: the estimate is then undefined and cannot decide.
        double[] SpeedUp(Arm slow, Arm fast) => [.. runs.Results(slow.Name, key).Zip(runs.Results(fast.Name, key), (a, b) => a > 0 && b > 0 ? a / b : double.NaN)];
        double[] exact = SpeedUp(GradientDescent, HeavyBall), noisy = SpeedUp(Sgd, StochasticHeavyBall);
        var shrink = Scaling.RatioOrUndefined($"heavy-ball speed-up with sampled-row gradients ÷ with exact gradients, at {at}", [.. noisy.Zip(exact, (n, e) => n / e)]);
        return Verdict.From(hbExp,
                Check.Of(hbExp, Region.Between(p.MomentumExponentLow, p.MomentumExponentHigh), Region.Above(p.MomentumExponentContradict)),
                Check.Of(gdExp, Region.Between(p.GdExponentLow, p.GdExponentHigh), Region.Below(p.GdExponentContradict)),
                Check.Below(shrink, p.ShrinkSupportBelow, p.ShrinkContradictAbove))
            .WithExtra(Estimate.Mean("heavy-ball / gradient-descent exponent ratio", Unit.Ratio, [.. gd.Zip(hb, (g, h) => h / g)]),
                Scaling.RatioOrUndefined($"speed-up with exact gradients at {at} (gradient-descent ÷ heavy-ball iterations)", exact),
                Scaling.RatioOrUndefined($"speed-up with sampled-row gradients at {at} (tuned SGD ÷ tuned heavy-ball iterations)", noisy),
                Estimate.Mean("tuned SGD step × tr(H)", Unit.Dimensionless, runs.Results(Sgd.Name, "tuned_step_scale")),
                Estimate.Mean("tuned heavy-ball step × tr(H)", Unit.Dimensionless, runs.Results(StochasticHeavyBall.Name, "tuned_step_scale")),
                Estimate.Mean("tuned heavy-ball momentum", Unit.Dimensionless, runs.Results(StochasticHeavyBall.Name, "tuned_momentum")));
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var series = Series.MeansOverSeeds(new[] { GradientDescent, HeavyBall }.SelectMany(arm => runs.Seeds.Select(s =>
            new Series(arm.Name, p.Kappas, [.. p.Kappas.Select(k => runs.Get(arm.Name, s).Result(IterationsKey(k)))], SeriesStyle.Markers)))
            .Concat(new[] { Sgd, StochasticHeavyBall }.SelectMany(arm => runs.Seeds.Select(s =>
                new Series(arm.Name, [p.NoisyKappa], [runs.Get(arm.Name, s).Result(IterationsKey(p.NoisyKappa))], SeriesStyle.Markers))))).ToList();
        double lnTol = Math.Log(1 / p.Tolerance);
        var ks = Enumerable.Range(0, 50).Select(i => p.Kappas.Min() * Math.Pow(p.Kappas.Max() / p.Kappas.Min(), i / 49.0)).ToArray();
        series.Add(new Series("theory κ/2·ln(1/tol)", ks, [.. ks.Select(k => k / 2 * lnTol)], SeriesStyle.Dashed));
        series.Add(new Series("theory √κ/2·ln(1/tol)", ks, [.. ks.Select(k => Math.Sqrt(k) / 2 * lnTol)], SeriesStyle.Dashed));
        yield return new Figure("scaling", "Iterations to converge against condition number", "condition number κ",
            "iterations to tolerance", series, LogX: true, LogY: true,
            Caption: "Markers: each arm's mean over seeds with its 95% interval; pale dots: single seeds. With exact gradients gradient descent climbs with slope about 1 and heavy ball with " +
                     "slope about ½ (dashed: textbook rates); at κ = noisy_kappa, SGD and heavy ball on sampled rows, each tuned, sit close together.");
    }
}
