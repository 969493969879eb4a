namespace Aperture.Data;

/// <summary>
/// The corruptions of Zhang et al., "Understanding deep learning requires rethinking generalization" (2017): each
/// returns a new dataset, corrupted once from an explicit generator and then fixed, so every epoch sees the same
/// corrupted examples (the trap of re-drawing them each epoch turns memorization into noise averaging).
/// </summary>
public static class Corruptions
{
    /// <summary>
    /// Replaces the labels of round(<paramref name="fraction"/> · n) examples, chosen at random, with classes drawn
    /// uniformly from 0..<paramref name="classes"/>−1 (a drawn class may equal the true one, as in the paper's
    /// reference code). Targets must be int64 class labels [n].
    /// </summary>
    public static TensorDataset RandomLabels(Dataset dataset, double fraction, int classes, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        if (!(fraction >= 0 && fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "RandomLabels: fraction must be in [0, 1]");
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "RandomLabels: classes must be at least 1");
        var labels = Splits.Labels(dataset, "Corruptions.RandomLabels");
        var inputs = Inputs(dataset);
        int n = labels.Length, k = (int)Math.Round(fraction * n, MidpointRounding.ToEven);
        var chosen = generator.Permutation(n).AsSpan(0, k).ToArray();
        Array.Sort(chosen);
        foreach (int i in chosen) labels[i] = generator.NextLong(classes);
        return new TensorDataset(inputs, Tensor.Wrap(labels, [n]));
    }

    /// <summary>
    /// Shuffles the pixels of every input by one random permutation (<paramref name="perImage"/> false: a relabelling
    /// of the input coordinates that keeps everything an MLP can use) or by a fresh permutation per image (which
    /// destroys the images' structure). For images [n, c, h, w] the h·w positions are permuted and the channels move
    /// together; for other inputs [n, ...] all of an example's elements are permuted.
    /// </summary>
    public static TensorDataset ShufflePixels(Dataset dataset, bool perImage, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        var (inputs, targets) = dataset.GetAll();
        if (inputs.Rank < 2) throw new ShapeMismatchException($"ShufflePixels: expected inputs [n, ...], got shape {Shapes.Format(inputs.Shape)}");
        int n = inputs.Shape[0];
        int channels = inputs.Rank == 4 ? inputs.Shape[1] : 1;
        int positions = n == 0 ? 0 : inputs.Numel / n / channels;
        int size = positions * channels;
        var shuffled = Tensor.Uninitialized(inputs.Shape, inputs.DType);
        var from = inputs.IsContiguous ? inputs : Ops.Contiguous(inputs);
        int[] permutation = perImage ? [] : generator.Permutation(positions);
        for (int i = 0; i < n; i++)
        {
            var p = perImage ? generator.Permutation(positions) : permutation;
            for (int ch = 0; ch < channels; ch++)
            {
                int at = i * size + ch * positions;
                for (int k = 0; k < positions; k++)
                    shuffled.SetRawAt(at + k, from.GetRaw(from._offset + at + p[k]));
            }
        }
        return new TensorDataset(shuffled, targets);
    }

    /// <summary>
    /// Replaces every input by Gaussian noise with the mean and variance of all the inputs' elements together (one
    /// mean and one variance, as in the paper), keeping shapes, dtype and targets.
    /// </summary>
    public static TensorDataset GaussianInputs(Dataset dataset, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        var (inputs, targets) = dataset.GetAll();
        if (!inputs.DType.IsFloatingPoint()) throw new DTypeMismatchException($"GaussianInputs: expected float inputs, got {inputs.DType.Name()}");
        var x = inputs.ToDoubleArray();
        double mean = 0, sq = 0;
        foreach (double v in x) mean += v;
        mean /= Math.Max(x.Length, 1);
        foreach (double v in x) sq += (v - mean) * (v - mean);
        double std = Math.Sqrt(sq / Math.Max(x.Length, 1));
        return new TensorDataset(Tensor.Normal(inputs.Shape, mean, std, generator, inputs.DType), targets);
    }

    private static Tensor Inputs(Dataset dataset) => dataset is TensorDataset td ? td.Inputs : dataset.GetAll().Inputs;
}
