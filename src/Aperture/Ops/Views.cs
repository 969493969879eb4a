namespace Aperture;

/// <summary>
/// Every tensor op: the primitives (each with its forward kernel, its VJP and its JVP side by side) and the
/// composites built from them. <see cref="Tensor"/> exposes the same ops as instance methods and operators.
/// </summary>
public static partial class Ops
{
    // ---- identity, copies and casts ------------------------------------------------------------------

    /// <summary>A new tensor object equal to <paramref name="x"/> (sharing its elements) that is a distinct node of the graph.</summary>
    public static Tensor Identity(Tensor x)
    {
        if (!Graph.NeedsNode(x)) return x;
        return Graph.Record(new IdentityNode(x, "identity"), x.Alias(x._shape, x._strides, x._offset), fresh: false);
    }

    /// <summary>A contiguous tensor with the same elements: <paramref name="x"/> itself if it already is.</summary>
    public static Tensor Contiguous(Tensor x)
    {
        if (x.IsContiguous) return x;
        return Clone(x);
    }

    /// <summary>A contiguous copy that owns its elements (gradients flow through it).</summary>
    public static Tensor Clone(Tensor x)
    {
        var y = StridedCopy.ToContiguous(x);
        return Graph.Record(Graph.NeedsNode(x) ? new IdentityNode(x, "clone") : null, y);
    }

    private sealed class IdentityNode(Tensor x, string name) : Node(x)
    {
        public override string Name => name;
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = grad;
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0];
    }

    /// <summary>The elements converted to <paramref name="dtype"/> (a no-op when it already has it). Gradients flow between float types only.</summary>
    public static Tensor To(Tensor x, DType dtype)
    {
        if (x.DType == dtype) return x;
        var y = Tensor.Empty(x.Shape, dtype);
        DTypeConvert.Copy(x, y);
        bool diff = x.DType.IsFloatingPoint() && dtype.IsFloatingPoint();
        return Graph.Record(diff && Graph.NeedsNode(x) ? new CastNode(x, dtype) : null, y);
    }

    private sealed class CastNode(Tensor x, DType to) : Node(x)
    {
        public override string Name => "to_" + to.Name();
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = To(grad, Inputs[0].DType);
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? To(tx, to) : null;
    }

    // ---- reshape -------------------------------------------------------------------------------------

    /// <summary>
    /// The same elements in a new shape (one dimension may be -1 and is inferred). A view when the layout allows
    /// it, otherwise a copy — like <c>torch.reshape</c>.
    /// </summary>
    public static Tensor Reshape(Tensor x, ReadOnlySpan<int> shape)
    {
        Span<int> target = shape.Length <= 16 ? stackalloc int[shape.Length] : new int[shape.Length];
        InferShape("reshape", x, shape, target);
        if (target.SequenceEqual(x.Shape) && !Graph.NeedsNode(x)) return x;
        var src = x.IsContiguous ? x : StridedCopy.ToContiguous(x);
        var y = TensorArena.Current is { } arena
            ? arena.View(src, src._offset, target, default)
            : src.Alias(target.ToArray(), Shapes.ContiguousStrides(target), src._offset);
        return Graph.Record(Graph.NeedsNode(x) ? ReshapeNode.Create(x, y.Shape) : null, y, fresh: !ReferenceEquals(src, x));
    }

    /// <summary>Like <see cref="Reshape"/> but never copies: throws when the layout does not allow a view.</summary>
    public static Tensor View(Tensor x, ReadOnlySpan<int> shape)
    {
        if (!x.IsContiguous)
            throw new InvalidOperationException(
                $"view: a tensor of shape {Shapes.Format(x.Shape)} with strides {Shapes.Format(x.Strides)} is not contiguous, so it cannot be viewed as {Shapes.Format(shape)}; use Reshape (which copies) or Contiguous() first");
        return Reshape(x, shape);
    }

    private sealed class ReshapeNode : PooledNode<ReshapeNode>
    {
        // Room for the target shape and its rank: a pooled node serves reshapes of every rank without reallocating.
        private int[] _shape = [];
        private int _rank;

        public static ReshapeNode Create(Tensor x, ReadOnlySpan<int> shape)
        {
            var node = Rent<ReshapeNode>();
            node.SetInputs(x);
            if (node._shape.Length < shape.Length) node._shape = new int[Math.Max(shape.Length, 8)];
            shape.CopyTo(node._shape);
            node._rank = shape.Length;
            return node;
        }

        public override string Name => "reshape";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = Reshape(grad, Inputs[0].Shape);
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? Reshape(tx, _shape.AsSpan(0, _rank)) : null;
    }

    /// <summary>The shape <paramref name="shape"/> with its −1 (if any) inferred, written into <paramref name="result"/>.</summary>
    private static void InferShape(string op, Tensor x, ReadOnlySpan<int> shape, Span<int> result)
    {
        shape.CopyTo(result);
        int infer = -1;
        long known = 1;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == -1)
            {
                if (infer >= 0) throw new ShapeMismatchException($"{op}: only one dimension can be -1 in {Shapes.Format(shape)}");
                infer = i;
            }
            else if (result[i] < 0) throw new ShapeMismatchException($"{op}: invalid dimension {result[i]} in {Shapes.Format(shape)}");
            else known *= result[i];
        }
        int n = x.Numel;
        if (infer >= 0)
        {
            if (known == 0 || n % known != 0)
                throw new ShapeMismatchException($"{op}: cannot reshape a tensor of shape {Shapes.Format(x.Shape)} ({n} elements) into {Shapes.Format(shape)}");
            result[infer] = (int)(n / known);
        }
        else if (known != n)
            throw new ShapeMismatchException($"{op}: cannot reshape a tensor of shape {Shapes.Format(x.Shape)} ({n} elements) into {Shapes.Format(shape)} ({known} elements)");
    }

    /// <summary>Inserts a dimension of size 1 at <paramref name="axis"/>.</summary>
    public static Tensor Unsqueeze(Tensor x, int axis)
    {
        int a = Shapes.NormalizeAxis("unsqueeze", axis, x.Rank + 1);
        var s = new List<int>(x.Shape.ToArray());
        s.Insert(a, 1);
        return Reshape(x, s.ToArray());
    }

    /// <summary>Removes dimension <paramref name="axis"/> if it has size 1, or every size-1 dimension when null.</summary>
    public static Tensor Squeeze(Tensor x, int? axis = null)
    {
        var s = new List<int>();
        if (axis is int ax)
        {
            int a = Shapes.NormalizeAxis("squeeze", ax, x.Rank);
            for (int i = 0; i < x.Rank; i++) if (i != a || x.Shape[i] != 1) s.Add(x.Shape[i]);
        }
        else
        {
            foreach (int d in x.Shape) if (d != 1) s.Add(d);
        }
        return Reshape(x, s.ToArray());
    }

    /// <summary>Merges dimensions <paramref name="startAxis"/>..<paramref name="endAxis"/> into one.</summary>
    public static Tensor Flatten(Tensor x, int startAxis = 0, int endAxis = -1)
    {
        if (x.Rank == 0) return Reshape(x, [1]);
        int a = Shapes.NormalizeAxis("flatten", startAxis, x.Rank), b = Shapes.NormalizeAxis("flatten", endAxis, x.Rank);
        if (a > b) throw new ArgumentException($"flatten: startAxis {startAxis} comes after endAxis {endAxis}");
        Span<int> s = stackalloc int[x.Rank - (b - a)];
        int k = 0;
        for (int i = 0; i < a; i++) s[k++] = x.Shape[i];
        int m = 1;
        for (int i = a; i <= b; i++) m *= x.Shape[i];
        s[k++] = m;
        for (int i = b + 1; i < x.Rank; i++) s[k++] = x.Shape[i];
        return Reshape(x, s);
    }

    // ---- permute -------------------------------------------------------------------------------------

    /// <summary>Reorders the dimensions (a view): output dimension i is input dimension <paramref name="dims"/>[i].</summary>
    public static Tensor Permute(Tensor x, ReadOnlySpan<int> dims)
    {
        if (dims.Length != x.Rank)
            throw new ShapeMismatchException($"permute: {dims.Length} dimensions given for a tensor of rank {x.Rank} (shape {Shapes.Format(x.Shape)})");
        // Stack scratch, a pooled view and a pooled node: a permutation inside a recycling scope allocates nothing.
        int rank = dims.Length;
        Span<int> perm = rank <= 16 ? stackalloc int[rank] : new int[rank];
        Span<bool> seen = rank <= 16 ? stackalloc bool[rank] : new bool[rank];
        for (int i = 0; i < rank; i++)
        {
            perm[i] = Shapes.NormalizeAxis("permute", dims[i], x.Rank);
            if (seen[perm[i]]) throw new ArgumentException($"permute: dimension {perm[i]} repeats in [{string.Join(", ", dims.ToArray())}]");
            seen[perm[i]] = true;
        }
        Span<int> shape = rank <= 16 ? stackalloc int[rank] : new int[rank];
        Span<int> strides = rank <= 16 ? stackalloc int[rank] : new int[rank];
        for (int i = 0; i < rank; i++)
        {
            shape[i] = x.Shape[perm[i]];
            strides[i] = x.Strides[perm[i]];
        }
        var y = TensorArena.Current is { } arena
            ? arena.View(x, x._offset, shape, strides)
            : x.Alias(shape.ToArray(), strides.ToArray(), x._offset);
        return Graph.Record(Graph.NeedsNode(x) ? PermuteNode.Create(x, perm) : null, y, fresh: false);
    }

    private sealed class PermuteNode : PooledNode<PermuteNode>
    {
        // Room for the permutation and its rank: a pooled node serves permutations of every rank without reallocating.
        private int[] _perm = [];
        private int _rank;

        public static PermuteNode Create(Tensor x, ReadOnlySpan<int> perm)
        {
            var node = Rent<PermuteNode>();
            node.SetInputs(x);
            if (node._perm.Length < perm.Length) node._perm = new int[Math.Max(perm.Length, 8)];
            perm.CopyTo(node._perm);
            node._rank = perm.Length;
            return node;
        }

        public override string Name => "permute";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            Span<int> inverse = _rank <= 16 ? stackalloc int[_rank] : new int[_rank];
            for (int i = 0; i < _rank; i++) inverse[_perm[i]] = i;
            inputGrads[0] = Permute(grad, inverse);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? Permute(tx, _perm.AsSpan(0, _rank)) : null;
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public static Tensor Transpose(Tensor x, int axis0, int axis1)
    {
        int a = Shapes.NormalizeAxis("transpose", axis0, x.Rank), b = Shapes.NormalizeAxis("transpose", axis1, x.Rank);
        Span<int> perm = x.Rank <= 16 ? stackalloc int[x.Rank] : new int[x.Rank];
        for (int i = 0; i < perm.Length; i++) perm[i] = i;
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(x, perm);
    }

    // ---- expand (broadcast) --------------------------------------------------------------------------

    /// <summary>
    /// Broadcasts <paramref name="x"/> to <paramref name="shape"/> without copying (size-1 and missing leading
    /// dimensions get stride 0), like <c>torch.expand</c>; -1 keeps a dimension's size.
    /// </summary>
    public static Tensor Expand(Tensor x, ReadOnlySpan<int> shape)
    {
        int rank = shape.Length, lead = rank - x.Rank;
        if (lead < 0)
            throw new ShapeMismatchException($"expand: cannot expand a tensor of shape {Shapes.Format(x.Shape)} to fewer dimensions {Shapes.Format(shape)}");
        Span<int> outShape = rank <= 16 ? stackalloc int[rank] : new int[rank];
        Span<int> strides = rank <= 16 ? stackalloc int[rank] : new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int want = shape[i];
            if (i < lead)
            {
                if (want < 0) throw new ShapeMismatchException($"expand: -1 is not allowed for a new leading dimension ({Shapes.Format(shape)})");
                outShape[i] = want;
                strides[i] = 0;
                continue;
            }
            int have = x.Shape[i - lead];
            if (want == -1) want = have;
            if (have == want) { outShape[i] = want; strides[i] = x.Strides[i - lead]; }
            else if (have == 1) { outShape[i] = want; strides[i] = 0; }
            else
                throw new ShapeMismatchException(
                    $"expand: cannot expand a tensor of shape {Shapes.Format(x.Shape)} to {Shapes.Format(shape)} (dimension {i}: {have} vs {want}; only size-1 dimensions expand)");
        }
        if (Shapes.Equal(outShape, x.Shape)) return x;
        // Inside a scope the view is a recycled tensor that copies the shape and strides (the gradient of a sum in a
        // recycled backward pass allocates nothing); the node keeps its own copy of the shape.
        var y = TensorArena.Current is { } arena
            ? arena.View(x, x._offset, outShape, strides)
            : x.Alias(outShape.ToArray(), strides.ToArray(), x._offset);
        return Graph.Record(Graph.NeedsNode(x) ? new ExpandNode(x, outShape.ToArray()) : null, y, fresh: false);
    }

    private sealed class ExpandNode(Tensor x, int[] shape) : Node(x)
    {
        public override string Name => "expand";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) => inputGrads[0] = SumTo(grad, Inputs[0].Shape);
        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? Expand(tx, shape) : null;
    }

    /// <summary>Expands to the shape of <paramref name="other"/>.</summary>
    public static Tensor ExpandAs(Tensor x, Tensor other) => Expand(x, other.Shape);

    /// <summary>
    /// Sums <paramref name="x"/> down to <paramref name="shape"/> (the reverse of broadcasting): leading dimensions are
    /// summed away and dimensions where <paramref name="shape"/> has 1 are summed with keepdim.
    /// </summary>
    public static Tensor SumTo(Tensor x, ReadOnlySpan<int> shape)
    {
        if (Shapes.Equal(x.Shape, shape)) return x;
        int lead = x.Rank - shape.Length;
        if (lead < 0) throw new ShapeMismatchException($"sum_to: cannot sum a tensor of shape {Shapes.Format(x.Shape)} to the larger rank of {Shapes.Format(shape)}");
        var axes = new List<int>();
        for (int i = 0; i < x.Rank; i++)
        {
            if (i < lead) { axes.Add(i); continue; }
            int want = shape[i - lead];
            if (want == 1 && x.Shape[i] != 1) axes.Add(i);
            else if (want != x.Shape[i])
                throw new ShapeMismatchException($"sum_to: cannot sum a tensor of shape {Shapes.Format(x.Shape)} to {Shapes.Format(shape)}");
        }
        var s = Sum(x, axes.ToArray(), keepDim: true);
        return Reshape(s, shape);
    }

    // ---- slicing -------------------------------------------------------------------------------------

    /// <summary>
    /// Elements <paramref name="start"/>, start+step, ... (before <paramref name="end"/>) along <paramref name="axis"/>, as a view —
    /// Python's <c>x[..., start:end:step]</c>. Negative start/end count from the end and are clamped like Python's.
    /// </summary>
    public static Tensor Slice(Tensor x, int axis, int start, int end, int step = 1)
    {
        int a = Shapes.NormalizeAxis("slice", axis, x.Rank);
        if (x.Rank == 0) throw new ShapeMismatchException("slice: cannot slice a 0-d tensor");
        if (step <= 0) throw new ArgumentOutOfRangeException(nameof(step), step, "slice: step must be positive");
        int n = x.Shape[a];
        int s = start < 0 ? Math.Max(start + n, 0) : Math.Min(start, n);
        int e = end < 0 ? Math.Max(end + n, 0) : Math.Min(end, n);
        int count = e > s ? (e - s + step - 1) / step : 0;
        var shape = x.ShapeArray();
        var strides = (int[])x._strides.Clone();
        shape[a] = count;
        strides[a] = x.Strides[a] * step;
        var y = x.Alias(shape, strides, x._offset + (count > 0 ? s * x.Strides[a] : 0));
        return Graph.Record(Graph.NeedsNode(x) ? new SliceNode(x, a, s, count, step) : null, y, fresh: false);
    }

    /// <summary><paramref name="length"/> elements from <paramref name="start"/> along <paramref name="axis"/> (a view), like <c>torch.narrow</c>.</summary>
    public static Tensor Narrow(Tensor x, int axis, int start, int length)
    {
        int a = Shapes.NormalizeAxis("narrow", axis, x.Rank);
        if (start < 0 || length < 0 || start + length > x.Shape[a])
            throw new ArgumentOutOfRangeException(nameof(start),
                $"narrow: [{start}, {start + length}) is outside dimension {a} of size {x.Shape[a]} (shape {Shapes.Format(x.Shape)})");
        return Slice(x, a, start, start + length);
    }

    /// <summary>The sub-tensor at <paramref name="index"/> along <paramref name="axis"/>, with that dimension removed (a view).</summary>
    public static Tensor Select(Tensor x, int axis, int index)
    {
        if (x.Rank == 0) throw new IndexOutOfRangeException($"select: a 0-d tensor (a scalar) has no dimension to index; read its value with Item()");
        int a = Shapes.NormalizeAxis("select", axis, x.Rank);
        int n = x.Shape[a];
        int i = index < 0 ? index + n : index;
        if ((uint)i >= (uint)n)
            throw new IndexOutOfRangeException($"select: index {index} is out of range for dimension {a} of size {n} (shape {Shapes.Format(x.Shape)})");
        return Squeeze(Slice(x, a, i, i + 1), a);
    }

    private sealed class SliceNode(Tensor x, int axis, int start, int count, int step) : Node(x)
    {
        public override string Name => "slice";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) =>
            inputGrads[0] = SliceScatter(grad, Inputs[0].Shape, axis, start, step);

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) =>
            t[0] is { } tx ? Slice(tx, axis, start, start + (count - 1) * step + 1, step) : null;
    }

    /// <summary>
    /// A tensor of zeros of <paramref name="shape"/> with <paramref name="src"/> written at positions start, start+step, ...
    /// along <paramref name="axis"/>: the transpose of <see cref="Slice"/> (its gradient).
    /// </summary>
    public static Tensor SliceScatter(Tensor src, ReadOnlySpan<int> shape, int axis, int start, int step = 1)
    {
        var y = Tensor.ZerosInternal(shape, src.DType);
        int count = src.Shape[axis];
        if (count > 0)
        {
            var strides = Shapes.ContiguousStrides(shape);
            var dstShape = shape.ToArray();
            dstShape[axis] = count;
            var dstStrides = (int[])strides.Clone();
            dstStrides[axis] *= step;
            StridedCopy.CopyInto(src, y.Alias(dstShape, dstStrides, start * strides[axis]));
        }
        return Graph.Record(Graph.NeedsNode(src) ? new SliceScatterNode(src, axis, start, step) : null, y);
    }

    private sealed class SliceScatterNode(Tensor src, int axis, int start, int step) : Node(src)
    {
        public override string Name => "slice_scatter";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) =>
            inputGrads[0] = Slice(grad, axis, start, start + (Inputs[0].Shape[axis] - 1) * step + 1, step);

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) =>
            t[0] is { } tx ? SliceScatter(tx, Output.Shape, axis, start, step) : null;
    }
}
