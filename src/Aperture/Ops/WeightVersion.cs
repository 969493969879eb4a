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
