namespace Aperture.NN;

/// <summary>
/// Called after a module's forward computation with its input and output. Return null to keep the output, or a
/// tensor to replace it (a probe that ablates or patches a layer).
/// </summary>
public delegate Tensor? ForwardHook(Module module, Tensor input, Tensor output);

/// <summary>Called before a module's forward computation. Return null to keep the input, or a tensor to replace it.</summary>
public delegate Tensor? ForwardPreHook(Module module, Tensor input);

/// <summary>A registered hook; dispose it (or call <see cref="Remove"/>) to unregister.</summary>
public sealed class HookHandle : IDisposable
{
    private Action? _remove;

    internal HookHandle(Action remove) => _remove = remove;

    /// <summary>Unregisters the hook (again is a no-op).</summary>
    public void Remove()
    {
        _remove?.Invoke();
        _remove = null;
    }

    /// <summary>Same as <see cref="Remove"/>.</summary>
    public void Dispose() => Remove();
}

public abstract partial class Module
{
    private sealed record PostHook(ForwardHook Fn);
    private sealed record PreHook(ForwardPreHook Fn);

    private readonly List<PostHook> _hooks = [];
    private readonly List<PreHook> _preHooks = [];

    /// <summary>
    /// Registers a hook run after every <see cref="Forward"/> of this module (PyTorch's
    /// <c>register_forward_hook</c>). Hooks run in registration order, each seeing the previous one's output.
    /// </summary>
    public HookHandle RegisterForwardHook(ForwardHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var entry = new PostHook(hook);
        _hooks.Add(entry);
        return new HookHandle(() => _hooks.Remove(entry));
    }

    /// <summary>Registers a hook run before every <see cref="Forward"/> of this module (<c>register_forward_pre_hook</c>).</summary>
    public HookHandle RegisterForwardPreHook(ForwardPreHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var entry = new PreHook(hook);
        _preHooks.Add(entry);
        return new HookHandle(() => _preHooks.Remove(entry));
    }
}
