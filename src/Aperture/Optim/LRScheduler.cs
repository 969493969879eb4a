namespace Aperture.Optim;

/// <summary>
/// A learning-rate schedule over an optimizer's groups, like <c>torch.optim.lr_scheduler</c>. Each schedule is a
/// closed-form function of the step count t (<see cref="LearningRate"/>): creating the scheduler sets every group's
/// lr to its value at t = 0 and remembers the groups' learning rates as base rates (shared by every schedule attached to
/// the optimizer, like PyTorch's <c>initial_lr</c>); each <see cref="Step"/>
/// advances t and sets the lr again. Its whole state is t and the base rates, so it saves and restores exactly.
/// Call <see cref="Step"/> once per epoch or once per optimizer step, whichever unit t is meant to count.
/// </summary>
public abstract class LRScheduler
{
    private readonly double[] _baseRates;

    /// <summary>Attaches to <paramref name="optimizer"/>. Subclass constructors call <see cref="Apply"/> once their settings are in place.</summary>
    protected LRScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        // Like PyTorch's 'initial_lr': the first schedule attached records the rates, and later ones (the parts of a
        // SequentialLR) start from the same rates rather than from what an earlier schedule set.
        optimizer.InitialLearningRates ??= optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();
        _baseRates = (double[])optimizer.InitialLearningRates.Clone();
    }

    /// <summary>The optimizer whose learning rates are set.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>Each group's base learning rate (its lr when the first schedule was attached to the optimizer).</summary>
    public IReadOnlyList<double> BaseLearningRates => _baseRates;

    /// <summary>The step count t (PyTorch's <c>last_epoch</c>).</summary>
    public long T { get; private set; }

    /// <summary>The learning rate the schedule gives a group with base rate <paramref name="baseLearningRate"/> at step <paramref name="t"/>.</summary>
    public abstract double LearningRate(double baseLearningRate, long t);

    /// <summary>Each group's current learning rate.</summary>
    public IReadOnlyList<double> LastLearningRates => Optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();

    /// <summary>Advances t by one and sets every group's learning rate.</summary>
    public void Step()
    {
        T++;
        Apply();
    }

    /// <summary>Sets every group's learning rate to the schedule's value at the current t.</summary>
    protected void Apply()
    {
        for (int g = 0; g < _baseRates.Length; g++) Optimizer.ParamGroups[g].LearningRate = LearningRate(_baseRates[g], T);
    }

    /// <summary>The schedule's state: <c>t</c> and <c>base_lr.{g}</c>.</summary>
    public Dictionary<string, double> StateDict()
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal) { ["t"] = T };
        for (int g = 0; g < _baseRates.Length; g++) d[$"base_lr.{g}"] = _baseRates[g];
        return d;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> and sets the learning rates it implies. Everything is checked
    /// first (t a whole number ≥ 0, one finite base rate ≥ 0 per group, no other key); a failed load changes nothing.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, double> state) => PrepareLoad(state)();

    /// <summary>Checks <paramref name="state"/> completely and returns the action that applies it (which cannot fail).</summary>
    internal Action PrepareLoad(IReadOnlyDictionary<string, double> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string name = GetType().Name;
        var errors = new List<string>();
        if (!state.TryGetValue("t", out var t)) errors.Add("missing 't'");
        else if (!(t >= 0 && t <= 9007199254740992.0 && t == Math.Floor(t)))
            errors.Add($"'t' = {t.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} is not a whole number ≥ 0");
        var rates = new double[_baseRates.Length];
        for (int g = 0; g < rates.Length; g++)
        {
            if (!state.TryGetValue($"base_lr.{g}", out rates[g]))
                errors.Add($"missing 'base_lr.{g}' (the optimizer has {rates.Length} groups)");
            else if (!(rates[g] >= 0 && double.IsFinite(rates[g])))
                errors.Add($"'base_lr.{g}' = {rates[g].ToString("R", System.Globalization.CultureInfo.InvariantCulture)} is not a finite number ≥ 0");
        }
        foreach (var key in state.Keys)
        {
            if (key == "t") continue;
            if (key.StartsWith("base_lr.", StringComparison.Ordinal)
                && int.TryParse(key.AsSpan(8), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int g))
            {
                if (g >= rates.Length) errors.Add($"'{key}': the saved schedule has more than {rates.Length} groups");
                continue;
            }
            errors.Add($"unexpected key '{key}'");
        }
        if (errors.Count > 0) throw new ArgumentException($"{name}.LoadStateDict: {string.Join("; ", errors)}", nameof(state));
        return () =>
        {
            rates.CopyTo(_baseRates, 0);
            T = (long)t;
            Apply();
        };
    }
}

/// <summary>lr_t = base·γ^⌊t/stepSize⌋ (<c>StepLR</c>).</summary>
public sealed class StepLR : LRScheduler
{
    /// <summary>Decays by <paramref name="gamma"/> every <paramref name="stepSize"/> steps.</summary>
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        if (stepSize < 1) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "StepLR: stepSize must be at least 1");
        if (!(gamma >= 0) || !double.IsFinite(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "StepLR: gamma must be finite and ≥ 0");
        StepSize = stepSize;
        Gamma = gamma;
        Apply();
    }

    /// <summary>Steps between decays.</summary>
    public int StepSize { get; }

    /// <summary>The decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) => baseLearningRate * Math.Pow(Gamma, t / StepSize);
}

/// <summary>lr_t = base·γ^t (<c>ExponentialLR</c>).</summary>
public sealed class ExponentialLR : LRScheduler
{
    /// <summary>Decays by <paramref name="gamma"/> every step.</summary>
    public ExponentialLR(Optimizer optimizer, double gamma) : base(optimizer)
    {
        if (!(gamma >= 0) || !double.IsFinite(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "ExponentialLR: gamma must be finite and ≥ 0");
        Gamma = gamma;
        Apply();
    }

    /// <summary>The decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) => baseLearningRate * Math.Pow(Gamma, t);
}

/// <summary>
/// lr_t = η_min + (base − η_min)·(1 + cos(π·t/tMax))/2 (Loshchilov and Hutter 2017, without restarts), the closed
/// form of <c>CosineAnnealingLR</c>; after tMax it follows the cosine back up, as PyTorch's closed form does.
/// </summary>
public sealed class CosineAnnealingLR : LRScheduler
{
    /// <summary>Anneals from the base rate to <paramref name="etaMin"/> over <paramref name="tMax"/> steps.</summary>
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        if (tMax < 1) throw new ArgumentOutOfRangeException(nameof(tMax), tMax, "CosineAnnealingLR: tMax must be at least 1");
        if (!(etaMin >= 0) || !double.IsFinite(etaMin)) throw new ArgumentOutOfRangeException(nameof(etaMin), etaMin, "CosineAnnealingLR: etaMin must be finite and ≥ 0");
        TMax = tMax;
        EtaMin = etaMin;
        Apply();
    }

    /// <summary>The half period in steps.</summary>
    public int TMax { get; }

    /// <summary>The lowest learning rate.</summary>
    public double EtaMin { get; }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) =>
        EtaMin + (baseLearningRate - EtaMin) * (1 + Math.Cos(Math.PI * t / TMax)) / 2;
}

/// <summary>
/// A linear ramp of the factor from <c>startFactor</c> to <c>endFactor</c> over <c>totalIters</c> steps, then constant
/// (<c>LinearLR</c>): lr_t = base·(s + (e − s)·min(t, T)/T). With a small start factor and end factor 1 it is a linear
/// warmup.
/// </summary>
public sealed class LinearLR : LRScheduler
{
    /// <summary>Ramps the factor linearly.</summary>
    public LinearLR(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5) : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1)) throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, "LinearLR: startFactor must be in (0, 1]");
        if (!(endFactor >= 0 && endFactor <= 1)) throw new ArgumentOutOfRangeException(nameof(endFactor), endFactor, "LinearLR: endFactor must be in [0, 1]");
        if (totalIters < 1) throw new ArgumentOutOfRangeException(nameof(totalIters), totalIters, "LinearLR: totalIters must be at least 1");
        StartFactor = startFactor;
        EndFactor = endFactor;
        TotalIters = totalIters;
        Apply();
    }

    /// <summary>A linear warmup: lr_t = base·(t + 1)/<paramref name="warmupSteps"/> for t &lt; warmupSteps, then base.</summary>
    public static LinearLR Warmup(Optimizer optimizer, int warmupSteps)
    {
        if (warmupSteps < 1) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "LinearLR.Warmup: warmupSteps must be at least 1");
        return new(optimizer, 1.0 / warmupSteps, 1.0, Math.Max(warmupSteps - 1, 1));
    }

    /// <summary>The factor at t = 0.</summary>
    public double StartFactor { get; }

    /// <summary>The factor from t = totalIters on.</summary>
    public double EndFactor { get; }

    /// <summary>The length of the ramp in steps.</summary>
    public int TotalIters { get; }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) =>
        baseLearningRate * (StartFactor + (EndFactor - StartFactor) * Math.Min(t, TotalIters) / TotalIters);
}

/// <summary>
/// lr_t = base·√(τ/(t + τ)): constant at t = 0 and decaying like 1/√t, the classic step size of stochastic
/// approximation for convex problems. τ (<c>timescale</c>, default 1) sets where the decay starts.
/// </summary>
public sealed class InverseSqrtLR : LRScheduler
{
    /// <summary>Decays like 1/√t after about <paramref name="timescale"/> steps.</summary>
    public InverseSqrtLR(Optimizer optimizer, double timescale = 1) : base(optimizer)
    {
        if (!(timescale > 0) || !double.IsFinite(timescale)) throw new ArgumentOutOfRangeException(nameof(timescale), timescale, "InverseSqrtLR: timescale must be positive and finite");
        Timescale = timescale;
        Apply();
    }

    /// <summary>τ.</summary>
    public double Timescale { get; }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) => baseLearningRate * Math.Sqrt(Timescale / (t + Timescale));
}

/// <summary>lr_t = base·factor(t) for a given function (<c>LambdaLR</c>). The function is not saved; t and the base rates are.</summary>
public sealed class LambdaLR : LRScheduler
{
    private readonly Func<long, double> _factor;

    /// <summary>Uses <paramref name="factor"/>(t) as the multiplier of each group's base rate.</summary>
    public LambdaLR(Optimizer optimizer, Func<long, double> factor) : base(optimizer)
    {
        _factor = factor ?? throw new ArgumentNullException(nameof(factor));
        Apply();
    }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t) => baseLearningRate * _factor(t);
}

/// <summary>
/// Schedules one after another (<c>SequentialLR</c>): schedule i runs from milestone i−1 to milestone i, with its own
/// t counted from its start — e.g. a linear warmup for 5 steps, then cosine annealing.
/// </summary>
public sealed class SequentialLR : LRScheduler
{
    private readonly LRScheduler[] _schedules;
    private readonly long[] _milestones;

    /// <summary>Chains <paramref name="schedules"/> (over the same optimizer) switching at <paramref name="milestones"/> (one fewer, increasing).</summary>
    public SequentialLR(Optimizer optimizer, IReadOnlyList<LRScheduler> schedules, IReadOnlyList<long> milestones) : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        ArgumentNullException.ThrowIfNull(milestones);
        if (schedules.Count == 0) throw new ArgumentException("SequentialLR: at least one schedule is needed", nameof(schedules));
        if (milestones.Count != schedules.Count - 1)
            throw new ArgumentException($"SequentialLR: {schedules.Count} schedules need {schedules.Count - 1} milestones, got {milestones.Count}", nameof(milestones));
        for (int i = 0; i < milestones.Count; i++)
            if (milestones[i] < 1 || (i > 0 && milestones[i] <= milestones[i - 1]))
                throw new ArgumentException($"SequentialLR: milestones must be positive and increasing, got [{string.Join(", ", milestones)}]", nameof(milestones));
        foreach (var s in schedules)
            if (!ReferenceEquals(s.Optimizer, optimizer)) throw new ArgumentException("SequentialLR: every schedule must be attached to the same optimizer", nameof(schedules));
        _schedules = schedules.ToArray();
        _milestones = milestones.ToArray();
        Apply();
    }

    /// <inheritdoc/>
    public override double LearningRate(double baseLearningRate, long t)
    {
        int i = 0;
        while (i < _milestones.Length && t >= _milestones[i]) i++;
        long start = i == 0 ? 0 : _milestones[i - 1];
        return _schedules[i].LearningRate(baseLearningRate, t - start);
    }
}
