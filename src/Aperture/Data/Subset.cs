namespace Aperture.Data;

/// <summary>The examples of another dataset at chosen indices, in that order (a view: nothing is copied).</summary>
public sealed class Subset : Dataset
{
    private readonly int[] _indices;

    /// <summary>The examples of <paramref name="dataset"/> at <paramref name="indices"/>.</summary>
    public Subset(Dataset dataset, ReadOnlySpan<int> indices)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        foreach (int i in indices)
            if ((uint)i >= (uint)dataset.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"Subset: index {i} is out of range for a dataset of {dataset.Count} examples");
        Dataset = dataset;
        _indices = indices.ToArray();
    }

    /// <summary>The dataset the examples come from.</summary>
    public Dataset Dataset { get; }

    /// <summary>The index in <see cref="Dataset"/> of each example of this subset.</summary>
    public IReadOnlyList<int> Indices => _indices;

    /// <inheritdoc/>
    public override int Count => _indices.Length;

    /// <inheritdoc/>
    public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices) => Dataset.GetBatch(Map(indices));

    /// <inheritdoc/>
    public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices, int epoch) => Dataset.GetBatch(Map(indices), epoch);

    private int[] Map(ReadOnlySpan<int> indices)
    {
        CheckIndices(indices);
        var mapped = new int[indices.Length];
        for (int i = 0; i < mapped.Length; i++) mapped[i] = _indices[indices[i]];
        return mapped;
    }
}

/// <summary>Splits of a dataset into parts (train and validation), random or stratified by class, from a seed.</summary>
public static class Splits
{
    /// <summary>
    /// Splits <paramref name="dataset"/> at random: round(<paramref name="validationFraction"/> · n) examples go to
    /// the validation part, the rest to training. Each part lists its examples in their original order.
    /// </summary>
    public static (Subset Train, Subset Validation) Random(Dataset dataset, double validationFraction, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        CheckFraction(validationFraction, nameof(validationFraction));
        int n = dataset.Count;
        int k = (int)Math.Round(validationFraction * n, MidpointRounding.ToEven);
        var p = generator.Permutation(n);
        var validation = p.AsSpan(0, k).ToArray();
        var train = p.AsSpan(k).ToArray();
        Array.Sort(validation);
        Array.Sort(train);
        return (new Subset(dataset, train), new Subset(dataset, validation));
    }

    /// <summary>
    /// Splits <paramref name="dataset"/> so that each class keeps its share in both parts: of each class's m examples,
    /// round(<paramref name="validationFraction"/> · m) go to validation. Targets must be int64 class labels [n].
    /// </summary>
    public static (Subset Train, Subset Validation) Stratified(Dataset dataset, double validationFraction, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        CheckFraction(validationFraction, nameof(validationFraction));
        var labels = Labels(dataset, "Splits.Stratified");
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var members in ByClass(labels))
        {
            int k = (int)Math.Round(validationFraction * members.Count, MidpointRounding.ToEven);
            var p = generator.Permutation(members.Count);
            for (int i = 0; i < members.Count; i++) (i < k ? validation : train).Add(members[p[i]]);
        }
        train.Sort();
        validation.Sort();
        return (new Subset(dataset, train.ToArray()), new Subset(dataset, validation.ToArray()));
    }

    /// <summary>
    /// Indices of <paramref name="perClass"/> examples of each class, drawn without replacement, in increasing order.
    /// A class with fewer examples is an error.
    /// </summary>
    public static int[] StratifiedSample(ReadOnlySpan<long> labels, int perClass, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (perClass < 0) throw new ArgumentOutOfRangeException(nameof(perClass), perClass, "Splits.StratifiedSample: perClass must be non-negative");
        var chosen = new List<int>();
        var groups = ByClass(labels);
        foreach (var members in groups)
        {
            if (members.Count < perClass)
                throw new ArgumentException($"Splits.StratifiedSample: class {labels[members[0]]} has {members.Count} examples, fewer than the {perClass} asked for", nameof(labels));
            var p = generator.Permutation(members.Count);
            for (int i = 0; i < perClass; i++) chosen.Add(members[p[i]]);
        }
        chosen.Sort();
        return chosen.ToArray();
    }

    /// <summary>The int64 class labels of a dataset whose targets are [n].</summary>
    internal static long[] Labels(Dataset dataset, string op)
    {
        var targets = dataset is TensorDataset td ? td.Targets : dataset.GetAll().Targets;
        if (targets.DType != DType.Int64 || targets.Rank != 1)
            throw new ArgumentException($"{op}: needs int64 class labels of shape [n], but the targets are {targets.DType.Name()} {Shapes.Format(targets.Shape)}");
        return targets.ToArray<long>();
    }

    /// <summary>The indices of each class, classes in increasing label order, indices increasing.</summary>
    private static List<List<int>> ByClass(ReadOnlySpan<long> labels)
    {
        var groups = new SortedDictionary<long, List<int>>();
        for (int i = 0; i < labels.Length; i++)
        {
            if (!groups.TryGetValue(labels[i], out var list)) groups[labels[i]] = list = [];
            list.Add(i);
        }
        return [.. groups.Values];
    }

    private static void CheckFraction(double fraction, string parameter)
    {
        if (!(fraction >= 0 && fraction <= 1))
            throw new ArgumentOutOfRangeException(parameter, fraction, "Splits: the validation fraction must be in [0, 1]");
    }
}
