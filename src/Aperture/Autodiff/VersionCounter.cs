namespace Aperture;

/// <summary>
/// The in-place change count of one buffer, shared by every tensor that views it (PyTorch's version counter), with the
/// name of the last op that changed it so an error can say who did.
/// </summary>
internal sealed class VersionCounter
{
    /// <summary>How many in-place changes were made.</summary>
    public int Value;

    /// <summary>The op that made the last change (null before the first).</summary>
    public string? LastWriter;

    /// <summary>
    /// True when the buffer is also reachable as a plain array outside the engine (<see cref="Tensor.Wrap{T}"/>): writes
    /// through that array change the elements without counting, so <see cref="Value"/> cannot prove them unchanged and
    /// nothing may be cached on it (<see cref="TransposedWeight"/>).
    /// </summary>
    public bool External;
}
