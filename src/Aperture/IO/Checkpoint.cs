using System.Globalization;
using Aperture.Optim;

namespace Aperture.IO;

/// <summary>The state a training run saves: the model's tensors, the optimizer's tensors and string metadata.</summary>
/// <param name="Model">The model's parameters and buffers by dotted name (<c>layers.0.weight</c>).</param>
/// <param name="Optimizer">The optimizer's state by name (moments, step counts as 0-d tensors); empty when none was saved.</param>
/// <param name="Metadata">Free-form strings: the run's configuration, the epoch, the generator offset.</param>
public sealed record CheckpointState(
    IReadOnlyDictionary<string, Tensor> Model,
    IReadOnlyDictionary<string, Tensor> Optimizer,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Model and optimizer state in one safetensors file: model tensors are stored under <c>model.</c> and optimizer
/// tensors under <c>optimizer.</c>, so any safetensors reader (PyTorch, NumPy) can open the file.
/// </summary>
public static class Checkpoint
{
    /// <summary>The prefix of model tensors in the file.</summary>
    public const string ModelPrefix = "model.";

    /// <summary>The prefix of optimizer tensors in the file.</summary>
    public const string OptimizerPrefix = "optimizer.";

    /// <summary>Writes a checkpoint atomically (a crash leaves the previous checkpoint intact).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> model,
        IReadOnlyDictionary<string, Tensor>? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model) all.Add(ModelPrefix + name, t);
        if (optimizer is not null)
            foreach (var (name, t) in optimizer) all.Add(OptimizerPrefix + name, t);
        SafeTensors.Save(path, all, metadata);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>; a tensor under neither prefix is an error.</summary>
    public static CheckpointState Load(string path)
    {
        RemoveStaleTemporaries(path);
        var file = SafeTensors.Load(path);
        var model = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var optimizer = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in file.Tensors)
        {
            if (name.StartsWith(ModelPrefix, StringComparison.Ordinal)) model.Add(name[ModelPrefix.Length..], t);
            else if (name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) optimizer.Add(name[OptimizerPrefix.Length..], t);
            else throw new SafeTensorsFormatException(path, $"tensor '{name}' is under neither '{ModelPrefix}' nor '{OptimizerPrefix}': not an Aperture checkpoint (read it with SafeTensors.Load)");
        }
        return new CheckpointState(model, optimizer, file.Metadata);
    }

    /// <summary>The metadata prefix under which <see cref="SaveState"/> stores a snapshot's scalars.</summary>
    public const string ScalarPrefix = "aperture.scalar.";

    /// <summary>
    /// Writes a whole training state (a <see cref="StateSnapshot"/> from <c>Trainer.StateDict</c>,
    /// <c>Module.StateDict</c> or <c>Optimizer.StateDict</c>) atomically: tensors under their own names, scalars in
    /// the metadata as round-trip text, so resuming from the file continues bitwise.
    /// </summary>
    public static void SaveState(string path, StateSnapshot state, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null)
            foreach (var (k, v) in metadata)
            {
                if (k.StartsWith(ScalarPrefix, StringComparison.Ordinal))
                    throw new ArgumentException($"Checkpoint.SaveState: metadata key '{k}' uses the reserved prefix '{ScalarPrefix}'", nameof(metadata));
                meta[k] = v;
            }
        foreach (var (k, v) in state.Scalars) meta[ScalarPrefix + k] = v.ToString("R", CultureInfo.InvariantCulture);
        SafeTensors.Save(path, state.Tensors, meta);
    }

    /// <summary>Reads a state written by <see cref="SaveState"/>, with the remaining (non-scalar) metadata.</summary>
    public static (StateSnapshot State, IReadOnlyDictionary<string, string> Metadata) LoadState(string path)
    {
        RemoveStaleTemporaries(path);
        var file = SafeTensors.Load(path);
        var state = new StateSnapshot();
        foreach (var (k, t) in file.Tensors) state.Tensors[k] = t;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in file.Metadata)
        {
            if (!k.StartsWith(ScalarPrefix, StringComparison.Ordinal)) { meta[k] = v; continue; }
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                throw new SafeTensorsFormatException(path, $"scalar '{k[ScalarPrefix.Length..]}' has the value '{v}', which is not a number");
            state.Scalars[k[ScalarPrefix.Length..]] = d;
        }
        return (state, meta);
    }

    /// <summary>Removes what killed saves left next to <paramref name="path"/> (<see cref="AtomicFile.RemoveStaleTemporaries"/>).</summary>
    private static void RemoveStaleTemporaries(string path)
    {
        if (string.IsNullOrEmpty(path)) return;   // SafeTensors.Load reports the bad argument
        string? directory;
        try { directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return; }
        if (!string.IsNullOrEmpty(directory)) AtomicFile.RemoveStaleTemporaries(directory);
    }
}
