using System.Globalization;
using Aperture.Optim;

namespace Aperture.Lab.Probes;

/// <summary>
/// A model and its data for the local learning coefficient: the parameters (leaf tensors whose current values are the
/// point w* to measure at), the training set (first axis = the n examples) and the loss of a batch.
/// </summary>
/// <param name="Parameters">The model's parameters; their values when the estimate starts are w*, and they are restored afterwards.</param>
/// <param name="Inputs">The training inputs, n along axis 0.</param>
/// <param name="Targets">The training targets, n along axis 0.</param>
/// <param name="BatchLoss">
/// (inputs, targets) ↦ the batch's mean negative log-likelihood per example, a scalar, up to a constant that does not
/// depend on the parameters: for regression with unit-variance Gaussian noise, ½·mean‖y − f(x)‖². The estimate is in
/// units of this loss: using the mean squared error (no ½) or a noise variance other than the data's scales λ̂.
/// </param>
public sealed record LlcProblem(IReadOnlyList<Tensor> Parameters, Tensor Inputs, Tensor Targets, Func<Tensor, Tensor, Tensor> BatchLoss)
{
    /// <summary>n, the training-set size.</summary>
    public int SampleSize => Inputs.Shape[0];

    /// <summary>d, the number of scalar parameters.</summary>
    public int Dimension => Parameters.Sum(p => p.Numel);
}

/// <summary>
/// How the sampler runs. The defaults are a starting point, not a guarantee: check the diagnostics and the
/// calibration sweep (<see cref="LocalLearningCoefficient.Calibrate"/>) for a new model.
/// </summary>
public sealed record LlcSettings
{
    /// <summary>The SGLD step size ε.</summary>
    public double StepSize { get; init; } = 3e-4;

    /// <summary>
    /// The localization strength γ (the pull towards w*). It must stay well below nβ times the loss's curvature, or it
    /// shrinks λ̂: for a regular model λ̂ ≈ (d/2)·nβh/(nβh + γ).
    /// </summary>
    public double Localization { get; init; } = 1;

    /// <summary>nβ; null for the default n/ln n (Watanabe's β* = 1/ln n, the WBIC temperature, as in Lau et al. 2023).</summary>
    public double? NBeta { get; init; }

    /// <summary>Independent chains, each from w* with its own noise and batch streams.</summary>
    public int Chains { get; init; } = 4;

    /// <summary>Steps per chain discarded before the first draw.</summary>
    public int BurnIn { get; init; } = 1000;

    /// <summary>Draws kept per chain.</summary>
    public int Draws { get; init; } = 2000;

    /// <summary>SGLD steps from one draw to the next (1 = every step is a draw).</summary>
    public int StepsBetweenDraws { get; init; } = 1;

    /// <summary>Examples per minibatch; batches are consecutive slices of a fresh permutation each epoch.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>Whether SGLD uses the RMSprop-style preconditioner.</summary>
    public bool Preconditioned { get; init; }

    /// <summary>The weight-decay term λ_wd of the sampler (a Gaussian prior at 0); usually 0.</summary>
    public double WeightDecay { get; init; }

    /// <summary>How each chain measures L(w*); see <see cref="LlcAnchorLoss"/>.</summary>
    public LlcAnchorLoss AnchorLoss { get; init; } = LlcAnchorLoss.Paired;

    /// <summary>With <see cref="LlcAnchorLoss.Batches"/>: how many batches of the chain's stream L(w*) is averaged over.</summary>
    public int AnchorBatches { get; init; } = 16;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string expected)
        {
            if (!ok) throw new ArgumentException($"LLC settings: {name} = {Convert.ToString(value, CultureInfo.InvariantCulture)} is invalid; it must be {expected}");
        }
        Check(StepSize > 0 && double.IsFinite(StepSize), "step size ε", StepSize, "a finite number > 0");
        Check(Localization >= 0 && double.IsFinite(Localization), "localization γ", Localization, "a finite number ≥ 0");
        Check(NBeta is null || (NBeta > 0 && double.IsFinite(NBeta.Value)), "nβ", NBeta ?? 0, "a finite number > 0 (or unset for n/ln n)");
        Check(Chains >= 1, "chains", Chains, "≥ 1");
        Check(BurnIn >= 0, "burn-in", BurnIn, "≥ 0");
        Check(Draws >= 3, "draws", Draws, "≥ 3 (the stationarity check compares the first and last thirds)");
        Check(StepsBetweenDraws >= 1, "steps between draws", StepsBetweenDraws, "≥ 1");
        Check(BatchSize >= 1, "batch size", BatchSize, "≥ 1");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight decay", WeightDecay, "a finite number ≥ 0");
        Check(AnchorBatches >= 1, "anchor batches", AnchorBatches, "≥ 1");
        Check(Enum.IsDefined(AnchorLoss), "anchor loss", AnchorLoss, "paired, full or batches");
    }
}

/// <summary>How a chain measures L(w*), the loss at the anchor that λ̂ subtracts.</summary>
public enum LlcAnchorLoss
{
    /// <summary>
    /// On every draw's own batch: λ̂ = nβ·mean_t[L_{B_t}(w_t) − L_{B_t}(w*)]. Since E_B[L_B(w)] = L_n(w) for any fixed w,
    /// this has the same expectation as the other modes, but the batch-to-batch noise of the loss — at n = 1000 and
    /// batch 100, about nβ·0.07 ≈ 10 in λ units per draw — cancels in the difference. One extra forward pass per
    /// draw. The default.
    /// </summary>
    Paired,

    /// <summary>The full training loss L_n(w*), computed once per chain: exact, one pass over the data.</summary>
    Full,

    /// <summary>
    /// The mean of L_B(w*) over <see cref="LlcSettings.AnchorBatches"/> batches of the chain's stream (for data too
    /// large to pass over); its error is shared by every draw of the chain (with one batch, devinterp issue #39).
    /// </summary>
    Batches,
}

/// <summary>One chain of an LLC estimate.</summary>
/// <param name="Estimate">λ̂_c = nβ·(mean of the draws' L_B(w_t) − L(w*)); NaN when the chain diverged.</param>
/// <param name="AnchorLoss">L(w*) as this chain measured it (paired: the mean of <paramref name="AnchorTrace"/>).</param>
/// <param name="LossTrace">L_B(w_t) at each draw, in order (on the batch of the step taken at that draw).</param>
/// <param name="AnchorTrace">Paired mode: L_B(w*) on each draw's batch; otherwise empty.</param>
/// <param name="ShareBelowAnchor">The share of draws with L_B(w_t) &lt; L(w*) (paired: &lt; L_B(w*) on the same batch).</param>
/// <param name="FirstThird">nβ·(mean of the first third of the draws − L(w*)).</param>
/// <param name="LastThird">nβ·(mean of the last third of the draws − L(w*)).</param>
/// <param name="Diverged">True when the loss or a parameter became non-finite; the chain stopped there.</param>
public sealed record LlcChain(double Estimate, double AnchorLoss, IReadOnlyList<double> LossTrace, IReadOnlyList<double> AnchorTrace, double ShareBelowAnchor,
    double FirstThird, double LastThird, bool Diverged);

/// <summary>Diagnostics stored with every estimate.</summary>
/// <param name="Drift">The mean over chains of (last third − first third), in λ units: near 0 for a stationary chain.</param>
/// <param name="DriftStandardError">Its standard error across chains (NaN with one chain).</param>
/// <param name="Stationary">|Drift| ≤ 3·DriftStandardError + 5% of |λ̂|; null with one chain.</param>
/// <param name="ShareBelowAnchor">The share of all draws below L(w*): large values mean w* is not a local minimum at the sampler's scale (or the step is too large).</param>
/// <param name="DivergedChains">Chains that diverged.</param>
public sealed record LlcDiagnostics(double Drift, double DriftStandardError, bool? Stationary, double ShareBelowAnchor, int DivergedChains);

/// <summary>An LLC estimate with everything needed to judge and reproduce it.</summary>
/// <param name="Mean">λ̂, the mean of the chains' estimates (NaN if any chain diverged).</param>
/// <param name="StandardError">The standard error of the mean across chains (NaN with one chain).</param>
/// <param name="NBeta">The nβ used.</param>
/// <param name="NBetaConvention">How nβ was chosen: "n/ln n" or "given".</param>
/// <param name="SampleSize">n.</param>
/// <param name="Dimension">d, the number of scalar parameters (d/2 is the regular model's value).</param>
/// <param name="Settings">The sampler's settings.</param>
/// <param name="Seed">The seed; chain c draws noise from stream 2c and batches from stream 2c + 1.</param>
/// <param name="Chains">The chains.</param>
/// <param name="Diagnostics">The diagnostics.</param>
public sealed record LlcEstimate(double Mean, double StandardError, double NBeta, string NBetaConvention, int SampleSize, int Dimension,
    LlcSettings Settings, ulong Seed, IReadOnlyList<LlcChain> Chains, LlcDiagnostics Diagnostics);

/// <summary>One setting of the calibration sweep and its estimate.</summary>
public sealed record LlcCalibrationPoint(double StepSize, double Localization, double NBeta, LlcEstimate Estimate);

/// <summary>
/// The local learning coefficient λ(w*) of singular learning theory estimated with SGLD (Lau, Furman, Wang, Murfet
/// and Wei 2023, "The local learning coefficient: a singularity-aware complexity measure", arXiv 2308.12108):
/// <code>
/// λ̂(w*) = nβ·(E_w[L_n(w)] − L_n(w*)),   E_w over ∝ exp(−nβ·L_n(w) − γ/2·‖w − w*‖²)
/// </code>
/// with the expectation taken over SGLD draws (<see cref="Sgld"/>) and L_n(w) replaced by the loss L_B(w) of the
/// step's minibatch. Deterministic: the estimate is a function of the problem, the settings and the seed.
/// </summary>
public static class LocalLearningCoefficient
{
    /// <summary>The default nβ for a training set of n examples: n/ln n (β* = 1/ln n).</summary>
    public static double DefaultNBeta(int sampleSize)
    {
        if (sampleSize < 2) throw new ArgumentOutOfRangeException(nameof(sampleSize), sampleSize, "n/ln n needs n ≥ 2");
        return sampleSize / Math.Log(sampleSize);
    }

    /// <summary>
    /// Estimates λ(w*) at the parameters' current values. The parameters are moved by the chains and restored to w*
    /// afterwards (also on failure); their <c>.Grad</c> is left null.
    /// </summary>
    public static LlcEstimate Estimate(LlcProblem problem, LlcSettings settings, ulong seed, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Check(problem);
        int n = problem.SampleSize;
        double nBeta = settings.NBeta ?? DefaultNBeta(n);
        string convention = settings.NBeta is null ? "n/ln n" : "given";

        var anchor = problem.Parameters.Select(p => p.Detach().Clone()).ToArray();
        var chains = new LlcChain[settings.Chains];
        try
        {
            for (int c = 0; c < settings.Chains; c++)
            {
                cancel.ThrowIfCancellationRequested();
                Restore(problem.Parameters, anchor);
                chains[c] = RunChain(problem, settings, nBeta, new Generator(seed, 2 * (ulong)c), new Generator(seed, 2 * (ulong)c + 1), cancel);
            }
        }
        finally
        {
            Restore(problem.Parameters, anchor);
            foreach (var p in problem.Parameters) p.Grad = null;
        }

        var estimates = chains.Select(ch => ch.Estimate).ToArray();
        int diverged = chains.Count(ch => ch.Diverged);
        double mean = diverged > 0 ? double.NaN : estimates.Average();
        double se = chains.Length > 1 && diverged == 0 ? StdDev(estimates) / Math.Sqrt(chains.Length) : double.NaN;
        var drifts = chains.Where(ch => !ch.Diverged).Select(ch => ch.LastThird - ch.FirstThird).ToArray();
        double drift = drifts.Length > 0 ? drifts.Average() : double.NaN;
        double driftSe = drifts.Length > 1 ? StdDev(drifts) / Math.Sqrt(drifts.Length) : double.NaN;
        bool? stationary = drifts.Length > 1 && diverged == 0 ? Math.Abs(drift) <= 3 * driftSe + 0.05 * Math.Abs(mean) : null;
        if (diverged > 0) stationary = false;
        var shares = chains.Where(ch => !ch.Diverged).Select(ch => ch.ShareBelowAnchor).ToArray();
        var diagnostics = new LlcDiagnostics(drift, driftSe, stationary, shares.Length > 0 ? shares.Average() : double.NaN, diverged);
        return new LlcEstimate(mean, se, nBeta, convention, n, problem.Dimension, settings, seed, chains, diagnostics);
    }

    /// <summary>
    /// The calibration sweep: one estimate (same seed) for every combination of step size ε, localization γ and nβ,
    /// in that nesting order. A trustworthy setting sits on a plateau where λ̂ changes little with ε and γ, with
    /// stationary traces and few draws below L(w*); too large an ε diverges or inflates λ̂, too large a γ shrinks it.
    /// </summary>
    public static IReadOnlyList<LlcCalibrationPoint> Calibrate(LlcProblem problem, LlcSettings settings, ulong seed,
        IReadOnlyList<double> stepSizes, IReadOnlyList<double> localizations, IReadOnlyList<double> nBetas, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(stepSizes);
        ArgumentNullException.ThrowIfNull(localizations);
        ArgumentNullException.ThrowIfNull(nBetas);
        if (stepSizes.Count == 0 || localizations.Count == 0 || nBetas.Count == 0)
            throw new ArgumentException("LLC calibration: each of the step sizes, localizations and nβ values needs at least one entry");
        var points = new List<LlcCalibrationPoint>();
        foreach (double eps in stepSizes)
            foreach (double gamma in localizations)
                foreach (double nb in nBetas)
                {
                    var s = settings with { StepSize = eps, Localization = gamma, NBeta = nb };
                    points.Add(new LlcCalibrationPoint(eps, gamma, nb, Estimate(problem, s, seed, cancel)));
                }
        return points;
    }

    private static LlcChain RunChain(LlcProblem problem, LlcSettings s, double nBeta, Generator noise, Generator batches, CancellationToken cancel)
    {
        var parameters = problem.Parameters;
        var sampler = new Sgld(parameters, noise, s.StepSize, nBeta, s.Localization, s.WeightDecay, s.Preconditioned);
        var stream = new BatchStream(problem.Inputs, problem.Targets, s.BatchSize, batches);

        double anchorLoss = double.NaN;
        var anchorParameters = s.AnchorLoss == LlcAnchorLoss.Paired ? problem.Parameters.Select(p => p.Detach().Clone()).ToArray() : null;
        using (Autodiff.NoGrad())
        {
            if (s.AnchorLoss == LlcAnchorLoss.Full || (s.AnchorLoss == LlcAnchorLoss.Batches && s.BatchSize >= problem.SampleSize))
                anchorLoss = problem.BatchLoss(problem.Inputs, problem.Targets).Item();
            else if (s.AnchorLoss == LlcAnchorLoss.Batches)
            {
                double sum = 0;
                for (int b = 0; b < s.AnchorBatches; b++)
                {
                    var (x, y) = stream.Next();
                    sum += problem.BatchLoss(x, y).Item();
                }
                anchorLoss = sum / s.AnchorBatches;
            }
        }

        var trace = new List<double>(s.Draws);
        var anchorTrace = new List<double>(anchorParameters is null ? 0 : s.Draws);
        // The chain's current values while the paired anchor loss borrows the parameters: allocated once per chain.
        var held = anchorParameters is null ? null : parameters.Select(p => p.Detach().Clone()).ToArray();
        int totalSteps = s.BurnIn + s.Draws * s.StepsBetweenDraws;
        bool diverged = anchorParameters is null && !double.IsFinite(anchorLoss);
        for (int step = 0; step < totalSteps && !diverged; step++)
        {
            if ((step & 63) == 0) cancel.ThrowIfCancellationRequested();
            int sinceBurnIn = step - s.BurnIn;
            bool draw = sinceBurnIn >= 0 && sinceBurnIn % s.StepsBetweenDraws == 0;
            sampler.ZeroGrad();
            // The step's batch, forward and backward pass in a recycling scope (the parameters' gradients outlive it);
            // the sampler's update after it, as the engine's TrainStep does: once warm, a step allocates nothing.
            using (TensorScope.Begin())
            {
                var (x, y) = stream.Next();
                // The paired anchor loss swaps w* into the parameters and back: done before this step's forward pass, so
                // the graph the step differentiates never sees parameters changed in place after it was recorded.
                double anchorValue = draw && anchorParameters is not null ? LossAt(problem, anchorParameters, held!, x, y) : double.NaN;
                var loss = problem.BatchLoss(x, y);
                double value = loss.Item();
                if (!double.IsFinite(value))
                {
                    diverged = true;
                    break;
                }
                if (draw)
                {
                    trace.Add(value);
                    if (anchorParameters is not null) anchorTrace.Add(anchorValue);
                }
                loss.Backward();
            }
            sampler.Step();
        }
        foreach (var p in parameters) p.Grad = null;
        if (diverged) return new LlcChain(double.NaN, anchorLoss, trace, anchorTrace, double.NaN, double.NaN, double.NaN, true);

        // Paired: every draw minus its own batch's L_B(w*); otherwise minus the one L(w*).
        var gap = new double[trace.Count];
        for (int i = 0; i < gap.Length; i++) gap[i] = trace[i] - (anchorParameters is null ? anchorLoss : anchorTrace[i]);
        if (anchorParameters is not null) anchorLoss = anchorTrace.Average();
        int third = gap.Length / 3;
        double Part(int start, int count)
        {
            double sum = 0;
            for (int i = start; i < start + count; i++) sum += gap[i];
            return nBeta * sum / count;
        }
        double share = (double)gap.Count(v => v < 0) / gap.Length;
        return new LlcChain(Part(0, gap.Length), anchorLoss, trace, anchorTrace, share, Part(0, third), Part(gap.Length - third, third), false);
    }

    /// <summary>
    /// The batch loss with the parameters temporarily set to <paramref name="at"/>: their values are parked in
    /// <paramref name="held"/> and restored before returning.
    /// </summary>
    private static double LossAt(LlcProblem problem, Tensor[] at, Tensor[] held, Tensor x, Tensor y)
    {
        var parameters = problem.Parameters;
        using var _ = Autodiff.NoGrad();
        for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(held[i], parameters[i]);
        try
        {
            for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], at[i]);
            return problem.BatchLoss(x, y).Item();
        }
        finally
        {
            for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], held[i]);
        }
    }

    private static void Check(LlcProblem problem)
    {
        if (problem.Parameters.Count == 0) throw new ArgumentException("LLC: the problem has no parameters");
        if (problem.Inputs.Rank < 1 || problem.Targets.Rank < 1 || problem.Inputs.Shape[0] != problem.Targets.Shape[0])
            throw new ArgumentException($"LLC: inputs {Shapes.Format(problem.Inputs.Shape)} and targets {Shapes.Format(problem.Targets.Shape)} must have the same number of examples along axis 0");
        if (problem.SampleSize < 2) throw new ArgumentException($"LLC: the training set has {problem.SampleSize} example(s); at least 2 are needed");
        for (int i = 0; i < problem.Parameters.Count; i++)
        {
            var p = problem.Parameters[i];
            if (!p.IsLeaf || !p.RequiresGrad) throw new ArgumentException($"LLC: parameter {i} (shape {Shapes.Format(p.Shape)}) must be a leaf tensor that requires grad");
        }
    }

    private static void Restore(IReadOnlyList<Tensor> parameters, Tensor[] values)
    {
        using (Autodiff.NoGrad())
            for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], values[i]);
    }

    private static double StdDev(IReadOnlyList<double> x)
    {
        double m = x.Average(), ss = 0;
        foreach (double v in x) ss += (v - m) * (v - m);
        return Math.Sqrt(ss / (x.Count - 1));
    }

    /// <summary>Minibatches as consecutive slices of the data under a fresh permutation per epoch (the last, short slice is dropped).</summary>
    private sealed class BatchStream(Tensor inputs, Tensor targets, int batchSize, Generator generator)
    {
        private readonly int _n = inputs.Shape[0];
        private readonly int _size = Math.Min(batchSize, inputs.Shape[0]);
        private Tensor? _x, _y;
        private int _next;

        public (Tensor X, Tensor Y) Next()
        {
            if (_x is null || _next + _size > _n)
            {
                if (_size == _n && _x is not null)
                {
                    _next = 0;
                }
                else
                {
                    // The epoch's permuted copy outlives the step's recycling scope.
                    using var _ = TensorScope.Suspend();
                    var perm = Tensor.RandPerm(_n, generator);
                    _x = Ops.IndexSelect(inputs, 0, perm);
                    _y = Ops.IndexSelect(targets, 0, perm);
                    _next = 0;
                }
            }
            var batch = (_x.Narrow(0, _next, _size), _y!.Narrow(0, _next, _size));
            _next += _size;
            return batch;
        }
    }
}
