namespace Aperture.NN;

/// <summary>What <see cref="Module.LoadStateDict"/> did not match: the model's entries the dict lacked, and the dict's entries the model lacks.</summary>
public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

public abstract partial class Module
{
    /// <summary>
    /// The module's state under dotted names, in registration order: every parameter, every persistent buffer
    /// and every generator (as <see cref="GeneratorState"/>'s int64 [seed, stream, offset]). The tensors are
    /// copies, detached and contiguous: training on does not change a state dict taken earlier.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var dict = new Dictionary<string, Tensor>();
        foreach (var (name, m) in NamedModules())
        {
            string prefix = name.Length == 0 ? "" : name + ".";
            foreach (var (key, p) in m._parameters)
                if (p is not null) dict[prefix + key] = Snapshot(p);
            foreach (var (key, b) in m._buffers)
                if (!m._nonPersistent.Contains(key)) dict[prefix + key] = Snapshot(b);
            foreach (var (key, g) in m._generators)
                dict[prefix + key] = GeneratorState.Save(g);
        }
        return dict;
    }

    private static Tensor Snapshot(Tensor t) => StridedCopy.ToContiguous(t);

    /// <summary>
    /// Copies the entries of <paramref name="stateDict"/> into this module's parameters, buffers and generators
    /// (in place, so optimizers holding the parameters keep working). Every entry is checked before anything is
    /// written: a shape that differs is an error naming the key and both shapes; values of another float dtype
    /// are converted. With <paramref name="strict"/> (the default) a missing or unexpected key is an error too;
    /// otherwise they are returned. For transfer learning, filter the dict (or load into a submodule) and pass
    /// <c>strict: false</c>.
    /// </summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        var (result, apply) = PrepareLoad(stateDict, strict);
        apply();
        return result;
    }

    /// <summary>
    /// Checks <paramref name="stateDict"/> completely, converts what needs converting, and returns the action that
    /// writes it (which cannot fail): <see cref="Trainer"/> checks the model, the optimizer and the schedule this way
    /// before changing any of them.
    /// </summary>
    internal (LoadResult Result, Action Apply) PrepareLoad(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var expected = new List<(string Key, Module Owner, string Local, char Kind)>();
        foreach (var (name, m) in NamedModules())
        {
            string prefix = name.Length == 0 ? "" : name + ".";
            foreach (var (key, p) in m._parameters)
                if (p is not null) expected.Add((prefix + key, m, key, 'p'));
            foreach (var key in m._buffers.Keys)
                if (!m._nonPersistent.Contains(key)) expected.Add((prefix + key, m, key, 'b'));
            foreach (var key in m._generators.Keys) expected.Add((prefix + key, m, key, 'g'));
        }

        var known = new HashSet<string>(expected.Select(e => e.Key));
        var missing = expected.Where(e => !stateDict.ContainsKey(e.Key)).Select(e => e.Key).ToList();
        var unexpected = stateDict.Keys.Where(k => !known.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();

        var errors = new List<string>();
        if (strict && missing.Count > 0) errors.Add($"missing keys: {string.Join(", ", missing)}");
        if (strict && unexpected.Count > 0) errors.Add($"unexpected keys: {string.Join(", ", unexpected)}");
        var writes = new List<(Module Owner, string Local, char Kind, Tensor Value)>();
        foreach (var (key, owner, local, kind) in expected)
        {
            if (!stateDict.TryGetValue(key, out var value)) continue;
            if (value is null) { errors.Add($"'{key}' is null"); continue; }
            if (kind == 'g')
            {
                if (!GeneratorState.IsState(value))
                    errors.Add($"'{key}' should be a saved generator (int64 of shape [3]), got {value.DType.Name()} of shape {Shapes.Format(value.Shape)}");
                else writes.Add((owner, local, kind, value));
                continue;
            }
            var target = kind == 'p' ? owner._parameters[local]! : owner._buffers[local];
            if (!Shapes.Equal(value.Shape, target.Shape))
                errors.Add($"'{key}' has shape {Shapes.Format(value.Shape)} in the state dict but {Shapes.Format(target.Shape)} in {owner.Describe()}");
            else if (value.DType != target.DType && !(value.DType.IsFloatingPoint() && target.DType.IsFloatingPoint()))
                errors.Add($"'{key}' is {value.DType.Name()} in the state dict but {target.DType.Name()} in {owner.Describe()}");
            else writes.Add((owner, local, kind, value));
        }
        if (errors.Count > 0)
            throw new ArgumentException($"LoadStateDict into {Describe()}: {string.Join("; ", errors)}", nameof(stateDict));

        // Conversions happen now, so that writing cannot fail half-way (and never into a recycling scope's pools).
        using (TensorScope.Suspend())
        using (Autodiff.NoGrad())
            for (int i = 0; i < writes.Count; i++)
            {
                var (owner, local, kind, value) = writes[i];
                if (kind == 'g') continue;
                var target = kind == 'p' ? owner._parameters[local]! : owner._buffers[local];
                var source = value.DType == target.DType ? value : value.To(target.DType);
                writes[i] = (owner, local, kind, source);
            }
        return (new LoadResult(missing, unexpected), () =>
        {
            using (Autodiff.NoGrad())
            {
                foreach (var (owner, local, kind, value) in writes)
                {
                    switch (kind)
                    {
                        case 'p': Ops.CopyInPlace(owner._parameters[local]!, value); break;
                        case 'b': Ops.CopyInPlace(owner._buffers[local], value); break;
                        default: owner._generators[local] = GeneratorState.Restore(owner._generators[local], value); break;
                    }
                }
            }
        });
    }
}
