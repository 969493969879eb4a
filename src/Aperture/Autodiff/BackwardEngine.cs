namespace Aperture;

/// <summary>
/// Reverse-mode accumulation: walks the recorded graph from an output in reverse topological order (decreasing
/// node creation order), calling each node's VJP and summing the gradients that reach each tensor.
/// </summary>
internal static class BackwardEngine
{
    [ThreadStatic] private static Tensor[]? t_oneRoot, t_oneSeed;

    public static void Backward(Tensor root, Tensor? seed, bool retainGraph, bool createGraph)
    {
        seed = CheckRoot("Backward", root, seed);
        var roots = t_oneRoot ??= new Tensor[1];
        var seeds = t_oneSeed ??= new Tensor[1];
        roots[0] = root;
        seeds[0] = seed;
        try
        {
            Run(roots, seeds, retainGraph, createGraph, leafSink: s_accumulateIntoLeaf, captures: null);
        }
        finally
        {
            roots[0] = null!;
            seeds[0] = null!;
        }
    }

    private static readonly Action<Tensor, Tensor, bool> s_accumulateIntoLeaf = AccumulateIntoLeaf;

    /// <summary>Numbers the backward passes, so a node marked with a pass's number (<see cref="Node.VisitedBy"/>) was collected by it.</summary>
    private static long s_passes;

    /// <summary>The traversal's working sets, kept per thread so a backward pass allocates none of them.</summary>
    private sealed class Workspace
    {
        public readonly List<Node> Nodes = new(64);
        public readonly Stack<Node> Stack = new();
        public Tensor?[] Buffer = new Tensor?[4];
        public long[] Keys = new long[64];
        public Node[] Sorted = new Node[64];
        public bool InUse;
    }

    [ThreadStatic] private static Workspace? t_workspace;

    /// <summary>
    /// True while a backward pass runs whose results go only into the leaves' <see cref="Tensor.Grad"/> (a plain
    /// <c>Backward</c>: no <c>createGraph</c>, no captured inputs, no anomaly checks), so a VJP rule may write a leaf's
    /// gradient straight into that leaf's spare buffer (<see cref="ClaimLeafGradient"/>).
    /// </summary>
    [ThreadStatic] private static bool t_leafBuffers;

    /// <summary>
    /// The buffer a VJP rule may write the gradient of <paramref name="input"/> into, when that gradient will become
    /// the input's <see cref="Tensor.Grad"/> unchanged: the input is a leaf without a gradient yet, inside a recycling
    /// scope, whose cleared gradient left a spare buffer of its shape. The buffer is taken from the leaf (so no other
    /// rule, nor the copy in <see cref="AccumulateIntoLeaf"/>, writes into it) and adopted as the gradient when it is
    /// delivered, which saves a copy of every weight gradient per step. Null otherwise: the rule allocates as usual.
    /// The values written are the rule's own, so the bits do not change.
    /// </summary>
    internal static Tensor? ClaimLeafGradient(Tensor input)
    {
        if (!t_leafBuffers || !input.RequiresGrad || input._gradFn is not null || input.Grad is not null || input.RowSparseGrad is not null
            || TensorArena.Current is null) return null;
        if (input._spareGrad is not { } spare || spare.DType != input.DType || !Shapes.Equal(spare.Shape, input.Shape) || !spare.IsContiguous
            || spare.RequiresGrad || spare._tangents is not null) return null;
        input._spareGrad = null;
        input._claimedGrad = spare;
        return spare;
    }

    /// <summary>
    /// Orders the nodes newest first. Sorting by primitive keys (the sequence numbers, negated) needs no comparer, so no
    /// delegate is allocated per pass.
    /// </summary>
    private static void SortLatestFirst(Workspace ws)
    {
        var nodes = ws.Nodes;
        int n = nodes.Count;
        if (n <= 32)
        {
            // A small graph (a small net's step): insertion sort in place. The sequence numbers are distinct, so the
            // order is the one the keyed sort gives.
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(nodes);
            for (int i = 1; i < span.Length; i++)
            {
                var node = span[i];
                long key = node.Sequence;
                int j = i - 1;
                for (; j >= 0 && span[j].Sequence < key; j--) span[j + 1] = span[j];
                span[j + 1] = node;
            }
            return;
        }
        if (ws.Keys.Length < n)
        {
            ws.Keys = new long[Math.Max(n, 2 * ws.Keys.Length)];
            ws.Sorted = new Node[ws.Keys.Length];
        }
        for (int i = 0; i < n; i++)
        {
            ws.Keys[i] = -nodes[i].Sequence;
            ws.Sorted[i] = nodes[i];
        }
        Array.Sort(ws.Keys, ws.Sorted, 0, n);
        for (int i = 0; i < n; i++) nodes[i] = ws.Sorted[i];
        Array.Clear(ws.Sorted, 0, n);
    }

    /// <summary>
    /// Gradients of <paramref name="outputs"/> (seeded by <paramref name="seeds"/>) with respect to
    /// <paramref name="inputs"/>, without touching any leaf's <see cref="Tensor.Grad"/>.
    /// </summary>
    public static Tensor?[] Grad(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor?>? seeds, IReadOnlyList<Tensor> inputs,
        bool retainGraph, bool createGraph, bool allowUnused)
    {
        var roots = new Tensor[outputs.Count];
        var seedList = new Tensor[outputs.Count];
        for (int i = 0; i < outputs.Count; i++)
        {
            roots[i] = outputs[i];
            seedList[i] = CheckRoot("Grad", outputs[i], seeds is null ? null : seeds[i]);
        }
        for (int i = 0; i < inputs.Count; i++)
            if (!inputs[i].RequiresGrad)
                throw new InvalidOperationException(
                    $"Grad: input {i} (shape {Shapes.Format(inputs[i].Shape)}) does not require grad, so no gradient can be taken with respect to it");

        var captures = new Captures(inputs);
        Run(roots, seedList, retainGraph, createGraph, leafSink: null, captures);
        var result = new Tensor?[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            result[i] = captures.Results[i];
            if (result[i] is null && !allowUnused)
                throw new InvalidOperationException(
                    $"Grad: input {i} (shape {Shapes.Format(inputs[i].Shape)}) was not used to compute the output; pass allowUnused: true to get null for it");
        }
        return result;
    }

    private static Tensor CheckRoot(string op, Tensor root, Tensor? seed)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException(
                $"{op}: the output (shape {Shapes.Format(root.Shape)}) does not require grad: none of the tensors it was computed from has RequiresGrad = true, or it was computed under NoGrad");
        if (seed is null)
        {
            if (root.Numel != 1)
                throw new ArgumentException(
                    $"{op}: a gradient seed is needed for a non-scalar output of shape {Shapes.Format(root.Shape)} (pass gradient: a tensor of that shape)");
            return Tensor.OnesInternal(root.Shape, root.DType);
        }
        if (!Shapes.Equal(seed.Shape, root.Shape))
            throw new ShapeMismatchException($"{op}: gradient seed has shape {Shapes.Format(seed.Shape)} but the output has shape {Shapes.Format(root.Shape)}");
        if (seed.DType != root.DType)
            throw new DTypeMismatchException($"{op}: gradient seed is {seed.DType.Name()} but the output is {root.DType.Name()}");
        return seed;
    }

    private sealed class Captures(IReadOnlyList<Tensor> inputs)
    {
        public readonly IReadOnlyList<Tensor> Inputs = inputs;
        public readonly Tensor?[] Results = new Tensor?[inputs.Count];

        public void Offer(Tensor t, Tensor grad, bool createGraph)
        {
            for (int i = 0; i < Inputs.Count; i++)
                if (ReferenceEquals(Inputs[i], t))
                    Results[i] = Results[i] is null ? grad : Accumulate(Results[i]!, grad, createGraph);
        }
    }

    private static void Run(Tensor[] roots, Tensor[] seeds, bool retainGraph, bool createGraph,
        Action<Tensor, Tensor, bool>? leafSink, Captures? captures)
    {
        // Collect every node reachable from the roots through inputs that require grad. A backward pass run from inside
        // another (a VJP rule that differentiates) gets its own workspace.
        var ws = t_workspace is { InUse: false } cached ? cached : new Workspace();
        t_workspace ??= ws;
        ws.InUse = true;
        var nodes = ws.Nodes;
        var stack = ws.Stack;
        // This pass's mark: a node whose mark it is has been collected already (a nested pass takes a new number; the
        // outer pass has finished collecting before any rule runs).
        long pass = Interlocked.Increment(ref s_passes);
        bool savedInBackward = Graph.t_inBackward;
        bool savedLeafBuffers = t_leafBuffers;
        // Everything after taking the workspace is inside the try: a pass that throws (a second backward through a
        // freed graph, a failing VJP) must hand it back, or every later pass on this thread would build its own.
        try
        {
            nodes.Clear();
            stack.Clear();
            foreach (var r in roots)
                if (r._gradFn is { } fn && fn.VisitedBy != pass)
                {
                    fn.VisitedBy = pass;
                    stack.Push(fn);
                }
            while (stack.Count > 0)
            {
                var node = stack.Pop();
                if (node.Released)
                    throw new InvalidOperationException(
                        $"backward through '{node.Name}' a second time: its saved tensors were freed after the first backward. Pass retainGraph: true to the first Backward() to keep them.");
                nodes.Add(node);
                foreach (var x in node.Inputs)
                    if (x.RequiresGrad && x._gradFn is { } f && f.VisitedBy != pass)
                    {
                        f.VisitedBy = pass;
                        stack.Push(f);
                    }
            }
            SortLatestFirst(ws);

            using var mode = new GradModeScope(createGraph);
            Graph.t_inBackward = true;
            t_leafBuffers = !createGraph && captures is null && ReferenceEquals(leafSink, s_accumulateIntoLeaf) && !Anomaly.Enabled;
            for (int r = 0; r < roots.Length; r++)
                Deliver(roots[r], seeds[r], createGraph, leafSink, captures);

            Tensor?[] buffer = ws.Buffer;
            foreach (var node in nodes)
            {
                var grad = node.PendingGrad;
                node.PendingGrad = null;
                if (grad is null) continue;
                var inputs = node.Inputs;
                if (node.AccumulatesIntoSum && !createGraph && captures is null && ReferenceEquals(leafSink, s_accumulateIntoLeaf)
                    && !Anomaly.Enabled && !grad.RequiresGrad && grad._tangents is null
                    && inputs.Length == 1 && inputs[0] is { RequiresGrad: true, _gradFn: null } leaf
                    && node.RowSparse && leaf.Grad is null && NumericsPolicy.Current.Gradients == StorageFormat.Native)
                {
                    // A sparse lookup into a leaf without a dense gradient: only the touched rows are stored.
                    node.CheckVersions();
                    node.AccumulateIntoRows(grad, leaf.RowSparseGradForAccumulation());
                    if (!retainGraph) node.Release();
                    continue;
                }
                if (node.AccumulatesIntoSum && !createGraph && captures is null && ReferenceEquals(leafSink, s_accumulateIntoLeaf)
                    && !Anomaly.Enabled && !grad.RequiresGrad && grad._tangents is null
                    && inputs.Length == 1 && inputs[0] is { RequiresGrad: true, _gradFn: null } denseLeaf
                    && LeafSum(denseLeaf) is { } sum)
                {
                    node.CheckVersions();
                    node.AccumulateInto(grad, sum);
                    sum.BumpVersion("grad accumulation");
                    NumericsPolicy.RoundGradient(sum);
                    if (!retainGraph) node.Release();
                    continue;
                }
                if (buffer.Length < inputs.Length) ws.Buffer = buffer = new Tensor?[inputs.Length];
                var grads = buffer.AsSpan(0, inputs.Length);
                grads.Clear();
                node.CheckVersions();
                node.Vjp(grad, grads);
                if (Anomaly.Enabled) Anomaly.CheckBackward(node, grads);
                for (int i = 0; i < inputs.Length; i++)
                {
                    var g = grads[i];
                    if (g is null || !inputs[i].RequiresGrad) continue;
                    if (!Shapes.Equal(g.Shape, inputs[i].Shape) || g.DType != inputs[i].DType)
                        throw new InvalidOperationException(
                            $"internal: VJP of '{node.Name}' returned a {g.DType.Name()} gradient of shape {Shapes.Format(g.Shape)} for input {i} of shape {Shapes.Format(inputs[i].Shape)} ({inputs[i].DType.Name()})");
                    Deliver(inputs[i], g, createGraph, leafSink, captures);
                }
                grads.Clear();
                if (!retainGraph) node.Release();
            }
        }
        finally
        {
            Graph.t_inBackward = savedInBackward;
            t_leafBuffers = savedLeafBuffers;
            foreach (var node in nodes) node.PendingGrad = null;
            nodes.Clear();
            stack.Clear();
            Array.Clear(ws.Buffer);
            ws.InUse = false;
        }
    }

    private static void Deliver(Tensor target, Tensor grad, bool createGraph,
        Action<Tensor, Tensor, bool>? leafSink, Captures? captures)
    {
        captures?.Offer(target, grad, createGraph);
        if (target._gradFn is { } fn)
        {
            fn.PendingGrad = fn.PendingGrad is null ? grad : Accumulate(fn.PendingGrad, grad, createGraph);
            if (target.RetainsGrad) AccumulateIntoLeaf(target, grad, createGraph);
        }
        else leafSink?.Invoke(target, grad, createGraph);
    }

    private static Tensor Accumulate(Tensor sum, Tensor grad, bool createGraph) => Ops.Add(sum, grad);

    /// <summary>
    /// The buffer a sparse contribution (<see cref="Node.AccumulateInto"/>) can be added into in place: the leaf's
    /// gradient when it is a plain contiguous tensor, else a fresh zero gradient (the spare buffer of the last step
    /// when there is one, as <see cref="AccumulateIntoLeaf"/> reuses it); null when the gradient is itself recorded or
    /// carries tangents, so that the general path keeps its semantics.
    /// </summary>
    private static Tensor? LeafSum(Tensor leaf)
    {
        leaf.DensifyRowSparseGrad();   // a dense contribution to a table that holds a row-sparse gradient (tied weights)
        if (leaf.Grad is { } g)
            return !g.RequiresGrad && g._tangents is null && g.IsContiguous && g.DType == leaf.DType && Shapes.Equal(g.Shape, leaf.Shape) ? g : null;
        if (leaf._spareGrad is { } spare && spare.DType == leaf.DType && Shapes.Equal(spare.Shape, leaf.Shape) && spare.IsContiguous
            && TensorArena.Current is not null)
        {
            if (spare.DType == DType.Float32) spare.ContiguousSpan<float>().Clear();
            else spare.ContiguousSpan<double>().Clear();
            spare.BumpVersion("zero_grad");   // whoever kept last step's gradient sees its buffer change
            leaf._spareGrad = null;
            leaf.Grad = spare;
            return spare;
        }
        using var persistent = TensorScope.Suspend();   // a leaf's gradient outlives the step
        leaf.Grad = Tensor.Zeros(leaf.Shape, leaf.DType);
        return leaf.Grad;
    }

    /// <summary>Adds a gradient into a tensor's <see cref="Tensor.Grad"/>, owning a private copy so later in-place sums never alias.</summary>
    private static void AccumulateIntoLeaf(Tensor leaf, Tensor grad, bool createGraph)
    {
        leaf.DensifyRowSparseGrad();
        if (leaf._claimedGrad is { } claimed && ReferenceEquals(claimed, grad))
        {
            // The rule wrote into the buffer ClaimLeafGradient lent it: the gradient is first (the buffer was lent only
            // to a leaf without one) unless another contribution reached the leaf since, which is then added to it.
            leaf._claimedGrad = null;
            grad.BumpVersion("grad accumulation");   // last step's gradient, if someone kept it, was overwritten
            if (leaf.Grad is null) leaf.Grad = grad;
            else Ops.AddInPlace(leaf.Grad, grad);
        }
        else if (leaf.Grad is null)
        {
            if (grad.RequiresGrad) leaf.Grad = grad;
            else if (leaf._spareGrad is { } spare && spare.DType == grad.DType && Shapes.Equal(spare.Shape, grad.Shape)
                     && grad._tangents is null && TensorArena.Current is not null)
            {
                // Inside a recycling scope: refill the buffer of the gradient cleared at the start of the step.
                StridedCopy.CopyInto(grad, spare);
                spare.BumpVersion("grad accumulation");
                leaf._spareGrad = null;
                leaf.Grad = spare;
            }
            else
            {
                using var persistent = TensorScope.Suspend();   // a leaf's gradient outlives the step
                leaf.Grad = Ops.Clone(grad);
            }
        }
        else if (createGraph || leaf.Grad.RequiresGrad || grad._tangents is not null || leaf.Grad._tangents is not null)
        {
            leaf.Grad = Ops.Add(leaf.Grad, grad);
        }
        else
        {
            Ops.AddInPlace(leaf.Grad, grad);
        }
        NumericsPolicy.RoundGradient(leaf.Grad);
    }
}
