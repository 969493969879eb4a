using System.Text;

namespace Aperture.NN;

/// <summary>
/// The base of every layer and model, like PyTorch's <c>nn.Module</c>: it owns named parameters, buffers,
/// generators and child modules, registered explicitly in the constructor, and exposes them under dotted names
/// (<c>0.weight</c>, <c>body.2.running_mean</c>). A module computes <see cref="Forward"/>, which runs the forward
/// hooks around the subclass's <see cref="ForwardCore"/>.
/// </summary>
/// <remarks>
/// <para>Registration is explicit (<see cref="RegisterParameter"/>, <see cref="RegisterBuffer"/>,
/// <see cref="RegisterGenerator"/>, <see cref="RegisterModule{T}"/>) and ordered: the order of registration is the
/// order of <see cref="Parameters"/> and of the state dict. Nothing is discovered by reflection.</para>
/// <para>Randomness: a layer that draws (an initializer, a dropout mask) is handed a <see cref="Generator"/>. Draws
/// at construction consume that generator in registration order; a layer that draws during training (dropout)
/// registers the generator it was given, and its state (seed, stream, offset) is part of <see cref="StateDict"/>,
/// so a restored model draws the same masks an uninterrupted one would.</para>
/// </remarks>
public abstract partial class Module
{
    private readonly OrderedDictionary<string, Tensor?> _parameters = new();
    private readonly OrderedDictionary<string, Tensor> _buffers = new();
    private readonly HashSet<string> _nonPersistent = [];
    private readonly OrderedDictionary<string, Generator> _generators = new();
    private readonly OrderedDictionary<string, Module> _children = new();

    /// <summary>True in training mode (the default): dropout draws masks and batch norm uses batch statistics.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>
    /// Computes the module's output, running the forward pre-hooks (which may replace the input) and the
    /// forward hooks (which may replace the output) around <see cref="ForwardCore"/>.
    /// </summary>
    public Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_preHooks.Count > 0)
            foreach (var hook in _preHooks.ToArray()) input = hook.Fn(this, input) ?? input;
        var output = ForwardCore(input);
        if (_hooks.Count > 0)
            foreach (var hook in _hooks.ToArray()) output = hook.Fn(this, input, output) ?? output;
        return output;
    }

    /// <summary>Whether the module has neither forward pre-hooks nor forward hooks (so a container may fuse it with a neighbour).</summary>
    internal bool NoHooks => _preHooks.Count == 0 && _hooks.Count == 0;

    /// <summary>The layer's computation. Call <see cref="Forward"/> (which runs the hooks), not this, from outside.</summary>
    protected abstract Tensor ForwardCore(Tensor input);

    // ---- registration --------------------------------------------------------------------------------

    /// <summary>
    /// Registers a parameter: a floating-point leaf that requires grad (it is set to), optimized by
    /// <see cref="Optim.Optimizer"/>s and saved in the state dict. It is rounded to the weight storage format of the
    /// current <see cref="NumericsPolicy"/>. <paramref name="value"/> may be null for an optional parameter (a layer
    /// without bias), which is then skipped everywhere.
    /// </summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckNewName(name);
        ArgumentNullException.ThrowIfNull(value);
        if (!value.IsLeaf)
            throw new ArgumentException($"{Describe()}: parameter '{name}' must be a leaf tensor; it was produced by '{value.GradFn!.Name}' (use Detach())");
        if (!value.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"{Describe()}: parameter '{name}' must be float32 or float64, got {value.DType.Name()}");
        if (!value.IsContiguous) value = value.Contiguous().Detach();
        NumericsPolicy.RoundWeights(value);
        value.RequiresGrad = true;
        _parameters.Add(name, value);
        return value;
    }

    /// <summary>
    /// Draws a new parameter from <paramref name="init"/> and registers it. A random initializer without a
    /// generator is an error naming this layer and the parameter.
    /// </summary>
    protected Tensor InitParameter(string name, int[] shape, Initializer init, Fans fans, Generator? generator, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(init);
        if (init.IsRandom && generator is null)
            throw new ArgumentNullException(nameof(generator),
                $"{Describe()}: initializing '{name}' with {init.Name} draws random numbers; pass generator: new Generator(seed)");
        if (!dtype.IsFloatingPoint())
            throw new DTypeMismatchException($"{Describe()}: parameters must be float32 or float64, got {dtype.Name()}");
        return RegisterParameter(name, init.Sample(shape, dtype, fans, generator));
    }

    /// <summary>Registers the name of an optional parameter that this instance does not have (e.g. a bias-free layer's bias).</summary>
    protected void RegisterAbsentParameter(string name)
    {
        CheckNewName(name);
        _parameters.Add(name, null);
    }

    /// <summary>
    /// Registers a buffer: state that is not optimized (batch norm's running statistics). Persistent buffers are
    /// part of the state dict.
    /// </summary>
    protected Tensor RegisterBuffer(string name, Tensor value, bool persistent = true)
    {
        CheckNewName(name);
        ArgumentNullException.ThrowIfNull(value);
        _buffers.Add(name, value.IsContiguous ? value : value.Contiguous().Detach());
        if (!persistent) _nonPersistent.Add(name);
        return _buffers[name];
    }

    /// <summary>
    /// Registers a generator the module draws from while it runs (dropout masks). Its state is saved in the state
    /// dict as an int64 tensor [seed, stream, offset] (see <see cref="GeneratorState"/>).
    /// </summary>
    protected Generator RegisterGenerator(string name, Generator generator)
    {
        CheckNewName(name);
        ArgumentNullException.ThrowIfNull(generator);
        _generators.Add(name, generator);
        return generator;
    }

    /// <summary>Registers a child module under <paramref name="name"/>; its entries appear as <c>name.…</c>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckNewName(name);
        ArgumentNullException.ThrowIfNull(module);
        if (ReferenceEquals(module, this) || module.Modules().Contains(this))
            throw new ArgumentException($"{Describe()}: registering '{name}' would make the module contain itself");
        _children.Add(name, module);
        return module;
    }

    private void CheckNewName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{Describe()}: '{name}' is not a valid name: it must be non-empty and contain no '.'", nameof(name));
        if (_parameters.ContainsKey(name) || _buffers.ContainsKey(name) || _generators.ContainsKey(name) || _children.ContainsKey(name))
            throw new ArgumentException($"{Describe()}: the name '{name}' is already registered", nameof(name));
    }

    /// <summary>This module's own parameter <paramref name="name"/> (null for an absent optional parameter).</summary>
    protected Tensor? Param(string name) => _parameters[name];

    /// <summary>This module's own buffer <paramref name="name"/>.</summary>
    protected Tensor Buffer(string name) => _buffers[name];

    /// <summary>Replaces the value of this module's own buffer (for buffers whose value is rebound rather than updated in place).</summary>
    protected void SetBuffer(string name, Tensor value)
    {
        if (!_buffers.ContainsKey(name)) throw new KeyNotFoundException($"{Describe()}: no buffer named '{name}'");
        _buffers[name] = value;
    }

    /// <summary>This module's own generator <paramref name="name"/> (a restored state dict may have replaced the object).</summary>
    protected Generator GeneratorOf(string name) => _generators[name];

    /// <summary>This module's own child <paramref name="name"/>.</summary>
    protected Module Child(string name) => _children[name];

    // ---- traversal -----------------------------------------------------------------------------------

    /// <summary>
    /// The parameters, in registration order (depth first), each once even when shared — what an optimizer takes:
    /// <c>new Adam(model.Parameters())</c>.
    /// </summary>
    public IEnumerable<Tensor> Parameters(bool recurse = true)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, p) in NamedParameters(recurse: recurse))
            if (seen.Add(p)) yield return p;
    }

    /// <summary>The parameters with their dotted names (absent optional parameters are skipped).</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "", bool recurse = true)
    {
        foreach (var (name, p) in _parameters)
            if (p is not null) yield return (prefix + name, p);
        if (!recurse) yield break;
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedParameters(prefix + name + ".", true)) yield return item;
    }

    /// <summary>The buffers with their dotted names.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "", bool recurse = true)
    {
        foreach (var (name, b) in _buffers) yield return (prefix + name, b);
        if (!recurse) yield break;
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedBuffers(prefix + name + ".", true)) yield return item;
    }

    /// <summary>The generators with their dotted names.</summary>
    public IEnumerable<(string Name, Generator Generator)> NamedGenerators(string prefix = "", bool recurse = true)
    {
        foreach (var (name, g) in _generators) yield return (prefix + name, g);
        if (!recurse) yield break;
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedGenerators(prefix + name + ".", true)) yield return item;
    }

    /// <summary>The direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        foreach (var (name, child) in _children) yield return (name, child);
    }

    /// <summary>The direct children.</summary>
    public IEnumerable<Module> Children() => _children.Values;

    /// <summary>This module and every descendant with dotted names (this module's name is <paramref name="prefix"/>, "" by default).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedModules(prefix.Length == 0 ? name : prefix + "." + name)) yield return item;
    }

    /// <summary>This module and every descendant, depth first.</summary>
    public IEnumerable<Module> Modules() => NamedModules().Select(m => m.Module);

    /// <summary>The descendant at a dotted path (<c>"body.0"</c>); "" is this module.</summary>
    public Module GetSubmodule(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0) return this;
        Module m = this;
        foreach (var part in path.Split('.'))
            m = m._children.TryGetValue(part, out var c)
                ? c
                : throw new KeyNotFoundException($"{m.Describe()} has no child '{part}' (in path '{path}'); its children are: {Names(m._children.Keys)}");
        return m;
    }

    /// <summary>The parameter at a dotted name (<c>"0.weight"</c>).</summary>
    public Tensor GetParameter(string name)
    {
        var (owner, leaf) = Resolve(name);
        return owner._parameters.TryGetValue(leaf, out var p) && p is not null
            ? p
            : throw new KeyNotFoundException($"{owner.Describe()} has no parameter '{leaf}' (looking up '{name}'); it has: {Names(owner._parameters.Where(kv => kv.Value is not null).Select(kv => kv.Key))}");
    }

    /// <summary>The buffer at a dotted name (<c>"1.running_mean"</c>).</summary>
    public Tensor GetBuffer(string name)
    {
        var (owner, leaf) = Resolve(name);
        return owner._buffers.TryGetValue(leaf, out var b)
            ? b
            : throw new KeyNotFoundException($"{owner.Describe()} has no buffer '{leaf}' (looking up '{name}'); it has: {Names(owner._buffers.Keys)}");
    }

    private (Module Owner, string Leaf) Resolve(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int dot = name.LastIndexOf('.');
        return dot < 0 ? (this, name) : (GetSubmodule(name[..dot]), name[(dot + 1)..]);
    }

    private static string Names(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? "(none)" : string.Join(", ", list);
    }

    /// <summary>
    /// Calls <paramref name="fn"/> on every descendant and then on this module (children first, like PyTorch's
    /// <c>model.apply</c>), e.g. to re-initialize every Linear layer. Returns this module.
    /// </summary>
    public Module Apply(Action<Module> fn)
    {
        ArgumentNullException.ThrowIfNull(fn);
        foreach (var child in _children.Values) child.Apply(fn);
        fn(this);
        return this;
    }

    /// <summary>The number of parameter elements (shared parameters counted once); <paramref name="trainableOnly"/> counts those that require grad.</summary>
    public long ParameterCount(bool trainableOnly = false) =>
        Parameters().Where(p => !trainableOnly || p.RequiresGrad).Sum(p => (long)p.Numel);

    // ---- modes and freezing --------------------------------------------------------------------------

    /// <summary>Sets training mode on this module and every descendant; returns this module.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var m in Modules()) m.Training = mode;
        return this;
    }

    /// <summary>Sets evaluation mode (dropout off, batch norm on running statistics); returns this module.</summary>
    public Module Eval() => Train(false);

    /// <summary>
    /// Sets <see cref="Tensor.RequiresGrad"/> on every parameter (<c>requires_grad_</c>): false freezes the module,
    /// so backward computes no gradient for it and optimizers leave it unchanged. Returns this module.
    /// </summary>
    public Module RequiresGrad_(bool requiresGrad = true)
    {
        foreach (var p in Parameters())
        {
            p.RequiresGrad = requiresGrad;
            if (!requiresGrad) p.Grad = null;
        }
        return this;
    }

    /// <summary>Freezes every parameter (and drops their gradients); see <see cref="RequiresGrad_"/>.</summary>
    public Module Freeze() => RequiresGrad_(false);

    /// <summary>Makes every parameter trainable again.</summary>
    public Module Unfreeze() => RequiresGrad_(true);

    /// <summary>Sets every parameter's gradient to null (PyTorch's <c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }

    /// <summary>
    /// Converts every parameter and floating-point buffer to <paramref name="dtype"/> (like <c>model.double()</c>),
    /// replacing the tensors: create optimizers after converting. Gradients are dropped. Returns this module.
    /// </summary>
    public Module To(DType dtype)
    {
        if (!dtype.IsFloatingPoint()) throw new DTypeMismatchException($"{Describe()}.To: modules hold float32 or float64 parameters, not {dtype.Name()}");
        foreach (var m in Modules())
        {
            foreach (var name in m._parameters.Keys.ToList())
                if (m._parameters[name] is { } p && p.DType != dtype)
                {
                    var q = p.Detach().To(dtype).Contiguous();
                    q.RequiresGrad = p.RequiresGrad;
                    m._parameters[name] = q;
                }
            foreach (var name in m._buffers.Keys.ToList())
                if (m._buffers[name] is { } b && b.DType.IsFloatingPoint() && b.DType != dtype)
                    m._buffers[name] = b.Detach().To(dtype).Contiguous();
        }
        return this;
    }

    // ---- description ---------------------------------------------------------------------------------

    /// <summary>The settings shown between the parentheses of <see cref="Describe"/>, e.g. <c>784 → 256</c>.</summary>
    protected virtual string ExtraRepr => "";

    /// <summary>A one-line description used in error messages: the type name and its settings, e.g. <c>Linear(784 → 256)</c>.</summary>
    public string Describe() => $"{GetType().Name}({ExtraRepr})";

    /// <summary>The module tree, one line per module, like PyTorch's printout.</summary>
    public override string ToString()
    {
        if (_children.Count == 0) return Describe();
        var sb = new StringBuilder(GetType().Name).Append('(');
        if (ExtraRepr.Length > 0) sb.Append(ExtraRepr);
        sb.Append('\n');
        foreach (var (name, child) in _children)
        {
            var lines = child.ToString().Split('\n');
            sb.Append("  (").Append(name).Append("): ").Append(lines[0]).Append('\n');
            for (int i = 1; i < lines.Length; i++) sb.Append("  ").Append(lines[i]).Append('\n');
        }
        return sb.Append(')').ToString();
    }

    // ---- input checks shared by layers -------------------------------------------------------------

    /// <summary>Throws, naming this layer, unless <paramref name="input"/> is float32 or float64.</summary>
    protected void RequireFloat(Tensor input)
    {
        // The layer's description is built only on failure: this check runs in every step.
        if (!input.DType.IsFloatingPoint()) Ops.RequireFloat(Describe(), input);
    }

    /// <summary>Throws a <see cref="DTypeMismatchException"/> naming this layer when the input's dtype differs from the parameters'.</summary>
    protected void CheckDType(Tensor input, DType expected)
    {
        if (input.DType != expected)
            throw new DTypeMismatchException(
                $"{Describe()}: input is {input.DType.Name()} but the layer's parameters are {expected.Name()}; convert the input with .To(DType.{(expected == DType.Float32 ? "Float32" : "Float64")}) or the model with .To(DType.{(input.DType == DType.Float64 ? "Float64" : "Float32")})");
    }

    /// <summary>Throws a <see cref="ShapeMismatchException"/> naming this layer unless the input has one of the given ranks.</summary>
    protected void CheckRank(Tensor input, string expected, params ReadOnlySpan<int> ranks)
    {
        if (!ranks.Contains(input.Rank))
            throw new ShapeMismatchException($"{Describe()}: expected {expected}, got an input of shape {Shapes.Format(input.Shape)}");
    }
}
