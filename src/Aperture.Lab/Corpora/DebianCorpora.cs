using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace Aperture.Lab.Corpora;

/// <summary>A corpus that needs a Debian package that is not installed; the message names the package.</summary>
/// <param name="message">What is missing and which package provides it.</param>
public sealed class CorpusUnavailableException(string message) : Exception(message);

/// <summary>The text corpora the lab reads: the planted corpus, English texts shipped by Debian packages, and plain files.</summary>
public enum CorpusName
{
    /// <summary>The synthetic corpus with planted analogies (<see cref="Aperture.Words.PlantedAnalogyCorpus"/>), no download.</summary>
    Planted,
    /// <summary>The King James Bible, from the <c>bible</c> program of <c>bible-kjv</c> (text in <c>bible-kjv-text</c>), one verse per sentence; about 790,000 words.</summary>
    Kjv,
    /// <summary>WordNet 3.0's glosses (definitions and examples), from <c>wordnet-base</c>, one synset per sentence; about 1.4 million words.</summary>
    Wordnet,
    /// <summary>The Collaborative International Dictionary of English (Webster's 1913 and WordNet), from <c>dict-gcide</c>, one paragraph per sentence.</summary>
    Gcide,
}

/// <summary>
/// Readers for English text that Debian packages install: each returns the corpus as lines (one sentence each, as
/// <see cref="Aperture.Words.TokenizedCorpus.FromLines"/> reads them) and, when the package is missing, throws
/// <see cref="CorpusUnavailableException"/> naming the package to install.
/// </summary>
public static class DebianCorpora
{
    /// <summary>Where <c>wordnet-base</c> installs WordNet 3.0's database.</summary>
    public const string WordNetDirectory = "/usr/share/wordnet";

    /// <summary>Where <c>dict-gcide</c> installs the dictionary (dictzip, which gzip reads).</summary>
    public const string GcidePath = "/usr/share/dictd/gcide.dict.dz";

    /// <summary>
    /// The King James Bible, Genesis 1:1 to Revelation 22:21, one verse per line without its number, read by running
    /// <paramref name="program"/> <c>-l10000 Gen1:1-Rev22:21</c> (a line width that never wraps a verse).
    /// </summary>
    public static IReadOnlyList<string> KingJamesBible(string program = "bible")
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.Latin1,
        };
        start.ArgumentList.Add("-l10000");
        start.ArgumentList.Add("Gen1:1-Rev22:21");
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new CorpusUnavailableException($"the King James Bible: could not start '{program}'");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // ENOENT (2) is the usual case, the package not installed: said plainly rather than in the runtime's words.
            string why = e.NativeErrorCode == 2 ? "not found" : e.Message;
            throw new CorpusUnavailableException(
                $"the King James Bible needs the program '{program}' ({why}); install the Debian packages bible-kjv and bible-kjv-text (apt-get install bible-kjv)");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            var verses = new List<string>(31_200);
            while (process.StandardOutput.ReadLine() is { } line)
            {
                // A verse is "  N text"; headers ("Genesis 1") and blank lines are not text.
                var t = line.AsSpan().TrimStart(' ');
                if (t.Length == line.Length || t.Length == 0 || !char.IsAsciiDigit(t[0])) continue;
                int i = 0;
                while (i < t.Length && char.IsAsciiDigit(t[i])) i++;
                verses.Add(t[i..].Trim().ToString());
            }
            process.WaitForExit();
            if (process.ExitCode != 0 || verses.Count < 30_000)
                throw new CorpusUnavailableException(
                    $"the King James Bible: '{program}' exited with code {process.ExitCode} after {verses.Count} verses ({stderr.Result.Trim()}); " +
                    "install the Debian packages bible-kjv and bible-kjv-text (apt-get install bible-kjv)");
            return verses;
        }
    }

    /// <summary>
    /// WordNet's glosses, one synset per line: the text after "| " in each record of data.noun, data.verb, data.adj and
    /// data.adv (in that order, file order within each). The license header (lines starting with spaces) is skipped.
    /// </summary>
    public static IReadOnlyList<string> WordNetGlosses(string directory = WordNetDirectory)
    {
        var lines = new List<string>(120_000);
        foreach (var part in new[] { "noun", "verb", "adj", "adv" })
        {
            string path = Path.Combine(directory, "data." + part);
            foreach (var line in ReadLines(path, "WordNet's glosses", "wordnet-base"))
            {
                if (line.Length == 0 || !char.IsAsciiDigit(line[0])) continue;
                int bar = line.IndexOf(" | ", StringComparison.Ordinal);
                if (bar >= 0) lines.Add(line[(bar + 3)..].Trim());
            }
        }
        return lines;
    }

    /// <summary>
    /// GCIDE's text, one paragraph (lines up to a blank line) per sentence, markup tags (&lt;…&gt;) removed. The
    /// dictzip file is a gzip stream and is read as one.
    /// </summary>
    public static IReadOnlyList<string> Gcide(string path = GcidePath)
    {
        if (!File.Exists(path))
            throw new CorpusUnavailableException($"GCIDE: '{path}' does not exist; install the Debian package dict-gcide (apt-get install dict-gcide)");
        var paragraphs = new List<string>();
        var current = new StringBuilder();
        try
        {
            using var file = File.OpenRead(path);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new StreamReader(gzip, Encoding.UTF8);
            while (reader.ReadLine() is { } line)
            {
                if (line.Trim().Length == 0)
                {
                    if (current.Length > 0) paragraphs.Add(current.ToString());
                    current.Clear();
                    continue;
                }
                current.Append(' ');
                bool inTag = false;
                foreach (char ch in line)
                {
                    if (ch == '<') inTag = true;
                    else if (ch == '>' && inTag) { inTag = false; current.Append(' '); }
                    else if (!inTag) current.Append(ch);
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new CorpusUnavailableException($"GCIDE: '{path}' is not a readable gzip/dictzip file ({e.Message}); reinstall the Debian package dict-gcide");
        }
        if (current.Length > 0) paragraphs.Add(current.ToString());
        return paragraphs;
    }

    /// <summary>A plain UTF-8 text file, one sentence per line.</summary>
    public static IReadOnlyList<string> PlainText(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' does not exist", path);
        return File.ReadAllLines(path, Encoding.UTF8);
    }

    /// <summary>
    /// Word pairs for analogy questions from WordNet's morphological exception lists (irregular forms, which ship
    /// with WordNet's license): <c>plural</c> (noun.exc), <c>past</c> (verb.exc, forms not ending in -ing: past tenses
    /// and participles), <c>comparative</c> and <c>superlative</c> (adj.exc, forms ending in -er and -est). Only
    /// entries whose two words are letters only and differ are kept; each pair is (base, inflected form).
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> WordNetInflections(string directory = WordNetDirectory)
    {
        var result = new Dictionary<string, IReadOnlyList<(string, string)>>(StringComparer.Ordinal);
        IEnumerable<(string Form, string Base)> Read(string file) =>
            ReadLines(Path.Combine(directory, file), "WordNet's exception lists", "wordnet-base")
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 2 && f[0] != f[1] && f[0].All(char.IsAsciiLetterLower) && f[1].All(char.IsAsciiLetterLower))
                .Select(f => (f[0], f[1]));
        result["plural"] = Read("noun.exc").Select(x => (x.Base, x.Form)).ToArray();
        result["past"] = Read("verb.exc").Where(x => !x.Form.EndsWith("ing", StringComparison.Ordinal)).Select(x => (x.Base, x.Form)).ToArray();
        var adj = Read("adj.exc").ToArray();
        result["comparative"] = adj.Where(x => x.Form.EndsWith("er", StringComparison.Ordinal)).Select(x => (x.Base, x.Form)).ToArray();
        result["superlative"] = adj.Where(x => x.Form.EndsWith("est", StringComparison.Ordinal)).Select(x => (x.Base, x.Form)).ToArray();
        return result;
    }

    private static IEnumerable<string> ReadLines(string path, string what, string package)
    {
        if (!File.Exists(path))
            throw new CorpusUnavailableException($"{what}: '{path}' does not exist; install the Debian package {package} (apt-get install {package})");
        return File.ReadLines(path, Encoding.Latin1);
    }
}
