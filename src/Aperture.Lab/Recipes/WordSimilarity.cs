using Aperture.Lab.Corpora;
using Aperture.Words;

namespace Aperture.Lab.Recipes;

/// <summary>
/// How well word vectors' cosine similarities rank noun pairs by WordNet's Wu–Palmer similarity: Spearman's ρ over
/// pairs drawn once from the vocabulary's WordNet nouns, beside the same ρ for random vectors of the same shape.
/// </summary>
/// <param name="Pairs">The noun pairs scored.</param>
/// <param name="Nouns">Vocabulary words that are WordNet nouns (the pairs are drawn from them).</param>
/// <param name="Rho">Spearman's ρ between the vectors' cosine similarity and Wu–Palmer similarity.</param>
/// <param name="Low">Lower end of ρ's approximate 95% interval (Fisher's z with Fieller et al.'s variance 1.06 / (n − 3)).</param>
/// <param name="High">Upper end of that interval.</param>
/// <param name="RandomRho">ρ for Gaussian random vectors of the same vocabulary and dimension, on the same pairs: the no-information baseline.</param>
/// <param name="FirstSenseRho">ρ against the Wu–Palmer similarity of the two words' first (most frequent) senses, on the same pairs.</param>
/// <param name="FirstSenseRandomRho">The random vectors' ρ against it.</param>
public sealed record SimilarityCorrelation(int Pairs, int Nouns, double Rho, double Low, double High, double RandomRho, double FirstSenseRho, double FirstSenseRandomRho);

/// <summary>Similarity correlation against WordNet (<see cref="SimilarityCorrelation"/>).</summary>
public static class WordSimilarity
{
    /// <summary>The seed of the pair draw: fixed, so every set of vectors over a vocabulary is scored on the same pairs.</summary>
    public const ulong PairSampleSeed = 19_940_627;

    /// <summary>The seed of the random-vector baseline.</summary>
    public const ulong RandomVectorSeed = 3_141_592;

    /// <summary>
    /// Up to <paramref name="count"/> distinct unordered pairs of distinct words of <paramref name="vocabulary"/> that
    /// are WordNet nouns, drawn uniformly (with a fixed seed) from the nouns in vocabulary order, each with its
    /// Wu–Palmer similarity (best pair of senses) and that of the two first senses; every pair when there are fewer.
    /// </summary>
    public static IReadOnlyList<(string First, string Second, double WuPalmer, double FirstSense)> Pairs(Vocabulary vocabulary, WordNetNouns nouns, int count)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(nouns);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "WordSimilarity: count must be at least 1");
        var eligible = vocabulary.Words.Where(nouns.Contains).ToArray();
        long m = eligible.Length, all = m * (m - 1) / 2;
        var chosen = new List<(int, int)>();
        if (all <= count)
        {
            for (int i = 0; i < m; i++)
                for (int j = i + 1; j < m; j++) chosen.Add((i, j));
        }
        else
        {
            var g = new Generator(PairSampleSeed);
            var seen = new HashSet<(int, int)>();
            while (chosen.Count < count)
            {
                int a = (int)g.NextLong(m), b = (int)g.NextLong(m - 1);
                if (b >= a) b++;
                var pair = a < b ? (a, b) : (b, a);
                if (seen.Add(pair)) chosen.Add(pair);
            }
        }
        return [.. chosen.Select(p => (eligible[p.Item1], eligible[p.Item2], nouns.WuPalmer(eligible[p.Item1], eligible[p.Item2]),
            nouns.WuPalmer(eligible[p.Item1], eligible[p.Item2], firstSenseOnly: true)))];
    }

    /// <summary>
    /// Scores <paramref name="vectors"/> on <paramref name="pairs"/> (from <see cref="Pairs"/>); fewer than 4 pairs
    /// give no interval (NaN ends).
    /// </summary>
    public static SimilarityCorrelation Score(WordVectors vectors, IReadOnlyList<(string First, string Second, double WuPalmer, double FirstSense)> pairs, int nouns)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(pairs);
        var v = vectors.Vocabulary;
        double[] truth = [.. pairs.Select(p => p.WuPalmer)];
        double[] cos = [.. pairs.Select(p => vectors.Similarity(v.IdOf(p.First), v.IdOf(p.Second)))];
        var g = new Generator(RandomVectorSeed);
        var noise = new float[v.Count * vectors.Dim];
        for (int i = 0; i < noise.Length; i++) noise[i] = (float)g.NextNormal();
        var random = new WordVectors(v, noise, vectors.Dim);
        double[] randomCos = [.. pairs.Select(p => random.Similarity(v.IdOf(p.First), v.IdOf(p.Second)))];
        double rho = Spearman(cos, truth);
        int n = pairs.Count;
        double low = double.NaN, high = double.NaN;
        if (n >= 4 && Math.Abs(rho) < 1)
        {
            double z = Math.Atanh(rho), half = Statistics.Normal.Quantile(0.975) * Math.Sqrt(1.06 / (n - 3));
            (low, high) = (Math.Tanh(z - half), Math.Tanh(z + half));
        }
        double[] firstSense = [.. pairs.Select(p => p.FirstSense)];
        return new SimilarityCorrelation(n, nouns, rho, low, high, Spearman(randomCos, truth), Spearman(cos, firstSense), Spearman(randomCos, firstSense));
    }

    /// <summary>Spearman's rank correlation: Pearson's correlation of the ranks, tied values sharing their mean rank. NaN when either side is constant.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count) throw new ArgumentException($"WordSimilarity.Spearman: {x.Count} values against {y.Count}");
        double[] rx = Ranks(x), ry = Ranks(y);
        int n = rx.Length;
        if (n < 2) return double.NaN;
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>Ranks 1…n in increasing order; equal values get the mean of the ranks they span.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int n = values.Count;
        var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ThenBy(i => i).ToArray();
        var ranks = new double[n];
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && values[order[j + 1]] == values[order[i]]) j++;
            double mean = (i + j) / 2.0 + 1;
            for (int t = i; t <= j; t++) ranks[order[t]] = mean;
            i = j + 1;
        }
        return ranks;
    }
}
