namespace Aperture;

/// <summary>Whether ops record the graph that reverse mode needs. Thread-local, like PyTorch's grad mode.</summary>
public static class GradMode
{
    [ThreadStatic] private static bool t_disabled;

    /// <summary>True (the default) when ops on tensors that require grad are recorded.</summary>
    public static bool Enabled => !t_disabled;

    internal static bool Set(bool enabled)
    {
        bool previous = !t_disabled;
        t_disabled = !enabled;
        return previous;
    }
}

/// <summary>A scope that sets grad mode and restores the previous mode when disposed.</summary>
public readonly struct GradModeScope : IDisposable
{
    private readonly bool _previous;

    internal GradModeScope(bool enabled) => _previous = GradMode.Set(enabled);

    /// <summary>Restores the previous grad mode.</summary>
    public void Dispose() => GradMode.Set(_previous);
}
