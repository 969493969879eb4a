using System.Numerics.Tensors;
using Aperture.Latent;

namespace Aperture.Words;

/// <summary>One neighbour of a query word: the word and its cosine similarity to the query.</summary>
/// <param name="Word">The neighbour.</param>
/// <param name="Similarity">Cosine similarity (for analogies, the method's score).</param>
public readonly record struct WordScore(string Word, double Similarity);

/// <summary>How an analogy a : b :: c : ? is answered (Levy and Goldberg 2014; Linzen 2016).</summary>
public enum AnalogyMethod
{
    /// <summary>argmax over x of cos(x, b) − cos(x, a) + cos(x, c): the vector offset b − a + c (Mikolov et al. 2013).</summary>
    CosAdd,
    /// <summary>argmax of cos′(x, b)·cos′(x, c)/(cos′(x, a) + 0.001) with cos′ = (cos + 1)/2 (Levy and Goldberg 2014).</summary>
    CosMul,
    /// <summary>The trivial baseline: the nearest neighbour of b (Linzen 2016's ONLY-B for the known pair's second word).</summary>
    NearestOfB,
    /// <summary>The trivial baseline: the nearest neighbour of c (Linzen 2016's ONLY-B: the question word alone).</summary>
    NearestOfC,
}

/// <summary>The score of one method on a set of analogy questions.</summary>
/// <param name="Method">The method.</param>
/// <param name="Correct">Questions answered with the expected word (top-1, question words excluded).</param>
/// <param name="Covered">Questions whose four words are all in the vocabulary.</param>
/// <param name="Total">All questions.</param>
public sealed record AnalogyScore(AnalogyMethod Method, int Correct, int Covered, int Total)
{
    /// <summary>Correct answers among the covered questions (0 when none is covered).</summary>
    public double Accuracy => Covered == 0 ? 0 : (double)Correct / Covered;

    /// <summary>The share of questions covered by the vocabulary.</summary>
    public double Coverage => Total == 0 ? 0 : (double)Covered / Total;
}

/// <summary>
/// Word vectors with their vocabulary: nearest neighbours and analogies by cosine similarity, excluding the query words
/// from the answers (the usual protocol, whose effect Linzen 2016 measures with the trivial baselines
/// <see cref="AnalogyMethod.NearestOfB"/> and <see cref="AnalogyMethod.NearestOfC"/>).
/// </summary>
public sealed class WordVectors
{
    private readonly float[] _vectors;
    private readonly float[] _unit;
    private readonly Lazy<NearestNeighbourIndex> _index;

    /// <summary>Vectors for <paramref name="vocabulary"/>: <paramref name="vectors"/> holds one row of <paramref name="dim"/> per word (copied).</summary>
    public WordVectors(Vocabulary vocabulary, ReadOnlySpan<float> vectors, int dim)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "WordVectors: dim must be at least 1");
        if (vectors.Length != (long)vocabulary.Count * dim)
            throw new ArgumentException($"WordVectors: {vectors.Length} values for {vocabulary.Count} words of dimension {dim} (expected {(long)vocabulary.Count * dim})");
        Vocabulary = vocabulary;
        Dim = dim;
        _vectors = vectors.ToArray();
        for (int i = 0; i < _vectors.Length; i++)
            if (!float.IsFinite(_vectors[i]))
                throw new ArgumentException($"WordVectors: the vector of '{vocabulary[i / dim]}' holds {_vectors[i]} (component {i % dim})");
        // Unit rows once, so every cosine is a dot product; a zero vector stays zero (similarity 0 to everything).
        _unit = new float[_vectors.Length];
        for (int w = 0; w < vocabulary.Count; w++)
        {
            var row = _vectors.AsSpan(w * dim, dim);
            float norm = TensorPrimitives.Norm(row);
            if (norm > 0) TensorPrimitives.Divide(row, norm, _unit.AsSpan(w * dim, dim));
        }
        _index = new(() => new NearestNeighbourIndex(Tensor.FromArray(_vectors, [vocabulary.Count, dim]), Distance.Cosine));
    }

    /// <summary>The words.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>The dimension of each vector.</summary>
    public int Dim { get; }

    /// <summary>The vector of word id <paramref name="id"/>.</summary>
    public ReadOnlySpan<float> Vector(int id) => _vectors.AsSpan(id * Dim, Dim);

    /// <summary>All vectors, row by row, as a float32 tensor [words, dim] (a copy).</summary>
    public Tensor ToTensor() => Tensor.FromArray(_vectors.ToArray(), [Vocabulary.Count, Dim]);

    /// <summary>Cosine similarity of two words given by id.</summary>
    public double Similarity(int a, int b) => TensorPrimitives.Dot(_unit.AsSpan(a * Dim, Dim), _unit.AsSpan(b * Dim, Dim));

    private int Require(string word, string role)
    {
        int id = Vocabulary.IdOf(word);
        if (id < 0) throw new KeyNotFoundException($"WordVectors: the {role} '{word}' is not in the vocabulary of {Vocabulary.Count} words");
        return id;
    }

    /// <summary>
    /// The <paramref name="k"/> words most similar to <paramref name="word"/> (itself excluded; fewer when the
    /// vocabulary is smaller), best first, from an exact cosine <see cref="NearestNeighbourIndex"/> over the vectors
    /// (built on first use): the similarity is 1 − the index's cosine distance, and equal similarities come in
    /// increasing word id.
    /// </summary>
    public IReadOnlyList<WordScore> Neighbours(string word, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "WordVectors: k must be at least 1");
        int q = Require(word, "query word");
        if (Vocabulary.Count == 1) return [];
        // One more than asked, so that k remain after the query word itself is dropped (a word with the same vector
        // and a lower id may come first: the query is dropped wherever it lies).
        int take = (int)Math.Min((long)k + 1, Vocabulary.Count);
        var found = _index.Value.Search(Tensor.FromArray(Vector(q).ToArray(), [1, Dim]), take);
        var ids = found.Indices.ToArray<long>();
        var distances = found.Distances.ToArray<float>();
        var result = new List<WordScore>(k);
        for (int i = 0; i < ids.Length && result.Count < k; i++)
            if (ids[i] != q) result.Add(new WordScore(Vocabulary[(int)ids[i]], 1 - (double)distances[i]));
        return result;
    }

    /// <summary>
    /// The <paramref name="k"/> best answers to <paramref name="a"/> : <paramref name="b"/> :: <paramref name="c"/> : ?
    /// by <paramref name="method"/>, excluding a, b and c; ties by word id.
    /// </summary>
    public IReadOnlyList<WordScore> Analogy(string a, string b, string c, AnalogyMethod method = AnalogyMethod.CosAdd, int k = 1)
    {
        int ia = Require(a, "word a"), ib = Require(b, "word b"), ic = Require(c, "word c");
        int v = Vocabulary.Count;
        var sa = new float[v];
        var sb = new float[v];
        var sc = new float[v];
        SimilaritiesTo(ia, sa);
        SimilaritiesTo(ib, sb);
        SimilaritiesTo(ic, sc);
        return Top(sa, k, ia, ib, ic, (_, x) => Score(method, sa[x], sb[x], sc[x]));
    }

    /// <summary>
    /// Scores every method on <paramref name="questions"/>: a question is covered when its four words are in the
    /// vocabulary, and answered correctly when the method's top answer (question words excluded) is its D.
    /// </summary>
    public IReadOnlyList<AnalogyScore> Evaluate(IReadOnlyList<AnalogyQuestion> questions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        var methods = Enum.GetValues<AnalogyMethod>();
        var covered = new List<(int A, int B, int C, int D)>();
        foreach (var q in questions)
        {
            int a = Vocabulary.IdOf(q.A), b = Vocabulary.IdOf(q.B), c = Vocabulary.IdOf(q.C), d = Vocabulary.IdOf(q.D);
            if (a >= 0 && b >= 0 && c >= 0 && d >= 0) covered.Add((a, b, c, d));
        }
        // The similarity row of each distinct question word, computed once (rows are independent: any thread count, same bits).
        var distinct = covered.SelectMany(x => new[] { x.A, x.B, x.C }).Distinct().Order().ToArray();
        var rowOf = new Dictionary<int, int>();
        for (int i = 0; i < distinct.Length; i++) rowOf[distinct[i]] = i;
        int v = Vocabulary.Count;
        if ((long)distinct.Length * v > Array.MaxLength)
            throw new ArgumentException(
                $"WordVectors.Evaluate: {distinct.Length} distinct question words × {v} vocabulary words is too many similarities to hold; use fewer questions or a larger min-count");
        var rows = new float[(long)distinct.Length * v];
        Parallelism.For(distinct.Length, (long)v * Dim, (s, e) =>
        {
            for (int i = s; i < e; i++) SimilaritiesTo(distinct[i], rows.AsSpan(i * v, v));
        });
        var correct = new int[methods.Length];
        Parallelism.For(methods.Length, (long)covered.Count * v, (s, e) =>
        {
            for (int mi = s; mi < e; mi++)
                foreach (var (a, b, c, d) in covered)
                {
                    var sa = rows.AsSpan(rowOf[a] * v, v);
                    var sb = rows.AsSpan(rowOf[b] * v, v);
                    var sc = rows.AsSpan(rowOf[c] * v, v);
                    if (Best(methods[mi], sa, sb, sc, a, b, c) == d) correct[mi]++;
                }
        });
        return methods.Select((m, i) => new AnalogyScore(m, correct[i], covered.Count, questions.Count)).ToArray();
    }

    private void SimilaritiesTo(int q, Span<float> sims)
    {
        var u = _unit.AsSpan(q * Dim, Dim);
        for (int w = 0; w < sims.Length; w++) sims[w] = TensorPrimitives.Dot(u, _unit.AsSpan(w * Dim, Dim));
    }

    private static double Score(AnalogyMethod method, double sa, double sb, double sc) => method switch
    {
        AnalogyMethod.CosAdd => sb - sa + sc,
        AnalogyMethod.CosMul => (sb + 1) / 2 * ((sc + 1) / 2) / ((sa + 1) / 2 + 0.001),
        AnalogyMethod.NearestOfB => sb,
        _ => sc,
    };

    /// <summary>The id of the best-scoring word other than a, b and c (the lowest id among equals).</summary>
    private static int Best(AnalogyMethod method, ReadOnlySpan<float> sa, ReadOnlySpan<float> sb, ReadOnlySpan<float> sc, int a, int b, int c)
    {
        int best = -1;
        double top = double.NegativeInfinity;
        for (int x = 0; x < sa.Length; x++)
        {
            if (x == a || x == b || x == c) continue;
            double s = Score(method, sa[x], sb[x], sc[x]);
            if (s > top) { top = s; best = x; }
        }
        return best;
    }

    private List<WordScore> Top(float[] sims, int k, int ex1, int ex2, int ex3, Func<float, int, double> score)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "WordVectors: k must be at least 1");
        var candidates = new List<(double Score, int Id)>();
        for (int x = 0; x < sims.Length; x++)
            if (x != ex1 && x != ex2 && x != ex3) candidates.Add((score(sims[x], x), x));
        candidates.Sort((p, q) => p.Score != q.Score ? q.Score.CompareTo(p.Score) : p.Id.CompareTo(q.Id));
        return candidates.Take(k).Select(t => new WordScore(Vocabulary[t.Id], t.Score)).ToList();
    }
}
