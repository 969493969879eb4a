using System.Diagnostics;
using System.Text.Json;
using Aperture.Lab.Corpora;
using Aperture.Lab.Phenomena;
using Aperture.Lab.Recipes;
using Aperture.Words;

namespace Aperture.Lab.Tests;

/// <summary>
/// word-analogies on a tiny protocol, the Debian corpus readers (King James Bible, WordNet glosses and exception
/// lists, GCIDE) with their missing-package errors, the WordNet questions, and `aperture words`.
/// </summary>
public class WordAnalogiesTests
{
    public static readonly WordAnalogies Phenomenon = new();

    // A small planted corpus, 16-dimensional vectors, one epoch on the KJV, 100 questions per relation: seconds.
    public static LabProtocol TinyProtocol(int seeds) =>
        LabRunner.Resolve(Phenomenon, Tier.Quick,
        [
            KeyValuePair.Create("planted_sentences", "3000"), KeyValuePair.Create("planted_concepts", "4"), KeyValuePair.Create("dim", "16"),
            KeyValuePair.Create("epochs", "1"), KeyValuePair.Create("max_questions_per_relation", "100"), KeyValuePair.Create("min_count", "20"),
        ], seeds);

    [Fact]
    public void A_tiny_protocol_produces_every_run_and_a_verdict()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, TinyProtocol(2));
        Assert.Equal(4, outcome.RunsExecuted);
        Assert.Equal(2, outcome.Verdict.Checks.Count);
        Assert.StartsWith("kjv: 3CosAdd accuracy − the better trivial baseline", outcome.Verdict.Effect.Name);
        Assert.StartsWith("planted: share of seeds answering every planted analogy", outcome.Verdict.Checks[0].Estimate.Name);
    }

    [Fact]
    public void The_rule_refuses_a_planted_real_corpus()
    {
        var e = Assert.Throws<LabConfigException>(() => LabRunner.Resolve(Phenomenon, Tier.Quick, [KeyValuePair.Create("real_corpus", "planted")], 2));
        Assert.Contains("real_corpus must be kjv, wordnet or gcide", e.Message);
    }

    [Fact]
    public void The_king_james_bible_is_read_verse_by_verse()
    {
        var verses = DebianCorpora.KingJamesBible();
        Assert.Equal("In the beginning God created the heaven and the earth.", verses[0]);
        Assert.Equal("The grace of our Lord Jesus Christ be with you all. Amen.", verses[^1]);
        Assert.InRange(verses.Count, 31_000, 31_500);
        Assert.DoesNotContain(verses, v => v.StartsWith("Genesis", StringComparison.Ordinal));
        var e = Assert.Throws<CorpusUnavailableException>(() => DebianCorpora.KingJamesBible("/nonexistent/bible"));
        Assert.Contains("apt-get install bible-kjv", e.Message);
    }

    [Fact]
    public void WordNet_gives_glosses_and_inflection_pairs()
    {
        var glosses = DebianCorpora.WordNetGlosses();
        Assert.InRange(glosses.Count, 110_000, 125_000);   // WordNet 3.0 has 117,659 synsets
        Assert.Contains("that which is perceived or known or inferred to have its own distinct existence (living or nonliving)", glosses);
        var pairs = DebianCorpora.WordNetInflections();
        Assert.Contains(("man", "men"), pairs["plural"]);
        Assert.Contains(("go", "went"), pairs["past"]);
        Assert.DoesNotContain(pairs["past"], p => p.Form.EndsWith("ing", StringComparison.Ordinal));
        Assert.Contains(("good", "better"), pairs["comparative"]);
        Assert.Contains(("good", "best"), pairs["superlative"]);
        Assert.Contains("apt-get install wordnet-base", Assert.Throws<CorpusUnavailableException>(() => DebianCorpora.WordNetGlosses("/nonexistent")).Message);
        Assert.Contains("apt-get install dict-gcide", Assert.Throws<CorpusUnavailableException>(() => DebianCorpora.Gcide("/nonexistent/gcide.dict.dz")).Message);
    }

    [Fact]
    public void WordNet_questions_keep_pairs_in_the_vocabulary_and_do_not_depend_on_the_run()
    {
        var vocab = new Vocabulary(["man", "men", "woman", "women", "child", "children", "go", "went", "see", "saw", "ox"], Enumerable.Repeat(5L, 11).ToArray());
        var questions = WordVectorTraining.WordNetQuestions(vocab, 1000);
        // noun.exc lists men and children but not women (morphy derives it from -men → -man): 2 pairs, 2 ordered questions.
        Assert.Equal(2, questions.Count(q => q.Relation == "plural"));
        Assert.Equal(2, questions.Count(q => q.Relation == "past"));
        Assert.Contains(new AnalogyQuestion("man", "men", "child", "children", "plural"), questions);
        Assert.All(questions, q => Assert.True(vocab.Contains(q.A) && vocab.Contains(q.B) && vocab.Contains(q.C) && vocab.Contains(q.D)));
        Assert.Equal(questions, WordVectorTraining.WordNetQuestions(vocab, 1000));
        Assert.Equal(2, WordVectorTraining.WordNetQuestions(vocab, 1).Count);   // at most 1 per relation: 1 plural, 1 past
    }

    [Fact]
    public void The_gcide_reader_strips_markup_into_paragraphs()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "g.dict.dz");
        using (var f = File.Create(path))
        using (var gz = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
        using (var w = new StreamWriter(gz))
            w.Write("<hw>Ab*a*cus</hw> <pos>n.</pos>\nA table for\ncomputing.\n\n\nSecond <i>entry</i>.\n");
        Assert.Equal(2, DebianCorpora.Gcide(path).Count);
        Assert.Equal(["ab", "a", "cus", "n", "a", "table", "for", "computing"], Tokenizer.Words(DebianCorpora.Gcide(path)[0]));
        File.WriteAllText(path, "not gzip");
        Assert.Contains("not a readable gzip", Assert.Throws<CorpusUnavailableException>(() => DebianCorpora.Gcide(path)).Message);
    }

    internal static (int Code, string Output) Words(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Tiny.CliDll);
        psi.ArgumentList.Add("words");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "aperture words did not finish in 2 minutes");
        return (p.ExitCode, output + stderr.Result);
    }

    [Fact]
    public void Words_train_neighbours_and_analogy_answer_in_json_and_refuse_bad_input()
    {
        using var dir = new TempDir();
        string vectors = Path.Combine(dir.Path, "v.safetensors");
        var (code, output) = Words("train", "--corpus", "planted", "--dim", "24", "--epochs", "3", "--seed", "3", "--threads", "2", "--out", vectors, "--json", "-");
        Assert.True(code == 0, output);
        var doc = JsonDocument.Parse(output).RootElement;
        var add = doc.GetProperty("analogies").EnumerateArray().Single(a => a.GetProperty("method").GetString() == "3cosadd");
        Assert.True(add.GetProperty("accuracy").GetDouble() > 0.9, output);
        Assert.Equal(1.0, add.GetProperty("coverage").GetDouble());
        // The planted words are no WordNet nouns: no similarity correlation, and the output says why.
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("similarity").ValueKind);
        Assert.Contains("WordNet nouns", doc.GetProperty("similarity_note").GetString());

        (code, output) = Words("neighbours", "wbbbba", "--vectors", vectors, "--top", "3", "--json", "-");
        Assert.True(code == 0, output);
        Assert.Equal(3, JsonDocument.Parse(output).RootElement.GetProperty("neighbours").GetArrayLength());
        // Concept 0, form a : form e :: concept 1, form a : concept 1, form e (a planted analogy).
        (code, output) = Words("analogy", "wbbbba", "wbbbbe", "wbbbca", "--vectors", vectors, "--json", "-");
        Assert.True(code == 0, output);
        Assert.Equal("wbbbce", JsonDocument.Parse(output).RootElement.GetProperty("answers")[0].GetProperty("word").GetString());

        (code, output) = Words("analogy", "wbbbba", "wbbbbe", "nosuchword", "--vectors", vectors);
        Assert.Equal(2, code);
        Assert.Contains("'nosuchword' is not in the vocabulary", output);
        (code, output) = Words("train", "--corpus", "nosuch");
        Assert.Equal(2, code);
        Assert.Contains("--corpus must be planted, kjv, wordnet, gcide or an existing text file", output);
        (code, output) = Words("train", "--corpus", "planted", "--window", "0");
        Assert.Equal(2, code);
        Assert.Contains("words train: --window must lie in [1, 100] (got 0)", output);
        File.WriteAllBytes(Path.Combine(dir.Path, "bad.safetensors"), [1, 2, 3]);
        (code, output) = Words("neighbours", "x", "--vectors", Path.Combine(dir.Path, "bad.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains("bad.safetensors", output);
    }
}
