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

    /// <summary>
    /// The examples at <paramref name="indices"/> as seen in pass <paramref name="epoch"/> over the data. A dataset
    /// with random augmentation (<see cref="TransformedDataset"/>) draws it from its seed, the epoch and the example's
    /// index, so an example looks the same in a given epoch whatever the batch size, the order or the prefetching;
    /// other datasets ignore the epoch. <see cref="DataLoader"/> calls this overload.
    /// </summary>
    public virtual (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices, int epoch) => GetBatch(indices);

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
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"{GetType().Name}: index {i} is out of range for a dataset of {Count} examples");
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

    /// <summary>
    /// A dataset from the columns of a 2-d <paramref name="table"/> (such as <see cref="IO.CsvTable.Values"/>): the
    /// target is column <paramref name="targetColumn"/> and the inputs are the other columns, float32 [rows, columns - 1].
    /// Targets are int64 class labels [rows] when <paramref name="classLabels"/> (the values must be whole numbers),
    /// else float32 [rows, 1].
    /// </summary>
    public static TensorDataset FromTable(Tensor table, int targetColumn, bool classLabels)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Rank != 2) throw new ShapeMismatchException($"TensorDataset.FromTable: expected a 2-d table [rows, columns], got shape {Shapes.Format(table.Shape)}");
        int rows = table.Shape[0], cols = table.Shape[1];
        if ((uint)targetColumn >= (uint)cols)
            throw new ArgumentOutOfRangeException(nameof(targetColumn), targetColumn, $"TensorDataset.FromTable: the table has {cols} columns");
        var all = table.ToDoubleArray();
        var inputs = new float[rows * (cols - 1)];
        var values = new float[classLabels ? 0 : rows];
        var labels = new long[classLabels ? rows : 0];
        for (int r = 0; r < rows; r++)
        {
            int k = 0;
            for (int c = 0; c < cols; c++)
            {
                double v = all[r * cols + c];
                if (c != targetColumn) inputs[r * (cols - 1) + k++] = (float)v;
                else if (!classLabels) values[r] = (float)v;
                else if (v != Math.Floor(v) || Math.Abs(v) > 1L << 53)
                    throw new ArgumentException($"TensorDataset.FromTable: row {r} has target {v}, not a whole-number class label", nameof(table));
                else labels[r] = (long)v;
            }
        }
        return new TensorDataset(Tensor.Wrap(inputs, [rows, cols - 1]),
            classLabels ? Tensor.Wrap(labels, [rows]) : Tensor.Wrap(values, [rows, 1]));
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
