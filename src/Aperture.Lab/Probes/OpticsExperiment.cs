using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// Random networks with given mean-field statistics, for <see cref="OpticsExperiment.Run"/>: <paramref name="Depth"/>
/// layers Linear(n → n) + activation, weights N(0, σ_w²/n_in), biases N(0, σ_b²), float64; inputs in pairs with
/// mean square <paramref name="InputSecondMoment"/> and correlation <paramref name="InputCorrelation"/>.
/// </summary>
/// <param name="Activation">tanh, ReLU or linear.</param>
/// <param name="WeightVariance">σ_w².</param>
/// <param name="BiasVariance">σ_b².</param>
/// <param name="Depth">Layers, each a Linear and its activation.</param>
/// <param name="Width">Units per layer, and the input's dimension.</param>
/// <param name="Pairs">Input pairs per network.</param>
/// <param name="InputSecondMoment">q⁰ = ‖x‖²/n₀ of the inputs (in expectation).</param>
/// <param name="InputCorrelation">c⁰ of each pair (in expectation).</param>
public sealed record OpticsSetup(MeanFieldActivation Activation, double WeightVariance, double BiasVariance, int Depth, int Width,
    int Pairs = 4, double InputSecondMoment = 1, double InputCorrelation = 0.5)
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!(WeightVariance >= 0) || !double.IsFinite(WeightVariance)) throw new ArgumentOutOfRangeException(nameof(WeightVariance), WeightVariance, "σ_w² must be a finite number ≥ 0");
        if (!(BiasVariance >= 0) || !double.IsFinite(BiasVariance)) throw new ArgumentOutOfRangeException(nameof(BiasVariance), BiasVariance, "σ_b² must be a finite number ≥ 0");
        if (Depth < 1) throw new ArgumentOutOfRangeException(nameof(Depth), Depth, "the depth must be at least 1");
        if (Width < 1) throw new ArgumentOutOfRangeException(nameof(Width), Width, "the width must be at least 1");
        if (Pairs < 1) throw new ArgumentOutOfRangeException(nameof(Pairs), Pairs, "at least one input pair is needed");
        if (!(InputSecondMoment > 0) || !double.IsFinite(InputSecondMoment)) throw new ArgumentOutOfRangeException(nameof(InputSecondMoment), InputSecondMoment, "the inputs' mean square must be positive and finite");
        if (!(Math.Abs(InputCorrelation) <= 1)) throw new ArgumentOutOfRangeException(nameof(InputCorrelation), InputCorrelation, "the inputs' correlation must lie in [−1, 1]");
    }
}

/// <summary>A quantity's mean over seeds, its standard error, and the mean-field prediction (averaged the same way).</summary>
/// <param name="Mean">The mean of the measured values over the seeds.</param>
/// <param name="StandardError">Their standard deviation over √seeds (NaN with one seed).</param>
/// <param name="Predicted">The recursion's value.</param>
public readonly record struct OpticsEstimate(double Mean, double StandardError, double Predicted)
{
    /// <summary>Mean/predicted.</summary>
    public double Ratio => Mean / Predicted;

    internal static OpticsEstimate Of(IEnumerable<OpticsValue> values)
    {
        var list = values.ToList();
        double mean = list.Average(v => v.Measured);
        double se = list.Count > 1 ? Math.Sqrt(list.Sum(v => (v.Measured - mean) * (v.Measured - mean)) / (list.Count - 1) / list.Count) : double.NaN;
        return new OpticsEstimate(mean, se, list.Average(v => v.Predicted));
    }
}

/// <summary>One layer of <see cref="OpticsExperiment"/>: each quantity of <see cref="OpticsLayer"/> over the seeds.</summary>
public sealed record OpticsSummaryLayer(int Layer, OpticsEstimate Q, OpticsEstimate C, OpticsEstimate ActiveFraction, OpticsEstimate SignalGain,
    OpticsEstimate GradientVariance, OpticsEstimate GradientGain);

/// <summary>
/// The optics of random networks measured beside theory: <see cref="Run"/> builds one network per seed with the
/// setup's statistics, traces it (<see cref="OpticsTrace.Measure"/> with the nominal σ_w², σ_b²), and averages.
/// </summary>
/// <param name="Setup">What was built.</param>
/// <param name="Point">The fixed-point analysis of (φ, σ_w², σ_b²).</param>
/// <param name="Layers">Per layer, over the seeds.</param>
/// <param name="JacobianMeanSquare">tr(JᵀJ)/n over the seeds beside Π χ (null when skipped).</param>
/// <param name="JacobianLargest">The largest singular value of J, per seed (empty when skipped).</param>
/// <param name="Traces">Each seed's trace.</param>
public sealed record OpticsExperiment(OpticsSetup Setup, MeanFieldPoint Point, IReadOnlyList<OpticsSummaryLayer> Layers,
    OpticsEstimate? JacobianMeanSquare, double[] JacobianLargest, IReadOnlyList<OpticsTrace> Traces)
{
    /// <summary>
    /// Measures <paramref name="seeds"/> random networks (seed s draws its weights and inputs from
    /// <c>new Generator(s)</c>). <paramref name="lanczosSteps"/> and <paramref name="jacobianProbes"/> as in
    /// <see cref="OpticsOptions"/> (0 and 0 skip the Jacobian). <paramref name="progress"/> hears each finished seed.
    /// </summary>
    public static OpticsExperiment Run(OpticsSetup setup, int seeds, int lanczosSteps = 16, int jacobianProbes = 4,
        Action<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(setup);
        setup.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(seeds, 1);
        var traces = new List<OpticsTrace>();
        for (int s = 0; s < seeds; s++)
        {
            cancel.ThrowIfCancellationRequested();
            var g = new Generator((ulong)s);
            var net = RandomNetwork(setup, g);
            var x = PairedInputs(setup, g);
            traces.Add(OpticsTrace.Measure(net, x, new OpticsOptions((setup.WeightVariance, setup.BiasVariance), null, lanczosSteps, jacobianProbes, (ulong)s)));
            progress?.Invoke(s + 1);
        }
        var layers = Enumerable.Range(0, setup.Depth).Select(l => new OpticsSummaryLayer(l + 1,
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].Q)),
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].C)),
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].ActiveFraction)),
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].SignalGain)),
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].GradientVariance)),
            OpticsEstimate.Of(traces.Select(t => t.Layers[l].GradientGain)))).ToList();
        bool jac = traces[0].Jacobian is not null;
        return new OpticsExperiment(setup, MeanField.Analyze(setup.Activation, setup.WeightVariance, setup.BiasVariance), layers,
            jac && jacobianProbes > 0 ? OpticsEstimate.Of(traces.Select(t => t.Jacobian!.MeanSquaredSingularValue)) : null,
            jac ? [.. traces.Select(t => t.Jacobian!.Largest)] : [], traces);
    }

    /// <summary>
    /// The report figures: per layer, the measured q^l, c^l and gradient variance (markers, mean over networks) beside
    /// the recursion (line).
    /// </summary>
    public IReadOnlyList<Figure> Figures()
    {
        double[] layer = [.. Layers.Select(l => (double)l.Layer)];
        var s = Setup;
        string title = $"{s.Activation.ToString().ToLowerInvariant()}, σ_w² = {s.WeightVariance}, σ_b² = {s.BiasVariance}, width {s.Width}, {Traces.Count} networks";
        Figure Of(string name, string label, Func<OpticsSummaryLayer, OpticsEstimate> pick, bool logY, string caption) => new(name, title, "layer", label,
            [new Series("mean-field recursion", layer, [.. Layers.Select(l => pick(l).Predicted)], SeriesStyle.Line),
             new Series("measured", layer, [.. Layers.Select(l => pick(l).Mean)], SeriesStyle.Markers)], LogY: logY, Caption: caption);
        return
        [
            Of("optics-q", "q^l (pre-activation variance)", l => l.Q, false, "The variance map: q^l approaches q* within a few ξ_q."),
            Of("optics-c", "c^l (correlation of an input pair)", l => l.C, false, "The correlation map: c^l approaches c* over ξ_c layers."),
            Of("optics-gradient", "gradient variance at h^l", l => l.GradientVariance, true, "Backward, the gradient's variance gains χ per layer."),
        ];
    }

    /// <summary>Draws <see cref="Figures"/> as PNGs into <paramref name="directory"/> (created if missing) and returns their paths.</summary>
    public IReadOnlyList<string> SaveFigures(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        var paths = new List<string>();
        foreach (var f in Figures())
        {
            string path = Path.Combine(directory, f.Name + ".png");
            Report.PlotRenderer.Render(f, path);
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>
    /// A random network with the setup's statistics, drawn from <paramref name="generator"/> layer by layer (weight,
    /// then bias): a Sequential of Linear(n → n) with weights N(0, σ_w²/n) and biases N(0, σ_b²), each followed by
    /// the activation (none for linear), in float64.
    /// </summary>
    public static Sequential RandomNetwork(OpticsSetup setup, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(generator);
        setup.Validate();
        var net = new Sequential();
        for (int l = 0; l < setup.Depth; l++)
        {
            double wsd = Math.Sqrt(setup.WeightVariance / setup.Width), bsd = Math.Sqrt(setup.BiasVariance);
            net.Append(new Linear(setup.Width, setup.Width,
                weightInit: wsd > 0 ? Init.Normal(0, wsd) : Init.Zeros(),
                biasInit: bsd > 0 ? Init.Normal(0, bsd) : Init.Zeros(),
                generator: generator, dtype: DType.Float64));
            switch (setup.Activation)
            {
                case MeanFieldActivation.Tanh: net.Append(new Tanh()); break;
                case MeanFieldActivation.Relu: net.Append(new ReLU()); break;
            }
        }
        return net;
    }

    /// <summary>
    /// Input pairs [2·Pairs, Width], float64: x_a = √q⁰·g₁ and x_b = √q⁰·(c⁰·g₁ + √(1 − c⁰²)·g₂) with g standard normal,
    /// so each pair has mean square q⁰ and correlation c⁰ in expectation (the trace uses the sample values).
    /// </summary>
    public static Tensor PairedInputs(OpticsSetup setup, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(generator);
        setup.Validate();
        int n = setup.Width;
        var g = Tensor.Randn([setup.Pairs, 2, n], generator, DType.Float64).ToDoubleArray();
        var x = new double[2 * setup.Pairs * n];
        double s = Math.Sqrt(setup.InputSecondMoment), c = setup.InputCorrelation, o = Math.Sqrt(1 - c * c);
        for (int p = 0; p < setup.Pairs; p++)
            for (int j = 0; j < n; j++)
            {
                double g1 = g[(2 * p) * n + j], g2 = g[(2 * p + 1) * n + j];
                x[(2 * p) * n + j] = s * g1;
                x[(2 * p + 1) * n + j] = s * (c * g1 + o * g2);
            }
        return Tensor.FromArray(x, [2 * setup.Pairs, n]);
    }
}
