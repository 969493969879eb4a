namespace Aperture;

public static partial class Ops
{
    // ---- gather / scatter_add ---------------------------------------------------------------------------

    /// <summary>
    /// out[i][j][k] = x[i][index[i][j][k]][k] for <paramref name="axis"/> = 1 (and likewise for other axes), like
    /// <c>torch.gather</c>: <paramref name="index"/> is int64 with x's rank, and no larger than x off the axis; along the
    /// axis it may be longer than x (an element may be picked several times). The result has the index's shape.
    /// </summary>
    public static Tensor Gather(Tensor x, int axis, Tensor index)
    {
        int a = CheckGather("gather", x, axis, index, src: default);
        var y = Tensor.Empty(index.Shape, x.DType);
        var idx = index.ToArray<long>();
        var dst = y;
        Walk(index.Shape, (flat, coords) =>
        {
            long j = idx[flat];
            if (j < 0 || j >= x.Shape[a])
                throw new IndexOutOfRangeException($"gather: index {j} at position {Shapes.Format(coords)} is out of range for dimension {a} of size {x.Shape[a]}");
            int off = x._offset;
            for (int d = 0; d < coords.Length; d++) off += (d == a ? (int)j : coords[d]) * x.Strides[d];
            dst.SetRaw(flat, x.GetRaw(off));
        });
        return Graph.Record(x.DType.IsFloatingPoint() && Graph.NeedsNode(x) ? new GatherNode(x, a, index) : null, y);
    }

    private sealed class GatherNode(Tensor x, int axis, Tensor index) : Node(x)
    {
        public override string Name => "gather";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => index;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads) =>
            inputGrads[0] = ScatterAdd(Tensor.ZerosLike(Inputs[0]), axis, index, grad);

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? Gather(tx, axis, index) : null;
    }

    /// <summary>
    /// A copy of <paramref name="x"/> with each element of <paramref name="src"/> added at the position
    /// <paramref name="index"/> names along <paramref name="axis"/> (<c>torch.scatter_add</c>). Additions happen in
    /// row-major order of the index, so repeated indices sum deterministically. As in PyTorch, the index is no larger
    /// than <paramref name="src"/> in any dimension and no larger than x off the axis: along the axis it may be longer
    /// than x (N items scattered into k &lt; N bins).
    /// </summary>
    public static Tensor ScatterAdd(Tensor x, int axis, Tensor index, Tensor src)
    {
        if (src.Rank != x.Rank)
            throw new ShapeMismatchException($"scatter_add: src has rank {src.Rank} (shape {Shapes.Format(src.Shape)}) but the tensor has rank {x.Rank} (shape {Shapes.Format(x.Shape)})");
        int a = CheckGather("scatter_add", x, axis, index, src.Shape);
        if (src.DType != x.DType) throw new DTypeMismatchException($"scatter_add: src is {src.DType.Name()} but the tensor is {x.DType.Name()}");
        RequireFloat("scatter_add", x);
        var y = StridedCopy.ToContiguous(x);
        var idx = index.ToArray<long>();
        var yStrides = y._strides;
        var s = src;
        Walk(index.Shape, (flat, coords) =>
        {
            long j = idx[flat];
            if (j < 0 || j >= x.Shape[a])
                throw new IndexOutOfRangeException($"scatter_add: index {j} at position {Shapes.Format(coords)} is out of range for dimension {a} of size {x.Shape[a]}");
            int dst = 0, from = s._offset;
            for (int d = 0; d < coords.Length; d++)
            {
                dst += (d == a ? (int)j : coords[d]) * yStrides[d];
                from += coords[d] * s.Strides[d];
            }
            y.SetRawAt(dst, y.GetRaw(dst) + s.GetRaw(from));
        });
        return Graph.Record(Graph.NeedsNode(x, src) ? new ScatterAddNode(x, a, index, src) : null, y);
    }

    private sealed class ScatterAddNode(Tensor x, int axis, Tensor index, Tensor src) : Node(x, src)
    {
        public override string Name => "scatter_add";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => index;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = grad;
            if (NeedsGrad(1)) inputGrads[1] = Gather(grad, axis, index);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is null && t[1] is null) return null;
            return ScatterAdd(t[0] ?? Tensor.ZerosLike(Inputs[0]), axis, index, t[1] ?? Tensor.ZerosLike(Inputs[1]));
        }
    }

    /// <summary>
    /// PyTorch's bounds for gather and scatter: index has x's rank, is no larger than x in every dimension but the axis,
    /// and (for a scatter) no larger than <paramref name="src"/> in any dimension. Along the axis only the index values
    /// are bounded (by x's size there), and they are checked where they are read.
    /// </summary>
    private static int CheckGather(string op, Tensor x, int axis, Tensor index, ReadOnlySpan<int> src)
    {
        if (index.DType != DType.Int64)
            throw new DTypeMismatchException($"{op}: index must be int64, got {index.DType.Name()}");
        int a = Shapes.NormalizeAxis(op, axis, x.Rank);
        if (index.Rank != x.Rank)
            throw new ShapeMismatchException($"{op}: index has rank {index.Rank} (shape {Shapes.Format(index.Shape)}) but the tensor has rank {x.Rank} (shape {Shapes.Format(x.Shape)})");
        for (int d = 0; d < x.Rank; d++)
        {
            if (d != a && index.Shape[d] > x.Shape[d])
                throw new ShapeMismatchException($"{op}: index shape {Shapes.Format(index.Shape)} exceeds the tensor's {Shapes.Format(x.Shape)} in dimension {d}");
            if (!src.IsEmpty && index.Shape[d] > src[d])
                throw new ShapeMismatchException($"{op}: index shape {Shapes.Format(index.Shape)} exceeds src's {Shapes.Format(src)} in dimension {d}");
        }
        return a;
    }

    /// <summary>Calls <paramref name="visit"/>(flat index, coordinates) for every position of <paramref name="shape"/> in row-major order.</summary>
    private static void Walk(ReadOnlySpan<int> shape, Action<int, int[]> visit)
    {
        int n = Shapes.Numel(shape);
        var coords = new int[shape.Length];
        var dims = shape.ToArray();
        for (int flat = 0; flat < n; flat++)
        {
            visit(flat, coords);
            for (int d = dims.Length - 1; d >= 0; d--)
            {
                if (++coords[d] < dims[d]) break;
                coords[d] = 0;
            }
        }
    }

    // ---- index_select / index_add -----------------------------------------------------------------------

    /// <summary>The slices of <paramref name="x"/> along <paramref name="axis"/> at the positions in the 1-d int64 <paramref name="index"/> (embedding lookup).</summary>
    public static Tensor IndexSelect(Tensor x, int axis, Tensor index) => IndexSelect(x, axis, index, rowSparseGrad: false);

    /// <summary>
    /// index_select whose reverse-mode gradient into a leaf <paramref name="x"/> is row-sparse
    /// (<see cref="Tensor.RowSparseGrad"/>) when <paramref name="rowSparseGrad"/> and the selection is along axis 0.
    /// </summary>
    internal static Tensor IndexSelect(Tensor x, int axis, Tensor index, bool rowSparseGrad)
    {
        int a = Shapes.NormalizeAxis("index_select", axis, x.Rank);
        var idx = CheckIndex("index_select", index, x.Shape[a], a);
        Span<int> shapeSpan = stackalloc int[x.Rank];
        x.Shape.CopyTo(shapeSpan);
        shapeSpan[a] = idx.Length;
        var y = Tensor.Empty(shapeSpan, x.DType);
        if (a == 0 && x.IsContiguous && CopyRows(x, idx, y))
            return Graph.Record(x.DType.IsFloatingPoint() && Graph.NeedsNode(x) ? IndexSelectNode.Create(x, a, index, rowSparseGrad && a == 0) : null, y);
        var shape = y.ShapeArray();
        var yStrides = y._strides;
        for (int i = 0; i < idx.Length; i++)
        {
            var from = x.Alias(SliceShape(x.Shape, a), SliceStrides(x.Strides, a), x._offset + (int)idx[i] * x.Strides[a]);
            var to = y.Alias(SliceShape(shape, a), SliceStrides(yStrides, a), i * yStrides[a]);
            StridedCopy.CopyInto(from, to);
        }
        return Graph.Record(x.DType.IsFloatingPoint() && Graph.NeedsNode(x) ? IndexSelectNode.Create(x, a, index, rowSparseGrad && a == 0) : null, y);
    }

    private sealed class IndexSelectNode : PooledNode<IndexSelectNode>
    {
        private int _axis;
        private Tensor? _index;

        private bool _rowSparse;

        public static IndexSelectNode Create(Tensor x, int axis, Tensor index, bool rowSparse)
        {
            var node = Rent<IndexSelectNode>();
            node.SetInputs(x);
            node._axis = axis;
            node._index = index;
            node._rowSparse = rowSparse;
            return node;
        }

        public override string Name => "index_select";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => _index;
        protected override void ClearFields() => _index = null;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            // A gradient that is itself differentiated (create_graph, or a forward-mode tangent riding on it) needs the
            // recorded index_add; otherwise one zero table and an in-place scatter suffice.
            if (grad.RequiresGrad || grad._tangents is not null)
            {
                inputGrads[0] = IndexAdd(Tensor.ZerosLike(Inputs[0]), _axis, _index!, grad);
                return;
            }
            var gx = Tensor.ZerosLike(Inputs[0]);
            AddSlices(gx, _axis, IndexSpan(_index!), grad);
            inputGrads[0] = gx;
        }

        // The indices were checked when the node was recorded, and the version check before the backward pass
        // guarantees they have not changed since: the scatter goes straight into the running sum, touching only the
        // selected rows instead of building and adding a table the size of the input.
        protected internal override bool AccumulatesIntoSum => true;

        protected internal override void AccumulateInto(Tensor grad, Tensor sum) => AddSlices(sum, _axis, IndexSpan(_index!), grad);

        protected internal override bool RowSparse => _rowSparse;

        protected internal override void AccumulateIntoRows(Tensor grad, RowSparseGradient sum)
        {
            var g = grad.IsContiguous ? grad : grad.Contiguous();
            if (g.DType == DType.Float32) sum.Accumulate(IndexSpan(_index!), g.ContiguousSpan<float>());
            else sum.Accumulate(IndexSpan(_index!), g.ContiguousSpan<double>());
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t) => t[0] is { } tx ? IndexSelect(tx, _axis, _index!) : null;
    }

    /// <summary>Adds slice i of <paramref name="src"/> into slice idx[i] of the contiguous <paramref name="y"/> along <paramref name="axis"/>, in increasing i.</summary>
    private static void AddSlices(Tensor y, int axis, ReadOnlySpan<long> idx, Tensor src)
    {
        if (axis == 0 && src.IsContiguous)
        {
            // Whole rows: one vector add per index, with no view objects or shape arrays.
            int row = idx.Length == 0 ? 0 : src.Numel / idx.Length;
            if (y.DType == DType.Float32) AddRows(y.ContiguousSpan<float>(), idx, src.ContiguousSpan<float>(), row);
            else AddRows(y.ContiguousSpan<double>(), idx, src.ContiguousSpan<double>(), row);
            return;
        }
        for (int i = 0; i < idx.Length; i++)
        {
            var to = y.Alias(SliceShape(y.Shape, axis), SliceStrides(y._strides, axis), (int)idx[i] * y._strides[axis]);
            var from = src.Alias(SliceShape(src.Shape, axis), SliceStrides(src.Strides, axis), src._offset + i * src.Strides[axis]);
            if (y.DType == DType.Float32) Elementwise.BinaryInPlace<float, AddKernel<float>>(to, from);
            else Elementwise.BinaryInPlace<double, AddKernel<double>>(to, from);
        }
    }

    private static void AddRows<T>(Span<T> y, ReadOnlySpan<long> idx, ReadOnlySpan<T> src, int row) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int i = 0; i < idx.Length; i++)
        {
            var to = y.Slice((int)idx[i] * row, row);
            System.Numerics.Tensors.TensorPrimitives.Add(to, src.Slice(i * row, row), to);
        }
    }

    /// <summary>index_select along axis 0 of a contiguous tensor: one block copy per index. False for a dtype it does not cover.</summary>
    private static bool CopyRows(Tensor x, ReadOnlySpan<long> idx, Tensor y)
    {
        int row = x.Shape[0] == 0 ? 0 : x.Numel / x.Shape[0];
        switch (x.DType)
        {
            case DType.Float32: CopyRows(x.ContiguousSpan<float>(), idx, y.ContiguousSpan<float>(), row); return true;
            case DType.Float64: CopyRows(x.ContiguousSpan<double>(), idx, y.ContiguousSpan<double>(), row); return true;
            case DType.Int64: CopyRows(x.ContiguousSpan<long>(), idx, y.ContiguousSpan<long>(), row); return true;
            default: return false;
        }
    }

    private static void CopyRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> idx, Span<T> y, int row)
    {
        for (int i = 0; i < idx.Length; i++) x.Slice((int)idx[i] * row, row).CopyTo(y.Slice(i * row, row));
    }

    /// <summary>The elements of a 1-d int64 index without a copy when it is contiguous.</summary>
    private static ReadOnlySpan<long> IndexSpan(Tensor index) => index.IsContiguous ? index.ContiguousSpan<long>() : index.ToArray<long>();

    /// <summary>A copy of <paramref name="x"/> with slice i of <paramref name="src"/> added at position index[i] along <paramref name="axis"/>, in increasing i.</summary>
    public static Tensor IndexAdd(Tensor x, int axis, Tensor index, Tensor src)
    {
        int a = Shapes.NormalizeAxis("index_add", axis, x.Rank);
        var idx = CheckIndex("index_add", index, x.Shape[a], a);
        RequireFloat("index_add", x);
        if (src.DType != x.DType) throw new DTypeMismatchException($"index_add: src is {src.DType.Name()} but the tensor is {x.DType.Name()}");
        var want = x.ShapeArray();
        want[a] = idx.Length;
        if (!Shapes.Equal(src.Shape, want))
            throw new ShapeMismatchException($"index_add: src has shape {Shapes.Format(src.Shape)}, expected {Shapes.Format(want)}");
        var y = StridedCopy.ToContiguous(x);
        AddSlices(y, a, idx, src);
        return Graph.Record(Graph.NeedsNode(x, src) ? new IndexAddNode(x, a, index, src) : null, y);
    }

    private sealed class IndexAddNode(Tensor x, int axis, Tensor index, Tensor src) : Node(x, src)
    {
        public override string Name => "index_add";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;
        protected internal override Tensor? SavedExtra => index;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            if (NeedsGrad(0)) inputGrads[0] = grad;
            if (NeedsGrad(1)) inputGrads[1] = IndexSelect(grad, axis, index);
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            if (t[0] is null && t[1] is null) return null;
            return IndexAdd(t[0] ?? Tensor.ZerosLike(Inputs[0]), axis, index, t[1] ?? Tensor.ZerosLike(Inputs[1]));
        }
    }

    /// <summary>Checks a 1-d int64 index against a dimension of <paramref name="size"/>, reading it in place when contiguous.</summary>
    private static ReadOnlySpan<long> CheckIndex(string op, Tensor index, int size, int axis)
    {
        if (index.DType != DType.Int64) throw new DTypeMismatchException($"{op}: index must be int64, got {index.DType.Name()}");
        if (index.Rank != 1) throw new ShapeMismatchException($"{op}: index must be 1-d, got shape {Shapes.Format(index.Shape)}");
        var idx = IndexSpan(index);
        for (int i = 0; i < idx.Length; i++)
            if (idx[i] < 0 || idx[i] >= size)
                throw new IndexOutOfRangeException($"{op}: index[{i}] = {idx[i]} is out of range for dimension {axis} of size {size}");
        return idx;
    }

    private static int[] SliceShape(ReadOnlySpan<int> shape, int axis)
    {
        var s = shape.ToArray();
        s[axis] = 1;
        return s;
    }

    private static int[] SliceStrides(ReadOnlySpan<int> strides, int axis) => strides.ToArray();

    // ---- concat / stack / split -------------------------------------------------------------------------

    /// <summary>Joins tensors along an existing <paramref name="axis"/> (all other dimensions must match).</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int axis = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("concat: no tensors given");
        var first = tensors[0];
        int a = Shapes.NormalizeAxis("concat", axis, first.Rank);
        int total = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (t.DType != first.DType)
                throw new DTypeMismatchException($"concat: tensor {i} is {t.DType.Name()} but tensor 0 is {first.DType.Name()}");
            if (t.Rank != first.Rank)
                throw new ShapeMismatchException($"concat: tensor {i} has shape {Shapes.Format(t.Shape)}, tensor 0 has {Shapes.Format(first.Shape)} (ranks differ)");
            for (int d = 0; d < t.Rank; d++)
                if (d != a && t.Shape[d] != first.Shape[d])
                    throw new ShapeMismatchException($"concat: tensor {i} has shape {Shapes.Format(t.Shape)} but tensor 0 has {Shapes.Format(first.Shape)}; they may differ only in dimension {a}");
            total += t.Shape[a];
        }
        var shape = first.ShapeArray();
        shape[a] = total;
        var y = Tensor.Empty(shape, first.DType);
        int at = 0;
        foreach (var t in tensors)
        {
            var part = shape.ToArray();
            part[a] = t.Shape[a];
            StridedCopy.CopyInto(t, y.Alias(part, y._strides, at * y._strides[a]));
            at += t.Shape[a];
        }
        var arr = tensors.ToArray();
        return Graph.Record(first.DType.IsFloatingPoint() && Graph.NeedsNode(arr) ? new ConcatNode(arr, a) : null, y);
    }

    private sealed class ConcatNode(Tensor[] parts, int axis) : Node(parts)
    {
        public override string Name => "concat";
        protected internal override bool SavesInput(int i) => false;
        protected internal override bool SavesOutput => false;

        protected internal override void Vjp(Tensor grad, Span<Tensor?> inputGrads)
        {
            int at = 0;
            for (int i = 0; i < Inputs.Length; i++)
            {
                int n = Inputs[i].Shape[axis];
                if (NeedsGrad(i)) inputGrads[i] = Narrow(grad, axis, at, n);
                at += n;
            }
        }

        protected internal override Tensor? Jvp(ReadOnlySpan<Tensor?> t)
        {
            var parts = new Tensor[t.Length];
            for (int i = 0; i < t.Length; i++) parts[i] = t[i] ?? Tensor.ZerosLike(Inputs[i]);
            return Concat(parts, axis);
        }
    }

    /// <summary>Joins same-shaped tensors along a new <paramref name="axis"/>.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int axis = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("stack: no tensors given");
        int a = Shapes.NormalizeAxis("stack", axis, tensors[0].Rank + 1);
        for (int i = 1; i < tensors.Count; i++)
            if (!Shapes.Equal(tensors[i].Shape, tensors[0].Shape))
                throw new ShapeMismatchException($"stack: tensor {i} has shape {Shapes.Format(tensors[i].Shape)} but tensor 0 has {Shapes.Format(tensors[0].Shape)}; all must match");
        var parts = new Tensor[tensors.Count];
        for (int i = 0; i < parts.Length; i++) parts[i] = Unsqueeze(tensors[i], a);
        return Concat(parts, a);
    }

    /// <summary>Splits into pieces of the given sizes along <paramref name="axis"/> (views).</summary>
    public static Tensor[] Split(Tensor x, ReadOnlySpan<int> sizes, int axis = 0)
    {
        int a = Shapes.NormalizeAxis("split", axis, x.Rank);
        int sum = 0;
        foreach (int s in sizes) sum += s;
        if (sum != x.Shape[a])
            throw new ShapeMismatchException($"split: sizes [{string.Join(", ", sizes.ToArray())}] add up to {sum}, but dimension {a} has size {x.Shape[a]}");
        var result = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            result[i] = Narrow(x, a, at, sizes[i]);
            at += sizes[i];
        }
        return result;
    }

    /// <summary>Splits into pieces of <paramref name="size"/> along <paramref name="axis"/> (the last may be smaller).</summary>
    public static Tensor[] Split(Tensor x, int size, int axis = 0)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "split: size must be positive");
        int a = Shapes.NormalizeAxis("split", axis, x.Rank);
        int n = x.Shape[a];
        var sizes = new List<int>();
        for (int at = 0; at < n; at += size) sizes.Add(Math.Min(size, n - at));
        return Split(x, sizes.ToArray(), a);
    }

    /// <summary>Splits into <paramref name="chunks"/> nearly equal pieces along <paramref name="axis"/>, like <c>torch.chunk</c>.</summary>
    public static Tensor[] Chunk(Tensor x, int chunks, int axis = 0)
    {
        if (chunks <= 0) throw new ArgumentOutOfRangeException(nameof(chunks), chunks, "chunk: chunks must be positive");
        int a = Shapes.NormalizeAxis("chunk", axis, x.Rank);
        return Split(x, Math.Max(1, (x.Shape[a] + chunks - 1) / chunks), a);
    }
}
