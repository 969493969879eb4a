using System.ComponentModel;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// In a deep net the initial weights' scale decides whether gradients survive the trip back to the first layer:
/// naive scales make them vanish or explode geometrically with depth, Xavier (tanh) and He (ReLU) keep them bounded,
/// and a constant initialization never breaks the symmetry between hidden units.
/// </summary>
public sealed class InitScale : Phenomenon<InitScale.Protocol>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Hidden layers of the deep nets measured at initialization.</summary>
        [Description("hidden layers of the deep MLPs measured at initialization")]
        public int Depth { get; init; } = 30;

        /// <summary>Units per hidden layer.</summary>
        [Description("units per hidden layer")]
        public int Width { get; init; } = 256;

        /// <summary>Images per class in the batch the gradients are measured on.</summary>
        [Description("Fashion-MNIST training images per class in the batch the gradients are measured on")]
        public int ImagesPerClass { get; init; } = 12;

        /// <summary>Standard deviation of the small-Gaussian initialization.</summary>
        [Description("standard deviation of the small-Gaussian initialization (0.01, as in AlexNet)")]
        public double SmallStd { get; init; } = 0.01;

        /// <summary>Standard deviation of the unit-Gaussian initialization.</summary>
        [Description("standard deviation of the unit-Gaussian initialization")]
        public double UnitStd { get; init; } = 1.0;

        /// <summary>Hidden layers of the constant-initialized net that is trained.</summary>
        [Description("hidden layers of the constant-initialized tanh net that is trained")]
        public int ConstantHiddenLayers { get; init; } = 3;

        /// <summary>Units per hidden layer of the constant-initialized net.</summary>
        // 100 is not a multiple of any SIMD width, so the kernels' tail paths are part of what is tested.
        [Description("units per hidden layer of the constant-initialized net")]
        public int ConstantWidth { get; init; } = 100;

        /// <summary>The value every weight of the constant-initialized net starts at (biases start at 0).</summary>
        [Description("the value every weight of the constant-initialized net starts at (biases start at 0)")]
        public double ConstantValue { get; init; } = 0.01;

        /// <summary>SGD steps of the constant-initialized net.</summary>
        [Description("SGD steps of the constant-initialized net")]
        public int ConstantSteps { get; init; } = 200;

        /// <summary>SGD learning rate of the constant-initialized net.</summary>
        [Description("SGD learning rate of the constant-initialized net")]
        public double ConstantLearningRate { get; init; } = 0.1;

        /// <summary>Minibatch size of the constant-initialized net.</summary>
        [Description("minibatch size of the constant-initialized net")]
        public int ConstantBatchSize { get; init; } = 50;

        /// <summary>Training images per class of the constant-initialized net.</summary>
        [Description("Fashion-MNIST training images per class the constant-initialized net trains on")]
        public int ConstantPerClass { get; init; } = 100;

        /// <summary>How many decades a naive initialization must move the gradient across depth.</summary>
        // Mean-field theory (the variance recursions of Glorot and Bengio, He et al. and Poole et al.) predicts, at depth
        // 30 and width 256, about −23 decades for a 0.01 Gaussian with tanh, −27 with ReLU, +14 for a unit Gaussian with
        // tanh and +31 with ReLU. Three decades (a factor of 1000) is far inside all of them and far outside the
        // finite-width noise (a few tenths of a decade), so it tests the direction and the geometric trend, not the exact rate.
        [Threshold, Description("a naive initialization must move the back-propagated gradient by more than this many decades between the first and last hidden layer (small: down, unit: up)")]
        public double NaiveMinDecades { get; init; } = 3;

        /// <summary>How many decades a principled initialization may move the gradient across depth.</summary>
        // He with ReLU keeps the per-layer gain at exactly 1 in expectation (prediction 0). Xavier with tanh sits at the
        // edge of chaos (σ_w² = 1): the pre-activation variance decays like 1/(2l), so the gradient declines as a power
        // law, about 0.9 decades at depth 30 and 1.0 at depth 50 by the same recursions. Finite width adds ~0.2 decades of
        // noise. 1.5 decades holds both with room, and is an order of magnitude below the naive arms' change.
        [Threshold, Description("Xavier (tanh) and He (ReLU) must keep the first/last back-propagated gradient ratio within this many decades of 1")]
        public double PrincipledMaxDecades { get; init; } = 1.5;

        /// <summary>The largest difference between hidden units of a layer that counts as symmetric.</summary>
        // The claim is exact: identical units receive identical updates, in any arithmetic that computes every unit the
        // same way. Aperture's kernels accumulate every output in the same order, so the difference must be exactly 0.
        [Threshold, Description("largest difference between two hidden units of a layer (weights, biases, activations) after training from a constant initialization")]
        public double MaxUnitDifference { get; init; } = 0;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (Depth < 2 || Depth > 200) yield return $"depth must be between 2 and 200, found {Depth}";
            if (Width < 2 || Width > 4096) yield return $"width must be between 2 and 4096, found {Width}";
            if (ImagesPerClass < 1 || ImagesPerClass > 600) yield return $"images_per_class must be between 1 and 600, found {ImagesPerClass}";
            if (!(SmallStd > 0) || !(UnitStd > 0)) yield return $"small_std and unit_std must be positive, found {SmallStd} and {UnitStd}";
            if (!(SmallStd < UnitStd)) yield return $"small_std ({SmallStd}) must be below unit_std ({UnitStd})";
            if (ConstantHiddenLayers < 1 || ConstantHiddenLayers > 50) yield return $"constant_hidden_layers must be between 1 and 50, found {ConstantHiddenLayers}";
            if (ConstantWidth < 2 || ConstantWidth > 4096) yield return $"constant_width must be between 2 and 4096 (symmetry needs two units), found {ConstantWidth}";
            if (!double.IsFinite(ConstantValue) || ConstantValue == 0) yield return $"constant_value must be finite and non-zero (zero weights pass no gradient to hidden layers), found {ConstantValue}";
            if (ConstantSteps < 1) yield return $"constant_steps must be positive, found {ConstantSteps}";
            if (!(ConstantLearningRate > 0)) yield return $"constant_learning_rate must be positive, found {ConstantLearningRate}";
            if (ConstantPerClass < 1 || ConstantPerClass > 600) yield return $"constant_per_class must be between 1 and 600, found {ConstantPerClass}";
            if (ConstantBatchSize < 1 || ConstantBatchSize > 10 * ConstantPerClass)
                yield return $"constant_batch_size must be between 1 and the training sample (10 × constant_per_class = {10 * ConstantPerClass}), found {ConstantBatchSize}";
        }
    }

    /// <summary>N(0, small_std²) weights, tanh.</summary>
    public const string SmallTanh = "small-gaussian-tanh";
    /// <summary>N(0, unit_std²) weights, tanh.</summary>
    public const string UnitTanh = "unit-gaussian-tanh";
    /// <summary>Glorot and Bengio's normalized initialization (variance 2/(fan_in + fan_out)), tanh.</summary>
    public const string XavierTanh = "xavier-tanh";
    /// <summary>N(0, small_std²) weights, ReLU.</summary>
    public const string SmallRelu = "small-gaussian-relu";
    /// <summary>N(0, unit_std²) weights, ReLU.</summary>
    public const string UnitRelu = "unit-gaussian-relu";
    /// <summary>He et al.'s initialization (variance 2/fan_in), ReLU.</summary>
    public const string HeRelu = "he-relu";
    /// <summary>Xavier with ReLU: the mismatch He et al. point out (reported, not judged).</summary>
    public const string XavierRelu = "xavier-relu";
    /// <summary>Every weight the same constant, tanh, trained with SGD.</summary>
    public const string Constant = "constant-tanh";

    /// <summary>The arms measured at initialization (every arm but <see cref="Constant"/>).</summary>
    public static IReadOnlyList<string> InitArms { get; } = [SmallTanh, UnitTanh, XavierTanh, SmallRelu, UnitRelu, HeRelu, XavierRelu];

    /// <inheritdoc/>
    public override string Id => "init-scale";

    /// <inheritdoc/>
    public override string Title => "Initialization scale: vanishing and exploding gradients, and symmetry";

    /// <inheritdoc/>
    public override string Claim =>
        "In an MLP 30 to 50 hidden layers deep, back-propagated gradients vanish or explode geometrically with depth " +
        "under a naive Gaussian initialization but stay within a bounded ratio under Xavier (tanh) and He (ReLU) " +
        "initialization; and with a constant initialization the hidden units of a layer stay identical through training.";

    /// <inheritdoc/>
    public override string Method =>
        "Deep MLPs (784 → width × depth → 10, zero biases) are built in float64 with each initialization and run forward " +
        "and backward once on a stratified batch of standardized Fashion-MNIST training images with the cross-entropy " +
        "loss. Forward hooks capture every hidden layer's pre-activations and outputs; Autodiff.Grad gives the gradient of " +
        "the loss with respect to each pre-activation (the back-propagated signal) and each weight. All arms of a seed use " +
        "the same batch and the same standard-normal draws, scaled. Norms are computed in float64 (float32 would under- or " +
        "overflow at these depths). Per seed, the verdict reads log10(‖∂L/∂z₁‖ / ‖∂L/∂z_L‖) between the first and last " +
        "hidden layer: naive arms must move it beyond a pre-stated number of decades in the predicted direction, Xavier and " +
        "He must keep it within a band around 0 (95% t-intervals over seeds). Separately, a tanh MLP whose weights all " +
        "start at one constant is trained with minibatch SGD (no dropout or other per-unit noise); the largest difference " +
        "between any two hidden units of a layer — incoming weights, biases, and activations on the training sample — " +
        "must stay exactly 0 in every seed.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("X. Glorot, Y. Bengio (2010), Understanding the difficulty of training deep feedforward neural networks, AISTATS",
            Url: "https://proceedings.mlr.press/v9/glorot10a.html"),
        new("K. He, X. Zhang, S. Ren, J. Sun (2015), Delving deep into rectifiers: surpassing human-level performance on ImageNet classification", ArXiv: "1502.01852"),
        new("B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli (2016), Exponential expressivity in deep neural networks through transient chaos", ArXiv: "1606.05340"),
        new("Lecture 3: Deep neural nets, course notes, 31 January 2021: vanishing/exploding gradients, symmetry breaking, Xavier initialization"),
        new("B. Recht (2018), blog post: \"Phenomenon: A random initializer for SGD is good enough\""),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.SignalPropagation.Predicts(Outcome.Held,
            "Each layer multiplies the gradient by about √(n·Var(w)·E[φ'²]); naive scales put that far from 1, Xavier and He put it at 1, and identical units get identical updates."),
        MentalModels.RandomInitSuffices.Predicts(Outcome.DidNotHold,
            "If only randomness mattered, every random draw would train alike and the scale would not decide whether gradients reach the first layer."),
    ];

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 5 };

    /// <inheritdoc/>
    public override Protocol Full => new()
    {
        Seeds = 10,
        Depth = 50,
        Width = 512,
        ImagesPerClass = 20,
        ConstantHiddenLayers = 5,
        ConstantSteps = 1000,
    };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ArmNames(Protocol p) => [.. InitArms, Constant];

    /// <summary>The activation and weight initializer of an arm measured at initialization.</summary>
    public static (string Activation, Initializer Weights) Spec(Protocol p, string arm) => arm switch
    {
        SmallTanh => ("tanh", Init.Normal(0, p.SmallStd)),
        UnitTanh => ("tanh", Init.Normal(0, p.UnitStd)),
        XavierTanh => ("tanh", Init.XavierNormal()),
        SmallRelu => ("relu", Init.Normal(0, p.SmallStd)),
        UnitRelu => ("relu", Init.Normal(0, p.UnitStd)),
        HeRelu => ("relu", Init.HeNormal()),
        XavierRelu => ("relu", Init.XavierNormal()),
        _ => throw new ArgumentException($"init-scale: unknown arm '{arm}'; expected one of {string.Join(", ", InitArms)} or {Constant}"),
    };

    /// <inheritdoc/>
    public override void Run(Protocol p, RunContext run)
    {
        if (run.Arm == Constant) RunConstant(p, run);
        else RunAtInit(p, run);
    }

    private static void RunAtInit(Protocol p, RunContext run)
    {
        var g = run.Generator;
        // The batch first, then the weights: every arm of a seed sees the same images and the same normal draws.
        var sample = LabData.FlatSample(run.Data.FashionMnist.Train, p.ImagesPerClass, g, "images_per_class");
        var (batch, _) = LabData.Standardize(sample, sample);
        var x = batch.Inputs.To(DType.Float64);
        var (activation, weights) = Spec(p, run.Arm);
        var net = NN.Models.Mlp(LabData.Pixels, [.. Enumerable.Repeat(p.Width, p.Depth)], 10, activation,
            weightInit: weights, biasInit: Init.Zeros(), generator: g, dtype: DType.Float64);
        var profile = Profile(net, x, batch.Targets);
        run.ReportProgress(0.9);

        for (int l = 0; l < p.Depth; l++)
        {
            run.Log("log10_backprop_gradient", l + 1, profile.PreActivationGradient[l]);
            run.Log("log10_activation_std", l + 1, profile.ActivationStd[l]);
        }
        for (int l = 0; l < profile.WeightGradient.Length; l++) run.Log("log10_weight_gradient", l + 1, profile.WeightGradient[l]);

        double[] layers = [.. Enumerable.Range(1, p.Depth).Select(l => (double)l)];
        run.Record("log10_gradient_ratio", profile.PreActivationGradient[0] - profile.PreActivationGradient[p.Depth - 1]);
        run.Record("gradient_decades_per_layer", Statistics.Stats.LinearFit(layers, profile.PreActivationGradient).Slope);
        run.Record("log10_activation_ratio", profile.ActivationStd[p.Depth - 1] - profile.ActivationStd[0]);
        run.Record("log10_weight_gradient_ratio", profile.WeightGradient[0] - profile.WeightGradient[p.Depth - 1]);
        run.Record("log10_gradient_first", profile.PreActivationGradient[0]);
        run.Record("log10_gradient_last", profile.PreActivationGradient[p.Depth - 1]);
        run.Record("loss", profile.Loss);
        run.ReportProgress(1);
    }

    /// <summary>Per-layer log10 norms of one forward and backward pass.</summary>
    /// <param name="PreActivationGradient">log10 ‖∂L/∂z_l‖ for each hidden layer's pre-activation z_l.</param>
    /// <param name="ActivationStd">log10 of the standard deviation of each hidden layer's output.</param>
    /// <param name="WeightGradient">log10 ‖∂L/∂W_l‖ for every Linear layer, the output layer last.</param>
    /// <param name="Loss">The loss.</param>
    public sealed record LayerProfile(double[] PreActivationGradient, double[] ActivationStd, double[] WeightGradient, double Loss);

    /// <summary>
    /// Runs <paramref name="net"/> (a <see cref="Sequential"/> of Linear layers and activations) once on a batch and
    /// returns, per hidden layer, log10 of the back-propagated gradient's norm at its pre-activation and of its output's
    /// standard deviation, and per Linear layer log10 of its weight gradient's norm, all computed in float64.
    /// </summary>
    public static LayerProfile Profile(Sequential net, Tensor x, Tensor labels)
    {
        var modules = net.NamedModules().Skip(1).Select(m => m.Module).ToList();
        var linears = modules.OfType<Linear>().ToList();
        int hidden = linears.Count - 1;
        var pre = new Tensor?[linears.Count];
        var post = new Tensor?[hidden];
        var handles = new List<HookHandle>();
        for (int i = 0; i < linears.Count; i++)
        {
            int at = i;
            handles.Add(linears[i].RegisterForwardHook((_, _, output) => { pre[at] = output; return null; }));
            // The module right after a hidden Linear is its activation.
            if (i < hidden)
                handles.Add(modules[modules.IndexOf(linears[i]) + 1].RegisterForwardHook((_, _, output) => { post[at] = output; return null; }));
        }
        try
        {
            var loss = Losses.CrossEntropy(net.Forward(x), labels);
            var weights = linears.Select(l => l.GetParameter("weight")).ToList();
            var grads = Autodiff.Grad([loss], [.. pre.Take(hidden).Select(t => t!), .. weights]);
            return new LayerProfile(
                [.. grads.Take(hidden).Select(t => Log10Norm(t!.ToDoubleArray()))],
                [.. post.Select(t => Log10Std(t!.ToDoubleArray()))],
                [.. grads.Skip(hidden).Select(t => Log10Norm(t!.ToDoubleArray()))],
                loss.Item());
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
        }
    }

    /// <summary>log10 of the Euclidean norm, scaled by the largest magnitude first so that no square under- or overflows (−∞ for all zeros).</summary>
    public static double Log10Norm(ReadOnlySpan<double> v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        if (m == 0 || !double.IsFinite(m)) return m == 0 ? double.NegativeInfinity : double.NaN;
        double s = 0;
        foreach (double e in v) s += (e / m) * (e / m);
        return Math.Log10(m) + 0.5 * Math.Log10(s);
    }

    /// <summary>log10 of the population standard deviation, scaled like <see cref="Log10Norm"/> (−∞ when constant).</summary>
    public static double Log10Std(ReadOnlySpan<double> v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        if (m == 0 || !double.IsFinite(m)) return m == 0 ? double.NegativeInfinity : double.NaN;
        double mean = 0;
        foreach (double e in v) mean += e / m;
        mean /= v.Length;
        double s = 0;
        foreach (double e in v) s += (e / m - mean) * (e / m - mean);
        return s == 0 ? double.NegativeInfinity : Math.Log10(m) + 0.5 * Math.Log10(s / v.Length);
    }

    private static void RunConstant(Protocol p, RunContext run)
    {
        var g = run.Generator;
        var sample = LabData.FlatSample(run.Data.FashionMnist.Train, p.ConstantPerClass, g, "constant_per_class");
        var (train, _) = LabData.Standardize(sample, sample);
        // No dropout or any other per-unit noise: nothing but the initialization could tell two hidden units apart.
        var net = NN.Models.Mlp(LabData.Pixels, [.. Enumerable.Repeat(p.ConstantWidth, p.ConstantHiddenLayers)], 10, "tanh",
            weightInit: Init.Constant(p.ConstantValue), biasInit: Init.Zeros(), generator: g);
        var hidden = net.NamedModules().Select(m => m.Module).OfType<Linear>().SkipLast(1).ToList();
        var initial = hidden.Select(l => l.GetParameter("weight").ToDoubleArray()).ToList();
        var loader = new DataLoader(train, p.ConstantBatchSize, shuffle: true, generator: g.Fork(), dropLast: true);
        var sgd = new SGD(net.Parameters(), lr: p.ConstantLearningRate);

        double worst = 0;
        double Measure(int step)
        {
            double d = hidden.Max(UnitDifference);
            run.Log("max_unit_difference", step, d);
            worst = Math.Max(worst, d);
            return d;
        }
        double initialLoss = EvaluateLoss(net, train);
        Measure(0);
        int t = 0;
        while (t < p.ConstantSteps)
        {
            foreach (var (x, y) in loader)
            {
                var loss = Losses.CrossEntropy(net.Forward(x), y);
                run.Log("train_loss", t, loss.Item());
                sgd.ZeroGrad();
                loss.Backward();
                sgd.Step();
                t++;
                if (t % 10 == 0 || t == p.ConstantSteps) Measure(t);
                if (t % 20 == 0) run.ReportProgress(t / (double)p.ConstantSteps);
                if (t >= p.ConstantSteps) break;
            }
        }

        // The units' outputs on the whole training sample, layer by layer.
        double activationDifference = 0;
        using (Autodiff.NoGrad())
        {
            var outputs = new List<Tensor>();
            var modules = net.NamedModules().Skip(1).Select(m => m.Module).ToList();
            var handles = hidden.Select(l => modules[modules.IndexOf(l) + 1].RegisterForwardHook((_, _, o) => { outputs.Add(o); return null; })).ToList();
            net.Forward(train.Inputs);
            foreach (var h in handles) h.Dispose();
            foreach (var o in outputs) activationDifference = Math.Max(activationDifference, ColumnSpread(o.ToDoubleArray(), o.Shape[1]));
        }
        double moved = 0;
        for (int i = 0; i < hidden.Count; i++)
        {
            var w = hidden[i].GetParameter("weight").ToDoubleArray();
            for (int j = 0; j < w.Length; j++) moved = Math.Max(moved, Math.Abs(w[j] - initial[i][j]));
        }
        run.Record("max_unit_difference", Math.Max(worst, activationDifference));
        run.Record("max_weight_unit_difference", worst);
        run.Record("max_activation_unit_difference", activationDifference);
        run.Record("distinct_units", hidden.Max(DistinctUnits));
        run.Record("max_weight_change", moved);
        run.Record("initial_loss", initialLoss);
        run.Record("final_loss", EvaluateLoss(net, train));
        run.ReportProgress(1);
    }

    /// <summary>The largest difference between any hidden unit of <paramref name="layer"/> and its first unit: incoming weights and bias.</summary>
    public static double UnitDifference(Linear layer)
    {
        var w = layer.GetParameter("weight");
        int units = w.Size(0), inputs = w.Size(1);
        double d = RowSpread(w.ToDoubleArray(), units, inputs);
        if (layer.NamedParameters().Any(np => np.Name == "bias"))
            d = Math.Max(d, RowSpread(layer.GetParameter("bias").ToDoubleArray(), units, 1));
        return d;
    }

    /// <summary>How many different incoming weight rows (with biases) the layer's units have.</summary>
    public static int DistinctUnits(Linear layer)
    {
        var w = layer.GetParameter("weight");
        int units = w.Size(0), inputs = w.Size(1);
        var flat = w.ToDoubleArray();
        var bias = layer.NamedParameters().Any(np => np.Name == "bias") ? layer.GetParameter("bias").ToDoubleArray() : new double[units];
        return Enumerable.Range(0, units)
            .Select(i => string.Join(",", flat.Skip(i * inputs).Take(inputs).Append(bias[i]).Select(BitConverter.DoubleToInt64Bits)))
            .Distinct().Count();
    }

    // max over rows i and columns j of |m[i, j] − m[0, j]| for a row-major [rows, cols] matrix.
    private static double RowSpread(double[] m, int rows, int cols)
    {
        double d = 0;
        for (int i = 1; i < rows; i++)
            for (int j = 0; j < cols; j++) d = Math.Max(d, Math.Abs(m[i * cols + j] - m[j]));
        return d;
    }

    // max over examples n and columns j of |a[n, j] − a[n, 0]| for a row-major [examples, cols] matrix.
    private static double ColumnSpread(double[] a, int cols)
    {
        double d = 0;
        for (int n = 0; n < a.Length / cols; n++)
            for (int j = 1; j < cols; j++) d = Math.Max(d, Math.Abs(a[n * cols + j] - a[n * cols]));
        return d;
    }

    private static double EvaluateLoss(Module net, TensorDataset data)
    {
        using var _ = Autodiff.NoGrad();
        return Losses.CrossEntropy(net.Forward(data.Inputs), data.Targets).Item();
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        // δ_l = ∂L/∂z_l, the back-propagated gradient at hidden layer l's pre-activation.
        Estimate Ratio(string arm) => Estimate.Mean($"{arm}: log10 ‖δ₁‖/‖δ_L‖", runs.Results(arm, "log10_gradient_ratio"));
        var smallTanh = Ratio(SmallTanh);
        var unitTanh = Ratio(UnitTanh);
        var xavierTanh = Ratio(XavierTanh);
        var smallRelu = Ratio(SmallRelu);
        var unitRelu = Ratio(UnitRelu);
        var heRelu = Ratio(HeRelu);
        // An exact claim: the largest difference over all seeds, with no sampling interval to speak of.
        double worst = runs.Results(Constant, "max_unit_difference").Max();
        var symmetry = new Estimate($"{Constant}: largest difference between hidden units (any seed)",
            worst, worst, worst, runs.Seeds.Count, "maximum over seeds (an exact claim)");
        var extra = new List<Estimate>
        {
            Ratio(XavierRelu),
            Estimate.MeanDifference($"{XavierTanh} − {SmallTanh}: log10 ‖δ₁‖/‖δ_L‖ (paired)", runs.Results(XavierTanh, "log10_gradient_ratio"), runs.Results(SmallTanh, "log10_gradient_ratio")),
        };
        foreach (var arm in InitArms)
            extra.Add(Estimate.Mean($"{arm}: log10 std(h_L)/std(h₁)", runs.Results(arm, "log10_activation_ratio")));
        foreach (var arm in InitArms)
            extra.Add(Estimate.Mean($"{arm}: log10 ‖∂L/∂W₁‖/‖∂L/∂W_L‖", runs.Results(arm, "log10_weight_gradient_ratio")));
        extra.Add(Estimate.Mean($"{Constant}: largest weight change in training", runs.Results(Constant, "max_weight_change")));
        extra.Add(Estimate.Mean($"{Constant}: training loss before", runs.Results(Constant, "initial_loss")));
        extra.Add(Estimate.Mean($"{Constant}: training loss after", runs.Results(Constant, "final_loss")));
        return Verdict.From(smallTanh,
                Check.Below(smallTanh, -p.NaiveMinDecades),
                Check.Above(unitTanh, p.NaiveMinDecades),
                Check.Below(smallRelu, -p.NaiveMinDecades),
                Check.Above(unitRelu, p.NaiveMinDecades),
                Check.Within(xavierTanh, -p.PrincipledMaxDecades, p.PrincipledMaxDecades),
                Check.Within(heRelu, -p.PrincipledMaxDecades, p.PrincipledMaxDecades),
                Check.Below(symmetry, p.MaxUnitDifference))
            .WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        double[] MeanProfile(string arm, string key)
        {
            var curves = runs.Seeds.Select(s => runs.Get(arm, s).Metrics[key].Select(q => q.Value).ToArray()).ToList();
            return [.. Enumerable.Range(0, curves[0].Length).Select(i => curves.Average(c => c[i]))];
        }
        var layers = Enumerable.Range(1, p.Depth).Select(l => (double)l).ToArray();
        var grad = InitArms.Select(arm =>
        {
            var m = MeanProfile(arm, "log10_backprop_gradient");
            return new Series(arm, layers, [.. m.Select(v => v - m[^1])], SeriesStyle.LineAndMarkers);
        }).ToList();
        yield return new Figure("gradient-by-layer", "Back-propagated gradient by layer, relative to the last hidden layer",
            "hidden layer (1 = next to the input)", "log10 ‖∂L/∂z_l‖ − log10 ‖∂L/∂z_L‖", grad,
            Caption: $"Mean over seeds. Straight lines are geometric trends: naive scales lose or gain decades per layer, while Xavier (tanh) and He (ReLU) stay near 0. The verdict reads the value at layer 1; its bands are ±{p.PrincipledMaxDecades} (principled) and beyond ∓{p.NaiveMinDecades} (naive).");

        var act = InitArms.Select(arm => new Series(arm, layers, MeanProfile(arm, "log10_activation_std"), SeriesStyle.LineAndMarkers)).ToList();
        yield return new Figure("activation-std-by-layer", "Forward activations by layer", "hidden layer", "log10 std of the layer's output", act,
            Caption: "Mean over seeds. The forward signal shrinks, saturates (tanh at ±1) or explodes with the naive scales; float32 would round the smallest to 0 and the largest to infinity at depth 50.");

        var wl = Enumerable.Range(1, p.Depth + 1).Select(l => (double)l).ToArray();
        var weights = InitArms.Select(arm => new Series(arm, wl, MeanProfile(arm, "log10_weight_gradient"), SeriesStyle.LineAndMarkers)).ToList();
        yield return new Figure("weight-gradient-by-layer", "Weight gradients by layer", "Linear layer (last = output)", "log10 ‖∂L/∂W_l‖", weights,
            Caption: "Mean over seeds. ∂L/∂W_l = δ_l·h_{l−1}ᵀ multiplies the backward signal by the forward one: where both shrink (or grow) at the same rate, the weight gradients are level across layers but all tiny (or huge), so a learning rate that suits one arm is useless for another.");
    }
}
