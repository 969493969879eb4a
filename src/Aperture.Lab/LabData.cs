using Aperture.Data;
using Aperture.Lab.Corpora;

namespace Aperture.Lab;

/// <summary>
/// The data a protocol's runs read, resolved once per sweep: which dataset, which copy it came from, and the content
/// hash that goes into every run's identity (so a run stored with one copy is never reused for another). Also the
/// pure helpers the phenomena use to draw from it: stratified flat samples and standardization.
/// </summary>
public sealed class LabData
{
    private readonly FashionMnist? _fashionMnist;
    private readonly CorpusText? _corpus;

    private LabData(LabDataset kind, FashionMnist? fashionMnist, string fingerprint, string source, CorpusText? corpus = null)
    {
        Kind = kind;
        _fashionMnist = fashionMnist;
        _corpus = corpus;
        Fingerprint = fingerprint;
        Source = source;
    }

    /// <summary>No external data (a synthetic task draws everything from its seed).</summary>
    public static LabData None => new(LabDataset.None, null, "none", "no external data (synthetic)");

    /// <summary>Wraps a loaded copy of Fashion-MNIST as the data of <paramref name="kind"/>.</summary>
    public static LabData Of(LabDataset kind, FashionMnist data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (kind == LabDataset.None) throw new ArgumentException("LabDataset.None carries no data", nameof(kind));
        string what = kind == LabDataset.FashionMnistSubset ? "Fashion-MNIST subset (shipped images, by their index in the full set)" : "Fashion-MNIST, full";
        return new LabData(kind, data, data.Fingerprint, $"{what}: {data.Source}");
    }

    /// <summary>Wraps a corpus read from a Debian package as the data of its <see cref="LabDataset"/> entry.</summary>
    public static LabData Of(CorpusText corpus)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        return new LabData(DatasetOf(corpus.Name), null, corpus.Fingerprint, corpus.Source, corpus);
    }

    /// <summary>The dataset entry of a Debian corpus; the planted corpus (drawn from the seed) has none.</summary>
    public static LabDataset DatasetOf(CorpusName corpus) => corpus switch
    {
        CorpusName.Kjv => LabDataset.KingJamesBible,
        CorpusName.Wordnet => LabDataset.WordNetGlosses,
        CorpusName.Gcide => LabDataset.Gcide,
        _ => LabDataset.None,
    };

    /// <summary>Which dataset.</summary>
    public LabDataset Kind { get; }

    /// <summary>The content hash of the images and labels read (lowercase hex), or "none".</summary>
    public string Fingerprint { get; }

    /// <summary>Which copy was read, in words.</summary>
    public string Source { get; }

    /// <summary>Fashion-MNIST as this protocol reads it; an error for a protocol that declared no data.</summary>
    public FashionMnist FashionMnist => _fashionMnist
        ?? throw new InvalidOperationException("this protocol declared no data (LabDataset.None); a phenomenon that reads Fashion-MNIST must say so in its Data method");

    /// <summary>The text corpus this protocol reads; an error for a protocol that declared none.</summary>
    public CorpusText Corpus => _corpus
        ?? throw new InvalidOperationException($"this protocol declared {Kind}, not a text corpus; a phenomenon that reads one must say so in its Data method");

    /// <summary>Pixels per Fashion-MNIST image.</summary>
    public const int Pixels = 28 * 28;

    /// <summary>
    /// <paramref name="perClass"/> examples of each class of <paramref name="dataset"/>, drawn without replacement from
    /// <paramref name="generator"/>, as inputs [n, 784] (each image flattened row by row) and int64 labels [n], in the
    /// dataset's order. A class with fewer examples is an error naming <paramref name="setting"/>.
    /// </summary>
    public static TensorDataset FlatSample(TensorDataset dataset, int perClass, Generator generator, string setting)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(generator);
        var labels = dataset.Targets.ToArray<long>();
        int fewest = labels.Length == 0 ? 0 : labels.GroupBy(l => l).Min(c => c.Count());
        if (perClass > fewest)
            throw new LabConfigException(
                $"{setting} = {perClass}, but the data this tier reads has only {fewest} images of some class in that split; " +
                (fewest <= 600
                    ? "the quick tier reads the shipped subset (600 training and 100 test images per class): lower the setting or use --tier full"
                    : "lower the setting"));
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

/// <summary>
/// Loads the data protocols declare, once per sweep (an instance, not a process-wide cache): the shipped Fashion-MNIST
/// subset read by index from whichever copy is installed, or the full dataset, which must be installed; or a Debian
/// text corpus, read once and hashed.
/// </summary>
/// <param name="directory">A directory holding Fashion-MNIST's IDX files, overriding the automatic choice (the CLI's --data-dir).</param>
public sealed class LabDataSource(string? directory = null)
{
    /// <summary>Where the Debian text corpora are read from (Debian's install locations unless set).</summary>
    public CorpusSources Corpora { get; init; } = CorpusSources.Debian;

    private readonly Dictionary<LabDataset, LabData> _loaded = [];
    private readonly Lock _lock = new();

    /// <summary>The directory given, if any.</summary>
    public string? Directory { get; } = directory;

    /// <summary>
    /// The data of <paramref name="kind"/>, loaded on first use. The full dataset with no full copy installed is a
    /// <see cref="LabConfigException"/>, and a corpus whose package is missing a <see cref="LabDataUnavailableException"/>,
    /// whose one line says how to install it (or which --data-dir to pass).
    /// </summary>
    public LabData Resolve(LabDataset kind)
    {
        if (kind == LabDataset.None) return LabData.None;
        lock (_lock)
        {
            if (_loaded.TryGetValue(kind, out var found)) return found;
            if (kind is LabDataset.KingJamesBible or LabDataset.WordNetGlosses or LabDataset.Gcide)
            {
                var name = kind switch { LabDataset.KingJamesBible => CorpusName.Kjv, LabDataset.WordNetGlosses => CorpusName.Wordnet, _ => CorpusName.Gcide };
                try
                {
                    return _loaded[kind] = LabData.Of(CorpusText.Read(name, Corpora));
                }
                catch (CorpusUnavailableException e)
                {
                    throw new LabDataUnavailableException(kind, e.Message);
                }
            }
            FashionMnist data;
            try
            {
                data = kind == LabDataset.FashionMnistSubset ? FashionMnist.LoadSubset(Directory) : FashionMnist.LoadFull(Directory);
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or DirectoryNotFoundException)
            {
                throw new LabConfigException(e.Message);
            }
            return _loaded[kind] = LabData.Of(kind, data);
        }
    }
}
