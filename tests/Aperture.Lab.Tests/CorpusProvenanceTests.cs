using System.Security.Cryptography;
using System.Text;
using Aperture.Lab.Corpora;
using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

/// <summary>
/// A Debian text corpus is part of a run's identity through the hash of what was read (sentences and WordNet's
/// inflection pairs): another copy of the corpus is another run, the same copy is the same run.
/// </summary>
public class CorpusProvenanceTests
{
    // A WordNet database in miniature: the files and line shapes DebianCorpora reads (a license header line, then
    // records whose gloss follows " | "), and the three exception lists.
    private static string WriteWordNet(string directory, string nounGloss = "a person who is male", string pastLine = "went go")
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "data.noun"),
            "  1 This software and database is being provided\n" +
            $"00001740 03 n 01 man 0 000 | {nounGloss}\n" +
            "00001741 03 n 01 woman 0 000 | a person who is female\n");
        File.WriteAllText(Path.Combine(directory, "data.verb"), "00002000 29 v 01 go 0 000 | move from one place to another\n");
        File.WriteAllText(Path.Combine(directory, "data.adj"), "00003000 00 a 01 good 0 000 | having desirable qualities\n");
        File.WriteAllText(Path.Combine(directory, "data.adv"), "00004000 02 r 01 well 0 000 | in a good manner\n");
        File.WriteAllText(Path.Combine(directory, "noun.exc"), "men man\nchildren child\n");
        File.WriteAllText(Path.Combine(directory, "verb.exc"), $"{pastLine}\ngoing go\n");
        File.WriteAllText(Path.Combine(directory, "adj.exc"), "better good\nbest good\n");
        return directory;
    }

    // The hash as CorpusText documents it, written out independently.
    private static string Oracle(IReadOnlyList<string> lines, params (string Relation, (string Base, string Form)[] Pairs)[] relations)
    {
        var text = new StringBuilder();
        text.Append(lines.Count).Append('\n');
        foreach (var l in lines) text.Append(l).Append('\n');
        foreach (var (relation, pairs) in relations.OrderBy(r => r.Relation, StringComparer.Ordinal))
        {
            text.Append(relation).Append('\t').Append(pairs.Length).Append('\n');
            foreach (var (b, f) in pairs) text.Append(b).Append('\t').Append(f).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static LabDataSource Source(string wordNet) => new() { Corpora = new CorpusSources(WordNetDirectory: wordNet) };

    [Fact]
    public void The_hash_covers_the_sentences_and_the_questions_and_nothing_else()
    {
        using var dir = new TempDir();
        var a = Source(WriteWordNet(dir.File("a"))).Resolve(LabDataset.WordNetGlosses);
        Assert.Equal(LabDataset.WordNetGlosses, a.Kind);
        Assert.Equal(["a person who is male", "a person who is female", "move from one place to another", "having desirable qualities", "in a good manner"], a.Corpus.Lines);
        Assert.Equal(Oracle(a.Corpus.Lines, ("plural", [("man", "men"), ("child", "children")]), ("past", [("go", "went")]),
            ("comparative", [("good", "better")]), ("superlative", [("good", "best")])), a.Fingerprint);
        Assert.Equal(a.Fingerprint, a.Corpus.Fingerprint);
        Assert.Contains(dir.File("a"), a.Source);
        // The same bytes in another directory: the same identity, whichever copy was read.
        Assert.Equal(a.Fingerprint, Source(WriteWordNet(dir.File("b"))).Resolve(LabDataset.WordNetGlosses).Fingerprint);
        // One gloss changed, or one exception-list entry: another identity.
        Assert.NotEqual(a.Fingerprint, Source(WriteWordNet(dir.File("c"), nounGloss: "an adult male person")).Resolve(LabDataset.WordNetGlosses).Fingerprint);
        Assert.NotEqual(a.Fingerprint, Source(WriteWordNet(dir.File("d"), pastLine: "gone go")).Resolve(LabDataset.WordNetGlosses).Fingerprint);
    }

    [Fact]
    public void A_run_stored_with_one_copy_of_a_corpus_is_not_reused_for_another()
    {
        using var dir = new TempDir();
        string a = WriteWordNet(dir.File("a")), b = WriteWordNet(dir.File("b"), nounGloss: "an adult male person");
        var phenomenon = new SentenceCount();
        var protocol = LabRunner.Resolve(phenomenon, Tier.Quick, seeds: 2);
        using var store = Tiny.NewStore(dir);
        var first = new LabRunner(store, Source(a)).Run(phenomenon, Tier.Quick, protocol);
        Assert.Equal((2, 0), (first.RunsExecuted, first.RunsReused));
        var again = new LabRunner(store, Source(a)).Run(phenomenon, Tier.Quick, protocol);
        Assert.Equal((0, 2), (again.RunsExecuted, again.RunsReused));
        var other = new LabRunner(store, Source(b)).Run(phenomenon, Tier.Quick, protocol);
        Assert.Equal((2, 0), (other.RunsExecuted, other.RunsReused));
        Assert.NotEqual(first.DataFingerprint, other.DataFingerprint);
        Assert.Empty(first.RunIds.Intersect(other.RunIds));
        Assert.All(store.ListRuns(phenomenon.Id), r => Assert.Contains(r.DataFingerprint == first.DataFingerprint ? a : b, r.DataSource));
    }

    [Fact]
    public void Word_analogies_declares_its_real_corpus_so_its_runs_carry_the_corpus_hash()
    {
        var phenomenon = new WordAnalogies();
        using var dir = new TempDir();
        string a = WriteWordNet(dir.File("a")), b = WriteWordNet(dir.File("b"), pastLine: "gone go");
        var protocol = LabRunner.Resolve(phenomenon, Tier.Quick, [KeyValuePair.Create("real_corpus", "wordnet")], 2);
        Assert.Equal(LabDataset.WordNetGlosses, phenomenon.DataFor(protocol, Tier.Quick));
        Assert.Equal(LabDataset.KingJamesBible, phenomenon.DataFor(LabRunner.Resolve(phenomenon, Tier.Quick, seeds: 2), Tier.Quick));
        Assert.Equal(LabDataset.WordNetGlosses, phenomenon.DataFor(phenomenon.Defaults(Tier.Full), Tier.Full));
        using var store = Tiny.NewStore(dir);
        var planA = new LabRunner(store, Source(a)).Plan(phenomenon, Tier.Quick, protocol);
        var planB = new LabRunner(store, Source(b)).Plan(phenomenon, Tier.Quick, protocol);
        var hashA = Source(a).Resolve(LabDataset.WordNetGlosses).Fingerprint;
        Assert.All(planA, s => Assert.Equal(hashA, s.DataFingerprint));
        Assert.Empty(planA.Select(s => s.RunId).Intersect(planB.Select(s => s.RunId)));
    }

    [Fact]
    public void A_missing_corpus_stops_the_run_with_one_line_naming_the_package()
    {
        using var dir = new TempDir();
        // Its own kind of configuration error, naming the data, so that `lab run --all` can skip the phenomenon.
        var e = Assert.Throws<LabDataUnavailableException>(() => Source(dir.File("nowhere")).Resolve(LabDataset.WordNetGlosses));
        Assert.Equal(LabDataset.WordNetGlosses, e.Dataset);
        Assert.Contains("apt-get install wordnet-base", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var kjv = Assert.Throws<LabDataUnavailableException>(() =>
            new LabDataSource { Corpora = new CorpusSources(BibleProgram: dir.File("no-bible")) }.Resolve(LabDataset.KingJamesBible));
        Assert.Equal(LabDataset.KingJamesBible, kjv.Dataset);
        Assert.Contains("(not found); install the Debian packages bible-kjv", kjv.Message);
        Assert.Throws<InvalidOperationException>(() => LabData.None.Corpus);
    }

    /// <summary>A phenomenon that reads the declared corpus and records its number of sentences.</summary>
    private sealed class SentenceCount : TestPhenomenon<SentenceCount.Protocol>
    {
        public sealed record Protocol : LabProtocol;
        public override string Id => "sentence-count";
        public override LabDataset Data(Protocol p, Tier tier) => LabDataset.WordNetGlosses;
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("a")];

        public override void Run(Protocol p, NamedArm arm, RunContext run) => run.Record("sentences", run.Data.Corpus.Lines.Count);

        public override Verdict Judge(Protocol p, RunSet runs)
        {
            var e = Estimate.Mean("sentences", Unit.Count, runs.Results("a", "sentences"));
            return Verdict.From(e, Check.Above(e, 0));
        }
    }
}
