using System.Globalization;

namespace Aperture.Lab.Corpora;

/// <summary>
/// WordNet's noun hierarchy (hypernym and instance-hypernym links between synsets, from <c>data.noun</c> of
/// <c>wordnet-base</c>) and Wu–Palmer similarity between nouns on it: a graded similarity that ships with WordNet's
/// license. It measures taxonomic closeness (a dog and a cat share "carnivore"), not the relatedness or the human
/// judgements of sets like WordSim-353 or SimLex-999.
/// </summary>
public sealed class WordNetNouns
{
    private readonly Dictionary<string, int[]> _synsetsOf;   // lowercased one-word lemma → synset indices, file order
    private readonly int[][] _hypernyms;                     // synset index → hypernym synset indices
    private readonly long[] _offsets;                        // synset index → byte offset in data.noun (its WordNet id)
    private readonly int[] _maxDepth;                        // longest hypernym path to a root, in links (NLTK's max_depth)

    private WordNetNouns(Dictionary<string, int[]> synsetsOf, int[][] hypernyms, long[] offsets)
    {
        _synsetsOf = synsetsOf;
        _hypernyms = hypernyms;
        _offsets = offsets;
        _maxDepth = new int[hypernyms.Length];
        Array.Fill(_maxDepth, -1);
        for (int s = 0; s < hypernyms.Length; s++) MaxDepth(s, 0);
    }

    /// <summary>The number of noun synsets.</summary>
    public int Synsets => _hypernyms.Length;

    /// <summary>The number of distinct one-word noun lemmas (lowercased).</summary>
    public int Nouns => _synsetsOf.Count;

    /// <summary>Whether <paramref name="word"/> (lowercase, one word) is a WordNet noun lemma.</summary>
    public bool Contains(string word) => _synsetsOf.ContainsKey(word);

    /// <summary>
    /// Reads <c>data.noun</c> in <paramref name="directory"/>. Each record is "offset lex_filenum n w_cnt (word lex_id)×w_cnt
    /// p_cnt (symbol offset pos source/target)×p_cnt … | gloss"; the links kept are <c>@</c> (hypernym) and <c>@i</c>
    /// (instance hypernym). Lemmas with an underscore (collocations) are skipped; the rest are lowercased, as the
    /// tokenizer lowercases text. A missing file names the package; a malformed record names its line.
    /// </summary>
    public static WordNetNouns Read(string directory = DebianCorpora.WordNetDirectory)
    {
        string path = Path.Combine(directory, "data.noun");
        if (!File.Exists(path))
            throw new CorpusUnavailableException($"WordNet's noun hierarchy: '{path}' does not exist; install the Debian package wordnet-base (apt-get install wordnet-base)");
        var index = new Dictionary<long, int>();
        var offsets = new List<long>();
        var lemmas = new List<string[]>();
        var links = new List<long[]>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path, System.Text.Encoding.Latin1))
        {
            lineNumber++;
            if (line.Length == 0 || !char.IsAsciiDigit(line[0])) continue;   // the license header starts with spaces
            int bar = line.IndexOf(" | ", StringComparison.Ordinal);
            var f = (bar >= 0 ? line[..bar] : line).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            InvalidDataException Bad(string what) => new($"WordNet's noun hierarchy: '{path}' line {lineNumber}: {what}");
            if (f.Length < 4 || !long.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out long offset))
                throw Bad("expected 'offset lex_filenum n w_cnt …'");
            if (!int.TryParse(f[3], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int wCnt) || wCnt < 1 || 4 + 2 * wCnt >= f.Length)
                throw Bad($"word count '{f[3]}' is not a positive hexadecimal number of words present");
            var words = new List<string>(wCnt);
            for (int i = 0; i < wCnt; i++)
            {
                string w = f[4 + 2 * i];
                if (!w.Contains('_', StringComparison.Ordinal)) words.Add(w.ToLowerInvariant());
            }
            int p = 4 + 2 * wCnt;
            if (!int.TryParse(f[p], NumberStyles.None, CultureInfo.InvariantCulture, out int pCnt) || p + 1 + 4 * pCnt > f.Length)
                throw Bad($"pointer count '{f[p]}' does not match the pointers present");
            var up = new List<long>();
            for (int i = 0; i < pCnt; i++)
            {
                string symbol = f[p + 1 + 4 * i];
                if (symbol is not ("@" or "@i")) continue;
                if (!long.TryParse(f[p + 2 + 4 * i], NumberStyles.None, CultureInfo.InvariantCulture, out long target))
                    throw Bad($"hypernym offset '{f[p + 2 + 4 * i]}' is not a number");
                up.Add(target);
            }
            if (!index.TryAdd(offset, offsets.Count)) throw Bad($"offset {offset} appears twice");
            offsets.Add(offset);
            lemmas.Add([.. words]);
            links.Add([.. up]);
        }
        var hypernyms = new int[offsets.Count][];
        for (int s = 0; s < hypernyms.Length; s++)
            hypernyms[s] = [.. links[s].Select(o => index.TryGetValue(o, out int t) ? t
                : throw new InvalidDataException($"WordNet's noun hierarchy: '{path}': synset {offsets[s]} names hypernym {o}, which is not in the file"))];
        var synsetsOf = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int s = 0; s < lemmas.Count; s++)
            foreach (var w in lemmas[s])
            {
                if (!synsetsOf.TryGetValue(w, out var list)) synsetsOf[w] = list = [];
                if (!list.Contains(s)) list.Add(s);
            }
        // Sense order: index.noun lists each lemma's synsets by decreasing frequency in WordNet's sense-tagged corpora.
        // Senses it does not list (a lemma that differs only in case) keep data.noun's order, after those it lists.
        string indexPath = Path.Combine(directory, "index.noun");
        if (File.Exists(indexPath))
            foreach (var line in File.ReadLines(indexPath, System.Text.Encoding.Latin1))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 4 || !synsetsOf.TryGetValue(f[0].ToLowerInvariant(), out var list)) continue;
                if (!int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out int synsetCount)
                    || !int.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out int pointerCount) || f.Length != 6 + pointerCount + synsetCount)
                    throw new InvalidDataException($"WordNet's noun index: '{indexPath}': the entry of '{f[0]}' does not have the fields its counts announce");
                var ordered = f[^synsetCount..].Select(o => long.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && index.TryGetValue(v, out int t) ? t : -1)
                    .Where(list.Contains).ToList();
                list.RemoveAll(ordered.Contains);
                list.InsertRange(0, ordered);
            }
        return new WordNetNouns(synsetsOf.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal), hypernyms, [.. offsets]);
    }

    private int MaxDepth(int s, int guard)
    {
        if (_maxDepth[s] >= 0) return _maxDepth[s];
        if (guard > 200) throw new InvalidDataException($"WordNet's noun hierarchy: a hypernym cycle through synset {_offsets[s]}");
        int d = 0;
        foreach (int h in _hypernyms[s]) d = Math.Max(d, MaxDepth(h, guard + 1) + 1);
        return _maxDepth[s] = d;
    }

    /// <summary>Every ancestor of synset <paramref name="s"/> (itself included, at 0) with its shortest hypernym distance.</summary>
    private Dictionary<int, int> Ancestors(int s)
    {
        var dist = new Dictionary<int, int> { [s] = 0 };
        var queue = new Queue<int>();
        queue.Enqueue(s);
        while (queue.Count > 0)
        {
            int x = queue.Dequeue();
            foreach (int h in _hypernyms[x])
                if (dist.TryAdd(h, dist[x] + 1)) queue.Enqueue(h);
        }
        return dist;
    }

    /// <summary>
    /// Wu–Palmer similarity of two synsets (Wu and Palmer 1994, with depths counted as NLTK's <c>wup_similarity</c>
    /// counts them): the subsumer is the common hypernym (or the synset itself) of greatest depth, depth D = its longest path to a root plus one (ties: the lower offset); the similarity
    /// is 2D / (d₁ + d₂ + 2D), with d₁, d₂ the shortest hypernym distances from each synset to the subsumer. 1 for a
    /// synset with itself; 0 when the two share no ancestor (never in WordNet 3.0, whose nouns all descend from "entity").
    /// </summary>
    private double WuPalmer(Dictionary<int, int> a, Dictionary<int, int> b)
    {
        int best = -1;
        foreach (var (c, _) in a)
        {
            if (!b.ContainsKey(c)) continue;
            if (best < 0 || _maxDepth[c] > _maxDepth[best] || (_maxDepth[c] == _maxDepth[best] && _offsets[c] < _offsets[best])) best = c;
        }
        if (best < 0) return 0;
        double depth = _maxDepth[best] + 1;
        return 2 * depth / (a[best] + b[best] + 2 * depth);
    }

    /// <summary>
    /// Wu–Palmer similarity of two nouns: the largest over their synsets' pairs (the usual word-level convention), or
    /// with <paramref name="firstSenseOnly"/> that of their first senses (the most frequent, by index.noun's order;
    /// data.noun's order when index.noun is absent), in (0, 1]. Either word not a WordNet noun is a
    /// <see cref="KeyNotFoundException"/> naming it.
    /// </summary>
    public double WuPalmer(string first, string second, bool firstSenseOnly = false)
    {
        var sa = Require(first);
        var sb = Require(second);
        if (firstSenseOnly) (sa, sb) = ([sa[0]], [sb[0]]);
        var ancestorsB = sb.Select(Ancestors).ToArray();
        double best = 0;
        foreach (int x in sa)
        {
            var ax = Ancestors(x);
            foreach (var by in ancestorsB) best = Math.Max(best, WuPalmer(ax, by));
        }
        return best;
    }

    private int[] Require(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        return _synsetsOf.TryGetValue(word, out var s) ? s : throw new KeyNotFoundException($"WordNetNouns: '{word}' is not a WordNet noun");
    }
}
