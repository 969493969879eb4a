namespace Aperture.Words;

/// <summary>
/// A corpus as word ids: the tokens of every sentence, concatenated, with the start of each sentence. Words below the
/// vocabulary's minimum count are dropped before the sentence is stored, as word2vec.c drops them when it reads a
/// sentence, so the training window spans them.
/// </summary>
public sealed class TokenizedCorpus
{
    /// <summary>word2vec.c's MAX_SENTENCE_LENGTH: a longer line is cut into sentences of this many words.</summary>
    public const int MaxSentenceLength = 1000;

    private readonly int[] _tokens;
    private readonly int[] _sentenceStarts;

    /// <summary>A corpus from ids and sentence boundaries (<paramref name="sentenceStarts"/>: one entry per sentence plus the end).</summary>
    public TokenizedCorpus(Vocabulary vocabulary, int[] tokens, int[] sentenceStarts)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(sentenceStarts);
        if (sentenceStarts.Length < 1 || sentenceStarts[0] != 0 || sentenceStarts[^1] != tokens.Length)
            throw new ArgumentException($"TokenizedCorpus: sentence starts must begin at 0 and end at the token count {tokens.Length}");
        for (int s = 1; s < sentenceStarts.Length; s++)
            if (sentenceStarts[s] < sentenceStarts[s - 1])
                throw new ArgumentException($"TokenizedCorpus: sentence start {s} ({sentenceStarts[s]}) is before the previous one ({sentenceStarts[s - 1]})");
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocabulary.Count)
                throw new ArgumentException($"TokenizedCorpus: token {i} has id {tokens[i]}, outside the vocabulary of {vocabulary.Count} words");
        Vocabulary = vocabulary;
        _tokens = tokens;
        _sentenceStarts = sentenceStarts;
    }

    /// <summary>The vocabulary the ids refer to.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>Every kept token's word id, sentence after sentence.</summary>
    public ReadOnlySpan<int> Tokens => _tokens;

    /// <summary>Where each sentence starts in <see cref="Tokens"/>, plus the total token count at the end.</summary>
    public ReadOnlySpan<int> SentenceStarts => _sentenceStarts;

    /// <summary>The number of sentences.</summary>
    public int Sentences => _sentenceStarts.Length - 1;

    /// <summary>
    /// Tokenizes <paramref name="lines"/> (<see cref="Tokenizer"/>: one line, one sentence), counts the words, keeps
    /// those seen at least <paramref name="minCount"/> times (<see cref="Vocabulary.Build"/>) and stores the corpus
    /// with the kept words only. Empty sentences are not stored.
    /// </summary>
    public static TokenizedCorpus FromLines(IEnumerable<string> lines, int minCount = 5)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (minCount < 1) throw new ArgumentOutOfRangeException(nameof(minCount), minCount, "TokenizedCorpus: minCount must be at least 1");
        // One pass: provisional ids in order of first sight, then a remap to the frequency-sorted vocabulary.
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookup = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        var counts = new List<long>();
        var words = new List<string>();
        var raw = new List<int>();
        var lineEnds = new List<int>();
        Span<char> scratch = stackalloc char[100];   // word2vec.c's MAX_STRING
        Tokenizer.WordAction onWord = w =>
        {
            if (!lookup.TryGetValue(w, out int id))
            {
                id = words.Count;
                var s = new string(w);
                ids.Add(s, id);
                words.Add(s);
                counts.Add(0);
            }
            counts[id]++;
            raw.Add(id);
        };
        foreach (var line in lines)
        {
            if (line is null) throw new ArgumentException("TokenizedCorpus: a line of the corpus is null", nameof(lines));
            int before = raw.Count;
            Tokenizer.ForEachWord(line, scratch, onWord);
            if (raw.Count > before) lineEnds.Add(raw.Count);
        }
        var vocabulary = Vocabulary.Build(words.Select((w, i) => new KeyValuePair<string, long>(w, counts[i])), minCount);
        var remap = new int[words.Count];
        for (int i = 0; i < remap.Length; i++) remap[i] = vocabulary.IdOf(words[i]);
        var tokens = new List<int>(raw.Count);
        var starts = new List<int> { 0 };
        int from = 0;
        foreach (int end in lineEnds)
        {
            int inSentence = 0;
            for (int i = from; i < end; i++)
            {
                int id = remap[raw[i]];
                if (id < 0) continue;
                tokens.Add(id);
                if (++inSentence == MaxSentenceLength)
                {
                    starts.Add(tokens.Count);
                    inSentence = 0;
                }
            }
            if (inSentence > 0) starts.Add(tokens.Count);
            from = end;
        }
        return new TokenizedCorpus(vocabulary, tokens.ToArray(), starts.ToArray());
    }
}
