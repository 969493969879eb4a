namespace Aperture.Lab.Phenomena;

/// <summary>
/// The SGLD estimate of the local learning coefficient recovers Aoyagi's exact learning coefficient of deep linear
/// networks, not half their parameter count (Lau et al. 2023; Furman and Lau 2024; Aoyagi 2024).
/// </summary>
[LogsMetric(LlcRecord.RunningMean, AxisKind.Step, "λ̂ from the draws so far (running mean)", XLabel = "SGLD draw")]
public sealed class LearningCoefficient : Phenomenon<LearningCoefficient.Protocol, LearningCoefficient.Arm>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>The training-set size n.</summary>
        [Description("training-set size n (x ~ N(0, I), y = true map(x) + N(0, I))"), Range(100, 1_000_000)]
        public int SampleSize { get; init; } = 1000;
        /// <summary>The localization strength γ.</summary>
        [Description("SGLD localization strength γ (chosen on the calibration seeds, see docs/phenomena.md)"), Range(0, 1e6)]
        public double Localization { get; init; } = 1;
        /// <summary>nβ as a multiple of n/ln n.</summary>
        [Description("nβ as a multiple of n/ln n (1 = Watanabe's β* = 1/ln n, as in Lau et al. 2023)"), Range(0.01, 100)]
        public double NBetaFactor { get; init; } = 1;
        /// <summary>Chains per estimate.</summary>
        [Description("SGLD chains per estimate"), Range(1, 64)]
        public int Chains { get; init; } = 2;
        /// <summary>Steps discarded per chain.</summary>
        [Description("SGLD steps discarded per chain before the first draw"), Range(0, 1_000_000)]
        public int BurnIn { get; init; } = 500;
        /// <summary>Draws kept per chain.</summary>
        [Description("draws kept per chain (one per step)"), Range(3, 10_000_000)]
        public int Draws { get; init; } = 2500;
        /// <summary>The step sizes of the calibration sweep.</summary>
        [Description("calibration sweep: SGLD step sizes ε"), Range(1e-8, 1)]
        public double[] CalibrationStepSizes { get; init; } = [1e-4, 3e-4, 1e-3, 3e-3];
        /// <summary>The localizations of the calibration sweep.</summary>
        [Description("calibration sweep: localization strengths γ"), Range(0, 1e6)]
        public double[] CalibrationLocalizations { get; init; } = [1, 100];
        /// <summary>The nβ factors of the calibration sweep.</summary>
        [Description("calibration sweep: nβ as multiples of n/ln n"), Range(0.01, 100)]
        public double[] CalibrationNBetaFactors { get; init; } = [1];
        /// <summary>The calibration model's data come from seed + this, a range the verdict never uses.</summary>
        [Description("the calibration arms draw their true parameter and data from seed + this offset: seeds the verdict arms never use"), Range(1_000_000, int.MaxValue)]
        public int CalibrationSeedOffset { get; init; } = 1_000_000;
        /// <summary>λ̂/λ supports the claim inside [low, high]. Why: the issue's ±20%, half the 40% devinterp's own tests accept.</summary>
        [Threshold, Description("every architecture's λ̂/λ supports the claim when its 95% interval lies above this")]
        public double RatioLow { get; init; } = 0.8;
        /// <summary>Upper edge of the supporting band of λ̂/λ.</summary>
        [Threshold, Description("… and below this")]
        public double RatioHigh { get; init; } = 1.2;
        /// <summary>λ̂/λ below this contradicts. Why: off by more than the 40% devinterp's tests tolerate.</summary>
        [Threshold, Description("λ̂/λ of any architecture contradicts the claim below this")]
        public double RatioContradictBelow { get; init; } = 0.6;
        /// <summary>λ̂/λ above this contradicts. Why: off by more than the 40% devinterp's tests tolerate.</summary>
        [Threshold, Description("λ̂/λ of any architecture contradicts the claim above this")]
        public double RatioContradictAbove { get; init; } = 1.4;
        /// <summary>λ̂/(d/2) supports "not d/2" below this. Why: every architecture has λ ≤ ½·d/2, so the supporting band of λ̂/λ ends at or below 0.6·d/2; 0.75 leaves room for that while still meaning a quarter below d/2.</summary>
        [Threshold, Description("every architecture's λ̂/(d/2) supports 'not half the parameter count' below this")]
        public double HalfDimensionSupportBelow { get; init; } = 0.75;
        /// <summary>λ̂/(d/2) contradicts above this. Why: within 10% of d/2 is how close a regular model must come (the issue's regular-model test).</summary>
        [Threshold, Description("λ̂/(d/2) of any architecture contradicts the claim above this")]
        public double HalfDimensionContradictAbove { get; init; } = 0.9;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (!(RatioContradictBelow <= RatioLow && RatioLow < RatioHigh && RatioHigh <= RatioContradictAbove))
                yield return "the ratio thresholds must satisfy ratio_contradict_below ≤ ratio_low < ratio_high ≤ ratio_contradict_above";
            foreach (var (name, grid) in new[] { ("calibration_step_sizes", CalibrationStepSizes), ("calibration_localizations", CalibrationLocalizations), ("calibration_n_beta_factors", CalibrationNBetaFactors) })
                if (grid.Length == 0 || grid.Distinct().Count() != grid.Length) yield return $"{name} needs at least one value, all distinct";
        }
    }

    /// <summary>Whether an arm is judged or belongs to the calibration sweep.</summary>
    public enum Role
    {
        /// <summary>An architecture the verdict judges, at its calibrated step size.</summary>
        Verdict,
        /// <summary>One (ε, γ, nβ) point of the calibration sweep, on the calibration seeds.</summary>
        Calibration,
    }

    /// <summary>One arm: a deep linear network and the SGLD setting it is sampled with.</summary>
    /// <param name="Role">Judged architecture or calibration point.</param>
    /// <param name="Widths">The widths H₀ (input), …, H_L (output).</param>
    /// <param name="Rank">The rank r of the true map.</param>
    /// <param name="StepSize">The SGLD step size ε.</param>
    /// <param name="Localization">γ; null for the protocol's.</param>
    /// <param name="NBetaFactor">nβ over n/ln n; null for the protocol's.</param>
    public sealed record Arm(Role Role, int[] Widths, int Rank, double StepSize, double? Localization = null, double? NBetaFactor = null) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => Role == Role.Verdict
            ? $"dln {string.Join(",", Widths)} r{Rank}"
            : $"calibration ε={G(StepSize)} γ={G(Localization ?? double.NaN)} nβ×{G(NBetaFactor ?? double.NaN)}";

        /// <inheritdoc/>
        public override ArmCell? Cell => Role == Role.Verdict ? null : new($"calibration γ={G(Localization ?? double.NaN)} nβ×{G(NBetaFactor ?? double.NaN)}", $"ε={G(StepSize)}");

        /// <summary>Value equality, the widths compared element by element (an arm read back from its JSON equals it).</summary>
        public bool Equals(Arm? other) => other is not null && Role == other.Role && Widths.SequenceEqual(other.Widths) && Rank == other.Rank
            && StepSize.Equals(other.StepSize) && Localization.Equals(other.Localization) && NBetaFactor.Equals(other.NBetaFactor);

        /// <inheritdoc/>
        public override int GetHashCode() => HashCode.Combine(Role, string.Join(",", Widths), Rank, StepSize, Localization, NBetaFactor);
        private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public override string Id => "learning-coefficient";
    /// <inheritdoc/>
    public override string Title => "The local learning coefficient of deep linear networks is Aoyagi's λ, not half the parameter count";

    /// <inheritdoc/>
    public override string Claim =>
        "For deep linear networks of several widths, depths and true ranks, the SGLD estimate λ̂ of the local learning " +
        "coefficient at the true parameter lies within 20% of Aoyagi's exact learning coefficient λ, and well below d/2, " +
        "the value a regular model with as many parameters would have.";

    /// <inheritdoc/>
    public override string Method =>
        "Per seed and architecture (widths, true rank r), a true map W_L⋯W_1 with every layer of rank r (W = 0 at r = 0), " +
        "n examples x ~ N(0, I), y = W_L⋯W_1·x + N(0, I), loss ½·mean‖y − f(x)‖². λ̂ = nβ·(mean of L_B(w_t) − L_B(w*)) over " +
        "SGLD draws localized at the true parameter (nβ = n/ln n, paired anchor loss, batch 100); the exact λ from Aoyagi " +
        "(2024) in rational arithmetic. λ̂ rises with ε (too small: the singular directions have not mixed; too large: " +
        "discretization and minibatch noise), so the estimator is calibrated as Lau et al. do, on models with known λ but on " +
        "other data: each architecture's ε is the one of {3·10⁻⁴, 5·10⁻⁴, 10⁻³} whose mean λ̂/λ was nearest 1 on seeds 1000–1005, " +
        "which no verdict block uses, fixed before any verdict seed was run (γ = 1, nβ = n/ln n, 2 chains × 2500 draws); the calibration arms, " +
        "a sweep over (ε, γ, nβ) on 3,3,3 at rank 1 with data from seed + 10⁶, rerun with every block and are stored and " +
        "drawn, never judged. Checks per architecture (t-intervals over seeds): λ̂/λ inside [0.8, 1.2] (contradicted " +
        "below 0.6 or above 1.4) and λ̂/(d/2) below 0.75 (contradicted above 0.9); Holm over all checks for contradiction.";

    /// <inheritdoc/>
    public override int Version => 3;

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("E. Lau, Z. Furman, G. Wang, D. Murfet, S. Wei (2023), The local learning coefficient: a singularity-aware complexity measure", ArXiv: "2308.12108"),
        new("Z. Furman, E. Lau (2024), Estimating the local learning coefficient at scale", ArXiv: "2402.03698"),
        new("M. Aoyagi (2024), Consideration on the learning efficiency of multiple-layered neural networks with linear units, Neural Networks 172, 106132",
            Url: "https://doi.org/10.1016/j.neunet.2024.106132"),
        new("M. Aoyagi, S. Watanabe (2005), Stochastic complexities of reduced rank regression in Bayesian estimation, Neural Networks 18(7)",
            Url: "https://doi.org/10.1016/j.neunet.2005.03.014"),
        new("S. Watanabe (2013), A widely applicable Bayesian information criterion, JMLR 14", ArXiv: "1208.6338"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.LocalQuadratic.Predicts(Outcome.DidNotHold,
            "If the loss were a positive definite quadratic around the true parameter, the Laplace approximation would hold " +
            "and the tempered posterior's excess loss would be d/(2nβ): λ̂ would read half the parameter count."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 12, CalibrationStepSizes = [3e-4, 5e-4, 1e-3, 3e-3] };

    /// <inheritdoc/>
    public override Protocol Full => new()
    {
        Seeds = 16, Chains = 4, BurnIn = 1000, Draws = 5000,
        CalibrationStepSizes = [1e-4, 3e-4, 5e-4, 1e-3, 3e-3], CalibrationLocalizations = [1, 10, 100], CalibrationNBetaFactors = [0.5, 1, 2],
    };

    /// <summary>
    /// The judged architectures (depths 2–4, true ranks 0–2, four of them rank-deficient), each with the step size chosen
    /// for it on the calibration seeds 1000–1005: of ε ∈ {3·10⁻⁴, 5·10⁻⁴, 10⁻³}, the one whose mean λ̂/λ was nearest 1
    /// (docs/phenomena.md lists the measurements).
    /// </summary>
    public static IEnumerable<Arm> Architectures(Protocol p)
    {
        Arm A(double eps, int rank, params int[] widths) => new(Role.Verdict, widths, rank, eps);
        return [A(5e-4, 1, 3, 3, 3), A(5e-4, 1, 4, 3, 4), A(3e-4, 2, 2, 3, 2), A(5e-4, 1, 2, 2, 2, 2), A(1e-3, 0, 3, 3, 3, 3), A(5e-4, 1, 2, 2, 2, 2, 2)];
    }

    /// <summary>The calibration arms: every (ε, γ, nβ) of the sweep on 3,3,3 at rank 1.</summary>
    public static IEnumerable<Arm> CalibrationArms(Protocol p) =>
        from eps in p.CalibrationStepSizes
        from gamma in p.CalibrationLocalizations
        from nb in p.CalibrationNBetaFactors
        select new Arm(Role.Calibration, [3, 3, 3], 1, eps, gamma, nb);

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [.. Architectures(p), .. CalibrationArms(p)];

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        // The true parameter, the data and the chains all come from this seed (model stream 1000, chains 0…2c+1).
        ulong seed = (ulong)run.Seed + (arm.Role == Role.Calibration ? (ulong)p.CalibrationSeedOffset : 0);
        var model = LearningCoefficientModels.DeepLinear(arm.Widths, arm.Rank, p.SampleSize, seed, LlcAnchor.True);
        var settings = new LlcSettings
        {
            StepSize = arm.StepSize, Localization = arm.Localization ?? p.Localization,
            NBeta = (arm.NBetaFactor ?? p.NBetaFactor) * LocalLearningCoefficient.DefaultNBeta(p.SampleSize),
            Chains = p.Chains, BurnIn = p.BurnIn, Draws = p.Draws,
        };
        var e = LocalLearningCoefficient.Estimate(model.Problem, settings, seed, run.Cancellation);
        LlcRecord.Write(run, e, model.Exact.Lambda.ToDouble());
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var checks = new List<Check>();
        var pooled = new double[runs.Seeds.Count];
        var arms = Architectures(p).ToArray();
        foreach (var arm in arms)
        {
            var ratio = runs.Results(arm.Name, LlcRecord.Ratio);
            for (int i = 0; i < pooled.Length; i++) pooled[i] += ratio[i] / arms.Length;
            checks.Add(Check.Above(Estimate.Mean($"{arm.Name}: λ̂/λ", Unit.Ratio, ratio), p.RatioLow, p.RatioContradictBelow));
            checks.Add(Check.Below(Estimate.Mean($"{arm.Name}: λ̂/λ (upper edge)", Unit.Ratio, ratio), p.RatioHigh, p.RatioContradictAbove));
            checks.Add(Check.Below(Estimate.Mean($"{arm.Name}: λ̂/(d/2)", Unit.Ratio, runs.Results(arm.Name, LlcRecord.HalfDimensionRatio)),
                p.HalfDimensionSupportBelow, p.HalfDimensionContradictAbove));
        }
        var extra = arms.Select(a => Estimate.Mean($"{a.Name}: λ̂ (λ = {runs.Results(a.Name, LlcRecord.Exact)[0]:G4}, d/2 = {runs.Results(a.Name, LlcRecord.HalfDimension)[0]:G4})", Unit.Dimensionless,
            runs.Results(a.Name, LlcRecord.LambdaHat))).ToArray();
        return Verdict.From(Estimate.Mean("λ̂/λ averaged over the architectures", Unit.Ratio, pooled), [.. checks]).WithExtra(extra);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        // One column per architecture (x = its index: architectures sharing a λ must not overlap).
        var arms = Architectures(p).ToArray();
        var series = new List<Series>();
        for (int i = 0; i < arms.Length; i++)
        {
            var a = arms[i];
            double x = i, lambda = runs.Results(a.Name, LlcRecord.Exact)[0], half = runs.Results(a.Name, LlcRecord.HalfDimension)[0];
            var hat = runs.Results(a.Name, LlcRecord.LambdaHat);
            var ci = Estimate.Mean(a.Name, Unit.Dimensionless, hat);                                // the seeds' λ̂ left, their mean right
            series.Add(new Series("λ̂ per seed", [.. hat.Select(_ => x - 0.12)], hat, SeriesStyle.Markers));
            series.Add(new Series("λ̂: mean and 95% interval", [x + 0.12, x + 0.12], [ci.Low, ci.High]));
            series.Add(new Series("λ̂: mean and 95% interval", [x + 0.12], [ci.Value], SeriesStyle.Markers));
            series.Add(new Series("exact λ (Aoyagi 2024)", [x - 0.3, x + 0.3], [lambda, lambda], SeriesStyle.Dashed));
            series.Add(new Series("d/2 (a regular model's value)", [x - 0.3, x + 0.3], [half, half]));
        }
        yield return new Figure("estimate-vs-exact", "λ̂ beside Aoyagi's λ and d/2, for every architecture", "deep linear network (layer widths, r = rank of the truth)",
            "learning coefficient", series,
            Caption: "Per architecture: the " +
                     "seeds' λ̂ (left), their mean with its 95% interval (right), the exact λ (dashed) and d/2, what the parameter " +
                     "count predicts (solid). The estimates sit on λ, far below d/2.") { XCategories = [.. arms.Select(a => a.Name[4..])] };
        foreach (var f in LlcRecord.CalibrationFigures(runs, CalibrationArms(p).ToArray(), p.RatioLow, p.RatioHigh)) yield return f;
        foreach (var f in LlcRecord.RunningMeanFigures(runs, arms, CalibrationArms(p).ToArray())) yield return f;
    }
}
