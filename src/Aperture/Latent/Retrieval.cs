namespace Aperture.Latent;

/// <summary>
/// Precision@k and recall@k of a neighbour search against class labels: a neighbour is relevant when it has the
/// query's label. <see cref="PerQueryPrecision"/> and <see cref="PerQueryRecall"/> hold each query's score (recall
/// is NaN for a query no item shares a label with); the means average over queries (recall over those with at
/// least one relevant item, <see cref="RecallQueries"/> of them).
/// </summary>
public sealed record RetrievalScores(int K, double PrecisionAtK, double RecallAtK, int RecallQueries, double[] PerQueryPrecision, double[] PerQueryRecall);

/// <summary>Scores of a neighbour search against labels.</summary>
public static class Retrieval
{
    /// <summary>
    /// Scores <paramref name="neighbours"/> (from <see cref="NearestNeighbourIndex.Search"/> or, with
    /// <paramref name="queriesAreItems"/>, <see cref="NearestNeighbourIndex.SearchSelf"/>) against int64 labels.
    /// precision@k = relevant neighbours / k; recall@k = relevant neighbours / relevant items in the index, where
    /// with <paramref name="queriesAreItems"/> the query itself is not counted as a relevant item.
    /// </summary>
    /// <param name="neighbours">The search result, [q, k].</param>
    /// <param name="queryLabels">int64 [q]: each query's label.</param>
    /// <param name="itemLabels">int64 [n]: each indexed item's label.</param>
    /// <param name="queriesAreItems">True when query i is item i (a leave-one-out search over the index).</param>
    public static RetrievalScores Score(Neighbours neighbours, Tensor queryLabels, Tensor itemLabels, bool queriesAreItems = false)
    {
        ArgumentNullException.ThrowIfNull(neighbours);
        var ql = Labels(queryLabels, nameof(queryLabels));
        var il = Labels(itemLabels, nameof(itemLabels));
        int q = neighbours.Queries, k = neighbours.K;
        if (ql.Length != q)
            throw new ShapeMismatchException($"Retrieval.Score: {nameof(queryLabels)} has {ql.Length} labels but there are {q} queries");
        if (queriesAreItems && il.Length != q)
            throw new ShapeMismatchException($"Retrieval.Score: queriesAreItems needs one query per item, but there are {q} queries and {il.Length} item labels");
        var idx = neighbours.Indices.ToArray<long>();
        var perItemClass = new Dictionary<long, int>();
        foreach (var y in il) perItemClass[y] = perItemClass.GetValueOrDefault(y) + 1;
        var precision = new double[q];
        var recall = new double[q];
        double pSum = 0, rSum = 0;
        int rCount = 0;
        for (int i = 0; i < q; i++)
        {
            int hits = 0;
            for (int j = 0; j < k; j++)
            {
                long item = idx[i * k + j];
                if ((ulong)item >= (ulong)il.Length)
                    throw new ArgumentException($"Retrieval.Score: neighbour {j} of query {i} is item {item}, but {nameof(itemLabels)} has {il.Length} labels", nameof(itemLabels));
                if (il[item] == ql[i]) hits++;
            }
            precision[i] = (double)hits / k;
            pSum += precision[i];
            int relevant = perItemClass.GetValueOrDefault(ql[i]) - (queriesAreItems ? 1 : 0);
            if (relevant > 0)
            {
                recall[i] = (double)hits / relevant;
                rSum += recall[i];
                rCount++;
            }
            else recall[i] = double.NaN;
        }
        return new RetrievalScores(k, pSum / q, rCount > 0 ? rSum / rCount : double.NaN, rCount, precision, recall);
    }

    private static long[] Labels(Tensor labels, string name)
    {
        ArgumentNullException.ThrowIfNull(labels, name);
        if (labels.DType != DType.Int64)
            throw new DTypeMismatchException($"Retrieval.Score: {name} must be int64 class labels, got {labels.DType.Name()}");
        if (labels.Rank != 1)
            throw new ShapeMismatchException($"Retrieval.Score: {name} must be 1-d, got shape {Shapes.Format(labels.Shape)}");
        return labels.ToArray<long>();
    }
}
