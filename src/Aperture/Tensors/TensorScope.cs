namespace Aperture;

/// <summary>
/// A scope whose temporaries are recycled: every tensor, buffer and graph node created on this thread inside it is
/// returned to a per-thread pool when it ends, and reused by the next scope. A training step wrapped in a scope
/// therefore allocates nothing on the managed heap once the pools are warm (the <c>Trainer</c> does this for every
/// step).
/// </summary>
/// <remarks>
/// The contract: nothing created inside the scope may be used after it ends — read the values you need first
/// (<c>loss.Item()</c>, <c>ToArray()</c>) or make a copy inside <see cref="Suspend"/>. Leaves' gradients are kept
/// (they are allocated outside the pools, and a parameter's gradient buffer is reused from step to step: clone a
/// gradient to keep it). Optimizer steps and anything that must outlive the step belong outside the scope.
/// Scopes nest; end them in reverse order (<c>using</c> does).
/// </remarks>
public readonly struct TensorScope : IDisposable
{
    private readonly TensorArena? _arena;
    private readonly int _tensorMark, _bufferMark, _nodeMark;
    private readonly TensorArena? _previous;

    private TensorScope(TensorArena arena, TensorArena? previous)
    {
        _arena = arena;
        _previous = previous;
        (_tensorMark, _bufferMark, _nodeMark) = arena.Mark();
    }

    /// <summary>Starts a scope on this thread.</summary>
    public static TensorScope Begin()
    {
        var arena = TensorArena.ForThisThread();
        var previous = TensorArena.Current;
        TensorArena.Current = arena;
        return new TensorScope(arena, previous);
    }

    /// <summary>Ends the scope: its tensors, buffers and nodes go back to the pools.</summary>
    public void Dispose()
    {
        if (_arena is null) return;
        _arena.Release(_tensorMark, _bufferMark, _nodeMark);
        TensorArena.Current = _previous;
    }

    /// <summary>Until the returned scope is disposed, new tensors are ordinary (not recycled), e.g. state that must outlive the step.</summary>
    public static SuspendedScope Suspend() => new(TensorArena.Current);

    /// <summary>True when a recycling scope is active on this thread.</summary>
    public static bool IsActive => TensorArena.Current is not null;
}

/// <summary>Resumes recycling when disposed (see <see cref="TensorScope.Suspend"/>).</summary>
public readonly struct SuspendedScope : IDisposable
{
    private readonly TensorArena? _arena;

    internal SuspendedScope(TensorArena? arena)
    {
        _arena = arena;
        TensorArena.Current = null;
    }

    /// <summary>Restores the recycling scope that was active.</summary>
    public void Dispose() => TensorArena.Current = _arena;
}

/// <summary>The per-thread pools behind <see cref="TensorScope"/>.</summary>
internal sealed class TensorArena
{
    [ThreadStatic] private static TensorArena? t_arena;
    [ThreadStatic] internal static TensorArena? Current;

    private const int MaxRank = 8;
    private readonly List<Tensor> _live = new(256);
    private readonly Stack<Tensor>[] _freeTensors = new Stack<Tensor>[MaxRank + 1];
    private readonly List<Array> _liveBuffers = new(256);
    private readonly Dictionary<long, Stack<Array>> _freeBuffers = new();
    private readonly List<Node> _liveNodes = new(256);

    private TensorArena()
    {
        for (int r = 0; r <= MaxRank; r++) _freeTensors[r] = new Stack<Tensor>();
    }

    public static TensorArena ForThisThread() => t_arena ??= new TensorArena();

    public (int, int, int) Mark() => (_live.Count, _liveBuffers.Count, _liveNodes.Count);

    /// <summary>A contiguous tensor over a recycled buffer (uninitialized unless <paramref name="zeroed"/>).</summary>
    public Tensor Empty(ReadOnlySpan<int> shape, DType dtype, bool zeroed)
    {
        int n = Shapes.Numel(shape);
        var buffer = RentBuffer(dtype, n, shape);
        if (zeroed) Array.Clear(buffer);
        var t = RentTensor(shape.Length);
        if (t is null) return Track(new Tensor(buffer, 0, shape.ToArray(), Shapes.ContiguousStrides(shape), dtype));
        t.Reinit(buffer, 0, shape, default, dtype, viewOf: null);
        return t;
    }

    /// <summary>A view of <paramref name="source"/>'s buffer in a recycled tensor object (empty strides: contiguous).</summary>
    public Tensor View(Tensor source, int offset, ReadOnlySpan<int> shape, ReadOnlySpan<int> strides)
    {
        var t = RentTensor(shape.Length);
        if (t is null)
        {
            var s = strides.IsEmpty && !shape.IsEmpty ? Shapes.ContiguousStrides(shape) : strides.ToArray();
            return Track(Tensor.NewView(source, offset, shape.ToArray(), s));
        }
        t.Reinit(source._data, offset, shape, strides, source.DType, viewOf: source);
        return t;
    }

    private Tensor? RentTensor(int rank)
    {
        if (rank > MaxRank || _freeTensors[rank].Count == 0) return null;
        var t = _freeTensors[rank].Pop();
        _live.Add(t);
        return t;
    }

    private Tensor Track(Tensor t)
    {
        _live.Add(t);
        return t;
    }

    private Array RentBuffer(DType dtype, int length, ReadOnlySpan<int> shape)
    {
        long key = (long)dtype << 32 | (uint)length;
        var buffer = _freeBuffers.TryGetValue(key, out var stack) && stack.Count > 0 ? stack.Pop() : DTypes.Allocate(dtype, length, shape);
        _liveBuffers.Add(buffer);
        return buffer;
    }

    /// <summary>Registers a pooled node so it goes back to its pool when the scope ends.</summary>
    public void TrackNode(Node node) => _liveNodes.Add(node);

    public void Release(int tensorMark, int bufferMark, int nodeMark)
    {
        for (int i = tensorMark; i < _live.Count; i++)
        {
            var t = _live[i];
            t.Scrub();
            if (t.Rank <= MaxRank) _freeTensors[t.Rank].Push(t);
        }
        _live.RemoveRange(tensorMark, _live.Count - tensorMark);
        for (int i = bufferMark; i < _liveBuffers.Count; i++)
        {
            var b = _liveBuffers[i];
            long key = (long)DTypes.Of(b) << 32 | (uint)b.Length;
            if (!_freeBuffers.TryGetValue(key, out var stack)) _freeBuffers[key] = stack = new Stack<Array>();
            stack.Push(b);
        }
        _liveBuffers.RemoveRange(bufferMark, _liveBuffers.Count - bufferMark);
        for (int i = nodeMark; i < _liveNodes.Count; i++) _liveNodes[i].Recycle();
        _liveNodes.RemoveRange(nodeMark, _liveNodes.Count - nodeMark);
    }
}
