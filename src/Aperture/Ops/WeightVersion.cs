namespace Aperture;

/// <summary>
/// A weight tensor's storage and version at one moment: its buffer, offset and version counter with the counter's
/// value. A cached copy derived from the weight (<see cref="TransposedWeight"/>, <see cref="PackedWeight"/>) holds the
/// weight's values exactly while <see cref="IsCurrent"/> is true: every engine write into an existing tensor counts a
/// version, except writes through an array handed to <see cref="Tensor.Wrap{T}"/>, whose counter is external.
/// </summary>
internal readonly struct WeightVersion
{
    private readonly Array? _data;
    private readonly VersionCounter? _counter;
    private readonly int _version, _offset;

    private WeightVersion(Tensor weight)
    {
        _data = weight._data;
        _counter = weight._version;
        _version = weight._version.Value;
        _offset = weight._offset;
    }

    /// <summary>The storage and version of <paramref name="weight"/> now.</summary>
    public static WeightVersion Of(Tensor weight) => new(weight);

    /// <summary>Whether <paramref name="weight"/> still has this storage at this version.</summary>
    public bool Is(Tensor weight) =>
        ReferenceEquals(weight._data, _data) && ReferenceEquals(weight._version, _counter) && weight._version.Value == _version && weight._offset == _offset;

    /// <summary>As <see cref="Is"/>, and the counter sees every write (it is not external): a copy may be trusted.</summary>
    public bool IsCurrent(Tensor weight) => Is(weight) && !_counter!.External;
}

/// <summary>
/// A layer's hold on a cached copy of its weight: the copy, and the weight version seen once before it, so that the
/// copy is built on the second call at one version (a loop that changes the weight between every two calls never pays
/// for it). A race between two threads on these fields can only move when the copy is built, never which values it holds.
/// </summary>
internal struct WeightCacheSlot<TCopy> where TCopy : class, IWeightCopy<TCopy>
{
    /// <summary>The copy, once built (check that it matches the weight before using it).</summary>
    public TCopy? Copy;

    private WeightVersion _seen;

    /// <summary>Whether <see cref="Note"/> saw this weight at its current version.</summary>
    public readonly bool Noted(Tensor weight) => _seen.Is(weight);

    /// <summary>Remembers the weight's current version.</summary>
    public void Note(Tensor weight) => _seen = WeightVersion.Of(weight);

    /// <summary>
    /// The copy of <paramref name="weight"/> as it is now: the kept one while it matches; else null on the first call
    /// at this version (which only notes it, allocating nothing) and a new copy on the second.
    /// </summary>
    public TCopy? Current(Tensor weight)
    {
        var c = Copy;
        if (c is not null && c.Matches(weight)) return c;
        if (!Noted(weight))
        {
            Note(weight);
            return null;
        }
        return Copy = TCopy.Of(weight);
    }
}

/// <summary>A copy derived from a weight tensor at one version, kept in a <see cref="WeightCacheSlot{TCopy}"/>.</summary>
internal interface IWeightCopy<TSelf> where TSelf : class, IWeightCopy<TSelf>
{
    /// <summary>The key of <paramref name="weight"/> as it is now; the copy itself may be made on first use.</summary>
    static abstract TSelf Of(Tensor weight);

    /// <summary>Whether this copy holds <paramref name="weight"/>'s current values.</summary>
    bool Matches(Tensor weight);
}

/// <summary>
/// What the weight copies share (<see cref="TransposedWeight"/>, <see cref="PackedWeight"/>,
/// <see cref="ThinPackedWeight"/>): the weight's key at one version, the test that the copy still holds the weight's
/// values, and the copy itself, made once on first use into a pinned, 64-byte-aligned array and then published, so
/// that concurrent forward passes may share a layer. A subclass gives the copy's length and how to fill it.
/// </summary>
/// <remarks>
/// The copy is valid while the weight is the same tensor object over the same buffer and offset, sharing the same
/// version counter at the same value, and that counter is not <see cref="VersionCounter.External"/>. Every engine
/// operation that writes into an existing tensor counts a version (in-place ops, <c>SetAt</c>, optimizer steps dense
/// and row-sparse, weight rounding, state-dict and checkpoint loads through <c>copy_</c>, gradient accumulation); the
/// only writes the engine cannot see are those through an array handed to <see cref="Tensor.Wrap{T}"/>, whose
/// tensors are marked external and never cached. A tensor created inside a <see cref="TensorScope"/> and used after
/// it ends breaks the scope's contract and is not covered.
/// </remarks>
internal abstract class WeightCopy
{
    private readonly Tensor _source;
    private readonly WeightVersion _key;
    private readonly Array _data;
    private readonly int _offset;
    private Copy? _copy;

    private sealed record Copy(float[] Data, int Start);

    /// <summary>The weight's rows (outputs) and columns (inputs).</summary>
    protected readonly int N, K;

    /// <summary>The key of <paramref name="weight"/> (a contiguous float32 [n, k]) as it is now.</summary>
    protected WeightCopy(Tensor weight)
    {
        _source = weight;
        _data = weight._data;
        _offset = weight._offset;
        N = weight.Shape[0];
        K = weight.Shape[1];
        _key = WeightVersion.Of(weight);
    }

    /// <summary>Whether this copy holds <paramref name="weight"/>'s current values.</summary>
    public virtual bool Matches(Tensor weight) =>
        ReferenceEquals(weight, _source) && _key.IsCurrent(weight)
        && weight.Rank == 2 && weight.Shape[0] == N && weight.Shape[1] == K && weight.IsContiguous;

    /// <summary>Floats in the copy.</summary>
    protected abstract long Length { get; }

    /// <summary>Floats past <see cref="Length"/> that the filling may write (a packing's overrun).</summary>
    protected virtual int Slack => 16;

    /// <summary>Fills the copy at <paramref name="dst"/> (64-byte aligned) from the weight's rows at <paramref name="w"/>.</summary>
    protected abstract unsafe void Fill(float* w, float* dst);

    /// <summary>The copy (built now if not yet), starting at <c>Data[Start]</c>, 64-byte aligned.</summary>
    protected unsafe (float[] Data, int Start) Built()
    {
        if (Volatile.Read(ref _copy) is { } ready) return (ready.Data, ready.Start);
        // Pinned, so the aligned start found now stays aligned.
        var data = GC.AllocateUninitializedArray<float>(checked((int)Length + Slack), pinned: true);
        fixed (float* d = data, w = (float[])_data)
        {
            int start = (int)((64 - ((nint)d & 63)) & 63) / sizeof(float);
            Fill(w + _offset, d + start);
            var copy = new Copy(data, start);
            Volatile.Write(ref _copy, copy);
            return (copy.Data, copy.Start);
        }
    }
}
