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
}
