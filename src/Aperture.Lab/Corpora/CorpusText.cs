using System.Security.Cryptography;
using System.Text;

namespace Aperture.Lab.Corpora;

/// <summary>
/// Where the Debian corpora are read from: the <c>bible</c> program (bible-kjv), WordNet's database directory
/// (wordnet-base) and GCIDE's dictzip file (dict-gcide). The defaults are Debian's install locations.
/// </summary>
/// <param name="BibleProgram">The program that prints the King James Bible.</param>
/// <param name="WordNetDirectory">WordNet 3.0's database directory (data.* files and the *.exc exception lists).</param>
/// <param name="GcidePath">GCIDE's gcide.dict.dz.</param>
public sealed record CorpusSources(string BibleProgram = "bible", string WordNetDirectory = DebianCorpora.WordNetDirectory, string GcidePath = DebianCorpora.GcidePath)
{
    /// <summary>Debian's install locations.</summary>
    public static CorpusSources Debian { get; } = new();
}

/// <summary>
/// A real corpus as a run reads it: its sentences and WordNet's inflection pairs (the analogy questions), read once,
/// with a content hash over both. The hash goes into every run's identity, so a run stored with one copy of a corpus
/// (one package version, one edit of the text) is never reused for another.
/// </summary>
public sealed class CorpusText
{
    private CorpusText(CorpusName name, IReadOnlyList<string> lines, IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> inflections, string source)
    {
        Name = name;
        Lines = lines;
        Inflections = inflections;
        Source = source;
        Fingerprint = Hash(lines, inflections);
    }

    /// <summary>Which corpus.</summary>
    public CorpusName Name { get; }

    /// <summary>The sentences, one per line, as <see cref="Aperture.Words.TokenizedCorpus.FromLines"/> reads them.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>WordNet's inflection pairs by relation (<see cref="DebianCorpora.WordNetInflections"/>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> Inflections { get; }

    /// <summary>Where the text and the questions were read from, in words.</summary>
    public string Source { get; }

    /// <summary>
    /// SHA-256 (lowercase hex) of the number of sentences and a line feed, the sentences (each as UTF-8 followed by a
    /// line feed), then the inflection relations in ordinal order (the relation's name, a tab, its number of pairs and
    /// a line feed, then each pair as base, tab, form, line feed): the bytes a run's results depend on, whatever file
    /// layout or program produced them.
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>
    /// Reads <paramref name="name"/> from <paramref name="sources"/>, with WordNet's exception lists from the same
    /// WordNet directory. A missing package is a <see cref="CorpusUnavailableException"/> naming it.
    /// </summary>
    public static CorpusText Read(CorpusName name, CorpusSources? sources = null)
    {
        sources ??= CorpusSources.Debian;
        var (lines, what) = name switch
        {
            CorpusName.Kjv => (DebianCorpora.KingJamesBible(sources.BibleProgram), $"the King James Bible printed by '{sources.BibleProgram}' (bible-kjv)"),
            CorpusName.Wordnet => (DebianCorpora.WordNetGlosses(sources.WordNetDirectory), $"WordNet's glosses in '{sources.WordNetDirectory}' (wordnet-base)"),
            CorpusName.Gcide => (DebianCorpora.Gcide(sources.GcidePath), $"GCIDE in '{sources.GcidePath}' (dict-gcide)"),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "CorpusText.Read: the planted corpus is drawn from a seed, not read; name kjv, wordnet or gcide"),
        };
        var inflections = DebianCorpora.WordNetInflections(sources.WordNetDirectory);
        return new CorpusText(name, lines, inflections,
            $"{what}: {lines.Count} sentences; analogy questions from WordNet's exception lists in '{sources.WordNetDirectory}'");
    }

    /// <summary>A corpus given as text (a test, or a file already read), with its inflection pairs.</summary>
    public static CorpusText Of(CorpusName name, IReadOnlyList<string> lines, IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> inflections, string source)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(inflections);
        ArgumentNullException.ThrowIfNull(source);
        return new CorpusText(name, lines, inflections, source);
    }

    private static string Hash(IReadOnlyList<string> lines, IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> inflections)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s) => sha.AppendData(Encoding.UTF8.GetBytes(s));
        // Counts before each part make the encoding unambiguous (no line contains a line feed).
        Add($"{lines.Count}\n");
        foreach (var line in lines) Add(line + "\n");
        foreach (var (relation, pairs) in inflections.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Add($"{relation}\t{pairs.Count}\n");
            foreach (var (b, f) in pairs) Add(b + "\t" + f + "\n");
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
