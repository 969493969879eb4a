using Aperture.Data;
using Aperture.Latent;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>Which representation of an image a neighbour search compares.</summary>
public enum ImageRepresentation
{
    /// <summary>The standardized pixels.</summary>
    Pixels,
    /// <summary>The last hidden layer of the classifier at its initial weights, untrained.</summary>
    RandomNet,
    /// <summary>The last hidden layer of the classifier after training.</summary>
    TrainedNet,
}

/// <summary>Scores of a search of test images (queries) among training images (items).</summary>
/// <param name="PrecisionAtK">Mean share of the k neighbours with the query's class (<see cref="Retrieval.Score"/>).</param>
/// <param name="RecallAtK">Mean share of the query's class among the items that the k neighbours find.</param>
/// <param name="KnnAccuracy">Accuracy of the k-nearest-neighbour classifier on the queries (<see cref="ImageNeighbours.MajorityVote"/>).</param>
public sealed record ImageNeighbourScores(double PrecisionAtK, double RecallAtK, double KnnAccuracy);

/// <summary>
/// Neighbours of Fashion-MNIST images by pixel distance or in an MLP classifier's last hidden layer, trained or at its
/// initial weights, scored by class agreement (precision@k, recall@k, k-NN accuracy).
/// </summary>
public static class ImageNeighbours
{
    /// <summary>The classifier: an MLP 784 → hidden (ReLU) → 10.</summary>
    public static Sequential Model(IReadOnlyList<int> hidden, Generator init) => Models.Mlp(784, hidden, 10, "relu", generator: init);

    /// <summary>Trains <paramref name="model"/> on <paramref name="train"/> ([n, 784] standardized, int64 labels) with Adam on the cross-entropy, shuffled minibatches from <paramref name="order"/>.</summary>
    public static void Train(Sequential model, TensorDataset train, int epochs, int batchSize, double learningRate, Generator order, Action<double>? progress = null)
    {
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: learningRate), (o, t) => Losses.CrossEntropy(o, t))
        {
            Progress = p => progress?.Invoke((p.Epoch - 1 + (double)p.Batch / Math.Max(1, p.BatchesPerEpoch)) / epochs),
        };
        trainer.Fit(new DataLoader(train, batchSize, shuffle: true, generator: order), epochs);
    }

    /// <summary>The representation of <paramref name="data"/>'s images: its inputs, or <paramref name="model"/>'s last hidden layer.</summary>
    public static Tensor Represent(ImageRepresentation kind, Sequential model, TensorDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return kind == ImageRepresentation.Pixels ? data.Inputs : LatentCodes.Extract(model, BondSimilarity.LastHiddenLayer(model), data);
    }

    /// <summary>
    /// Searches the <paramref name="k"/> nearest items for each query and scores them against the labels.
    /// </summary>
    public static ImageNeighbourScores Score(Tensor items, Tensor itemLabels, Tensor queries, Tensor queryLabels, int k, Distance metric)
    {
        var nb = new NearestNeighbourIndex(items, metric).Search(queries, k);
        var r = Retrieval.Score(nb, queryLabels, itemLabels);
        var predicted = MajorityVote(nb, itemLabels.ToArray<long>());
        var truth = queryLabels.ToArray<long>();
        int correct = 0;
        for (int i = 0; i < truth.Length; i++) if (predicted[i] == truth[i]) correct++;
        return new ImageNeighbourScores(r.PrecisionAtK, r.RecallAtK, (double)correct / truth.Length);
    }

    /// <summary>
    /// The k-nearest-neighbour classifier's prediction for each query: the label most of its k neighbours have; among
    /// labels tied for most votes, the label of the nearest neighbour that has one of them (so k = 1 is 1-NN and
    /// the rule is deterministic).
    /// </summary>
    public static long[] MajorityVote(Neighbours neighbours, long[] itemLabels)
    {
        ArgumentNullException.ThrowIfNull(neighbours);
        ArgumentNullException.ThrowIfNull(itemLabels);
        var idx = neighbours.Indices.ToArray<long>();
        int q = neighbours.Queries, k = neighbours.K;
        var result = new long[q];
        var votes = new Dictionary<long, int>();
        for (int i = 0; i < q; i++)
        {
            votes.Clear();
            int most = 0;
            for (int j = 0; j < k; j++)
            {
                long item = idx[i * k + j];
                if ((ulong)item >= (ulong)itemLabels.Length)
                    throw new ArgumentException($"MajorityVote: neighbour {j} of query {i} is item {item}, but there are {itemLabels.Length} item labels", nameof(itemLabels));
                int v = votes[itemLabels[item]] = votes.GetValueOrDefault(itemLabels[item]) + 1;
                most = Math.Max(most, v);
            }
            for (int j = 0; j < k; j++)
            {
                long label = itemLabels[idx[i * k + j]];
                if (votes[label] == most) { result[i] = label; break; }
            }
        }
        return result;
    }
}
