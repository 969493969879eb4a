using System.ComponentModel;
using System.Text.Json;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// A ReLU net fit to a few points of a sine is piecewise linear, and it extrapolates linearly beyond its data.
/// </summary>
public sealed class ReluPiecewiseLinear : Phenomenon<ReluPiecewiseLinear.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Number of training points.</summary>
        [Description("training points, x uniform in [−π, π], y = sin(x)")]
        public int Points { get; init; } = 10;

        /// <summary>Units per hidden layer.</summary>
        [Description("units per hidden layer")]
        public int Width { get; init; } = 32;

        /// <summary>Number of hidden layers.</summary>
        [Description("hidden layers")]
        public int Depth { get; init; } = 2;

        /// <summary>Full-batch Adam steps.</summary>
        [Description("full-batch Adam steps on the mean squared error")]
        public int Steps { get; init; } = 2000;

        /// <summary>Adam's learning rate.</summary>
        [Description("Adam learning rate")]
        public double LearningRate { get; init; } = 0.01;

        /// <summary>How far beyond the data the extrapolation is measured, in data spans.</summary>
        [Description("how far beyond each edge of the data extrapolation is measured, in units of the data's span")]
        public double Reach { get; init; } = 1.0;

        /// <summary>The largest deviation from linear extrapolation that still counts as linear.</summary>
        [Threshold, Description("largest deviation from linear extrapolation, as a fraction of the targets' range, that counts as linear")]
        public double MaxDeviation { get; init; } = 0.05;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Points < 2 || Points > 10_000) yield return $"points must be between 2 and 10000, found {Points}";
            if (Width < 1 || Width > 4096) yield return $"width must be between 1 and 4096, found {Width}";
            if (Depth < 1 || Depth > 16) yield return $"depth must be between 1 and 16, found {Depth}";
            if (Steps < 0) yield return $"steps must be non-negative, found {Steps}";
            if (!(LearningRate > 0)) yield return $"learning_rate must be positive, found {LearningRate}";
            if (!(Reach > 0)) yield return $"reach must be positive, found {Reach}";
        }
    }

    /// <summary>The ReLU network (the claim's subject).</summary>
    public const string Relu = "relu";

    /// <summary>A tanh network trained identically: a control that is smooth, not piecewise linear.</summary>
    public const string Tanh = "tanh";

    /// <inheritdoc/>
    public override string Id => "relu-piecewise-linear";

    /// <inheritdoc/>
    /// <remarks>2: trained with Aperture.NN and Aperture.Optim instead of a hand-written MLP and Adam.</remarks>
    public override int Version => 2;

    /// <inheritdoc/>
    public override string Title => "ReLU nets are piecewise linear and extrapolate linearly";

    /// <inheritdoc/>
    public override string Claim =>
        "A ReLU network fit to 10 points of a sine is a piecewise-linear function, and beyond its training data it " +
        "continues along a straight line.";

    /// <inheritdoc/>
    public override string Method =>
        "An MLP (ReLU, and a tanh control trained identically) is fit to points of sin(x) with full-batch Adam. For the " +
        "ReLU net its linear pieces are found exactly: every unit's pre-activation is affine in x between breakpoints, so " +
        "each breakpoint is a root found analytically while walking along the line. Extrapolation is measured as the " +
        "largest gap, within one data span beyond either edge of the data, between the net and the straight line that " +
        "continues its slope at that edge, divided by the targets' range. The claim holds if the ReLU net's mean gap " +
        "(95% t-interval over seeds) lies below the pre-stated threshold.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("Everything I know about deep learning (II), blog post, 12 November 2021: \"nets are approximately piecewise linear\""),
        new("R. Arora, A. Basu, P. Mianjy, A. Mukherjee (2016), Understanding deep neural networks with rectified linear units", ArXiv: "1611.01491"),
        new("M. Telgarsky (2016), Benefits of depth in neural networks", ArXiv: "1602.04485"),
        new("K. Xu, M. Zhang, J. Li, S. Du, K. Kawarabayashi, S. Jegelka (2020), How neural networks extrapolate: from feedforward to graph neural networks", ArXiv: "2009.11848"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.PiecewiseLinearInterpolation.Predicts(Outcome.Held,
            "Past the last hinge nothing switches, so the net is one affine function there."),
        MentalModels.UniversalApproximator.Predicts(Outcome.DidNotHold,
            "Nothing ties the function off the data's range, so it may bend there as freely as a polynomial."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 8 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 30, Width = 64, Depth = 3, Steps = 6000, LearningRate = 0.005 };

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) => [Relu, Tanh];

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        var g = run.Generator;
        // The data: the same points for both arms of a seed (drawn first from the shared generator).
        var xs = Enumerable.Range(0, p.Points).Select(_ => -Math.PI + 2 * Math.PI * g.NextDouble()).Order().ToArray();
        var ys = xs.Select(Math.Sin).ToArray();
        // PyTorch's default Linear initialization, U(−1/√fan_in, 1/√fan_in) for weights and biases: with one input the
        // first layer's hinges −b/w spread over the line instead of piling up at 0, as zero biases would put them.
        var net = NN.Models.Mlp(1, [.. Enumerable.Repeat(p.Width, p.Depth)], 1, activation: run.Arm == Tanh ? "tanh" : "relu",
            generator: g, dtype: DType.Float64);
        var x = Tensor.FromArray(xs, [p.Points, 1]);
        var y = Tensor.FromArray(ys, [p.Points, 1]);
        var adam = new Adam(net.Parameters(), lr: p.LearningRate);
        for (int step = 0; step <= p.Steps; step++)
        {
            var loss = Losses.Mse(net.Forward(x), y);
            if (step % 10 == 0 || step == p.Steps) run.Log("train_loss", step, loss.Item());
            if (step == p.Steps) { run.Record("train_loss", loss.Item()); break; }
            adam.ZeroGrad();
            loss.Backward();
            adam.Step();
            if (step % 100 == 0) run.ReportProgress(step / (double)p.Steps);
        }

        double lo = xs[0], hi = xs[^1], span = hi - lo, yRange = ys.Max() - ys.Min();
        double Net(double v)
        {
            using var _ = Autodiff.NoGrad();
            return net.Forward(Tensor.FromArray([v], [1, 1])).Item();
        }
        var gap = Extrapolation(Net, lo, hi, p.Reach * span);
        run.Record("extrapolation_gap", Math.Max(gap.Left, gap.Right) / yRange);
        run.Record("extrapolation_gap_left", gap.Left / yRange);
        run.Record("extrapolation_gap_right", gap.Right / yRange);

        var grid = Enumerable.Range(0, 801).Select(i => lo - p.Reach * span + (1 + 2 * p.Reach) * span * i / 800.0).ToArray();
        double[]? hinges = null;
        if (run.Arm == Relu)
        {
            var pl = ExactPieces(net);
            hinges = [.. pl.Hinges];
            run.Record("pieces", pl.Pieces.Count);
            run.Record("activation_regions", pl.Regions.Count);
            run.Record("hinges_inside_data", hinges.Count(h => h >= lo && h <= hi));
            run.Record("hinges_beyond_data", hinges.Count(h => h < lo || h > hi));
            // How far past the data the net still bends, in data spans (0 when every hinge lies within the data).
            double beyond = hinges.Length == 0 ? 0 : Math.Max(Math.Max(0, lo - hinges.Min()), Math.Max(0, hinges.Max() - hi)) / span;
            run.Record("outermost_hinge_beyond_data", beyond);
            // The exact pieces must reproduce the network itself: a check on the analysis, in units of the targets' range.
            run.Record("pieces_reconstruction_error", grid.Max(v => Math.Abs(pl.Evaluate(v) - Net(v))) / yRange);
            // Beyond the outermost hinges the second differences vanish (to rounding).
            run.Record("second_difference_beyond_hinges", SecondDifferenceBeyond(Net, hinges, span) / yRange);
        }
        run.SaveArtifact("function.json", JsonSerializer.Serialize(new
        {
            train_x = xs, train_y = ys, grid_x = grid, grid_y = grid.Select(Net).ToArray(),
            hinges_x = hinges ?? [], hinges_y = (hinges ?? []).Select(Net).ToArray(),
        }));
        run.ReportProgress(1);
    }

    // The largest gap, within `reach` beyond each edge, between f and the line continuing f's slope at that edge.
    private static (double Left, double Right) Extrapolation(Func<double, double> f, double lo, double hi, double reach)
    {
        double h = 1e-6 * (hi - lo);
        double slopeRight = (f(hi) - f(hi - h)) / h, slopeLeft = (f(lo + h) - f(lo)) / h;
        double left = 0, right = 0;
        for (int i = 1; i <= 2000; i++)
        {
            double d = reach * i / 2000;
            right = Math.Max(right, Math.Abs(f(hi + d) - (f(hi) + slopeRight * d)));
            left = Math.Max(left, Math.Abs(f(lo - d) - (f(lo) - slopeLeft * d)));
        }
        return (left, right);
    }

    private static double SecondDifferenceBeyond(Func<double, double> f, double[] hinges, double span)
    {
        if (hinges.Length == 0) return 0;
        double worst = 0, h = span / 100;
        foreach (var start in new[] { hinges.Max(), hinges.Min() })
        {
            double sign = start == hinges.Max() ? 1 : -1;
            for (int i = 1; i <= 100; i++)
            {
                double x = start + sign * (h + i * h);
                worst = Math.Max(worst, Math.Abs(f(x + h) - 2 * f(x) + f(x - h)));
            }
        }
        return worst;
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        var relu = Estimate.Mean("ReLU extrapolation gap", runs.Results(Relu, "extrapolation_gap"));
        return Verdict.From(relu, Check.Below(relu, p.MaxDeviation))
            .WithExtra(
                Estimate.Mean("tanh extrapolation gap (control)", runs.Results(Tanh, "extrapolation_gap")),
                Estimate.MeanDifference("ReLU − tanh extrapolation gap (paired by seed)",
                    runs.Results(Relu, "extrapolation_gap"), runs.Results(Tanh, "extrapolation_gap")),
                Estimate.Mean("linear pieces (ReLU)", runs.Results(Relu, "pieces")),
                // Hinge positions are heavy-tailed (a first-layer hinge sits at −b/w): a bootstrap interval stays inside the data's range.
                Estimate.MeanBootstrap("hinges beyond the data (ReLU)", runs.Results(Relu, "hinges_beyond_data")),
                Estimate.MeanBootstrap("outermost hinge beyond the data, in spans (ReLU)", runs.Results(Relu, "outermost_hinge_beyond_data")),
                Estimate.Mean("max |pieces − net| / range (analysis check)", runs.Results(Relu, "pieces_reconstruction_error")));
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        foreach (int seed in runs.Seeds.Take(3))
        {
            using var relu = JsonDocument.Parse(runs.Get(Relu, seed).ReadArtifact("function.json"));
            using var tanh = JsonDocument.Parse(runs.Get(Tanh, seed).ReadArtifact("function.json"));
            double[] Get(JsonDocument d, string k) => d.RootElement.GetProperty(k).Deserialize<double[]>()!;
            var gx = Get(relu, "grid_x");
            var trainX = Get(relu, "train_x");
            // Hinges far beyond the plotted range would squash the plot: draw those inside it, and count the rest.
            var hx = Get(relu, "hinges_x");
            var hy = Get(relu, "hinges_y");
            var shown = Enumerable.Range(0, hx.Length).Where(i => hx[i] >= gx[0] && hx[i] <= gx[^1]).ToArray();
            int hidden = hx.Length - shown.Length;
            yield return new Figure($"fit-seed{seed}", $"Fits to sin(x), seed {seed}", "x", "y",
            [
                new Series("sin(x)", gx, [.. gx.Select(Math.Sin)], SeriesStyle.Dashed),
                new Series("tanh net", gx, Get(tanh, "grid_y")),
                new Series("ReLU net", gx, Get(relu, "grid_y")),
                new Series("ReLU hinges", [.. shown.Select(i => hx[i])], [.. shown.Select(i => hy[i])], SeriesStyle.Markers),
                new Series("training points", trainX, Get(relu, "train_y"), SeriesStyle.Markers),
            ], Caption: $"Grey lines mark the data's range; {hx.Length} hinges, {hidden} of them beyond the plotted range. The ReLU net is straight between hinges and straight beyond the outermost ones; the tanh net bends and flattens off the data.")
            {
                VerticalLines = [trainX.Min(), trainX.Max()],
            };
        }
    }

    // The exact pieces of the trained net: its Linear layers' weights [out, in] and biases, first to last.
    private static PiecewiseLinear ExactPieces(Module net)
    {
        var layers = net.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        var weights = layers.Select(l => l.GetParameter("weight")).Select(w =>
        {
            var flat = w.ToDoubleArray();
            int rows = w.Size(0), cols = w.Size(1);
            var m = new double[rows, cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) m[i, j] = flat[i * cols + j];
            return m;
        }).ToList();
        return PiecewiseLinear.Analyze(weights, [.. layers.Select(l => l.GetParameter("bias").ToDoubleArray())]);
    }
}
