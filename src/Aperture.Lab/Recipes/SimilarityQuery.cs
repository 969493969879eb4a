using System.Globalization;
using Aperture.Data;
using Aperture.Latent;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>What <c>aperture similar</c> asks: which items are closest to item <paramref name="Item"/> in layer <paramref name="Layer"/> of a model.</summary>
/// <param name="Dataset">"bonds" or "fashion-mnist".</param>
/// <param name="ModelPath">A model file: for fashion-mnist a checkpoint written by <c>aperture train --save</c>; for bonds a price net written by <c>aperture similar --dataset bonds --train --save</c>.</param>
/// <param name="Train">Train the model on the fly instead (fashion-mnist: <see cref="ImageClassification.Train"/> with <paramref name="Epochs"/>; bonds: <see cref="BondSimilarity.Train"/>).</param>
/// <param name="SavePath">With <paramref name="Train"/>, where to save the trained model.</param>
/// <param name="Layer">The module whose output is searched (a dotted name); null: the last hidden layer.</param>
/// <param name="Item">The query's index among the searched items (fashion-mnist: the test split; bonds: the held-out bonds).</param>
/// <param name="K">Neighbours to list.</param>
/// <param name="Metric">The distance.</param>
/// <param name="DataDirectory">Fashion-MNIST's IDX files (default: Debian's copy, else the shipped subset).</param>
/// <param name="Seed">The seed of on-the-fly training (and, for bonds, of the market).</param>
/// <param name="Epochs">Epochs of on-the-fly training.</param>
public sealed record SimilarityRequest(string Dataset, string? ModelPath, bool Train, string? SavePath, string? Layer, int Item, int K,
    Distance Metric = Distance.L2, string? DataDirectory = null, ulong Seed = 0, int Epochs = 2);

/// <summary>The answer: the listing, the model it came from, and the data read.</summary>
/// <param name="Listing">The query and its neighbours.</param>
/// <param name="Model">What the model is (architecture, where it came from).</param>
/// <param name="Layer">The layer searched.</param>
/// <param name="DataSource">The data read.</param>
public sealed record SimilarityAnswer(NeighbourListing Listing, string Model, string Layer, string DataSource);

/// <summary>Answers a <see cref="SimilarityRequest"/>: loads or trains the model, reads the layer's codes for every item and lists the query's neighbours.</summary>
public static class SimilarityQuery
{
    /// <summary>
    /// The layer name of the model's input: the features it reads (bonds: standardized by the training bonds;
    /// Fashion-MNIST: the pixels scaled as <c>aperture train</c> scales them), flattened. Searching it gives the
    /// raw-feature neighbours that a latent layer's are compared with.
    /// </summary>
    public const string InputLayer = "input";

    /// <summary>The datasets <see cref="Answer"/> knows.</summary>
    public static IReadOnlyList<string> Datasets { get; } = ["bonds", "fashion-mnist"];

    /// <summary>Bonds the on-the-fly price net trains on, and held-out bonds searched, in a market drawn from the seed.</summary>
    public const int TrainBonds = 4000, HeldBonds = 1000;

    /// <summary>The bond price net's hidden widths.</summary>
    public static IReadOnlyList<int> BondHidden { get; } = [64, 32];

    /// <summary>Answers <paramref name="r"/>; bad input is a <see cref="LabConfigException"/> naming the option.</summary>
    public static SimilarityAnswer Answer(SimilarityRequest r, Action<string>? status = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (!Datasets.Contains(r.Dataset)) throw new LabConfigException($"--dataset '{r.Dataset}': expected one of {string.Join(", ", Datasets)}");
        if ((r.ModelPath is null) == !r.Train) throw new LabConfigException("give exactly one of --model FILE and --train");
        if (r.SavePath is not null && !r.Train) throw new LabConfigException("--save needs --train (it saves the model trained on the fly)");
        if (r.Epochs < 1) throw new LabConfigException($"--epochs must be at least 1, got {r.Epochs}");
        if (r.K < 1) throw new LabConfigException($"--k must be at least 1, got {r.K}");
        if (r.Item < 0) throw new LabConfigException($"--item must be non-negative, got {r.Item}");
        return r.Dataset == "bonds" ? Bonds(r, status) : Images(r, status);
    }

    private static SimilarityAnswer Bonds(SimilarityRequest r, Action<string>? status)
    {
        BondPriceNet net;
        ulong seed = r.Seed;
        string from;
        if (r.ModelPath is { } path)
        {
            net = BondPriceNet.Load(path);
            seed = net.MarketSeed ?? throw new LabConfigException($"--model '{path}': the file does not record its market's seed");
            from = $"loaded from {path}";
        }
        else
        {
            var (train, _) = BondSimilarity.Split(Synthetic.BondMarket(TrainBonds + HeldBonds, new Generator(seed)), TrainBonds);
            status?.Invoke($"training the bond price net ({r.Epochs} epochs on {TrainBonds} bonds)");
            net = BondSimilarity.Train(train.Data, BondHidden, r.Epochs, 64, 1e-3, new Generator(seed, stream: 1), new Generator(seed, stream: 2)) with { MarketSeed = seed };
            if (r.SavePath is { } save) Save(() => net.Save(save, BondHidden), save);
            from = $"trained for {r.Epochs} epochs, seed {seed}";
        }
        if (net.FeatureMean.Length != 13)
            throw new LabConfigException($"--model '{r.ModelPath}': the net takes {net.FeatureMean.Length} features, but the bond market has 13");
        var (_, held) = BondSimilarity.Split(Synthetic.BondMarket(TrainBonds + HeldBonds, new Generator(seed)), TrainBonds);
        string layer = r.Layer ?? net.LastHidden;
        var codes = Codes(net.Model, layer, new TensorDataset(net.Standardize(held.Data.Inputs), Tensor.Zeros([held.Data.Count])));
        var listing = Similarity.List("bonds", "layer " + layer, codes, r.Item, r.K, r.Metric, Similarity.Bonds(held));
        return new SimilarityAnswer(listing, $"bond price MLP 13-{string.Join('-', HiddenOf(net.Model))}-1, {from}", layer,
            $"synthetic bond market, seed {seed}: the {HeldBonds} held-out bonds after {TrainBonds} training bonds");
    }

    private static SimilarityAnswer Images(SimilarityRequest r, Action<string>? status)
    {
        string? temp = null;
        string path;
        if (r.ModelPath is { } given) path = given;
        else
        {
            path = r.SavePath ?? (temp = Path.Combine(Path.GetTempPath(), $"aperture-similar-{Environment.ProcessId}-{Guid.NewGuid():N}.ckpt"));
            status?.Invoke($"training an mlp on Fashion-MNIST ({r.Epochs} epochs)");
            ImageClassification.Train(new TrainingOptions("mlp", "fashion-mnist", r.Epochs, r.Seed, DataDirectory: r.DataDirectory), checkpoints: new TrainingCheckpoints(path));
        }
        Sequential model;
        string kind;
        try { (model, kind) = LoadCheckpoint(path); }
        finally { if (temp is not null) File.Delete(temp); }
        var data = FashionMnist.Load(r.DataDirectory);
        // The inputs as `aperture train` scales them: one mean and standard deviation of the training pixels.
        Tensor test;
        using (Autodiff.NoGrad())
        {
            double mean = data.Train.Inputs.Mean().Item(), std = data.Train.Inputs.Std(correction: 0).Item();
            test = (data.Test.Inputs - mean) / std;
            if (kind == "mlp") test = test.Reshape(test.Shape[0], -1);
        }
        string layer = r.Layer ?? BondSimilarity.LastHiddenLayer(model);
        var codes = Codes(model, layer, new TensorDataset(test, data.Test.Targets));
        var items = new ItemDescriptions(Labels: data.Test.Targets.ToArray<long>(), Images: Similarity.GreyBytes(data.Test.Inputs, 1.0), ImageSide: 28,
            ClassNames: Similarity.FashionMnistClasses);
        var listing = Similarity.List("fashion-mnist", "layer " + layer, codes, r.Item, r.K, r.Metric, items);
        return new SimilarityAnswer(listing, $"{kind}, {(temp is null && r.ModelPath is not null ? "loaded from " + path : $"trained for {r.Epochs} epochs, seed {r.Seed}")}", layer,
            $"{data.Source}: the {data.Test.Count} test images");
    }

    /// <summary>The model of a checkpoint written by <c>aperture train --save</c>.</summary>
    private static (Sequential Model, string Kind) LoadCheckpoint(string path)
    {
        StateSnapshot state;
        IReadOnlyDictionary<string, string> meta;
        try { (state, meta) = Aperture.IO.Checkpoint.LoadState(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new LabConfigException($"--model '{path}': cannot read it as a checkpoint ({e.Message})");
        }
        if (!meta.TryGetValue("aperture.train.model", out var kind) || !ImageClassification.ModelNames.Contains(kind))
            throw new LabConfigException($"--model '{path}': not a checkpoint written by 'aperture train --save' (no model name in its metadata)");
        var model = kind == "mlp" ? Models.Mlp(784, [256, 256], 10, activation: "relu", generator: new Generator(0)) : Models.LeNet5(generator: new Generator(0));
        var weights = state.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[6..], kv => kv.Value);
        try { model.LoadStateDict(weights); }
        catch (Exception e) when (e is ArgumentException or ShapeMismatchException)
        {
            throw new LabConfigException($"--model '{path}': its weights do not fit a {kind} ({e.Message})");
        }
        return (model, kind);
    }

    private static Tensor Codes(Sequential model, string layer, TensorDataset data)
    {
        // The model's input: the raw-feature space (standardized bond features, scaled pixels) that the latent
        // layers are compared with. The models here name their modules by number, so the name is free.
        if (layer == InputLayer && !model.NamedModules().Any(m => m.Name == layer))
        {
            using (Autodiff.NoGrad()) return data.Inputs.Reshape(data.Count, -1).Contiguous();
        }
        if (!model.NamedModules().Any(m => m.Name == layer))
            throw new LabConfigException($"--layer '{layer}': the model has no module of that name; its modules are {Similarity.LayerNames(model)}, "
                                         + $"or {InputLayer} (the features the model reads)");
        try { return LatentCodes.Extract(model, layer, data); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ShapeMismatchException)
        {
            throw new LabConfigException($"--layer '{layer}': {e.Message}");
        }
    }

    private static IEnumerable<int> HiddenOf(Sequential mlp) =>
        mlp.Modules().OfType<Linear>().SkipLast(1).Select(l => l.OutFeatures);

    private static void Save(Action save, string path)
    {
        try { save(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new LabConfigException($"--save '{path}': cannot write the model there ({e.Message})");
        }
    }
}
