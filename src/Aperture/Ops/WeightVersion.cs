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
internal struct WeightCacheSlot<TCopy> where TCopy : class
{
    /// <summary>The copy, once built (check that it matches the weight before using it).</summary>
    public TCopy? Copy;

    private WeightVersion _seen;

    /// <summary>Whether <see cref="Note"/> saw this weight at its current version.</summary>
    public readonly bool Noted(Tensor weight) => _seen.Is(weight);

    /// <summary>Remembers the weight's current version.</summary>
    public void Note(Tensor weight) => _seen = WeightVersion.Of(weight);
}
