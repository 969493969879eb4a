namespace Aperture.Data;

/// <summary>
/// A finite collection of (input, target) examples that can be read a batch at a time. Batches are the unit
/// so that a dataset held as tensors copies rows in one pass instead of building a tensor per example.
/// </summary>
public abstract class Dataset
{
    /// <summary>The number of examples.</summary>
    public abstract int Count { get; }

    /// <summary>
    /// The examples at <paramref name="indices"/>, stacked along a new first dimension: inputs [n, ...] and
    /// targets [n, ...] (class labels are int64 of shape [n]).
    /// </summary>
    public abstract (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices);

    /// <summary>Every example, in order.</summary>
    public (Tensor Inputs, Tensor Targets) GetAll()
    {
        var all = new int[Count];
        for (int i = 0; i < all.Length; i++) all[i] = i;
        return GetBatch(all);
    }

    /// <summary>Checks that each index is within 0..Count-1, naming the dataset in the error.</summary>
    protected void CheckIndices(ReadOnlySpan<int> indices)
    {
        foreach (int i in indices)
            if ((uint)i >= (uint)Count)
                throw new IndexOutOfRangeException($"{GetType().Name}: index {i} is out of range for a dataset of {Count} examples");
    }
}

/// <summary>A dataset held as two tensors whose first dimension indexes the examples.</summary>
public sealed class TensorDataset : Dataset
{
    /// <summary>Wraps <paramref name="inputs"/> [n, ...] and <paramref name="targets"/> [n, ...].</summary>
    public TensorDataset(Tensor inputs, Tensor targets)
    {
        if (inputs.Rank == 0 || targets.Rank == 0 || inputs.Shape[0] != targets.Shape[0])
            throw new ShapeMismatchException(
                $"TensorDataset: inputs {Shapes.Format(inputs.Shape)} and targets {Shapes.Format(targets.Shape)} must have the same first dimension (the number of examples)");
        Inputs = inputs;
        Targets = targets;
    }

    /// <summary>All inputs, [n, ...].</summary>
    public Tensor Inputs { get; }

    /// <summary>All targets, [n, ...].</summary>
    public Tensor Targets { get; }

    /// <inheritdoc/>
    public override int Count => Inputs.Shape[0];

    /// <inheritdoc/>
    public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices)
    {
        CheckIndices(indices);
        var idx = new long[indices.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = indices[i];
        var index = Tensor.FromArray(idx);
        using (Autodiff.NoGrad())
            return (Ops.IndexSelect(Inputs, 0, index), Ops.IndexSelect(Targets, 0, index));
    }
}
