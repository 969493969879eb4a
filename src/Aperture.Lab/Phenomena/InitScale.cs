using Aperture.NN;

namespace Aperture.Lab.Phenomena;

/// <summary>Initial weights' scale decides whether gradients reach the first layer of a deep net; a constant initialization never breaks symmetry.</summary>
[LogsMetric("log10_backprop_gradient", AxisKind.Layer, "log10 ‖∂L/∂z_l‖ (back-propagated gradient)", XLabel = "hidden layer (1 = nearest the input)")]
[LogsMetric("log10_activation_std", AxisKind.Layer, "log10 std of the layer's output", XLabel = "hidden layer (1 = nearest the input)")]
[LogsMetric("log10_weight_gradient", AxisKind.Layer, "log10 ‖∂L/∂W_l‖", XLabel = "Linear layer (1 = nearest the input, last = output)")]
[LogsMetric("max_unit_difference", AxisKind.Step, "largest difference between two hidden units (constant init)", Low = 0)]
[LogsMetric("train_loss", AxisKind.Step, "training loss, constant init (cross-entropy)", Low = 0)]
public sealed class InitScale : Phenomenon<InitScale.Protocol, InitScale.Arm>
{
    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>Hidden layers of the deep nets measured at initialization.</summary>
        [Range(2, 200), Description("hidden layers of the deep MLPs measured at initialization")] public int Depth { get; init; } = 30;
        /// <summary>Units per hidden layer.</summary>
        [Range(2, 4096), Description("units per hidden layer")] public int Width { get; init; } = 256;
        /// <summary>Images per class in the batch the gradients are measured on.</summary>
        [Range(1, 600), Description("Fashion-MNIST training images per class in the batch the gradients are measured on")] public int ImagesPerClass { get; init; } = 12;
        /// <summary>Standard deviation of the small-Gaussian initialization.</summary>
        [Range(1e-12, 1e6), Description("standard deviation of the small-Gaussian initialization (0.01, as in AlexNet)")] public double SmallStd { get; init; } = 0.01;
        /// <summary>Standard deviation of the unit-Gaussian initialization.</summary>
        [Range(1e-12, 1e6), Description("standard deviation of the unit-Gaussian initialization")] public double UnitStd { get; init; } = 1.0;
        /// <summary>Hidden layers of the constant-initialized net that is trained.</summary>
        [Range(1, 50), Description("hidden layers of the constant-initialized tanh net that is trained")] public int ConstantHiddenLayers { get; init; } = 3;
        /// <summary>Units per hidden layer of the constant-initialized net (100: no SIMD width divides it, so the kernels' tails are tested too).</summary>
        [Range(2, 4096), Description("units per hidden layer of the constant-initialized net")] public int ConstantWidth { get; init; } = 100;
        /// <summary>The value every weight of the constant-initialized net starts at (biases start at 0).</summary>
        [Range(-1e3, 1e3), Description("the value every weight of the constant-initialized net starts at (biases start at 0)")] public double ConstantValue { get; init; } = 0.01;
        /// <summary>SGD steps of the constant-initialized net.</summary>
        [Range(1, 1_000_000), Description("SGD steps of the constant-initialized net")] public int ConstantSteps { get; init; } = 200;
        /// <summary>SGD learning rate of the constant-initialized net.</summary>
        [Range(1e-9, 100), Description("SGD learning rate of the constant-initialized net")] public double ConstantLearningRate { get; init; } = 0.1;
        /// <summary>Minibatch size of the constant-initialized net.</summary>
        [Range(1, 6000), Description("minibatch size of the constant-initialized net")] public int ConstantBatchSize { get; init; } = 50;
        /// <summary>Training images per class of the constant-initialized net.</summary>
        [Range(1, 600), Description("Fashion-MNIST training images per class the constant-initialized net trains on")] public int ConstantPerClass { get; init; } = 100;

        /// <summary>Naive arms support the claim when they move the gradient by more than this many decades (small: down, unit: up).</summary>
        // Mean-field variance recursions (Glorot–Bengio; He et al.; Poole et al.) predict at depth 30: −23.1 decades (0.01 Gaussian,
        // tanh), −27.5 (ReLU), +13.5 (unit Gaussian, tanh), +30.6 (ReLU). 3 is far inside all, far outside finite-width noise (~0.3).
        [Threshold, Range(0, 1000), Description("naive arms: supported when log10 ‖δ₁‖/‖δ_L‖ lies beyond this many decades in the predicted direction")]
        public double NaiveBeyondDecades { get; init; } = 3;
        /// <summary>Naive arms contradict the claim when they move the gradient by less than this many decades.</summary>
        // Inside ±1.5 decades a naive arm would be as well-behaved as the principled ones (Xavier tanh's predicted −0.87).
        [Threshold, Range(0, 1000), Description("naive arms: contradicted when log10 ‖δ₁‖/‖δ_L‖ lies inside this many decades of 0")]
        public double NaiveInsideDecades { get; init; } = 1.5;
        /// <summary>Principled arms support the claim when the gradient's change across depth stays within this many decades.</summary>
        // Mean field: He ReLU keeps the per-layer gain at 1 (prediction 0); Xavier tanh (σ_w² = 1) has pre-activation variance
        // ~1/(2l), a power-law decline of 0.87 decades at depth 30 (0.95 at 50); finite width adds ~0.2. 1.5 holds both with room.
        [Threshold, Range(0, 1000), Description("Xavier (tanh), He (ReLU): supported when |log10 ‖δ₁‖/‖δ_L‖| stays below this many decades")]
        public double PrincipledWithinDecades { get; init; } = 1.5;
        /// <summary>Principled arms contradict the claim when the gradient's change across depth exceeds this many decades.</summary>
        // Three decades is where the naive arms' support begins: a principled arm that far out vanishes or explodes like them.
        [Threshold, Range(0, 1000), Description("Xavier (tanh), He (ReLU): contradicted when |log10 ‖δ₁‖/‖δ_L‖| exceeds this many decades")]
        public double PrincipledBeyondDecades { get; init; } = 3;
        /// <summary>The constant arm supports the claim when the share of seeds whose units stayed bitwise identical lies above this.</summary>
        // Exact per seed (identical units get identical updates): "most seeds", by an exact interval; 6 of 6 give [0.54, 1].
        [Threshold, Range(0, 1), Description("constant arm: supported when the share of seeds whose hidden units stayed bitwise identical lies above this (contradicted below)")]
        public double SymmetricShareAbove { get; init; } = 0.5;

        /// <inheritdoc/>
        public override IEnumerable<string> Problems()
        {
            foreach (var p in base.Problems()) yield return p;
            if (!(SmallStd < UnitStd)) yield return $"small_std ({SmallStd}) must be below unit_std ({UnitStd})";
            if (ConstantValue == 0) yield return "constant_value must be non-zero (zero weights pass no gradient to hidden layers)";
            if (ConstantBatchSize > 10 * ConstantPerClass) yield return $"constant_batch_size must not exceed the training sample (10 × constant_per_class = {10 * ConstantPerClass}), found {ConstantBatchSize}";
            if (!(NaiveInsideDecades <= NaiveBeyondDecades && PrincipledWithinDecades <= PrincipledBeyondDecades))
                yield return $"each margin must not exceed its support limit: naive_inside_decades ≤ naive_beyond_decades, principled_within_decades ≤ principled_beyond_decades, found {NaiveInsideDecades}, {NaiveBeyondDecades}, {PrincipledWithinDecades}, {PrincipledBeyondDecades}";
        }
    }

    /// <summary>The hidden units' nonlinearity.</summary>
    public enum Activation
    {
        /// <summary>tanh.</summary>
        Tanh,
        /// <summary>max(0, x).</summary>
        Relu,
    }

    /// <summary>How the weights are drawn (biases start at 0).</summary>
    public enum WeightInit
    {
        /// <summary>N(0, small_std²).</summary>
        SmallGaussian,
        /// <summary>N(0, unit_std²).</summary>
        UnitGaussian,
        /// <summary>Glorot and Bengio's normalized initialization, variance 2/(fan_in + fan_out).</summary>
        Xavier,
        /// <summary>He et al.'s, variance 2/fan_in.</summary>
        He,
        /// <summary>Every weight constant_value; this arm is trained rather than measured at initialization.</summary>
        Constant,
    }

    /// <summary>One arm: an initialization and a nonlinearity.</summary>
    /// <param name="Init">How the weights are drawn.</param>
    /// <param name="Activation">The hidden units' nonlinearity.</param>
    public sealed record Arm(WeightInit Init, Activation Activation) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => $"{Kebab(Init)}-{Kebab(Activation)}";
    }

    /// <summary>The arms measured at initialization; Xavier with ReLU (He et al.'s mismatch) is reported, not judged.</summary>
    public static IReadOnlyList<Arm> InitArms { get; } = [
        new(WeightInit.SmallGaussian, Activation.Tanh), new(WeightInit.UnitGaussian, Activation.Tanh), new(WeightInit.Xavier, Activation.Tanh), new(WeightInit.SmallGaussian, Activation.Relu),
        new(WeightInit.UnitGaussian, Activation.Relu), new(WeightInit.He, Activation.Relu), new(WeightInit.Xavier, Activation.Relu)];

    /// <summary>Every weight the same constant, tanh, trained with SGD.</summary>
    public static Arm Constant { get; } = new(WeightInit.Constant, Activation.Tanh);

    /// <inheritdoc/>
    public override string Id => "init-scale";

    /// <inheritdoc/>
    /// <remarks>2: typed arms; symmetry judged as a share of seeds (Clopper–Pearson); log-ratio checks with contradicting margins.</remarks>
    public override int Version => 2;

    /// <inheritdoc/>
    public override string Title => "Initialization scale: vanishing and exploding gradients, and symmetry";

    /// <inheritdoc/>
    public override string Claim =>
        "In an MLP 30 to 50 hidden layers deep, back-propagated gradients vanish or explode geometrically with depth " +
        "under a naive Gaussian initialization but stay within a bounded ratio under Xavier (tanh) and He (ReLU) " +
        "initialization; and with a constant initialization the hidden units of a layer stay identical through training.";

    /// <inheritdoc/>
    public override string Method =>
        "Deep MLPs (784 → width × depth → 10, zero biases, float64) run forward and backward once on a stratified batch of standardized " +
        "Fashion-MNIST images (LayerSignalProfile); all arms of a seed share the batch and the normal draws, scaled. Per seed r = " +
        "log10 ‖δ₁‖/‖δ_L‖, δ_l = ∂L/∂z_l. Naive arms: mean r (t-interval) supported beyond ∓naive_beyond_decades in the predicted " +
        "direction, contradicted inside ±naive_inside_decades. Xavier tanh, He ReLU: mean |r| supported below principled_within_decades, " +
        "contradicted above principled_beyond_decades. A tanh MLP with every weight one constant is trained with minibatch SGD (no " +
        "per-unit noise); the share of seeds whose weights moved yet whose units stayed bitwise identical (UnitSymmetry; Clopper–Pearson) " +
        "is supported above symmetric_share_above. Held if all 7 intervals lie in their supporting regions; did not hold if Holm's " +
        "procedure over the 7 finds one contradicted.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("X. Glorot, Y. Bengio (2010), Understanding the difficulty of training deep feedforward neural networks, AISTATS", Url: "https://proceedings.mlr.press/v9/glorot10a.html"),
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
    public override Protocol Quick => new() { Seeds = 6 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, Depth = 50, Width = 512, ImagesPerClass = 20, ConstantHiddenLayers = 5, ConstantSteps = 1000 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [.. InitArms, Constant];

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        var g = run.Generator; // the batch first, then the weights: every arm of a seed sees the same images and normal draws
        if (arm.Init == WeightInit.Constant)
        {
            var sample = LabData.FlatSample(run.Data.FashionMnist.Train, p.ConstantPerClass, g, "constant_per_class");
            var (train, _) = LabData.Standardize(sample, sample);
            var o = ConstantInitTraining.Train(train, 10, new(p.ConstantHiddenLayers, p.ConstantWidth, p.ConstantValue, p.ConstantSteps,
                p.ConstantLearningRate, p.ConstantBatchSize), g, (k, s, v) => run.Log(k, s, v), run.ReportProgress);
            foreach (var (key, value) in new[] { ("stayed_symmetric", o.StayedSymmetric ? 1.0 : 0), ("max_unit_difference", Math.Max(o.MaxWeightUnitDifference, o.MaxActivationUnitDifference)),
                ("distinct_units", o.DistinctUnits), ("max_weight_change", o.MaxWeightChange), ("initial_loss", o.InitialLoss), ("final_loss", o.FinalLoss) })
                run.Record(key, value);
            return;
        }
        var images = LabData.FlatSample(run.Data.FashionMnist.Train, p.ImagesPerClass, g, "images_per_class");
        var (batch, _) = LabData.Standardize(images, images);
        var weights = arm.Init switch
        {
            WeightInit.SmallGaussian => NN.Init.Normal(0, p.SmallStd), WeightInit.UnitGaussian => NN.Init.Normal(0, p.UnitStd),
            WeightInit.Xavier => NN.Init.XavierNormal(), _ => NN.Init.HeNormal(),
        };
        var net = NN.Models.Mlp(LabData.Pixels, [.. Enumerable.Repeat(p.Width, p.Depth)], 10, arm.Activation == Activation.Tanh ? "tanh" : "relu",
            weightInit: weights, biasInit: NN.Init.Zeros(), generator: g, dtype: DType.Float64);
        var profile = LayerSignalProfile.Measure(net, batch.Inputs.To(DType.Float64), batch.Targets);
        foreach (var (key, values) in new[] { ("log10_backprop_gradient", profile.PreActivationGradient), ("log10_activation_std", profile.ActivationStd), ("log10_weight_gradient", profile.WeightGradient) })
            for (int l = 0; l < values.Length; l++) run.Log(key, l + 1, values[l]);
        foreach (var (key, value) in new[] { ("log10_gradient_ratio", profile.PreActivationGradient[0] - profile.PreActivationGradient[p.Depth - 1]),
            ("log10_activation_ratio", profile.ActivationStd[p.Depth - 1] - profile.ActivationStd[0]),
            ("log10_weight_gradient_ratio", profile.WeightGradient[0] - profile.WeightGradient[p.Depth - 1]), ("loss", profile.Loss) }) run.Record(key, value);
        run.ReportProgress(1);
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] R(Arm arm) => runs.Results(arm.Name, "log10_gradient_ratio");
        Estimate Signed(Arm arm) => Estimate.Mean($"{arm.Name}: log10 ‖δ₁‖/‖δ_L‖", Unit.Log10, R(arm));
        Estimate Size(Arm arm) => Estimate.Mean($"{arm.Name}: |log10 ‖δ₁‖/‖δ_L‖|", Unit.Log10, [.. R(arm).Select(Math.Abs)]);
        var (a, smallTanh) = (InitArms, Signed(InitArms[0]));
        var symmetric = Estimate.Share($"{Constant.Name}: seeds whose units stayed bitwise identical while the weights moved",
            [.. runs.Results(Constant.Name, "stayed_symmetric").Select(v => v == 1)]);
        var extra = new List<Estimate> { Signed(a[6]), Signed(a[2]), Signed(a[5]) };
        foreach (var arm in a) extra.Add(Estimate.Mean($"{arm.Name}: log10 std(h_L)/std(h₁)", Unit.Log10, runs.Results(arm.Name, "log10_activation_ratio")));
        foreach (var arm in a) extra.Add(Estimate.Mean($"{arm.Name}: log10 ‖∂L/∂W₁‖/‖∂L/∂W_L‖", Unit.Log10, runs.Results(arm.Name, "log10_weight_gradient_ratio")));
        foreach (var (key, what) in new[] { ("max_weight_change", "largest weight change in training"), ("initial_loss", "training loss before"), ("final_loss", "training loss after") })
            extra.Add(Estimate.Mean($"{Constant.Name}: {what}", key == "max_weight_change" ? Unit.Dimensionless : Unit.Nats, runs.Results(Constant.Name, key)));
        return Verdict.From(smallTanh,
                Check.Below(smallTanh, -p.NaiveBeyondDecades, -p.NaiveInsideDecades),        // predicted −23.1
                Check.Above(Signed(a[1]), p.NaiveBeyondDecades, p.NaiveInsideDecades),      // predicted +13.5
                Check.Below(Signed(a[3]), -p.NaiveBeyondDecades, -p.NaiveInsideDecades),     // predicted −27.5
                Check.Above(Signed(a[4]), p.NaiveBeyondDecades, p.NaiveInsideDecades),      // predicted +30.6
                Check.Below(Size(a[2]), p.PrincipledWithinDecades, p.PrincipledBeyondDecades), // predicted 0.87 (power law)
                Check.Below(Size(a[5]), p.PrincipledWithinDecades, p.PrincipledBeyondDecades), // predicted 0
                Check.Above(symmetric, p.SymmetricShareAbove))
            .WithExtra([.. extra]);
    }

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        double[] MeanProfile(Arm arm, string key) => [.. runs.MetricAcrossSeeds(arm.Name, key).Select(v => v.Average())];
        double[] layers = [.. Enumerable.Range(1, p.Depth).Select(l => (double)l)], wl = [.. Enumerable.Range(1, p.Depth + 1).Select(l => (double)l)];
        yield return new Figure("gradient-by-layer", "Back-propagated gradient by layer, relative to the last hidden layer",
            "hidden layer (1 = next to the input)", "log10 ‖∂L/∂z_l‖ − log10 ‖∂L/∂z_L‖",
            [.. InitArms.Select(arm => { var m = MeanProfile(arm, "log10_backprop_gradient"); return new Series(arm.Name, layers, [.. m.Select(v => v - m[^1])], SeriesStyle.LineAndMarkers); })],
            Caption: $"Mean over seeds. Straight lines are geometric trends: naive scales lose or gain decades per layer, while Xavier (tanh) and He (ReLU) stay near 0. The verdict reads the value at layer 1: naive arms supported beyond ∓{p.NaiveBeyondDecades}, principled within ±{p.PrincipledWithinDecades}.") { Metrics = ["log10_backprop_gradient"] };
        Series Profile(Arm arm, string key, double[] xs) => Series.MeanOverSeeds(arm.Name, xs, runs.MetricAcrossSeeds(arm.Name, key));
        yield return new Figure("activation-std-by-layer", "Forward activations by layer", "hidden layer (1 = next to the input)", "log10 std of the layer's output",
            [.. InitArms.Select(arm => Profile(arm, "log10_activation_std", layers))],
            Caption: "Mean over seeds with its 95% interval. The forward signal shrinks, saturates (tanh at ±1) or explodes with the naive scales; float32 would round the smallest to 0 and the largest to infinity at depth 50.") { Metrics = ["log10_activation_std"] };
        yield return new Figure("weight-gradient-by-layer", "Weight gradients by layer", "Linear layer (last = output)", "log10 ‖∂L/∂W_l‖",
            [.. InitArms.Select(arm => Profile(arm, "log10_weight_gradient", wl))],
            Caption: "Mean over seeds with its 95% interval. ∂L/∂W_l = δ_l·h_{l−1}ᵀ multiplies the backward signal by the forward one: where both shrink (or grow) at the same rate, the weight gradients are level across layers but all tiny (or huge), so a learning rate that suits one arm is useless for another.") { Metrics = ["log10_weight_gradient"] };
    }
}
