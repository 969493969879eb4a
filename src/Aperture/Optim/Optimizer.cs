using System.Globalization;

namespace Aperture.Optim;

/// <summary>
/// A set of parameters with its own hyper-parameters, like an entry of PyTorch's <c>optimizer.param_groups</c>.
/// Options are named numbers with PyTorch's names (<c>lr</c>, <c>momentum</c>, <c>weight_decay</c>, <c>beta1</c>, …);
/// set the ones that differ from the optimizer's defaults:
/// <c>new ParamGroup(model.Head.Parameters()) { ["lr"] = 1e-2 }</c>.
/// </summary>
public sealed class ParamGroup
{
    private readonly Dictionary<string, double> _options = new(StringComparer.Ordinal);

    /// <summary>A group over <paramref name="parameters"/> (options not set here take the optimizer's defaults).</summary>
    public ParamGroup(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
    }

    /// <summary>The group's parameters.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>The option <paramref name="name"/> (e.g. "lr").</summary>
    public double this[string name]
    {
        get => _options.TryGetValue(name, out var v)
            ? v
            : throw new KeyNotFoundException($"ParamGroup: no option '{name}'; this group has: {string.Join(", ", _options.Keys)}");
        set
        {
            ArgumentNullException.ThrowIfNull(name);
            _options[name] = value;
            Version++;
        }
    }

    /// <summary>
    /// Counts the changes of the options (every set, even to the same value), so an optimizer validates a group again
    /// only after it changed instead of at every step.
    /// </summary>
    internal int Version { get; private set; }

    /// <summary>The learning rate (option "lr"); schedulers set it.</summary>
    public double LearningRate
    {
        get => this["lr"];
        set => this["lr"] = value;
    }

    /// <summary>Every option with its value.</summary>
    public IReadOnlyDictionary<string, double> Options => _options;

    /// <summary>True when the option is set.</summary>
    public bool Has(string name) => _options.ContainsKey(name);
}

/// <summary>The state an optimizer keeps for one parameter: a step count and named buffers (momentum, moments).</summary>
public sealed class ParameterState
{
    /// <summary>How many updates this parameter has had.</summary>
    public long Step { get; set; }

    /// <summary>The named state tensors (e.g. <c>exp_avg</c>, <c>exp_avg_sq</c>), each of the parameter's shape.</summary>
    public Dictionary<string, Tensor> Buffers { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A saved state: named tensors plus named scalars — what an optimizer's, a schedule's or a trainer's
/// <c>StateDict()</c> returns and <c>LoadStateDict</c> takes. The tensors are copies. Scalars are doubles (step counts are
/// exact up to 2^53); a file format must store them exactly (e.g. as round-trip text).
/// </summary>
public sealed record StateSnapshot(Dictionary<string, Tensor> Tensors, Dictionary<string, double> Scalars)
{
    /// <summary>An empty snapshot.</summary>
    public StateSnapshot() : this(new Dictionary<string, Tensor>(StringComparer.Ordinal), new Dictionary<string, double>(StringComparer.Ordinal)) { }

    /// <summary>The scalar <paramref name="key"/>, or an error naming it.</summary>
    public double Scalar(string key) => Scalars.TryGetValue(key, out var v)
        ? v
        : throw new KeyNotFoundException($"state snapshot: no scalar '{key}'");

    /// <summary>The tensor <paramref name="key"/>, or an error naming it.</summary>
    public Tensor Tensor(string key) => Tensors.TryGetValue(key, out var v)
        ? v
        : throw new KeyNotFoundException($"state snapshot: no tensor '{key}'");

    /// <summary>The entries whose keys start with <paramref name="prefix"/>, with the prefix removed.</summary>
    public StateSnapshot Sub(string prefix)
    {
        var s = new StateSnapshot();
        foreach (var (k, v) in Tensors) if (k.StartsWith(prefix, StringComparison.Ordinal)) s.Tensors[k[prefix.Length..]] = v;
        foreach (var (k, v) in Scalars) if (k.StartsWith(prefix, StringComparison.Ordinal)) s.Scalars[k[prefix.Length..]] = v;
        return s;
    }

    /// <summary>Copies every entry of <paramref name="other"/> into this snapshot under <paramref name="prefix"/>.</summary>
    public void Add(string prefix, StateSnapshot other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var (k, v) in other.Tensors) Tensors[prefix + k] = v;
        foreach (var (k, v) in other.Scalars) Scalars[prefix + k] = v;
    }
}

/// <summary>
/// The base of every optimizer: parameter groups with named hyper-parameters, per-parameter state that is plain data
/// (tensors plus a step count), and save/restore of both (<see cref="StateDict"/>). Subclasses define
/// <see cref="Step"/>; the first-order ones do so through <see cref="GradientOptimizer"/>.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<Tensor, ParameterState> _state = new(ReferenceEqualityComparer.Instance);
    private readonly ParamGroup[] _groups;
    private readonly Dictionary<string, double> _defaults;

    /// <summary>
    /// Sets up the groups: fills each group's missing options from <paramref name="defaults"/>, rejects unknown options
    /// and repeated parameters. The subclass constructor then calls <see cref="ValidateGroups"/>.
    /// </summary>
    protected Optimizer(IEnumerable<ParamGroup> groups, IReadOnlyDictionary<string, double> defaults)
    {
        ArgumentNullException.ThrowIfNull(groups);
        _defaults = new Dictionary<string, double>(defaults, StringComparer.Ordinal);
        _groups = groups.ToArray();
        if (_groups.Length == 0) throw new ArgumentException($"{Name}: no parameter groups were given");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g] ?? throw new ArgumentNullException(nameof(groups), $"{Name}: parameter group {g} is null");
            if (group.Parameters.Count == 0) throw new ArgumentException($"{Name}: parameter group {g} has no parameters");
            foreach (var key in group.Options.Keys)
                if (!_defaults.ContainsKey(key))
                    throw new ArgumentException($"{Name}: parameter group {g} has an unknown option '{key}'; {Name}'s options are {string.Join(", ", _defaults.Keys)}");
            foreach (var (key, value) in _defaults)
                if (!group.Has(key)) group[key] = value;
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                var p = group.Parameters[i] ?? throw new ArgumentNullException(nameof(groups), $"{Name}: parameter {i} of group {g} is null");
                if (!p.IsLeaf) throw new ArgumentException($"{Name}: parameter {i} of group {g} is not a leaf tensor (it was produced by '{p.GradFn!.Name}'); optimize leaves");
                if (!p.DType.IsFloatingPoint()) throw new DTypeMismatchException($"{Name}: parameter {i} of group {g} is {p.DType.Name()}; only float32 and float64 parameters can be optimized");
                if (!p.IsContiguous) throw new ArgumentException($"{Name}: parameter {i} of group {g} (shape {Shapes.Format(p.Shape)}) is a non-contiguous view; optimize the tensor that owns the elements");
                if (!seen.Add(p)) throw new ArgumentException($"{Name}: parameter {i} of group {g} (shape {Shapes.Format(p.Shape)}) appears in more than one place; each parameter belongs to one group once");
            }
        }
    }

    /// <summary>Validates every group (subclass constructors call it once their own settings are in place).</summary>
    protected void ValidateGroups()
    {
        for (int g = 0; g < _groups.Length; g++) Validate(_groups[g], g);
    }

    /// <summary>The <see cref="ParamGroup.Version"/> of each group when it last passed <see cref="Validate"/> (−1: never).</summary>
    private int[]? _validatedVersions;

    /// <summary>
    /// <see cref="Validate"/>s the groups whose options changed since they last passed: what a step does, so the
    /// checks (a dictionary lookup and a delegate call per option) run once per change rather than once per step. A
    /// group that fails is checked again at the next call.
    /// </summary>
    private protected void ValidateChangedGroups()
    {
        if (_validatedVersions is null)
        {
            _validatedVersions = new int[_groups.Length];
            Array.Fill(_validatedVersions, -1);
        }
        for (int g = 0; g < _groups.Length; g++)
        {
            int version = _groups[g].Version;
            if (_validatedVersions[g] == version) continue;
            Validate(_groups[g], g);
            _validatedVersions[g] = version;
        }
    }

    /// <summary>One group over <paramref name="parameters"/> (what most optimizers are built with).</summary>
    protected static IEnumerable<ParamGroup> OneGroup(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return [new ParamGroup(parameters)];
    }

    /// <summary>The optimizer's name in messages.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>The parameter groups, in order.</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>The default options (those a group did not set).</summary>
    public IReadOnlyDictionary<string, double> Defaults => _defaults;

    /// <summary>Every parameter, group by group.</summary>
    public IEnumerable<Tensor> Parameters() => _groups.SelectMany(g => g.Parameters);

    /// <summary>The groups' learning rates when the first <see cref="LRScheduler"/> was attached (PyTorch's <c>initial_lr</c>).</summary>
    internal double[]? InitialLearningRates { get; set; }

    /// <summary>How many times <see cref="Step"/> has run.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Updates the parameters once.</summary>
    public abstract void Step();

    /// <summary>Sets every parameter's gradient to null (<c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad()
    {
        for (int g = 0; g < _groups.Length; g++)
        {
            var parameters = _groups[g].Parameters;
            for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = null;
        }
    }

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the option when a group's hyper-parameter is invalid. It may
    /// read only the group's options and the optimizer's fixed settings: a <see cref="GradientOptimizer"/>'s step runs
    /// it again only for a group whose options were set since it last passed.
    /// </summary>
    protected abstract void Validate(ParamGroup group, int index);

    /// <summary>Checks one option of a group, with a message saying which and why.</summary>
    protected void Require(ParamGroup group, int index, string option, Func<double, bool> valid, string expected)
    {
        double v = group[option];
        if (!valid(v))
            throw new ArgumentOutOfRangeException(option, v,
                $"{Name}: {option} = {v.ToString("R", CultureInfo.InvariantCulture)} in parameter group {index} is invalid: {option} must be {expected}");
    }

    /// <summary>The state of <paramref name="parameter"/>, created empty on first use.</summary>
    protected ParameterState StateOf(Tensor parameter)
    {
        if (!_state.TryGetValue(parameter, out var s)) _state[parameter] = s = new ParameterState();
        return s;
    }

    /// <summary>The state of <paramref name="parameter"/> if it has any (for inspection).</summary>
    public ParameterState? State(Tensor parameter) => _state.GetValueOrDefault(parameter);

    /// <summary>A buffer of <paramref name="state"/>, created as zeros (or <paramref name="fill"/>) of the parameter's shape on first use.</summary>
    protected static Tensor BufferOf(ParameterState state, string name, Tensor parameter, double fill = 0)
    {
        if (!state.Buffers.TryGetValue(name, out var b))
        {
            // State outlives the step: never from a recycling scope's pools, even when Step runs inside one.
            using var _ = TensorScope.Suspend();
            state.Buffers[name] = b = fill == 0 ? Tensor.ZerosLike(parameter) : Tensor.FullLike(parameter, fill);
        }
        return b;
    }

    // ---- save and restore --------------------------------------------------------------------------

    /// <summary>
    /// The optimizer's state: per parameter (numbered across groups in order, like PyTorch) its buffers as tensors
    /// <c>state.{i}.{buffer}</c> and its step as the scalar <c>state.{i}.step</c>; each group's options as
    /// <c>param_groups.{g}.{option}</c>; and the optimizer's own scalars (<see cref="SaveExtra"/>). All copies.
    /// </summary>
    public StateSnapshot StateDict()
    {
        var s = new StateSnapshot();
        s.Scalars["step_count"] = StepCount;
        int i = 0;
        for (int g = 0; g < _groups.Length; g++)
        {
            foreach (var (k, v) in _groups[g].Options) s.Scalars[$"param_groups.{g}.{k}"] = v;
            foreach (var p in _groups[g].Parameters)
            {
                if (_state.TryGetValue(p, out var st))
                {
                    s.Scalars[$"state.{i}.step"] = st.Step;
                    foreach (var (name, b) in st.Buffers) s.Tensors[$"state.{i}.{name}"] = StridedCopy.ToContiguous(b);
                }
                i++;
            }
        }
        SaveExtra(s);
        return s;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> into an optimizer over parameters of the same shapes in the
    /// same groups (for example a fresh optimizer over a freshly built model). Everything is checked before
    /// anything changes, and a failed load leaves the optimizer as it was: a key that names no parameter or group, a
    /// buffer of the wrong shape or dtype or of a name this optimizer does not keep, a parameter that has stepped but
    /// lacks a buffer its update needs, a step count that is not a whole number ≥ 0, and hyper-parameters this
    /// optimizer would refuse (eps NaN, beta2 = 1, …; the same checks as its constructor) are errors naming the entry.
    /// </summary>
    public void LoadStateDict(StateSnapshot state) => PrepareLoad(state)();

    /// <summary>
    /// Checks <paramref name="state"/> completely and returns the action that applies it; the action cannot fail.
    /// <see cref="Aperture.NN.Trainer"/> checks the model, optimizer and schedule this way before applying any of them.
    /// </summary>
    internal Action PrepareLoad(StateSnapshot state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var errors = new List<string>();
        var paramsByIndex = Parameters().ToArray();
        var groupOfParam = new int[paramsByIndex.Length];
        for (int g = 0, k = 0; g < _groups.Length; g++)
            for (int j = 0; j < _groups[g].Parameters.Count; j++) groupOfParam[k++] = g;

        // Hyper-parameters: every option of every group, nothing more, and values the optimizer accepts.
        var newOptions = new Dictionary<string, double>[_groups.Length];
        for (int g = 0; g < _groups.Length; g++)
        {
            newOptions[g] = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var key in _groups[g].Options.Keys)
                if (state.Scalars.TryGetValue($"param_groups.{g}.{key}", out var v)) newOptions[g][key] = v;
                else errors.Add($"missing option param_groups.{g}.{key}");
        }

        var newState = new Dictionary<int, ParameterState>();
        ParameterState StateAt(int i) => newState.TryGetValue(i, out var st) ? st : newState[i] = new ParameterState();
        var allowed = StateBufferNames;
        foreach (var (key, t) in state.Tensors)
        {
            if (t is null) { errors.Add($"tensor '{key}' is null"); continue; }
            if (!TryParseStateKey(key, out int i, out var name)) { if (!IsExtraTensor(key)) errors.Add($"unexpected tensor '{key}'"); continue; }
            if (i >= paramsByIndex.Length) { errors.Add($"'{key}' is for parameter {i}, but the optimizer has {paramsByIndex.Length}"); continue; }
            if (name == "step") { errors.Add($"'{key}' is a tensor, but a step count is a scalar"); continue; }
            if (allowed is not null && !allowed.Contains(name))
            {
                errors.Add($"'{key}' names a buffer '{name}' that {Name} does not keep (its buffers: {string.Join(", ", allowed)})");
                continue;
            }
            var p = paramsByIndex[i];
            if (!Shapes.Equal(t.Shape, p.Shape) || t.DType != p.DType)
            {
                errors.Add($"'{key}' is {t.DType.Name()} {Shapes.Format(t.Shape)} but parameter {i} is {p.DType.Name()} {Shapes.Format(p.Shape)}");
                continue;
            }
            StateAt(i).Buffers[name] = t;
        }
        double stepCount = 0;
        foreach (var (key, v) in state.Scalars)
        {
            if (key == "step_count")
            {
                if (!IsCount(v)) errors.Add($"'step_count' = {Format(v)} is not a whole number ≥ 0");
                else stepCount = v;
                continue;
            }
            if (key.StartsWith("param_groups.", StringComparison.Ordinal))
            {
                if (!TryParseGroupKey(key, out int g, out var option) || g >= _groups.Length)
                    errors.Add(g >= _groups.Length && g >= 0
                        ? $"'{key}' is for parameter group {g}, but the optimizer has {_groups.Length} (the saved state has more groups)"
                        : $"'{key}' names no parameter group option (expected param_groups.{{group}}.{{option}})");
                else if (!_groups[g].Has(option))
                    errors.Add($"'{key}' names an option '{option}' that {Name} does not have (its options: {string.Join(", ", _defaults.Keys)})");
                continue;
            }
            if (!key.StartsWith("state.", StringComparison.Ordinal)) { if (!IsExtraScalar(key)) errors.Add($"unexpected scalar '{key}'"); continue; }
            if (!TryParseStateKey(key, out int pi, out var field) || field != "step")
            {
                errors.Add($"scalar '{key}' is not a per-parameter step count (expected state.{{parameter index}}.step)");
                continue;
            }
            if (pi >= paramsByIndex.Length) { errors.Add($"'{key}' names no parameter of this optimizer ({paramsByIndex.Length} parameters)"); continue; }
            if (!IsCount(v)) { errors.Add($"'{key}' = {Format(v)} is not a whole number ≥ 0"); continue; }
            StateAt(pi).Step = (long)v;
        }

        if (errors.Count == 0)
        {
            // The same checks as the constructor, on the values that would be loaded.
            for (int g = 0; g < _groups.Length; g++)
            {
                var probe = new ParamGroup(_groups[g].Parameters);
                foreach (var (k, v) in newOptions[g]) probe[k] = v;
                try { Validate(probe, g); }
                catch (ArgumentException e) { errors.Add($"the saved hyper-parameters are invalid: {e.Message.Split(" (Parameter ")[0]}"); }
            }
            foreach (var (i, st) in newState)
            {
                if (st.Step == 0) continue;
                var probe = new ParamGroup(_groups[groupOfParam[i]].Parameters);
                foreach (var (k, v) in newOptions[groupOfParam[i]]) probe[k] = v;
                foreach (var required in RequiredStateBuffers(probe))
                    if (!st.Buffers.ContainsKey(required))
                        errors.Add($"parameter {i} has taken {st.Step} steps but its state lacks 'state.{i}.{required}'");
            }
        }
        CheckExtra(state, errors);
        if (errors.Count > 0) throw new ArgumentException($"{Name}.LoadStateDict: {string.Join("; ", errors)}", nameof(state));

        // Copies made now, so that the returned action only assigns.
        foreach (var st in newState.Values)
            foreach (var name in st.Buffers.Keys.ToList()) st.Buffers[name] = StridedCopy.ToContiguous(st.Buffers[name]);
        return () =>
        {
            for (int g = 0; g < _groups.Length; g++)
                foreach (var (key, v) in newOptions[g]) _groups[g][key] = v;
            _state.Clear();
            foreach (var (i, st) in newState) _state[paramsByIndex[i]] = st;
            StepCount = (long)stepCount;
            LoadExtra(state);
        };
    }

    private static bool IsCount(double v) => v >= 0 && v <= 9007199254740992.0 && v == Math.Floor(v);

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static bool TryParseGroupKey(string key, out int group, out string option)
    {
        group = -1;
        option = "";
        const int start = 13;   // "param_groups.".Length
        int dot = key.IndexOf('.', start);
        if (dot < 0 || !int.TryParse(key.AsSpan(start, dot - start), NumberStyles.None, CultureInfo.InvariantCulture, out group)) return false;
        option = key[(dot + 1)..];
        return option.Length > 0;
    }

    /// <summary>
    /// Every buffer name this optimizer may keep for a parameter (e.g. Adam's <c>exp_avg</c>, <c>exp_avg_sq</c>): a
    /// saved state holding any other name is refused at load. Null (the default, for optimizers that do not declare
    /// theirs) accepts any name.
    /// </summary>
    protected virtual IReadOnlyCollection<string>? StateBufferNames => null;

    /// <summary>
    /// The buffers a parameter of <paramref name="group"/> (with the options being loaded) always holds once it has
    /// taken a step; a saved state that lacks one is refused at load rather than restarted silently from zeros.
    /// </summary>
    protected virtual IEnumerable<string> RequiredStateBuffers(ParamGroup group) => [];

    private static bool TryParseStateKey(string key, out int index, out string name)
    {
        index = -1;
        name = "";
        if (!key.StartsWith("state.", StringComparison.Ordinal)) return false;
        int dot = key.IndexOf('.', 6);
        if (dot < 0 || !int.TryParse(key.AsSpan(6, dot - 6), NumberStyles.None, CultureInfo.InvariantCulture, out index)) return false;
        name = key[(dot + 1)..];
        return name.Length > 0;
    }

    /// <summary>Adds the optimizer's own state (beyond groups and per-parameter state) to a snapshot.</summary>
    protected virtual void SaveExtra(StateSnapshot state) { }

    /// <summary>Checks the optimizer's own state in a snapshot before anything is loaded; adds messages to <paramref name="errors"/>.</summary>
    protected virtual void CheckExtra(StateSnapshot state, List<string> errors) { }

    /// <summary>Restores the optimizer's own state (called after the checks passed).</summary>
    protected virtual void LoadExtra(StateSnapshot state) { }

    /// <summary>True for a tensor key that <see cref="SaveExtra"/> writes (not a per-parameter entry).</summary>
    protected virtual bool IsExtraTensor(string key) => false;

    /// <summary>True for a scalar key that <see cref="SaveExtra"/> writes (not a group option or a step count).</summary>
    protected virtual bool IsExtraScalar(string key) => false;
}
