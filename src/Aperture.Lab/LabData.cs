using Aperture.Data;

namespace Aperture.Lab;

/// <summary>
/// Fashion-MNIST as the lab's phenomena use it: loaded once per process (every run of a sweep reads the same copy), and
/// drawn from in stratified samples of flat images [n, 784], standardized by the training sample's statistics.
/// </summary>
public static class LabData
{
    private static readonly Lazy<FashionMnist> Cached = new(() => Aperture.Data.FashionMnist.Load());

    /// <summary>
    /// Fashion-MNIST from <see cref="Aperture.Data.FashionMnist.Load"/> (Debian's copy when installed, else the shipped
    /// 6000 + 1000 subset), loaded on first use and then shared.
    /// </summary>
    public static FashionMnist FashionMnist => Cached.Value;

    /// <summary>Pixels per Fashion-MNIST image.</summary>
    public const int Pixels = 28 * 28;

    /// <summary>
    /// <paramref name="perClass"/> examples of each class of <paramref name="dataset"/>, drawn without replacement from
    /// <paramref name="generator"/>, as inputs [n, 784] (each image flattened row by row) and int64 labels [n], in the
    /// dataset's order. A class with fewer examples is an error naming <paramref name="setting"/> and the copy loaded.
    /// </summary>
    public static TensorDataset FlatSample(TensorDataset dataset, int perClass, Generator generator, string setting)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        var labels = dataset.Targets.ToArray<long>();
        int fewest = labels.Length == 0 ? 0 : labels.GroupBy(l => l).Min(c => c.Count());
        if (perClass > fewest)
            throw new InvalidOperationException(
                $"{setting} = {perClass}, but the Fashion-MNIST copy loaded ({FashionMnist.Source}) has only {fewest} images of some class " +
                "in that split; lower the setting or install Debian's dataset-fashion-mnist package");
        var indices = Splits.StratifiedSample(labels, perClass, generator);
        var (x, y) = new Subset(dataset, indices).GetAll();
        int n = indices.Length;
        return new TensorDataset(x.Reshape(n, x.Numel / Math.Max(n, 1)), y);
    }

    /// <summary>
    /// Both datasets' inputs shifted and scaled by one mean and one standard deviation, those of all of
    /// <paramref name="train"/>'s input elements (the test set is scaled by the training set's statistics).
    /// </summary>
    public static (TensorDataset Train, TensorDataset Test) Standardize(TensorDataset train, TensorDataset test)
    {
        var scaled = StandardizeBy(train, train, test);
        return (scaled[0], scaled[1]);
    }

    /// <summary>
    /// Every dataset in <paramref name="sets"/> shifted and scaled by one mean and one standard deviation, those of
    /// all of <paramref name="reference"/>'s input elements.
    /// </summary>
    public static TensorDataset[] StandardizeBy(TensorDataset reference, params TensorDataset[] sets)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var x = reference.Inputs.ToDoubleArray();
        double mean = 0, sq = 0;
        foreach (double v in x) mean += v;
        mean /= Math.Max(x.Length, 1);
        foreach (double v in x) sq += (v - mean) * (v - mean);
        double std = Math.Sqrt(sq / Math.Max(x.Length, 1));
        if (!(std > 0)) throw new InvalidOperationException($"LabData.Standardize: the reference inputs are constant ({mean}); nothing to scale by");
        using var _ = Autodiff.NoGrad();
        return [.. sets.Select(d => new TensorDataset((d.Inputs - mean) / std, d.Targets))];
    }
}
