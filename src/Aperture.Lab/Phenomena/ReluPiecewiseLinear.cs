using System.Text.Json;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// A ReLU net fit to a few points of a sine is piecewise linear; does it continue along a straight line beyond its data?
/// </summary>
[LogsMetric("train_loss", AxisKind.Step, "training loss (mean squared error)", Low = 0)]
public sealed class ReluPiecewiseLinear : Phenomenon<ReluPiecewiseLinear.Protocol, ReluPiecewiseLinear.Arm>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Number of training points.</summary>
        [Range(2, 10_000), Description("training points, x uniform in [−π, π], y = sin(x)")]
        public int Points { get; init; } = 10;

        /// <summary>Units per hidden layer.</summary>
        [Range(1, 4096), Description("units per hidden layer")]
        public int Width { get; init; } = 32;

        /// <summary>Number of hidden layers.</summary>
        [Range(1, 16), Description("hidden layers")]
        public int Depth { get; init; } = 2;

        /// <summary>Full-batch Adam steps of the trained arms.</summary>
        [Range(1, 1_000_000), Description("full-batch Adam steps on the mean squared error (trained arms)")]
        public int Steps { get; init; } = 2000;

        /// <summary>Adam's learning rate.</summary>
        [Range(1e-6, 10), Description("Adam learning rate")]
        public double LearningRate { get; init; } = 0.01;

        /// <summary>How far beyond the data each claim is judged, in data spans.</summary>
        [Range(0.01, 1000), Description("distances beyond each edge of the data at which straightness is judged, in data spans")]
        public double[] Distances { get; init; } = [1, 3, 10, 30];

        /// <summary>A deviation below this share of the net's own range supports "straight".</summary>
        // 5% of the function's own range over the window is about a line's width on a plot of it: straight to the eye.
        [Threshold, Range(0, 10), Description("supports 'continues straight' when the deviation from the edge lines, over the net's own range, lies below this")]
        public double StraightBelow { get; init; } = 0.05;

        /// <summary>A deviation above this share of the net's own range contradicts "straight".</summary>
        // A quarter of its own range is a bend anyone sees. The alternative (nothing pins the function off the data)
        // predicts bends of the order of the range; a tanh net that saturates off the data gives ≈ 1 or more.
        [Threshold, Range(0, 10), Description("contradicts 'continues straight' when the deviation over the net's own range lies above this")]
        public double BentAbove { get; init; } = 0.25;

        /// <summary>The ReLU net fits the data when its training MSE over the targets' variance lies below this.</summary>
        // R² ≥ 0.99. The claim is about a net fit to the data: an untrained net (≈ 1 here) must not pass it vacuously.
        [Threshold, Range(0, 10), Description("supports 'the net fits the data' when training MSE / variance of the targets lies below this")]
        public double FitBelow { get; init; } = 0.01;

        /// <summary>The ReLU net does not fit the data when its training MSE over the targets' variance lies above this.</summary>
        // R² < 0.9: the net misses the sine's shape on its own training points.
        [Threshold, Range(0, 10), Description("contradicts 'the net fits the data' when training MSE / variance of the targets lies above this")]
        public double UnfitAbove { get; init; } = 0.1;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Distances.Length == 0 || Distances.Zip(Distances.Skip(1)).Any(d => !(d.Second > d.First)))
                yield return $"distances must be a non-empty increasing list, found {string.Join(",", Distances)}";
            if (!(StraightBelow <= BentAbove)) yield return $"straight_below ({StraightBelow}) must not exceed bent_above ({BentAbove})";
            if (!(FitBelow <= UnfitAbove)) yield return $"fit_below ({FitBelow}) must not exceed unfit_above ({UnfitAbove})";
        }
    }

    /// <summary>The hidden units' nonlinearity: ReLU (piecewise linear) or tanh (smooth, saturating off the data).</summary>
    public enum Nonlinearity
    {
        /// <summary>max(0, x).</summary>
        Relu,
        /// <summary>tanh(x).</summary>
        Tanh,
    }

    /// <summary>One arm: the nonlinearity, and whether the net is trained or left at its initialization.</summary>
    /// <param name="Activation">The hidden units' nonlinearity.</param>
    /// <param name="Trained">Trained with Adam for <see cref="Protocol.Steps"/> steps, or left as initialized (a control).</param>
    public sealed record Arm(Nonlinearity Activation, bool Trained) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => (Activation == Nonlinearity.Relu ? "relu" : "tanh") + (Trained ? "" : "-untrained");
    }

    /// <summary>The trained ReLU net (the claim's subject).</summary>
    public static Arm Relu { get; } = new(Nonlinearity.Relu, Trained: true);

    /// <summary>A tanh net trained identically: smooth and saturating, so it must not pass as straight.</summary>
    public static Arm Tanh { get; } = new(Nonlinearity.Tanh, Trained: true);

    /// <summary>The ReLU net at its initialization (the trained arm's starting point): piecewise linear, yet not fit to the data.</summary>
    public static Arm Untrained { get; } = new(Nonlinearity.Relu, Trained: false);

    /// <inheritdoc/>
    public override string Id => "relu-piecewise-linear";

    /// <inheritdoc/>
    /// <remarks>3: straightness judged at stated distances (1, 3, 10, 30 data spans) against the net's own range, a fit requirement, an untrained arm, typed arms.</remarks>
    public override int Version => 3;

    /// <inheritdoc/>
    public override string Title => "ReLU nets are piecewise linear; do they extrapolate along a straight line?";

    /// <inheritdoc/>
    public override string Claim =>
        "A ReLU network fit to 10 points of a sine is a piecewise-linear function, and beyond its training data it " +
        "continues along a straight line.";

    /// <inheritdoc/>
    public override string Method =>
        "A ReLU MLP, a tanh MLP trained identically (control) and the ReLU MLP at its initialization are fit to points of sin(x) " +
        "with full-batch Adam. The ReLU net's pieces are exact (PiecewiseLinear.Of). At each distance R (data spans), the largest " +
        "deviation within R spans beyond either edge from the line continuing the net's slope at that edge, over the net's own " +
        "range on [lo − R·span, hi + R·span] (exact for ReLU, 4001 samples per stretch for tanh). Held if the ReLU net fits " +
        "(geometric-mean training MSE / variance of the targets below fit_below, t on the log scale), its mean relative deviation " +
        "(BCa) lies below straight_below at every R, and the tanh control's lies above bent_above at the first R; did not hold " +
        "if, Holm-adjusted, an interval lies beyond a contradicting margin. Reported beside: the share of seeds exactly linear " +
        "beyond R (outermost hinge within R spans, Clopper–Pearson) and the untrained net's values.";

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
    public override Protocol Quick => new() { Seeds = 16 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 40, Width = 64, Depth = 3, Steps = 6000, LearningRate = 0.005 };

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [Relu, Tanh, Untrained];

    private static string Key(string what, double r) => $"{what}_r{r.ToString("G6", CultureInfo.InvariantCulture)}";

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        var g = run.Generator;
        // Data, then weights: every arm of a seed sees the same points; the untrained arm is the ReLU arm's start.
        var xs = Enumerable.Range(0, p.Points).Select(_ => -Math.PI + 2 * Math.PI * g.NextDouble()).Order().ToArray();
        var ys = xs.Select(Math.Sin).ToArray();
        var net = NN.Models.Mlp(1, [.. Enumerable.Repeat(p.Width, p.Depth)], 1, activation: arm.Activation == Nonlinearity.Tanh ? "tanh" : "relu",
            generator: g, dtype: DType.Float64);
        Tensor x = Tensor.FromArray(xs, [p.Points, 1]), y = Tensor.FromArray(ys, [p.Points, 1]);
        var step = new TrainStep(net, new Adam(net.Parameters(), lr: p.LearningRate), (o, t) => Losses.Mse(o, t));
        for (int s = 0; arm.Trained && s < p.Steps; s++)
        {
            double loss = step.Run(x, y).Loss;
            if (s % 10 == 0) run.Log("train_loss", s, loss);
            if (s % 100 == 0) run.ReportProgress(s / (double)p.Steps);
        }
        double[] Net(double[] v) { using var _ = Autodiff.NoGrad(); return net.Forward(Tensor.FromArray(v, [v.Length, 1])).ToDoubleArray(); }
        double mean = ys.Average(), variance = ys.Average(v => (v - mean) * (v - mean));
        run.Record("relative_train_mse", Net(xs).Zip(ys, (f, t) => (f - t) * (f - t)).Average() / variance);

        double lo = xs[0], hi = xs[^1], span = hi - lo, reach = p.Distances[^1] * span;
        var grid = Enumerable.Range(0, 801).Select(i => lo - span + 3 * span * i / 800.0).ToArray();
        var pl = arm.Activation == Nonlinearity.Relu ? PiecewiseLinear.Of(net) : null;
        foreach (double r in p.Distances)
            run.Record(Key("deviation", r), (pl is not null ? EdgeExtrapolation.Of(pl, lo, hi, r * span) : EdgeExtrapolation.Sampled(Net, lo, hi, r * span)).Relative);
        double[] hinges = pl is null ? [] : [.. pl.Hinges];
        if (pl is not null)
        {
            run.Record("pieces", pl.Pieces.Count);
            run.Record("hinges_beyond_data", hinges.Count(h => h < lo || h > hi));
            // How far past the data the net still bends, in data spans (0 when every hinge lies within the data).
            run.Record("outermost_hinge_beyond_data", hinges.Length == 0 ? 0 : Math.Max(Math.Max(0, lo - hinges.Min()), Math.Max(0, hinges.Max() - hi)) / span);
            // The exact pieces must reproduce the network itself (a check on the analysis), relative to the net's range.
            var far = Enumerable.Range(0, 801).Select(i => lo - reach + (span + 2 * reach) * i / 800.0).Concat(grid).ToArray();
            var direct = Net(far);
            run.Record("pieces_reconstruction_error", far.Select((v, i) => Math.Abs(pl.Evaluate(v) - direct[i])).Max() / (direct.Max() - direct.Min()));
        }
        run.SaveArtifact("function.json", JsonSerializer.Serialize(new { train_x = xs, train_y = ys, grid_x = grid, grid_y = Net(grid),
            hinges_x = hinges, hinges_y = hinges.Length == 0 ? [] : Net(hinges) }));
        run.ReportProgress(1);
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        Estimate Deviation(Arm arm, double r) => Estimate.MeanBca(
            $"{arm.Name}: deviation within {r.ToString("G6", CultureInfo.InvariantCulture)} spans from its edge lines / own range", Unit.Ratio,
            runs.Results(arm.Name, Key("deviation", r)));
        var fit = Estimate.Ratio("relu: training MSE / variance of the targets", runs.Results(Relu.Name, "relative_train_mse"));
        var straight = p.Distances.Select(r => Deviation(Relu, r)).ToList();
        var control = Deviation(Tanh, p.Distances[0]);
        var checks = new List<Check> { Check.Below(fit, p.FitBelow, p.UnfitAbove) };
        checks.AddRange(straight.Select(e => Check.Below(e, p.StraightBelow, p.BentAbove)));
        checks.Add(Check.Above(control, p.BentAbove, p.StraightBelow));

        var extra = p.Distances.Select(r => Estimate.Share($"relu: seeds exactly linear beyond {r.ToString("G6", CultureInfo.InvariantCulture)} spans (outermost hinge within)",
                [.. runs.Results(Relu.Name, "outermost_hinge_beyond_data").Select(o => o <= r)])).ToList();
        extra.AddRange(p.Distances.Skip(1).Select(r => Deviation(Tanh, r)));
        extra.Add(Estimate.Ratio("relu-untrained: training MSE / variance of the targets", runs.Results(Untrained.Name, "relative_train_mse")));
        extra.AddRange(p.Distances.Select(r => Deviation(Untrained, r)));
        extra.Add(Estimate.Mean("relu: linear pieces", Unit.Count, runs.Results(Relu.Name, "pieces")));
        extra.Add(Estimate.Mean("relu: hinges beyond the data", Unit.Count, runs.Results(Relu.Name, "hinges_beyond_data")));
        extra.Add(Estimate.Mean("relu: max |pieces − net| / range (analysis check)", Unit.Ratio, runs.Results(Relu.Name, "pieces_reconstruction_error")));
        return Verdict.From(straight[0], [.. checks]).WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        foreach (int seed in runs.Seeds.Take(3))
        {
            JsonDocument Read(Arm arm) => JsonDocument.Parse(runs.Get(arm.Name, seed).ReadArtifact("function.json"));
            using JsonDocument relu = Read(Relu), tanh = Read(Tanh), untrained = Read(Untrained);
            double[] Get(JsonDocument d, string k) => d.RootElement.GetProperty(k).Deserialize<double[]>()!;
            double[] gx = Get(relu, "grid_x"), trainX = Get(relu, "train_x");
            // Hinges far beyond the plotted range would squash the plot: draw those inside it, and count the rest.
            double[] hx = Get(relu, "hinges_x"), hy = Get(relu, "hinges_y");
            var shown = Enumerable.Range(0, hx.Length).Where(i => hx[i] >= gx[0] && hx[i] <= gx[^1]).ToArray();
            yield return new Figure($"fit-seed{seed}", $"Fits to sin(x), seed {seed}", "x", "y",
            [
                new Series("sin(x)", gx, [.. gx.Select(Math.Sin)], SeriesStyle.Dashed),
                new Series("tanh net", gx, Get(tanh, "grid_y")),
                new Series("ReLU net", gx, Get(relu, "grid_y")),
                new Series("ReLU net, untrained", gx, Get(untrained, "grid_y"), SeriesStyle.Dashed),
                new Series("ReLU hinges", [.. shown.Select(i => hx[i])], [.. shown.Select(i => hy[i])], SeriesStyle.Markers),
                new Series("training points", trainX, Get(relu, "train_y"), SeriesStyle.Markers),
            ], Caption: $"Grey lines mark the data's range; the plot reaches one span beyond it. {hx.Length} hinges, {hx.Length - shown.Length} of them beyond the plotted range. The ReLU net is straight between hinges and beyond the outermost ones; the tanh net bends and flattens off the data.")
            { VerticalLines = [trainX.Min(), trainX.Max()] };
        }
    }
}
