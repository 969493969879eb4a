namespace Aperture.Words;

/// <summary>
/// The words of a corpus with their counts, most frequent first: word id 0 is the most frequent word. Ties are broken
/// by ordinal string order, so a vocabulary depends only on the counts, never on the order the words were met.
/// </summary>
public sealed class Vocabulary
{
    private readonly string[] _words;
    private readonly long[] _counts;
    private readonly Dictionary<string, int> _ids;

    /// <summary>
    /// A vocabulary of the words counted at least <paramref name="minCount"/> times (word2vec's <c>-min-count</c>),
    /// sorted by decreasing count, ties in ordinal order.
    /// </summary>
    public static Vocabulary Build(IEnumerable<KeyValuePair<string, long>> counts, int minCount = 1)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (minCount < 1) throw new ArgumentOutOfRangeException(nameof(minCount), minCount, "Vocabulary: minCount must be at least 1");
        var kept = counts.Where(kv => kv.Value >= minCount).ToArray();
        Array.Sort(kept, (x, y) => x.Value != y.Value ? y.Value.CompareTo(x.Value) : string.CompareOrdinal(x.Key, y.Key));
        return new Vocabulary(kept.Select(kv => kv.Key).ToArray(), kept.Select(kv => kv.Value).ToArray());
    }

    /// <summary>A vocabulary with the given words and counts, in this order (as read from a file); words must be unique and counts ≥ 0.</summary>
    public Vocabulary(IReadOnlyList<string> words, IReadOnlyList<long> counts)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(counts);
        if (words.Count != counts.Count)
            throw new ArgumentException($"Vocabulary: {words.Count} words but {counts.Count} counts");
        _words = words.ToArray();
        _counts = counts.ToArray();
        _ids = new Dictionary<string, int>(_words.Length, StringComparer.Ordinal);
        for (int i = 0; i < _words.Length; i++)
        {
            if (string.IsNullOrEmpty(_words[i])) throw new ArgumentException($"Vocabulary: word {i} is empty");
            if (_counts[i] < 0) throw new ArgumentException($"Vocabulary: word {i} ('{_words[i]}') has a negative count {_counts[i]}");
            if (!_ids.TryAdd(_words[i], i)) throw new ArgumentException($"Vocabulary: word '{_words[i]}' appears twice (ids {_ids[_words[i]]} and {i})");
        }
        TotalCount = _counts.Sum();
    }

    /// <summary>The number of words.</summary>
    public int Count => _words.Length;

    /// <summary>The words, by id.</summary>
    public IReadOnlyList<string> Words => _words;

    /// <summary>The counts, by id.</summary>
    public ReadOnlySpan<long> Counts => _counts;

    /// <summary>The sum of the counts: the number of corpus tokens the vocabulary covers.</summary>
    public long TotalCount { get; }

    /// <summary>The word with id <paramref name="id"/>.</summary>
    public string this[int id] => _words[id];

    /// <summary>The id of <paramref name="word"/>, or −1 when it is not in the vocabulary.</summary>
    public int IdOf(string word) => _ids.TryGetValue(word, out int id) ? id : -1;

    /// <summary>True when <paramref name="word"/> is in the vocabulary.</summary>
    public bool Contains(string word) => _ids.ContainsKey(word);
}
