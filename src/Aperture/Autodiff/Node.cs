namespace Aperture;

/// <summary>
/// One recorded op in the autodiff graph. A primitive op subclasses it once, next to its forward kernel, and
/// defines the two derivative rules: <see cref="Vjp"/> (reverse mode: the gradient of each input from the
/// gradient of the output) and <see cref="Jvp"/> (forward mode: the output's tangent from the inputs' tangents).
/// Both rules are written with tensor ops, so they are themselves differentiable (higher order for free).
/// </summary>
public abstract class Node
{
    private static long s_sequence;

    /// <summary>Creation order: every node is created after the nodes of its inputs, so decreasing order is a topological order.</summary>
    internal readonly long Sequence = Interlocked.Increment(ref s_sequence);

    private Tensor[]? _inputs;
    private Tensor? _output;
    internal Tensor? PendingGrad;
    internal bool Released;

    /// <summary>Creates a node over the op's inputs (all of them, whether or not they require grad).</summary>
    protected Node(params Tensor[] inputs)
    {
        _inputs = inputs;
        t_created?.Add(RuleType);
    }

    [ThreadStatic] private static HashSet<Type>? t_created;

    /// <summary>
    /// The type that holds this node's derivative rules (the node's own type, or the elementwise function for
    /// unary ops). The gradient-check catalogue records these to prove every rule is checked.
    /// </summary>
    internal virtual Type RuleType => GetType();

    /// <summary>Starts recording which rule types are created on this thread (for coverage checks); returns the set.</summary>
    internal static HashSet<Type> TrackCreated() => t_created = [];

    /// <summary>Stops recording.</summary>
    internal static void StopTracking() => t_created = null;

    /// <summary>The op's name, as error messages and anomaly detection show it (e.g. <c>matmul</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The op's inputs (the tensors it was applied to).</summary>
    protected internal Tensor[] Inputs => _inputs ?? throw ReleasedError();

    /// <summary>The op's output (usable in both rules: see <see cref="ForwardMode"/> on the order of levels).</summary>
    protected internal Tensor Output
    {
        get => _output ?? throw ReleasedError();
        internal set => _output = value;
    }

    internal Tensor? OutputOrNull => _output;
    internal Tensor[]? InputsOrNull => _inputs;

    /// <summary>True when input <paramref name="i"/> needs a gradient (requires grad).</summary>
    protected bool NeedsGrad(int i) => Inputs[i].RequiresGrad;

    /// <summary>
    /// Reverse mode: given <paramref name="grad"/> (the gradient of the output, of the output's shape), writes the
    /// gradient of each input that <see cref="NeedsGrad"/> into <paramref name="inputGrads"/> (of that input's shape;
    /// leave null for zero or not needed).
    /// </summary>
    protected internal abstract void Vjp(Tensor grad, Span<Tensor?> inputGrads);

    /// <summary>
    /// Forward mode: given each input's tangent (null means zero), returns the output's tangent (null for zero).
    /// </summary>
    protected internal abstract Tensor? Jvp(ReadOnlySpan<Tensor?> tangents);

    internal void Release()
    {
        _inputs = null;
        _output = null;
        Released = true;
    }

    private InvalidOperationException ReleasedError() => new(
        $"backward through '{Name}' a second time: its saved tensors were freed after the first backward. " +
        "Pass retainGraph: true to the first Backward() to keep them.");

    /// <inheritdoc/>
    public override string ToString() => Name;
}
