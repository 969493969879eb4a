using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Phenomena;

/// <summary>
/// Stored in bfloat16 with round-to-nearest-even, Adam's β2 = 0.999 becomes 1: the bias correction 1 − β2^t is 0 and
/// the update is NaN (or zero) from the first step. With truncation it becomes 0.99609375 and training works.
/// </summary>
[LogsMetric("train_loss", AxisKind.Step, "training loss (cross-entropy)", Low = 0)]
[LogsMetric("update_norm", AxisKind.Step, "update norm ‖Δθ‖₂", Low = 0)]
[LogsMetric("test_accuracy", AxisKind.Epoch, "test accuracy", Low = 0, High = 1)]
public sealed class AdamBeta2Rounding : Phenomenon<AdamBeta2Rounding.Protocol, AdamBeta2Rounding.Arm>
{
    /// <summary>How an arm stores Adam's numbers.</summary>
    public enum Setup
    {
        /// <summary>Hyper-parameters used as written (float64), state in float32.</summary>
        Float64,
        /// <summary>β1, β2, ε stored in bfloat16, rounded toward zero (truncated).</summary>
        BFloat16TowardZero,
        /// <summary>β1, β2, ε stored in bfloat16, rounded to nearest even; PyTorch's form of the update.</summary>
        BFloat16Nearest,
        /// <summary>As <see cref="BFloat16Nearest"/>, with the corrections folded into the step size.</summary>
        BFloat16NearestFolded,
        /// <summary>β1, β2, ε stored in float16, rounded to nearest even.</summary>
        Float16Nearest,
        /// <summary>As <see cref="Float16Nearest"/> with the longer-memory β2 (0.9999).</summary>
        Float16NearestLongBeta2,
        /// <summary>Hyper-parameters as written; the moments m and v stored in bfloat16 (nearest even) after each update.</summary>
        BFloat16State,
        /// <summary>β2 = 1 handed to Adam directly: the engine's validation must refuse it.</summary>
        Beta2OneRefused,
    }

    /// <summary>One arm: how Adam's numbers are stored.</summary>
    /// <param name="Setup">The storage setup.</param>
    public sealed record Arm(Setup Setup) : Lab.Arm
    {
        /// <inheritdoc/>
        public override string Name => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(Setup.ToString()).Replace("b-float16", "bfloat16", StringComparison.Ordinal);
    }

    /// <summary>The settings of the experiment.</summary>
    public sealed record Protocol : LabProtocol
    {
        /// <summary>The images each seed draws.</summary>
        public ImageSample Sample { get; init; } = new() { TrainPerClass = 100, TestPerClass = 100 };
        /// <summary>Hidden layer widths of the MLP.</summary>
        [Range(1, 4096), Description("hidden layer widths of the ReLU MLP (float32 parameters)")]
        public int[] Hidden { get; init; } = [64];
        /// <summary>The optimizer's learning rate and batch size.</summary>
        [Description("Adam; the learning rate is not rounded in any arm")]
        public Minibatches Training { get; init; } = new() { LearningRate = 1e-3, BatchSize = 50 };
        /// <summary>Passes over the training sample.</summary>
        [Range(1, 1000), Description("epochs (passes over the training sample)")]
        public int Epochs { get; init; } = 8;
        /// <summary>Adam's β1 as written in the code.</summary>
        [Range(0, 0.999999), Description("Adam's β1 as written, before any storage rounding")]
        public double Beta1 { get; init; } = 0.9;
        /// <summary>Adam's β2 as written in the code (valid: the experiment is about what storage does to a valid value).</summary>
        [Range(0, 0.999999), Description("Adam's β2 as written, before any storage rounding; must lie in [0, 1)")]
        public double Beta2 { get; init; } = 0.999;
        /// <summary>A second β2, for the arm that shows float16 rounding it to 1.</summary>
        [Range(0, 0.999999), Description("a longer-memory β2 written for the float16 arm that rounds it to 1")]
        public double LongBeta2 { get; init; } = 0.9999;
        /// <summary>Adam's ε as written in the code.</summary>
        [Range(1e-300, 0.999), Description("Adam's ε as written, before any storage rounding")]
        public double Eps { get; init; } = 1e-8;

        /// <summary>Share of seeds above which an arithmetic failure counts as reproduced.</summary>
        // The failures are arithmetic (1 − 1^t = 0), so every seed should show them; an exact share interval clearing
        // one half (6 of 6 seeds) is the least a finite sample can show, and below one half they are not the rule.
        [Threshold, Description("share of seeds on which round-to-nearest must break Adam (NaN, or frozen in the folded form), validation must refuse β2 = 1, and bfloat16 state must stall v")]
        public double MinBrokenShare { get; init; } = 0.5;
        /// <summary>The largest test-accuracy difference from float64 Adam that still counts as "training works".</summary>
        // Truncation changes β2 from 0.999 to 0.99609375 (a 256-step instead of a 1000-step memory) and β1 to 0.8984375;
        // two runs of one seed differ by one to two points on 1000 test images: three points is the band.
        [Threshold, Description("largest |test accuracy difference| from float64 Adam, paired by seed, that counts as training working")]
        public double MaxAccuracyGap { get; init; } = 0.03;
        /// <summary>Share of v's elements left unchanged by a step above which v counts as stalled.</summary>
        // In bfloat16 (8 significant bits) v·0.999 is within half an ulp (2⁻⁹ ≈ 0.002) of v and rounds back to it; only
        // a gradient with g² above about 2v moves it. In float32 every element with v > 0 changes at every step.
        [Threshold, Description("a seed's v counts as stalled when more than this share of its elements is unchanged by a step (mean over the last epoch)")]
        public double StalledShare { get; init; } = 0.5;
    }

    /// <inheritdoc/>
    public override string Id => "adam-beta2-rounding";

    /// <inheritdoc/>
    public override string Title => "Rounding Adam's β2 to bfloat16 turns 0.999 into 1 and breaks Adam";

    /// <inheritdoc/>
    public override string Claim =>
        "Stored in bfloat16 with round-to-nearest-even, Adam's β2 = 0.999 becomes exactly 1, so the bias correction " +
        "1 − β2^t is 0 and Adam's update is NaN from the first step (PyTorch's form) or zero forever (the form that folds the " +
        "corrections into the step size); stored with truncation it becomes 0.99609375 and training works as in float64.";

    /// <inheritdoc/>
    public override string Method =>
        "A ReLU MLP (float32) is trained on a stratified Fashion-MNIST sample with minibatch Adam. The arms differ only in how " +
        "Adam stores its numbers (HyperParameterFormat, StateFormat, Rounding, AdamForm): float64 as written; β1, β2, ε in " +
        "bfloat16 truncated; in bfloat16 rounded to nearest, in PyTorch's form and in the folded form; in float16 with β2 = " +
        "0.999 and 0.9999; the moments m and v stored in bfloat16 after each update; and β2 = 1 handed to Adam directly. Held " +
        "if the exact (Clopper–Pearson) intervals of the shares of seeds on which round-to-nearest gives NaN after step 1, " +
        "freezes the folded form, validation refuses β2 = 1, and bfloat16 state stalls v (over the stated share of its " +
        "elements unchanged by a step) all lie above the stated share, and the truncated arm's test accuracy minus float64's " +
        "(paired t) lies within the stated gap.";

    /// <inheritdoc/>
    public override IReadOnlyList<Source> Sources =>
    [
        new("A. Rahimi, B. Recht (2017), An addendum to alchemy (postscript to the NIPS 2017 test-of-time talk): \"The change " +
            "in the rounding procedure causes the β2 parameter of Adam to get rounded from 0.999 to 1\""),
        new("D. Kingma, J. Ba (2015), Adam: a method for stochastic optimization (Algorithm 1 and its note on folding the bias corrections into the step size)", ArXiv: "1412.6980"),
        new("keras-team/keras pull request #21238: caps beta_2 under bfloat16, where 0.999 casts to 1 and Adam's update becomes NaN",
            Url: "https://github.com/keras-team/keras/pull/21238"),
        new("tenstorrent/tt-metal issue #55935: bfloat16 truncation turns β2 = 0.999 into 0.99609 (a 256-step instead of a 1000-step memory) and makes 0.999 and 0.9999 indistinguishable",
            Url: "https://github.com/tenstorrent/tt-metal/issues/55935"),
        new("IEEE 754-2019, Standard for floating-point arithmetic (round to nearest, ties to even)", Url: "https://doi.org/10.1109/IEEESTD.2019.8766229"),
    ];

    /// <inheritdoc/>
    public override IReadOnlyList<ModelBearing> Models =>
    [
        MentalModels.NumericsAreTransparent.Predicts(Outcome.DidNotHold,
            "Storing 0.999 in a 16-bit format moves it by at most 0.004, a rounding error that should change training by a comparably small amount."),
    ];

    /// <inheritdoc/>
    public override int Version => 2;

    /// <inheritdoc/>
    public override Protocol Quick => new() { Seeds = 6 };

    /// <inheritdoc/>
    public override Protocol Full => new() { Seeds = 10, Sample = new() { TrainPerClass = 500, TestPerClass = 100 }, Hidden = [128], Training = new() { LearningRate = 1e-3, BatchSize = 100 }, Epochs = 6 };

    /// <inheritdoc/>
    public override LabDataset Data(Protocol p, Tier tier) => tier == Tier.Full ? LabDataset.FashionMnistFull : LabDataset.FashionMnistSubset;

    /// <inheritdoc/>
    public override IReadOnlyList<Arm> Arms(Protocol p) => [.. Enum.GetValues<Setup>().Select(s => new Arm(s))];

    /// <summary>How a setup stores Adam's hyper-parameters and state, and which β2 and form it uses.</summary>
    public static (StorageFormat Format, RoundingMode Rounding, AdamForm Form, double Beta2, StorageFormat State) Setting(Protocol p, Setup setup) => setup switch
    {
        Setup.Float64 => (StorageFormat.Native, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2, StorageFormat.Native),
        Setup.BFloat16TowardZero => (StorageFormat.BFloat16, RoundingMode.TowardZero, AdamForm.Standard, p.Beta2, StorageFormat.Native),
        Setup.BFloat16Nearest => (StorageFormat.BFloat16, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2, StorageFormat.Native),
        Setup.BFloat16NearestFolded => (StorageFormat.BFloat16, RoundingMode.NearestEven, AdamForm.Folded, p.Beta2, StorageFormat.Native),
        Setup.Float16Nearest => (StorageFormat.Float16, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2, StorageFormat.Native),
        Setup.Float16NearestLongBeta2 => (StorageFormat.Float16, RoundingMode.NearestEven, AdamForm.Standard, p.LongBeta2, StorageFormat.Native),
        Setup.BFloat16State => (StorageFormat.Native, RoundingMode.NearestEven, AdamForm.Standard, p.Beta2, StorageFormat.BFloat16),
        _ => throw new ArgumentException($"adam-beta2-rounding: setup {setup} does not train", nameof(setup)),
    };

    /// <inheritdoc/>
    public override void Run(Protocol p, Arm arm, RunContext run)
    {
        if (arm.Setup == Setup.Beta2OneRefused)
        {
            AdamTraining.RefuseBeta2One(NN.Models.Mlp(LabData.Pixels, p.Hidden, 10, generator: run.Generator), p.Training.LearningRate, p.Beta2, run);
            return;
        }
        var (format, rounding, form, beta2, state) = Setting(p, arm.Setup);
        // Data, initial weights and minibatch order come from the seed's generator in the same order in every arm.
        var data = FlatSplits.Draw(run.Data.FashionMnist, p.Sample.TrainPerClass, 0, p.Sample.TestPerClass, run.Generator);
        var model = NN.Models.Mlp(LabData.Pixels, p.Hidden, 10, generator: run.Generator);
        var loader = new Data.DataLoader(data.Train, p.Training.BatchSize, shuffle: true, generator: run.Generator.Fork());
        var adam = new Adam(model.Parameters(), lr: p.Training.LearningRate, beta1: p.Beta1, beta2: beta2, eps: p.Eps, form: form)
        {
            HyperParameterFormat = format,
            Rounding = rounding,
            StateFormat = state,
        };
        double b2 = adam.Effective(beta2);
        run.Record("effective_beta1", adam.Effective(p.Beta1));
        run.Record("effective_beta2", b2);
        run.Record("effective_eps", adam.Effective(p.Eps));
        // 1/(1 − β2): the number of steps the second moment averages over (none when β2 = 1: v never leaves 0).
        if (b2 < 1) run.Record("second_moment_memory_steps", 1 / (1 - b2));
        AdamTraining.Run(model, adam, loader, p.Epochs, data.Test, run);
        run.ReportProgress(1);
    }

    /// <inheritdoc/>
    public override Verdict Judge(Protocol p, RunSet runs)
    {
        double[] R(Setup s, string key) => runs.Results(new Arm(s).Name, key);
        bool[] Ones(Setup s, string key) => [.. R(s, key).Select(v => v == 1)];
        var nan = Estimate.Share("share of seeds whose parameters are NaN after step 1 (bfloat16, nearest, PyTorch's form)", Ones(Setup.BFloat16Nearest, "nonfinite_after_step1"));
        var frozen = Estimate.Share("share of seeds on which no parameter ever changed (bfloat16, nearest, folded form)", Ones(Setup.BFloat16NearestFolded, "frozen"));
        var refused = Estimate.Share("share of seeds on which validation refused β2 = 1 (construction and step)", Ones(Setup.Beta2OneRefused, "refused"));
        var gap = Estimate.MeanDifference("test accuracy, bfloat16 truncated − float64 (paired by seed)", Unit.Accuracy, R(Setup.BFloat16TowardZero, "test_accuracy"), R(Setup.Float64, "test_accuracy"));
        var stalled = Estimate.Share($"share of seeds on which v stored in bfloat16 stalls (over {G(p.StalledShare)} of its elements unchanged by a step)",
            [.. R(Setup.BFloat16State, "v_unchanged_share").Select(v => v > p.StalledShare)]);
        var extra = new List<Estimate>();
        foreach (var s in Enum.GetValues<Setup>().Where(s => s != Setup.Beta2OneRefused))
            extra.Add(Estimate.MeanBca($"test accuracy, {new Arm(s).Name}", Unit.Accuracy, R(s, "test_accuracy")));
        extra.Add(Estimate.Mean("share of v's elements unchanged by a step, float64 (last epoch)", Unit.Share, R(Setup.Float64, "v_unchanged_share")));
        extra.Add(Estimate.Mean("share of v's elements unchanged by a step, bfloat16 state (last epoch)", Unit.Share, R(Setup.BFloat16State, "v_unchanged_share")));
        extra.Add(Estimate.MeanDifference("test accuracy, bfloat16 state − float64 (paired by seed)", Unit.Accuracy, R(Setup.BFloat16State, "test_accuracy"), R(Setup.Float64, "test_accuracy")));
        extra.Add(Estimate.Share("share of seeds NaN after step 1, float16 nearest, β2 = " + G(p.Beta2), Ones(Setup.Float16Nearest, "nonfinite_after_step1")));
        extra.Add(Estimate.Share("share of seeds NaN after step 1, float16 nearest, β2 = " + G(p.LongBeta2), Ones(Setup.Float16NearestLongBeta2, "nonfinite_after_step1")));
        extra.Add(Estimate.Share("share of seeds on which the validation message names beta2 and [0, 1)", Ones(Setup.Beta2OneRefused, "message_explains")));
        return Verdict.From(nan,
                Check.Above(nan, p.MinBrokenShare),
                Check.Above(frozen, p.MinBrokenShare),
                Check.Above(refused, p.MinBrokenShare),
                Check.Within(gap, -p.MaxAccuracyGap, p.MaxAccuracyGap),
                Check.Above(stalled, p.MinBrokenShare))
            .WithExtra([.. extra]);
    }

    private static string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override IEnumerable<Figure> Figures(Protocol p, RunSet runs)
    {
        // The bias correction 1 − β2^t that PyTorch's form divides by (under a square root), for each arm's effective β2.
        int seed = runs.Seeds[0];
        var t = Enumerable.Range(1, 2000).Select(i => (double)i).ToArray();
        var series = new List<Series>();
        foreach (var arm in Arms(p).Where(a => a.Setup != Setup.Beta2OneRefused))
        {
            double b2 = runs.Get(arm.Name, seed).Result("effective_beta2");
            series.Add(new Series($"{arm.Name}: β2 = {b2.ToString("G8", CultureInfo.InvariantCulture)}", t, [.. t.Select(s => 1 - Math.Pow(b2, s))]));
        }
        yield return new Figure("bias-correction", "The second-moment bias correction 1 − β2^t for each arm's stored β2", "step t",
            "1 − β2^t", series, LogX: true,
            Caption: "Where β2 was stored as exactly 1 the correction is 0 at every step: PyTorch's form divides 0 by 0 (NaN), the " +
                     "folded form multiplies the step by 0. Truncated to 0.99609375, β2 forgets after about 256 steps instead of 1000; " +
                     "float16's 0.99902344 is indistinguishable from 0.999 here.");
    }
}
