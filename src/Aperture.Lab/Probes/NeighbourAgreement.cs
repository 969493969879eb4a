using Aperture.Latent;

namespace Aperture.Lab.Probes;

/// <summary>
/// How much a search's neighbours share one attribute of the items (a price factor, a nuisance feature).
/// <see cref="NeighbourSpread"/> is the mean |a(q) − a(j)| over every query q and each of its k neighbours j;
/// <see cref="PairSpread"/> is the same mean over every pair of distinct items (Gini's mean difference), what
/// neighbours picked at random would give. <see cref="Relative"/> = NeighbourSpread / PairSpread: 0 when every
/// neighbour has its query's value, about 1 when the search ignores the attribute.
/// </summary>
/// <param name="NeighbourSpread">Mean absolute difference between a query and its neighbours.</param>
/// <param name="PairSpread">Mean absolute difference between two distinct items.</param>
public sealed record AttributeAgreement(double NeighbourSpread, double PairSpread)
{
    /// <summary>NeighbourSpread / PairSpread.</summary>
    public double Relative => NeighbourSpread / PairSpread;
}

/// <summary>Scores a leave-one-out neighbour search by how closely neighbours agree on item attributes.</summary>
public static class NeighbourAgreement
{
    /// <summary>
    /// The agreement of <paramref name="neighbours"/>, a leave-one-out search over n items
    /// (<see cref="NearestNeighbourIndex.SearchSelf"/>: query i is item i), on the attribute <paramref name="values"/> [n].
    /// </summary>
    public static AttributeAgreement Measure(Neighbours neighbours, ReadOnlySpan<double> values)
    {
        ArgumentNullException.ThrowIfNull(neighbours);
        if (neighbours.Queries != values.Length)
            throw new ArgumentException($"NeighbourAgreement: the search has {neighbours.Queries} queries but there are {values.Length} attribute values; query i must be item i", nameof(values));
        return new AttributeAgreement(NeighbourSpread(neighbours.Indices.ToArray<long>(), neighbours.K, values), PairSpread(values));
    }

    /// <summary>
    /// Mean |values[q] − values[j]| over queries q = 0 … n − 1 and the k neighbours j listed for each in
    /// <paramref name="indices"/> (row-major [n, k]).
    /// </summary>
    public static double NeighbourSpread(ReadOnlySpan<long> indices, int k, ReadOnlySpan<double> values)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "NeighbourAgreement: k must be at least 1");
        int n = values.Length;
        if (indices.Length != (long)n * k)
            throw new ArgumentException($"NeighbourAgreement: {indices.Length} neighbour indices for {n} queries of {k} neighbours", nameof(indices));
        double sum = 0;
        for (int q = 0; q < n; q++)
        {
            CheckFinite(values[q], q);
            for (int j = 0; j < k; j++)
            {
                long item = indices[q * k + j];
                if ((ulong)item >= (ulong)n)
                    throw new ArgumentException($"NeighbourAgreement: neighbour {j} of query {q} is item {item}, outside the {n} items", nameof(indices));
                sum += Math.Abs(values[q] - values[(int)item]);
            }
        }
        return sum / ((double)n * k);
    }

    /// <summary>
    /// Gini's mean difference: the mean |a − b| over the n(n − 1)/2 pairs of distinct items, exactly, in O(n log n):
    /// with the values sorted, Σ_{i&lt;j} (x₍ⱼ₎ − x₍ᵢ₎) = Σⱼ x₍ⱼ₎ (2j − n + 1).
    /// </summary>
    public static double PairSpread(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        if (n < 2) throw new ArgumentException($"NeighbourAgreement: the spread over pairs needs at least two items, found {n}", nameof(values));
        var sorted = values.ToArray();
        for (int i = 0; i < n; i++) CheckFinite(sorted[i], i);
        Array.Sort(sorted);
        double sum = 0;
        for (int j = 0; j < n; j++) sum += sorted[j] * (2.0 * j - n + 1);
        double spread = sum / (n * (n - 1.0) / 2);
        if (!(spread > 0))
            throw new ArgumentException($"NeighbourAgreement: every item has the attribute value {sorted[0]}; agreement on a constant is undefined", nameof(values));
        return spread;
    }

    private static void CheckFinite(double v, int i)
    {
        if (!double.IsFinite(v)) throw new ArgumentException($"NeighbourAgreement: the attribute value of item {i} is {v}; every value must be finite", "values");
    }
}
