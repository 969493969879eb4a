using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Aperture.Data;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Fitting a product of two matrices to a badly conditioned target, gradient descent and Adam crawl while
/// Levenberg–Marquardt reaches the float64 floor in tens of iterations (Rahimi and Recht, NIPS 2017).
/// </summary>
public sealed class IllConditionedLeastSquares : Phenomenon<IllConditionedLeastSquares.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Rows of the target A (and of W1).</summary>
        [Description("rows of the target A and of W1 (the notebook's ydim)")]
        public int Outputs { get; init; } = 10;

        /// <summary>Columns of the target A (and of W2).</summary>
        [Description("columns of the target A and of W2 (the notebook's xdim)")]
        public int Inputs { get; init; } = 6;

        /// <summary>Columns of W1 and rows of W2.</summary>
        [Description("inner dimension of W1·W2 (the notebook's wdim); at least min(outputs, inputs) so the target can be fit exactly")]
        public int Hidden { get; init; } = 6;

        /// <summary>The condition number asked of A.</summary>
        [Description("condition number asked of A: singular values log-spaced from 1 to 1/κ (the measured one is recorded)")]
        public double ConditionNumber { get; init; } = 1e5;

        /// <summary>Standard deviation of the Gaussian initial entries of W1 and W2.</summary>
        [Description("standard deviation of the initial entries of W1 and W2 (the notebook draws them from N(0, 1))")]
        public double InitStd { get; init; } = 1.0;

        /// <summary>Steps of gradient descent and of Adam.</summary>
        [Description("step budget of gradient descent and of Adam (full-batch, on the population loss)")]
        public int FirstOrderSteps { get; init; } = 3000;

        /// <summary>Iterations of Levenberg–Marquardt.</summary>
        [Description("iteration budget of Levenberg–Marquardt (rejected steps count)")]
        public int LmIterations { get; init; } = 300;

        /// <summary>The step sizes gradient descent is swept over.</summary>
        [Description("gradient descent's step sizes; each seed is judged at the one that reached the lowest loss")]
        public double[] GdLearningRates { get; init; } = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08];

        /// <summary>The learning rates Adam is swept over.</summary>
        [Description("Adam's learning rates (β = 0.9, 0.999, ε = 1e-8); each seed is judged at the one that reached the lowest loss")]
        public double[] AdamLearningRates { get; init; } = [0.001, 0.01, 0.1, 0.3, 1, 3];

        /// <summary>The loss that counts as the float64 floor, as log10 of ‖W1·W2 − A‖²_F / ‖A‖²_F.</summary>
        // Each residual of W1·W2 − A is at best rounded to about ε·|A_ij| (ε = 2.2e-16), so the relative loss cannot
        // go much below m·ε² ≈ 3e-30 for m = 60 residuals. −24 allows every residual about a thousand ulps: "at the floor"
        // means every digit that float64 carries, not merely "small".
        [Threshold, Description("Levenberg–Marquardt's mean log10 relative loss after its iterations must lie below this (the float64 floor, with margin)")]
        public double FloorLog10Loss { get; init; } = -24;

        /// <summary>How many orders of magnitude the best first-order run must stay above Levenberg–Marquardt.</summary>
        // The talk's figure shows gradient descent and Adam plateaued 25 or more orders above Levenberg–Marquardt after
        // 3000 steps. Ten orders, less than half of that, still means "nowhere near the minimum" for any use of the fit,
        // and leaves room for a step-size grid better than the notebook's.
        [Threshold, Description("the best gradient-descent and the best Adam run must each end at least this many orders of magnitude above Levenberg–Marquardt (paired by seed)")]
        public double MinGapOrders { get; init; } = 10;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Outputs < 2 || Outputs > 100) yield return $"outputs must be between 2 and 100, found {Outputs}";
            if (Inputs < 2 || Inputs > 100) yield return $"inputs must be between 2 and 100, found {Inputs}";
            if (Hidden < Math.Min(Outputs, Inputs) || Hidden > 100)
                yield return $"hidden must be between min(outputs, inputs) = {Math.Min(Outputs, Inputs)} (so W1·W2 can equal A) and 100, found {Hidden}";
            if (!(ConditionNumber > 1 && ConditionNumber <= 1e12)) yield return $"condition_number must lie in (1, 1e12], found {ConditionNumber}";
            if (!(InitStd > 0 && InitStd <= 100)) yield return $"init_std must lie in (0, 100], found {InitStd}";
            if (FirstOrderSteps < 10 || FirstOrderSteps > 10_000_000) yield return $"first_order_steps must be between 10 and 10000000, found {FirstOrderSteps}";
            if (LmIterations < 1 || LmIterations > 100_000) yield return $"lm_iterations must be between 1 and 100000, found {LmIterations}";
            foreach (var (name, grid) in new[] { ("gd_learning_rates", GdLearningRates), ("adam_learning_rates", AdamLearningRates) })
            {
                if (grid.Length == 0) yield return $"{name} needs at least one value";
                if (grid.Any(v => !(v > 0 && v <= 100))) yield return $"every value of {name} must lie in (0, 100], found {string.Join(",", grid)}";
                if (grid.Distinct().Count() != grid.Length) yield return $"the values of {name} must be distinct";
            }
        }
    }

    /// <summary>The Levenberg–Marquardt arm.</summary>
    public const string LevenbergMarquardtArm = "levenberg-marquardt";

    /// <summary>The arm of gradient descent at step size <paramref name="lr"/>.</summary>
    public static string GdArm(double lr) => "gd@" + lr.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The arm of Adam at learning rate <paramref name="lr"/>.</summary>
    public static string AdamArm(double lr) => "adam@" + lr.ToString("R", CultureInfo.InvariantCulture);

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
        "Per seed, a target A = U·diag(s)·Vᵀ (10×6, Haar-random U and V, singular values log-spaced from 1 to 10⁻⁵; its " +
        "condition number is measured by a Jacobi SVD and recorded) and a start W1, W2 with N(0, 1) entries, shared by every " +
        "arm. Every method minimizes the same population loss ‖W1·W2 − A‖²_F (E‖(W1W2 − A)x‖² for x ~ N(0, I)) in float64: " +
        "gradient descent and Adam for a fixed step budget at each step size of a grid stated in advance, Levenberg–Marquardt " +
        "(identity damping, gain-ratio control) for a fixed iteration budget. A run records the lowest relative loss " +
        "‖W1W2 − A‖²/‖A‖² it reached. Per seed, each first-order method is represented by its best grid point (the most " +
        "favourable choice for it). Held if Levenberg–Marquardt's mean log10 loss lies below the floor threshold and the best " +
        "gradient-descent and the best Adam run each end at least the stated number of orders of magnitude above it (95% " +
        "t-intervals over seeds).";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("A. Rahimi, B. Recht (2017), Reflections on random kitchen sinks, NIPS 2017 test-of-time award talk, and its " +
            "notebook \"Gradient descent doesn't find a local minimum in a two layer linear net\"",
            Url: "https://github.com/benjamin-recht/shallow-linear-net"),
        new("A. Rahimi, B. Recht (2017), An addendum to alchemy (postscript to the talk): \"We reran the experiment reducing " +
            "the condition number to 10^5 and observed identical behavior\""),
        new("K. Levenberg (1944), A method for the solution of certain non-linear problems in least squares, Quarterly of Applied Mathematics 2(2)",
            Url: "https://doi.org/10.1090/qam/10666"),
        new("D. Marquardt (1963), An algorithm for least-squares estimation of nonlinear parameters, SIAM J. Applied Mathematics 11(2)",
            Url: "https://doi.org/10.1137/0111030"),
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
    /// <remarks>The notebook's budget is 3000 steps; the full tier gives the first-order methods 100,000 to show they are slow, not stuck.</remarks>
    public override Protocol Full => new() { Seeds = 10, FirstOrderSteps = 100_000 };

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) =>
        [LevenbergMarquardtArm, .. p.GdLearningRates.Select(GdArm), .. p.AdamLearningRates.Select(AdamArm)];

    /// <summary>The relative loss ‖W1·W2 − A‖²_F / ‖A‖²_F, logged per step.</summary>
    public const string LossKey = "relative_loss";

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        // The target and the start, drawn in this order from the seed's generator: the same for every arm of a seed.
        // Only the matrix is used (the population loss needs no samples), so one sample is asked for.
        var task = Synthetic.IllConditionedLeastSquares(p.Outputs, p.Inputs, p.ConditionNumber, samples: 1, run.Generator);
        var a = task.Matrix;
        var w1 = Ops.Mul(Tensor.Randn([p.Outputs, p.Hidden], run.Generator, DType.Float64), p.InitStd).RequiresGrad_();
        var w2 = Ops.Mul(Tensor.Randn([p.Hidden, p.Inputs], run.Generator, DType.Float64), p.InitStd).RequiresGrad_();
        double normA = SumOfSquares(a);
        run.Record("measured_condition_number", task.MeasuredConditionNumber);
        run.Record("log10_measured_condition_number", Math.Log10(task.MeasuredConditionNumber));

        var clock = Stopwatch.StartNew();
        var curve = new LossCurve(run, normA, logEveryStep: run.Arm == LevenbergMarquardtArm);
        int steps;
        if (run.Arm == LevenbergMarquardtArm)
        {
            Tensor Residuals() => Ops.Sub(w1.MatMul(w2), a);
            var lm = new LevenbergMarquardt([w1, w2], Residuals);
            curve.Observe(0, Loss(w1, w2, a));
            int accepted = 0;
            for (int t = 1; t <= p.LmIterations; t++)
            {
                double loss = lm.Step(Residuals);
                if (lm.LastStepAccepted) accepted++;
                curve.Observe(t, loss);
                if (t % 10 == 0) run.ReportProgress(t / (double)p.LmIterations);
            }
            steps = p.LmIterations;
            run.Record("accepted_steps", accepted);
        }
        else
        {
            bool adam = run.Arm.StartsWith("adam@", StringComparison.Ordinal);
            double lr = LearningRateOf(run.Arm);
            Optimizer opt = adam ? new Adam([w1, w2], lr: lr) : new SGD([w1, w2], lr: lr);
            double start = double.NaN;
            bool diverged = false;
            long tenth = p.FirstOrderSteps / 10, half = p.FirstOrderSteps / 2;
            steps = p.FirstOrderSteps;
            for (int t = 0; t <= p.FirstOrderSteps; t++)
            {
                opt.ZeroGrad();
                var loss = Ops.Sum(Ops.Square(Ops.Sub(w1.MatMul(w2), a)));
                double value = loss.Item();
                if (t == 0) start = value;
                curve.Observe(t, value);
                if (t == tenth) run.Record("log10_loss_at_tenth", Math.Log10(curve.Best));
                if (t == half) run.Record("log10_loss_at_half", Math.Log10(curve.Best));
                // A loss that left the finite numbers or grew a millionfold has diverged: the step size is unstable.
                if (!double.IsFinite(value) || value > 1e6 * start)
                {
                    diverged = true;
                    steps = t;
                    break;
                }
                if (t == p.FirstOrderSteps) break;
                loss.Backward();
                opt.Step();
                if (t % 500 == 0) run.ReportProgress(t / (double)p.FirstOrderSteps);
            }
            run.Record("diverged", diverged ? 1 : 0);
            run.Record("learning_rate", lr);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        run.Record("steps", steps);
        run.Record("seconds_per_step", seconds / Math.Max(steps, 1));
        run.Record("log10_best_loss", Math.Log10(curve.Best));
        run.ReportProgress(1);
    }

    /// <summary>Per seed, the log10 loss of the best grid point of a first-order method and the step size that reached it.</summary>
    public static (double Log10Loss, double LearningRate)[] Best(RunSet runs, IEnumerable<string> arms) =>
        [.. runs.Seeds.Select(s => arms.Select(arm => runs.Get(arm, s))
            .Select(r => (Log10Loss: r.Result("log10_best_loss"), LearningRate: r.Result("learning_rate")))
            .MinBy(x => x.Log10Loss))];

    /// <summary>The first logged step at which a run's relative loss was at or below 10^<paramref name="log10Level"/>, or null.</summary>
    public static long? FirstStepBelow(StoredRun run, double log10Level)
    {
        double level = Math.Pow(10, log10Level);
        if (!run.Metrics.TryGetValue(LossKey, out var points)) return null;
        foreach (var (step, value) in points)
            if (value <= level) return step;
        return null;
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] lm = runs.Results(LevenbergMarquardtArm, "log10_best_loss");
        var gd = Best(runs, p.GdLearningRates.Select(GdArm));
        var adam = Best(runs, p.AdamLearningRates.Select(AdamArm));
        double[] gdLoss = [.. gd.Select(x => x.Log10Loss)], adamLoss = [.. adam.Select(x => x.Log10Loss)];

        var lmEstimate = Estimate.Mean("Levenberg–Marquardt log10 relative loss", lm);
        var gdGap = Estimate.MeanDifference("orders of magnitude from best gradient descent down to Levenberg–Marquardt", gdLoss, lm);
        var adamGap = Estimate.MeanDifference("orders of magnitude from best Adam down to Levenberg–Marquardt", adamLoss, lm);
        var verdict = Verdict.From(gdGap,
            Check.Below(lmEstimate, p.FloorLog10Loss),
            Check.Above(gdGap, p.MinGapOrders),
            Check.Above(adamGap, p.MinGapOrders));

        var extra = new List<Estimate>
        {
            Estimate.Mean("measured condition number of A", runs.Results(LevenbergMarquardtArm, "measured_condition_number")),
            Estimate.Mean("measured / asked condition number − 1",
                [.. runs.Results(LevenbergMarquardtArm, "measured_condition_number").Select(k => k / p.ConditionNumber - 1)]),
            Estimate.Mean($"best gradient descent log10 relative loss after {p.FirstOrderSteps} steps", gdLoss),
            Estimate.Mean($"best Adam log10 relative loss after {p.FirstOrderSteps} steps", adamLoss),
            // Slow, not stuck: how many orders of magnitude the best gradient-descent run still gained over the second half of its budget.
            Estimate.Mean("orders of magnitude gradient descent gained in the second half of its budget",
                [.. runs.Seeds.Select((s, i) => runs.Get(GdArm(gd[i].LearningRate), s))
                    .Select(r => r.Results.TryGetValue("log10_loss_at_half", out var h) ? h - r.Result("log10_best_loss") : double.NaN)]),
            // Grid points, not measurements: a bootstrap interval stays on the grid's range.
            Estimate.MeanBootstrap("best gradient-descent step size", [.. gd.Select(x => x.LearningRate)]),
            Estimate.MeanBootstrap("best Adam learning rate", [.. adam.Select(x => x.LearningRate)]),
        };
        var reached = runs.Seeds.Select(s => FirstStepBelow(runs.Get(LevenbergMarquardtArm, s), p.FloorLog10Loss)).ToList();
        var iterations = reached.Where(r => r is not null).Select(r => (double)r!.Value).ToArray();
        if (iterations.Length >= 2)
            extra.Add(Estimate.Mean($"Levenberg–Marquardt iterations to the floor ({iterations.Length} of {reached.Count} seeds reached it)", iterations));
        extra.Add(Estimate.Mean("seconds per Levenberg–Marquardt iteration", runs.Results(LevenbergMarquardtArm, "seconds_per_step")));
        extra.Add(Estimate.Mean("seconds per gradient-descent step (smallest step size, which never diverges)",
            runs.Results(GdArm(p.GdLearningRates.Min()), "seconds_per_step")));
        return verdict.WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        // Plotted as −log10 of the loss (orders of magnitude fitted), so that the better methods sit higher.
        var sweep = new List<Series>();
        foreach (var s in runs.Seeds)
        {
            sweep.Add(new Series("gradient descent", p.GdLearningRates, [.. p.GdLearningRates.Select(lr => -runs.Get(GdArm(lr), s).Result("log10_best_loss"))], SeriesStyle.LineAndMarkers));
            sweep.Add(new Series("Adam", p.AdamLearningRates, [.. p.AdamLearningRates.Select(lr => -runs.Get(AdamArm(lr), s).Result("log10_best_loss"))], SeriesStyle.LineAndMarkers));
        }
        double lo = Math.Min(p.GdLearningRates.Min(), p.AdamLearningRates.Min()), hi = Math.Max(p.GdLearningRates.Max(), p.AdamLearningRates.Max());
        double lmMean = -runs.Results(LevenbergMarquardtArm, "log10_best_loss").Average();
        sweep.Add(new Series($"Levenberg–Marquardt after {p.LmIterations} iterations (mean)", [lo, hi], [lmMean, lmMean], SeriesStyle.Dashed));
        sweep.Add(new Series("floor threshold", [lo, hi], [-p.FloorLog10Loss, -p.FloorLog10Loss], SeriesStyle.Dashed));
        yield return new Figure("step-size-sweep", "Orders of magnitude fitted against step size", "step size (learning rate)",
            "−log10 lowest ‖W1W2 − A‖² / ‖A‖²", sweep, LogX: true,
            Caption: $"One line per seed and method, after {p.FirstOrderSteps} steps; higher is better. A diverged run keeps the loss " +
                     "it had before it diverged. Gradient descent does best just below the step size at which it diverges; Adam's best " +
                     "learning rate is large. Both stay far below Levenberg–Marquardt.");

        var gd = Best(runs, p.GdLearningRates.Select(GdArm));
        var adam = Best(runs, p.AdamLearningRates.Select(AdamArm));
        var curves = new List<Series>();
        foreach (var (s, i) in runs.Seeds.Select((s, i) => (s, i)))
        {
            foreach (var (label, run) in new[]
            {
                ("best gradient descent", runs.Get(GdArm(gd[i].LearningRate), s)),
                ("best Adam", runs.Get(AdamArm(adam[i].LearningRate), s)),
                ("Levenberg–Marquardt", runs.Get(LevenbergMarquardtArm, s)),
            })
            {
                if (!run.Metrics.TryGetValue(LossKey, out var points)) continue;
                // Step 0 has no place on a log axis: plot against step + 1.
                curves.Add(new Series(label, [.. points.Select(q => q.Step + 1.0)], [.. points.Select(q => q.Value)]));
            }
        }
        yield return new Figure("loss-curves", "Relative loss against steps, each method at its best step size", "step + 1 (iteration + 1)",
            "‖W1W2 − A‖² / ‖A‖²", curves, LogX: true, LogY: true,
            Caption: "One line per seed. Levenberg–Marquardt falls to the float64 floor within tens of iterations; gradient descent " +
                     "and Adam keep descending, slowly, for the whole budget.");
    }

    private static double LearningRateOf(string arm) =>
        double.Parse(arm[(arm.IndexOf('@') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);

    private static double Loss(Tensor w1, Tensor w2, Tensor a)
    {
        using var _ = Autodiff.NoGrad();
        return Ops.Sum(Ops.Square(Ops.Sub(w1.MatMul(w2), a))).Item();
    }

    private static double SumOfSquares(Tensor t)
    {
        double s = 0;
        foreach (double v in t.ToDoubleArray()) s += v * v;
        return s;
    }

    /// <summary>
    /// The relative loss ‖W1·W2 − A‖²/‖A‖² over steps: logged at every step when asked (Levenberg–Marquardt's few
    /// hundred iterations, from which the verdict reads when it reached the floor), otherwise at every step of the first
    /// hundred and then at steps 5% apart; keeps the lowest value so far (never below 1e-300, so its log is finite).
    /// </summary>
    private sealed class LossCurve(RunContext run, double normA, bool logEveryStep)
    {
        private long _next;

        public double Best { get; private set; } = double.MaxValue;

        public void Observe(long step, double loss)
        {
            double relative = loss / normA;
            if (double.IsFinite(relative) && relative < Best) Best = Math.Max(relative, 1e-300);
            if (double.IsFinite(relative) && (logEveryStep || step < 100 || step >= _next))
            {
                run.Log(LossKey, step, Math.Max(relative, 1e-300));
                _next = Math.Max(step + 1, (long)Math.Ceiling(step * 1.05));
            }
        }
    }
}
