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
    internal long Sequence = Interlocked.Increment(ref s_sequence);

    private Tensor[]? _inputs;
    private Tensor? _output;
    internal Tensor? PendingGrad;
    internal bool Released;

    /// <summary>The backward pass that last collected this node (see <c>BackwardEngine</c>): a mark instead of a set of visited nodes.</summary>
    internal long VisitedBy;

    /// <summary>Creates a node over the op's inputs (all of them, whether or not they require grad).</summary>
    protected Node(params Tensor[] inputs) => _inputs = inputs;

    /// <summary>
    /// Creates a node whose inputs are set later with <see cref="SetInputs(Tensor)"/>: the form of nodes that are
    /// rented from a pool (<see cref="Rent{T}"/>) so a recycled training step allocates none.
    /// </summary>
    protected Node() { }

    /// <summary>
    /// A node of type <typeparamref name="T"/>: from this thread's pool inside a <see cref="TensorScope"/> (returned
    /// when the scope ends), otherwise new. The caller sets its inputs and fields.
    /// </summary>
    protected static T Rent<T>() where T : Node, new()
    {
        var arena = TensorArena.Current;
        if (arena is null) return new T();
        var pool = NodePool<T>.Free ??= new Stack<T>();
        var node = pool.Count > 0 ? pool.Pop() : new T();
        node._pooled = true;
        node.Sequence = Interlocked.Increment(ref s_sequence);
        node.Released = false;
        node.PendingGrad = null;
        arena.TrackNode(node);
        return node;
    }

    private bool _pooled;

    /// <summary>Sets the inputs of a rented node (reusing its input array).</summary>
    protected void SetInputs(Tensor a)
    {
        if (_inputs is not { Length: 1 }) _inputs = new Tensor[1];
        _inputs[0] = a;
    }

    /// <inheritdoc cref="SetInputs(Tensor)"/>
    protected void SetInputs(Tensor a, Tensor b)
    {
        if (_inputs is not { Length: 2 }) _inputs = new Tensor[2];
        _inputs[0] = a;
        _inputs[1] = b;
    }

    /// <inheritdoc cref="SetInputs(Tensor)"/>
    protected void SetInputs(Tensor a, Tensor b, Tensor c)
    {
        if (_inputs is not { Length: 3 }) _inputs = new Tensor[3];
        _inputs[0] = a;
        _inputs[1] = b;
        _inputs[2] = c;
    }

    /// <summary>Returns a rented node to its pool, dropping every reference it holds.</summary>
    internal void Recycle()
    {
        if (_inputs is not null) Array.Clear(_inputs);
        _output = null;
        PendingGrad = null;
        Released = true;
        ClearFields();
        if (_pooled) PushToPool();
    }

    /// <summary>Drops the references a pooled node's own fields hold (saved tensors); override in pooled nodes.</summary>
    protected virtual void ClearFields() { }

    private protected virtual void PushToPool() { }

    [ThreadStatic] private static HashSet<Type>? t_created;

    /// <summary>
    /// The type that holds this node's derivative rules (the node's own type, or the elementwise function for
    /// unary ops). The gradient-check catalogue records these to prove every rule is checked.
    /// </summary>
    internal virtual Type RuleType => GetType();

    /// <summary>Starts recording which rule types are created on this thread (for coverage checks); returns the set.</summary>
    internal static HashSet<Type> TrackCreated() => t_created = [];

    /// <summary>Notes that a node was recorded (for <see cref="TrackCreated"/>).</summary>
    internal void NoteRecorded() => t_created?.Add(RuleType);

    /// <summary>Stops recording.</summary>
    internal static void StopTracking() => t_created = null;

    /// <summary>The op's name, as error messages and anomaly detection show it (e.g. <c>matmul</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The op's inputs (the tensors it was applied to).</summary>
    protected internal Tensor[] Inputs => !Released && _inputs is not null ? _inputs : throw ReleasedError();

    /// <summary>The op's output (usable in both rules: see <see cref="ForwardMode"/> on the order of levels).</summary>
    protected internal Tensor Output
    {
        get => _output ?? throw ReleasedError();
        internal set => _output = value;
    }

    internal Tensor? OutputOrNull => _output;
    internal Tensor[]? InputsOrNull => Released ? null : _inputs;

    /// <summary>
    /// A contiguous buffer, of input <paramref name="i"/>'s shape and dtype and with unspecified contents, for a plain
    /// VJP rule (one that computes with raw kernels) to write that input's whole gradient into: the leaf's own
    /// gradient buffer when the backward pass would otherwise copy the result there, else a new tensor.
    /// </summary>
    protected Tensor GradientBuffer(int i)
    {
        var x = Inputs[i];
        return BackwardEngine.ClaimLeafGradient(x) ?? Tensor.Empty(x.Shape, x.DType);
    }

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

    /// <summary>
    /// True for a one-input node whose input gradient touches few elements (an index_select's selected rows): when
    /// that input is a leaf whose <see cref="Tensor.Grad"/> reverse mode accumulates into, and nothing differentiates
    /// the gradient, the engine calls <see cref="AccumulateInto"/> with the leaf's gradient buffer instead of
    /// <see cref="Vjp"/>, so no dense gradient the size of the input is built and then added.
    /// </summary>
    protected internal virtual bool AccumulatesIntoSum => false;

    /// <summary>
    /// Adds the input gradient that <see cref="Vjp"/> would return into <paramref name="sum"/> (contiguous, of the
    /// input's shape and dtype) in place. Only called when <see cref="AccumulatesIntoSum"/> is true.
    /// </summary>
    protected internal virtual void AccumulateInto(Tensor grad, Tensor sum) =>
        throw new InvalidOperationException($"internal: '{Name}' does not accumulate into a sum");

    /// <summary>
    /// True for an <see cref="AccumulatesIntoSum"/> node that gives its leaf a row-sparse gradient
    /// (<see cref="Tensor.RowSparseGrad"/>) instead of a dense one, when the leaf has no dense gradient yet: the lookup
    /// of an <see cref="NN.Embedding"/> created with <c>sparse: true</c>.
    /// </summary>
    protected internal virtual bool RowSparse => false;

    /// <summary>Adds the input gradient that <see cref="Vjp"/> would return into a row-sparse gradient. Only called when <see cref="RowSparse"/> is true.</summary>
    protected internal virtual void AccumulateIntoRows(Tensor grad, RowSparseGradient sum) =>
        throw new InvalidOperationException($"internal: '{Name}' does not accumulate into a row-sparse gradient");

    // ---- saved tensors and in-place changes -------------------------------------------------------------

    /// <summary>
    /// The versions (<see cref="Tensor.Version"/>) of the inputs, the output and the extra saved tensor when the node
    /// was recorded; kept by a pooled node across reuses so a recycled step allocates none.
    /// </summary>
    private int[]? _savedVersions;

    /// <summary>
    /// Whether the rules read the values of input <paramref name="i"/> (not just its shape). An input whose values are
    /// read must not change in place between the forward pass and the backward pass; the default assumes they are
    /// read, and linear ops (add, sum, views) override it.
    /// </summary>
    protected internal virtual bool SavesInput(int i) => true;

    /// <summary>Whether the rules read the values of the output (exp, sqrt, division do).</summary>
    protected internal virtual bool SavesOutput => true;

    /// <summary>A tensor the rules read that is not an input (an index, a target), or null.</summary>
    protected internal virtual Tensor? SavedExtra => null;

    /// <summary>Records the version of every saved tensor (called when the node is recorded).</summary>
    internal void SaveVersions()
    {
        var inputs = Inputs;
        int n = inputs.Length + 2;
        if (_savedVersions is null || _savedVersions.Length < n) _savedVersions = new int[n];
        for (int i = 0; i < inputs.Length; i++) _savedVersions[i] = inputs[i].Version;
        _savedVersions[inputs.Length] = _output?.Version ?? 0;
        _savedVersions[inputs.Length + 1] = SavedExtra?.Version ?? 0;
    }

    /// <summary>
    /// Throws when a tensor this node saved was changed in place after it was saved: the rule would compute a
    /// gradient from the new values, a silently wrong answer (PyTorch raises the same error).
    /// </summary>
    internal void CheckVersions()
    {
        var saved = _savedVersions;
        if (saved is null) return;
        var inputs = Inputs;
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i].Version != saved[i] && SavesInput(i)) throw Modified(inputs[i], $"input {i}", saved[i]);
        if (_output is { } y && y.Version != saved[inputs.Length] && SavesOutput) throw Modified(y, "output", saved[inputs.Length]);
        if (SavedExtra is { } e && e.Version != saved[inputs.Length + 1]) throw Modified(e, "saved tensor", saved[inputs.Length + 1]);
    }

    private InvalidOperationException Modified(Tensor t, string role, int savedVersion) => new(
        $"Backward: the {role} of '{Name}' (shape {Shapes.Format(t.Shape)}{(t.Name is { } name ? $", '{name}'" : "")}) was saved for the backward pass " +
        $"and then changed in place by '{t._version.LastWriter ?? "an in-place op"}' (version {t.Version}, saved at version {savedVersion}), " +
        "so its gradient would be computed from the new values. Compute the forward pass again after the change, " +
        "or change a copy (Ops.Clone) instead.");

    internal void Release()
    {
        // A pooled node keeps its input array for reuse; an ordinary one drops it.
        if (_pooled && _inputs is not null) Array.Clear(_inputs);
        else _inputs = null;
        _output = null;
        Released = true;
    }

    private InvalidOperationException ReleasedError() => new(
        $"backward through '{Name}' a second time: its saved tensors were freed after the first backward. " +
        "Pass retainGraph: true to the first Backward() to keep them.");

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// A node type whose instances are pooled: created with <c>Rent&lt;TSelf&gt;()</c> and inputs set with <c>SetInputs</c>,
/// handed back when the <see cref="TensorScope"/> that rented them ends. The nodes of a training step's hot path use it,
/// so a recycled step allocates no nodes.
/// </summary>
public abstract class PooledNode<TSelf> : Node where TSelf : PooledNode<TSelf>, new()
{
    private protected sealed override void PushToPool() => (NodePool<TSelf>.Free ??= new Stack<TSelf>()).Push((TSelf)this);
}

/// <summary>The free nodes of one type, per thread.</summary>
internal static class NodePool<T> where T : Node
{
    [ThreadStatic] public static Stack<T>? Free;
}
