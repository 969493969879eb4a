using Aperture.Data;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Fitting a product of two matrices to a badly conditioned target, gradient descent and Adam crawl while
/// Levenberg–Marquardt reaches the float64 floor in tens of iterations (Rahimi and Recht, NIPS 2017).
/// </summary>
[LogsMetric(LossCurve.Key, AxisKind.Step, "relative loss ‖W₁W₂ − A‖² / ‖A‖²", XLabel = "iteration", Low = 0)]
public sealed class IllConditionedLeastSquares : Phenomenon<IllConditionedLeastSquares.Protocol, IllConditionedLeastSquares.Arm>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Rows of the target A (and of W1).</summary>
        [Description("rows of the target A and of W1 (the notebook's ydim)"), Range(2, 100)]
        public int Outputs { get; init; } = 10;
        /// <summary>Columns of the target A (and of W2).</summary>
        [Description("columns of the target A and of W2 (the notebook's xdim)"), Range(2, 100)]
        public int Inputs { get; init; } = 6;
        /// <summary>Columns of W1 and rows of W2.</summary>
        [Description("inner dimension of W1·W2 (the notebook's wdim); at least min(outputs, inputs) so the target can be fit exactly"), Range(2, 100)]
        public int Hidden { get; init; } = 6;
        /// <summary>The condition number asked of A.</summary>
        [Description("condition number asked of A: singular values log-spaced from 1 to 1/κ (the measured one is recorded)"), Range(1.0001, 1e12)]
        public double ConditionNumber { get; init; } = 1e5;
        /// <summary>Standard deviation of the Gaussian initial entries of W1 and W2.</summary>
        [Description("standard deviation of the initial entries of W1 and W2 (the notebook draws them from N(0, 1))"), Range(1e-6, 100)]
        public double InitStd { get; init; } = 1.0;
        /// <summary>Steps of gradient descent and of Adam.</summary>
        [Description("step budget of gradient descent and of Adam (full-batch, on the population loss)"), Range(10, 10_000_000)]
        public int FirstOrderSteps { get; init; } = 3000;
        /// <summary>Iterations of Levenberg–Marquardt.</summary>
        [Description("iteration budget of Levenberg–Marquardt (rejected steps count)"), Range(1, 100_000)]
        public int LmIterations { get; init; } = 300;
        /// <summary>The step sizes gradient descent is swept over.</summary>
        [Description("gradient descent's step sizes; each seed is judged at the one that reached the lowest loss"), Range(1e-8, 100)]
        public double[] GdLearningRates { get; init; } = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08];
        /// <summary>The learning rates Adam is swept over.</summary>
        [Description("Adam's learning rates (β = 0.9, 0.999, ε = 1e-8); each seed is judged at the one that reached the lowest loss"), Range(1e-8, 100)]
        public double[] AdamLearningRates { get; init; } = [0.001, 0.01, 0.1, 0.3, 1, 3];
        /// <summary>Levenberg–Marquardt's log10 relative loss supports the claim below this. Why: each residual is at best rounded to about ε·|A_ij| (ε = 2.2e-16): the floor is about m·ε² ≈ 3e-30 for m = 60 residuals. −24 allows every residual about a thousand ulps.</summary>
        [Threshold, Description("Levenberg–Marquardt's mean log10 relative loss supports the claim below this (the float64 floor, with margin)")]
        public double FloorLog10Loss { get; init; } = -24;
        /// <summary>Levenberg–Marquardt's log10 relative loss contradicts the claim above this. Why: above 1e-16 the fit keeps fewer than half of float64's digits (relative residual 1e-8): not "the floor".</summary>
        [Threshold, Description("Levenberg–Marquardt's mean log10 relative loss contradicts the claim above this")]
        public double LmContradictLog10Loss { get; init; } = -16;
        /// <summary>Orders of magnitude the best first-order run must stay above Levenberg–Marquardt to support the claim. Why: the talk's figure shows gradient descent and Adam 25 or more orders above Levenberg–Marquardt after 3000 steps; ten, less than half of that, still means "nowhere near the minimum".</summary>
        [Threshold, Description("best gradient-descent and best Adam runs each support the claim when at least this many orders of magnitude above Levenberg–Marquardt (paired by seed)")]
        public double MinGapOrders { get; init; } = 10;
        /// <summary>A gap below this many orders contradicts the claim. Why: with Levenberg–Marquardt near 1e-30, a first-order run within 5 orders is itself past the floor threshold (−24): both reach every digit that matters, and the contrast the claim is about is gone.</summary>
        [Threshold, Description("a gap below this many orders of magnitude contradicts the claim")]
        public double GapContradictOrders { get; init; } = 5;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Hidden < Math.Min(Outputs, Inputs))
                yield return $"hidden must be at least min(outputs, inputs) = {Math.Min(Outputs, Inputs)} (so W1·W2 can equal A), found {Hidden}";
            foreach (var (name, grid) in new[] { ("gd_learning_rates", GdLearningRates), ("adam_learning_rates", AdamLearningRates) })
            {
                if (grid.Length == 0) yield return $"{name} needs at least one value";
                if (grid.Distinct().Count() != grid.Length) yield return $"the values of {name} must be distinct";
            }
        }
    }

    /// <summary>The optimizer an arm runs: Levenberg–Marquardt (identity damping), full-batch gradient descent, or full-batch Adam (β = 0.9, 0.999, ε = 1e-8).</summary>
    public enum Solver
    {
        /// <summary>Levenberg–Marquardt.</summary>
        LevenbergMarquardt,
        /// <summary>Gradient descent.</summary>
        GradientDescent,
        /// <summary>Adam.</summary>
        Adam,
    }

    /// <summary>One arm: an optimizer and, for the first-order ones, its learning rate.</summary>
    /// <param name="Solver">The optimizer.</param>
    /// <param name="LearningRate">The step size (null for Levenberg–Marquardt, which controls its own damping).</param>
    public sealed record Arm(Solver Solver, double? LearningRate = null) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => Solver switch
        {
            Solver.LevenbergMarquardt => "levenberg-marquardt",
            Solver.GradientDescent => "gd lr=" + Lr,
            _ => "adam lr=" + Lr,
        };

        private string Lr => (LearningRate ?? double.NaN).ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>The Levenberg–Marquardt arm.</summary>
    public static Arm LevenbergMarquardtArm => new(Solver.LevenbergMarquardt);

    /// <inheritdoc/>
    public override string Id => "ill-conditioned-least-squares";

    /// <inheritdoc/>
    public override string Title => "Gradient descent crawls on an ill-conditioned product of matrices; Levenberg–Marquardt does not";

    /// <inheritdoc/>
    public override string Claim =>
        "Fitting W1·W2 to a matrix with condition number 10^5, gradient descent and Adam at their best step sizes are still " +
        "many orders of magnitude above the minimum after thousands of steps, while Levenberg–Marquardt, on the same loss " +
        "from the same start, reaches the float64 floor within a few hundred iterations.";

    /// <inheritdoc/>
    public override string Method =>
        "Per seed, a target A = U·diag(s)·Vᵀ (10×6, Haar-random U and V, s log-spaced from 1 to 10⁻⁵; its condition number " +
        "is measured by a Jacobi SVD) and a start W1, W2 with N(0, 1) entries, shared by every arm. Every method minimizes " +
        "‖W1·W2 − A‖²_F in float64: gradient descent and Adam (through TrainStep) for a fixed step budget at each step size " +
        "of a grid stated in advance, Levenberg–Marquardt (identity damping) for a fixed iteration budget. A run records " +
        "the lowest relative loss ‖W1W2 − A‖²/‖A‖² it reached. Per seed, each first-order method is represented by its best " +
        "grid point on that same seed: a selection that can only favour the first-order methods and shrink the gaps, so " +
        "it makes the claim harder to support (conservative), and no separate tuning seeds are needed. Checks (95% " +
        "t-intervals over seeds, paired by seed for the gaps): Levenberg–Marquardt's mean log10 loss, and the gaps in " +
        "orders of magnitude from the best gradient-descent and the best Adam run down to it.";

    /// <inheritdoc/>
    public override int Version => 2;

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("A. Rahimi, B. Recht (2017), Reflections on random kitchen sinks, NIPS 2017 test-of-time award talk, and its " +
            "notebook \"Gradient descent doesn't find a local minimum in a two layer linear net\"",
            Url: "https://github.com/benjamin-recht/shallow-linear-net"),
        new("A. Rahimi, B. Recht (2017), An addendum to alchemy (postscript to the talk): \"We reran the experiment reducing " +
            "the condition number to 10^5 and observed identical behavior\""),
        new("K. Levenberg (1944), A method for the solution of certain non-linear problems in least squares, Quarterly of Applied Mathematics 2(2)", Url: "https://doi.org/10.1090/qam/10666"),
        new("D. Marquardt (1963), An algorithm for least-squares estimation of nonlinear parameters, SIAM J. Applied Mathematics 11(2)", Url: "https://doi.org/10.1137/0111030"),
        new("A. Saxe, J. McClelland, S. Ganguli (2014), Exact solutions to the nonlinear dynamics of learning in deep linear neural networks", ArXiv: "1312.6120"),
        new("D. Kingma, J. Ba (2015), Adam: a method for stochastic optimization", ArXiv: "1412.6980"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.LocalQuadratic.Predicts(Outcome.Held,
            "Near the minimum the loss is a quadratic whose Gauss–Newton matrix inherits A's spread of scales, so first-order " +
            "rates degrade with its condition number while a (damped) Newton-type step is invariant to it."),
        MentalModels.AdaptiveStepsPrecondition.Predicts(Outcome.DidNotHold,
            "If Adam's per-coordinate scaling undid ill-conditioning, Adam would converge where gradient descent crawls."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 8 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, FirstOrderSteps = 100_000 };  // slow, not stuck: 100,000 steps

    /// <summary>The gradient-descent arms, one per step size.</summary>
    public static IEnumerable<Arm> GdArms(Protocol p) => p.GdLearningRates.Select(lr => new Arm(Solver.GradientDescent, lr));
    /// <summary>The Adam arms, one per learning rate.</summary>
    public static IEnumerable<Arm> AdamArms(Protocol p) => p.AdamLearningRates.Select(lr => new Arm(Solver.Adam, lr));

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [LevenbergMarquardtArm, .. GdArms(p), .. AdamArms(p)];

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        // The target and the start, drawn in this order from the seed's generator: the same for every arm of a seed.
        var task = Synthetic.IllConditionedLeastSquares(p.Outputs, p.Inputs, p.ConditionNumber, samples: 1, run.Generator);
        var model = new MatrixProduct(Ops.Mul(Tensor.Randn([p.Outputs, p.Hidden], run.Generator, DType.Float64), p.InitStd),
            Ops.Mul(Tensor.Randn([p.Hidden, p.Inputs], run.Generator, DType.Float64), p.InitStd));
        run.Record("measured_condition_number", task.MeasuredConditionNumber);
        var curve = new LossCurve(run, task.Matrix.ToDoubleArray().Sum(v => v * v), logEveryStep: arm.Solver == Solver.LevenbergMarquardt);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int steps = p.LmIterations;
        if (arm.Solver == Solver.LevenbergMarquardt)
            run.Record("accepted_steps", MatrixProductFit.LevenbergMarquardt(model, task.Matrix, p.LmIterations, curve, t => run.ReportProgress(t / (double)p.LmIterations)));
        else
        {
            double lr = arm.LearningRate ?? throw new ArgumentException($"{arm.Name} needs a learning rate");
            GradientOptimizer opt = arm.Solver == Solver.Adam ? new Adam(model.Parameters(), lr: lr) : new SGD(model.Parameters(), lr: lr);
            (steps, bool diverged) = MatrixProductFit.FirstOrder(model, task.Matrix, opt, p.FirstOrderSteps, curve, t => run.ReportProgress(t / (double)p.FirstOrderSteps));
            run.Record("diverged", diverged ? 1 : 0);
        }
        run.Record("steps", steps);
        run.Record("seconds_per_step", clock.Elapsed.TotalSeconds / Math.Max(steps, 1));
        run.Record("log10_best_loss", Math.Log10(curve.Best));
    }

    /// <summary>Per seed, the lowest log10 loss over <paramref name="arms"/> (a grid of one method) and the arm that reached it.</summary>
    public static (double Log10Loss, Arm Arm)[] Best(RunSet runs, IEnumerable<Arm> arms) =>
        [.. runs.Seeds.Select(s => arms.Select(a => (Log10Loss: runs.Get(a.Name, s).Result("log10_best_loss"), Arm: a)).MinBy(x => x.Log10Loss))];

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] lm = runs.Results(LevenbergMarquardtArm.Name, "log10_best_loss");
        var (gd, adam) = (Best(runs, GdArms(p)), Best(runs, AdamArms(p)));
        double[] gdLoss = [.. gd.Select(x => x.Log10Loss)], adamLoss = [.. adam.Select(x => x.Log10Loss)];
        var lmEstimate = Estimate.Mean("Levenberg–Marquardt log10 relative loss", Unit.Log10, lm);
        var gdGap = Estimate.MeanDifference("orders of magnitude from best gradient descent down to Levenberg–Marquardt", Unit.OrdersOfMagnitude, gdLoss, lm);
        var adamGap = Estimate.MeanDifference("orders of magnitude from best Adam down to Levenberg–Marquardt", Unit.OrdersOfMagnitude, adamLoss, lm);
        var reached = runs.Seeds.Select(s => LossCurve.FirstStepBelow(runs.Get(LevenbergMarquardtArm.Name, s), p.FloorLog10Loss))
            .Select(r => (Time: (double)(r ?? p.LmIterations), Reached: r is not null)).ToArray();
        return Verdict.From(gdGap,
                Check.Below(lmEstimate, p.FloorLog10Loss, p.LmContradictLog10Loss),
                Check.Above(gdGap, p.MinGapOrders, p.GapContradictOrders),
                Check.Above(adamGap, p.MinGapOrders, p.GapContradictOrders))
            .WithExtra(
                Estimate.Mean("measured condition number of A", Unit.Ratio, runs.Results(LevenbergMarquardtArm.Name, "measured_condition_number")),
                Estimate.Mean($"best gradient descent log10 relative loss after {p.FirstOrderSteps} steps", Unit.Log10, gdLoss),
                Estimate.Mean($"best Adam log10 relative loss after {p.FirstOrderSteps} steps", Unit.Log10, adamLoss),
                Estimate.MedianTime($"Levenberg–Marquardt iterations to 10^{p.FloorLog10Loss:G4}", Unit.Iterations, reached),
                // Grid points chosen per seed: reported as geometric means (descriptive, not judged).
                Estimate.GeometricMean("best gradient-descent step size (geometric mean)", Unit.Dimensionless, [.. gd.Select(x => x.Arm.LearningRate ?? double.NaN)]),
                Estimate.GeometricMean("best Adam learning rate (geometric mean)", Unit.Dimensionless, [.. adam.Select(x => x.Arm.LearningRate ?? double.NaN)]),
                Estimate.Mean("seconds per Levenberg–Marquardt iteration", Unit.Seconds, runs.Results(LevenbergMarquardtArm.Name, "seconds_per_step")),
                Estimate.Mean("seconds per gradient-descent step (smallest step size)", Unit.Seconds, runs.Results(GdArms(p).First().Name, "seconds_per_step")));
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        var sweep = new List<Series>();  // −log10 loss: orders of magnitude fitted, so that better methods sit higher
        foreach (var s in runs.Seeds)
            foreach (var (label, arms) in new[] { ("gradient descent", GdArms(p).ToArray()), ("Adam", AdamArms(p).ToArray()) })
                sweep.Add(new Series(label, [.. arms.Select(a => a.LearningRate ?? 0)], [.. arms.Select(a => -runs.Get(a.Name, s).Result("log10_best_loss"))], SeriesStyle.LineAndMarkers));
        sweep = [.. Series.MeansOverSeeds(sweep)];
        double lo = p.GdLearningRates.Concat(p.AdamLearningRates).Min(), hi = p.GdLearningRates.Concat(p.AdamLearningRates).Max();
        double lmMean = -runs.Results(LevenbergMarquardtArm.Name, "log10_best_loss").Average();
        sweep.AddRange([new Series($"Levenberg–Marquardt after {p.LmIterations} iterations (mean)", [lo, hi], [lmMean, lmMean], SeriesStyle.Dashed),
            new Series("floor threshold", [lo, hi], [-p.FloorLog10Loss, -p.FloorLog10Loss], SeriesStyle.Dashed)]);
        yield return new Figure("step-size-sweep", "Orders of magnitude fitted against step size", "step size (learning rate)",
            "−log10 lowest ‖W1W2 − A‖² / ‖A‖²", sweep, LogX: true,
            Caption: $"Each method's mean over seeds with its 95% interval (pale lines: single seeds), after {p.FirstOrderSteps} steps; higher is better. A diverged run keeps the loss " +
                     "it had before it diverged. Both first-order methods stay far below Levenberg–Marquardt.");

        var (gd, adam, curves) = (Best(runs, GdArms(p)), Best(runs, AdamArms(p)), new List<Series>());
        foreach (var (s, i) in runs.Seeds.Select((s, i) => (s, i)))
            foreach (var (label, arm) in new[] { ("best gradient descent", gd[i].Arm), ("best Adam", adam[i].Arm), ("Levenberg–Marquardt", LevenbergMarquardtArm) })
                if (runs.Get(arm.Name, s).Metrics.TryGetValue(LossCurve.Key, out var points))
                    curves.Add(new Series(label, [.. points.Select(q => q.Step + 1.0)], [.. points.Select(q => q.Value)]));  // step + 1: log axis
        yield return new Figure("loss-curves", "Relative loss against steps, each method at its best step size", "step + 1 (iteration + 1)",
            "‖W1W2 − A‖² / ‖A‖²", Series.MeansOverSeeds(curves, keepSeeds: false, geometric: true), LogX: true, LogY: true,
            Caption: $"Each method's geometric mean over {runs.Seeds.Count} seeds with its 95% interval (a t-interval of the log loss; an arithmetic mean over thirty decades would be the worst seed's), drawn while every seed logs. " +
                     "Levenberg–Marquardt falls to the float64 floor within tens of iterations; gradient descent " +
                     "and Adam keep descending, slowly, for the whole budget. Every step size's final loss is in the step-size figure.")
        { Metrics = [LossCurve.Key] };  // the curves of all fourteen step sizes at once would be a tangle
    }
}
