using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// An n-dimensional array of float32, float64, int64 or bool elements, with the bookkeeping that lets
/// reverse-mode (<see cref="Backward"/>) and forward-mode (<see cref="Autodiff.Jvp(Func{Tensor, Tensor}, Tensor, Tensor)"/>) autodiff see through it.
/// </summary>
/// <remarks>
/// A tensor is a strided view of a flat buffer: element (i0, i1, ...) lives at
/// <c>offset + i0*strides[0] + i1*strides[1] + ...</c>. Views (reshape, permute, slice, expand) share the buffer.
/// Tensors are ordinary garbage-collected objects: there is nothing to dispose.
/// </remarks>
public sealed partial class Tensor
{
    internal Array _data;
    internal int _offset;
    internal int[] _shape;
    internal int[] _strides;
    internal bool _contiguous;
    private DType _dtype;

    internal Node? _gradFn;
    private bool _requiresGrad;
    internal Tangent? _tangents;

    /// <summary>
    /// How many times the elements were changed in place, shared by every view of one buffer (PyTorch's version
    /// counter). A node records the versions of the tensors its rules read; <see cref="Backward"/> refuses to run a rule
    /// whose tensors changed since, rather than return a silently wrong gradient.
    /// </summary>
    internal VersionCounter _version;

    /// <summary>The counter this object uses whenever it owns its buffer: kept across recycling, so a pooled tensor allocates none.</summary>
    private VersionCounter? _ownVersion;

    /// <summary>A tensor that owns <paramref name="data"/> (a fresh version counter).</summary>
    internal Tensor(Array data, int offset, int[] shape, int[] strides, DType dtype)
    {
        _data = data;
        _offset = offset;
        _shape = shape;
        _strides = strides;
        _dtype = dtype;
        _contiguous = ComputeContiguous(shape, strides);
        _version = _ownVersion = new VersionCounter();
    }

    /// <summary>A view of <paramref name="source"/>'s buffer, sharing its version counter.</summary>
    private Tensor(Tensor source, int offset, int[] shape, int[] strides)
    {
        _data = source._data;
        _offset = offset;
        _shape = shape;
        _strides = strides;
        _dtype = source._dtype;
        _contiguous = ComputeContiguous(shape, strides);
        _version = source._version;
    }

    /// <summary>A view of <paramref name="source"/>'s buffer outside any recycling scope.</summary>
    internal static Tensor NewView(Tensor source, int offset, int[] shape, int[] strides) => new(source, offset, shape, strides);

    /// <summary>The number of in-place changes made to this tensor's elements (through it or any view of its buffer).</summary>
    internal int Version => _version.Value;

    /// <summary>
    /// Records an in-place change of the elements by <paramref name="op"/> (a name kept, not built: an optimizer step
    /// must not allocate). Every public operation that writes into an existing tensor calls it.
    /// </summary>
    internal void BumpVersion(string op)
    {
        _version.Value++;
        _version.LastWriter = op;
    }

    /// <summary>A new contiguous tensor over a fresh (uninitialized) buffer; recycled inside a <see cref="TensorScope"/>.</summary>
    internal static Tensor Empty(ReadOnlySpan<int> shape, DType dtype)
    {
        if (TensorArena.Current is { } arena) return arena.Empty(shape, dtype, zeroed: false);
        var s = shape.ToArray();
        return new Tensor(DTypes.Allocate(dtype, Shapes.Numel(s), s), 0, s, Shapes.ContiguousStrides(s), dtype);
    }

    /// <summary>A new contiguous tensor of zeros (internal: no argument checks beyond the shape).</summary>
    internal static Tensor ZerosInternal(ReadOnlySpan<int> shape, DType dtype)
    {
        if (TensorArena.Current is { } arena) return arena.Empty(shape, dtype, zeroed: true);
        var s = shape.ToArray();
        return new Tensor(DTypes.AllocateZeroed(dtype, Shapes.Numel(s), s), 0, s, Shapes.ContiguousStrides(s), dtype);
    }

    /// <summary>The element type.</summary>
    public DType DType => _dtype;

    /// <summary>The size of each dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>How many elements to step over to move one index along each dimension.</summary>
    public ReadOnlySpan<int> Strides => _strides;

    /// <summary>The number of dimensions (0 for a scalar).</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements.</summary>
    public int Numel => Shapes.Numel(_shape);

    /// <summary>The size of dimension <paramref name="axis"/> (negative counts from the end).</summary>
    public int Size(int axis) => _shape[Shapes.NormalizeAxis("size", axis, Rank)];

    /// <summary>True when the elements are laid out in row-major order with no gaps, starting anywhere in the buffer.</summary>
    public bool IsContiguous => _contiguous;

    /// <summary>The shape as a new array (for code that needs to keep it).</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    internal static bool ComputeContiguous(int[] shape, int[] strides)
    {
        // No elements, nothing to lay out: an empty tensor is contiguous whatever its strides (its shape [2, 0] has
        // row-major strides [1, 1], which the loop below would otherwise call non-contiguous).
        foreach (int d in shape)
            if (d == 0) return true;
        int expected = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1) continue;
            if (strides[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    /// <summary>The whole backing buffer, typed. Callers combine it with <see cref="_offset"/> and strides.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal T[] Buffer<T>() where T : unmanaged => Unsafe.As<T[]>(_data);

    /// <summary>The elements of a contiguous tensor as a span (throws for a non-contiguous view).</summary>
    internal Span<T> ContiguousSpan<T>() where T : unmanaged
    {
        if (!_contiguous) throw new InvalidOperationException("internal: ContiguousSpan on a non-contiguous tensor");
        CheckElementType<T>();
        return new Span<T>(Buffer<T>(), _offset, Numel);
    }

    internal void CheckElementType<T>() where T : unmanaged
    {
        if (DTypes.Of<T>() != _dtype)
            throw new DTypeMismatchException($"tensor has dtype {_dtype.Name()}, not {DTypes.Of<T>().Name()}");
    }

    // ---- autodiff state -------------------------------------------------------------------------

    /// <summary>
    /// Whether gradients flow to this tensor. Settable on leaves only, like PyTorch's <c>requires_grad_</c>;
    /// results of ops on tensors that require grad require grad themselves.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (_gradFn is not null && !value)
                throw new InvalidOperationException(
                    $"RequiresGrad can only be cleared on a leaf; this tensor was produced by '{_gradFn.Name}'. Use Detach() to get a tensor cut from the graph.");
            if (value && !_dtype.IsFloatingPoint())
                throw new DTypeMismatchException($"only float32 and float64 tensors can require gradients, this one is {_dtype.Name()}");
            _requiresGrad = value;
        }
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (for chaining).</summary>
    public Tensor RequiresGrad_(bool value = true)
    {
        RequiresGrad = value;
        return this;
    }

    internal void SetRequiresGradFromOp(Node node)
    {
        _gradFn = node;
        _requiresGrad = true;
    }

    private Tensor? _grad;

    /// <summary>A gradient buffer kept for reuse after the gradient was cleared (see <see cref="TensorScope"/>).</summary>
    internal Tensor? _spareGrad;

    /// <summary>The spare gradient buffer a VJP rule is writing this leaf's gradient into (see <c>BackwardEngine.ClaimLeafGradient</c>).</summary>
    internal Tensor? _claimedGrad;

    /// <summary>
    /// True when the kernel that last wrote this whole tensor as a gradient ran on the calling thread alone (a layer's
    /// weight gradient from a product that was not split, see <c>Linear</c>'s backward): the optimizer's update then
    /// stays on that thread too, where the gradient is in cache, instead of having another core pull it across. A
    /// hint about where data lies, never about values: a stale one costs time only.
    /// </summary>
    internal bool _writtenOnOneThread;

    /// <summary>The accumulated gradient of a leaf after <see cref="Backward"/>; null until then.</summary>
    public Tensor? Grad
    {
        get => _grad;
        set
        {
            // Inside a recycling scope a cleared gradient's buffer is kept for the next backward pass.
            if (value is null && _grad is { RequiresGrad: false } old && TensorArena.Current is not null) _spareGrad = old;
            _grad = value;
            // Clearing or replacing the gradient replaces a row-sparse one too (its buffers are kept for reuse).
            if (_hasRowSparseGrad)
            {
                _hasRowSparseGrad = false;
                _rowSparseGrad!.Clear();
            }
        }
    }

    /// <summary>The buffers of the row-sparse gradient, kept across steps once created.</summary>
    private RowSparseGradient? _rowSparseGrad;
    private bool _hasRowSparseGrad;

    /// <summary>
    /// The accumulated row-sparse gradient of a leaf (a table read by an <see cref="NN.Embedding"/> created with
    /// <c>sparse: true</c>) after <see cref="Backward"/>, or null. A leaf has at most one of <see cref="Grad"/> and
    /// this; clearing <see cref="Grad"/> clears both.
    /// </summary>
    public RowSparseGradient? RowSparseGrad => _hasRowSparseGrad ? _rowSparseGrad : null;

    /// <summary>The row-sparse gradient to add into, made present (empty) when it was not.</summary>
    internal RowSparseGradient RowSparseGradForAccumulation()
    {
        if (!_hasRowSparseGrad)
        {
            if (_rowSparseGrad is null)
            {
                int rowLength = _shape[0] == 0 ? 0 : Numel / _shape[0];
                _rowSparseGrad = new RowSparseGradient(_shape[0], rowLength, _dtype);
            }
            _hasRowSparseGrad = true;
        }
        return _rowSparseGrad!;
    }

    /// <summary>Turns a row-sparse gradient into a dense <see cref="Grad"/> (when a dense contribution arrives).</summary>
    internal void DensifyRowSparseGrad()
    {
        if (!_hasRowSparseGrad) return;
        Tensor dense;
        using (TensorScope.Suspend()) dense = Tensor.Zeros(_shape, _dtype);
        _rowSparseGrad!.AddInto(dense);
        Grad = dense;
    }

    /// <summary>The node that produced this tensor in the autodiff graph, or null for a leaf.</summary>
    public Node? GradFn => _gradFn;

    /// <summary>True for tensors not produced by a recorded op (user-created tensors and parameters).</summary>
    public bool IsLeaf => _gradFn is null;

    /// <summary>An optional name shown in error messages and by anomaly detection.</summary>
    public string? Name { get; set; }

    /// <summary>A tensor sharing this one's elements but cut from the autodiff graph (no grad, no tangents).</summary>
    /// <remarks>Like PyTorch's <c>detach()</c>, the result shares the version counter: changing it in place is seen by
    /// the graph that saved this tensor.</remarks>
    public Tensor Detach() => TensorArena.Current is { } arena
        ? arena.View(this, _offset, _shape, _strides)
        : new(this, _offset, _shape, _strides);

    /// <summary>A shallow alias (same buffer, another view) with no autodiff state; used by ops internally.</summary>
    internal Tensor Alias(int[] shape, int[] strides, int offset) => TensorArena.Current is { } arena
        ? arena.View(this, offset, shape, strides)
        : new(this, offset, shape, strides);

    /// <summary>
    /// Points a recycled tensor object at new elements (strides default to contiguous): a view of
    /// <paramref name="viewOf"/>'s buffer, sharing its version counter, or (null) the owner of a fresh buffer.
    /// </summary>
    internal void Reinit(Array data, int offset, ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, DType dtype, Tensor? viewOf)
    {
        // Counters only ever grow, so reusing this object's own counter for a new buffer is sound: the nodes that
        // recorded its old values were recycled with the scope that made them.
        _version = viewOf is null ? (_ownVersion ??= new VersionCounter()) : viewOf._version;
        _data = data;
        _offset = offset;
        _dtype = dtype;
        if (_shape.Length != shape.Length)
        {
            _shape = new int[shape.Length];
            _strides = new int[shape.Length];
        }
        shape.CopyTo(_shape);
        if (strides.IsEmpty && shape.Length > 0)
        {
            int s = 1;
            for (int i = shape.Length - 1; i >= 0; i--)
            {
                _strides[i] = s;
                s *= Math.Max(shape[i], 1);
            }
        }
        else strides.CopyTo(_strides);
        _contiguous = ComputeContiguous(_shape, _strides);
    }

    /// <summary>Clears every reference a recycled tensor holds, so nothing it pointed to stays reachable through the pool.</summary>
    internal void Scrub()
    {
        _gradFn = null;
        _requiresGrad = false;
        _tangents = null;
        _grad = null;
        _spareGrad = null;
        _claimedGrad = null;
        _writtenOnOneThread = false;
        _rowSparseGrad = null;
        _hasRowSparseGrad = false;
        Name = null;
        RetainsGrad = false;
    }

    /// <summary>
    /// Computes the gradient of this tensor with respect to every leaf that requires grad, accumulating into
    /// their <see cref="Grad"/>. A scalar needs no seed; otherwise pass <paramref name="gradient"/> of this shape.
    /// With <paramref name="createGraph"/> the backward pass is itself recorded, so the gradients can be
    /// differentiated again. Unless <paramref name="retainGraph"/> (implied by createGraph), the graph's saved
    /// tensors are released afterwards and a second backward through it is an error.
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false, bool createGraph = false) =>
        BackwardEngine.Backward(this, gradient, retainGraph || createGraph, createGraph);

    /// <summary>
    /// Asks <see cref="Backward"/> to store this non-leaf tensor's gradient in <see cref="Grad"/> too
    /// (leaves always get theirs), like PyTorch's <c>retain_grad()</c>. Returns this tensor.
    /// </summary>
    public Tensor RetainGrad()
    {
        RetainsGrad = true;
        return this;
    }

    /// <summary>True after <see cref="RetainGrad"/>.</summary>
    public bool RetainsGrad { get; private set; }

    /// <summary>Clears the gradient of a leaf (sets it to null).</summary>
    public void ZeroGrad() => Grad = null;
}
