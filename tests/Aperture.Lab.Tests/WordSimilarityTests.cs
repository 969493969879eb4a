using System.Text.Json;
using Aperture.Lab.Corpora;
using Aperture.Lab.Recipes;
using Aperture.Words;

namespace Aperture.Lab.Tests;

/// <summary>WordNet's noun hierarchy, Wu–Palmer similarity on it, Spearman's ρ, and the similarity score of `aperture words train`.</summary>
public class WordSimilarityTests
{
    // entity ← animal ← carnivore ← {dog, cat}; entity ← artifact ← andiron (also called "dog"); Paris an instance of
    // city ← entity. Max depths: entity 0, animal 1, carnivore 2, dog 3, cat 3, artifact 1, andiron 2, city 1, Paris 2.
    private static string WriteHierarchy(string directory, string? extraLine = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "data.noun"),
            "  1 This software and database is being provided\n" +
            "00000001 03 n 01 entity 0 000 | that which exists\n" +
            "00000002 03 n 01 animal 0 001 @ 00000001 n 0000 | a living organism\n" +
            "00000003 05 n 01 carnivore 0 002 @ 00000002 n 0000 ~ 00000004 n 0000 | a flesh-eater\n" +
            "00000004 05 n 02 dog 0 domestic_dog 0 001 @ 00000003 n 0000 | a barking carnivore\n" +
            "00000005 05 n 01 cat 0 001 @ 00000003 n 0000 | a purring carnivore\n" +
            "00000006 06 n 01 artifact 0 001 @ 00000001 n 0000 | a man-made object\n" +
            "00000007 06 n 02 andiron 0 dog 1 001 @ 00000006 n 0000 | a metal support for logs\n" +
            "00000008 15 n 01 city 0 001 @ 00000001 n 0000 | a large town\n" +
            "00000009 15 n 01 Paris 0 001 @i 00000008 n 0000 | the capital of France\n" + (extraLine ?? ""));
        return directory;
    }

    [Fact]
    public void Wu_palmer_follows_the_hierarchy_exactly()
    {
        using var dir = new TempDir();
        var nouns = WordNetNouns.Read(WriteHierarchy(dir.File("wn")));
        Assert.Equal(9, nouns.Synsets);
        Assert.False(nouns.Contains("domestic_dog"));   // collocations are skipped
        Assert.True(nouns.Contains("paris"));           // lemmas are lowercased, as the tokenizer lowercases text
        // dog–cat: subsumer carnivore, depth 3, one link from each: 2·3 / (1 + 1 + 2·3).
        Assert.Equal(6.0 / 8, nouns.WuPalmer("dog", "cat"), 15);
        // andiron–cat: subsumer entity, depth 1, two and three links: 2 / (2 + 3 + 2).
        Assert.Equal(2.0 / 7, nouns.WuPalmer("andiron", "cat"), 15);
        // "dog" names both senses; a word's similarity is its best pair of senses.
        Assert.Equal(1.0, nouns.WuPalmer("dog", "andiron"));
        Assert.Equal(1.0, nouns.WuPalmer("cat", "cat"));
        // The instance link counts as a hypernym: paris–city, subsumer city (depth 2): 4 / (1 + 0 + 4).
        Assert.Equal(4.0 / 5, nouns.WuPalmer("paris", "city"), 15);
        Assert.Equal(nouns.WuPalmer("cat", "paris"), nouns.WuPalmer("paris", "cat"));
        Assert.Contains("'unicorn' is not a WordNet noun", Assert.Throws<KeyNotFoundException>(() => nouns.WuPalmer("unicorn", "cat")).Message);
        // Without index.noun the first sense is data.noun's first: dog the carnivore.
        Assert.Equal(6.0 / 8, nouns.WuPalmer("dog", "cat", firstSenseOnly: true), 15);
        // index.noun puts the andiron first: then dog–cat by first senses is andiron–cat.
        File.WriteAllText(dir.File("wn/index.noun"), "  1 license\ndog n 2 1 @ 2 0 00000007 00000004  \ncat n 1 1 @ 1 0 00000005  \n");
        var indexed = WordNetNouns.Read(dir.File("wn"));
        Assert.Equal(2.0 / 7, indexed.WuPalmer("dog", "cat", firstSenseOnly: true), 15);
        Assert.Equal(6.0 / 8, indexed.WuPalmer("dog", "cat"), 15);
        File.WriteAllText(dir.File("wn/index.noun"), "dog n 2 1 @ 2 0 00000007\n");
        Assert.Contains("does not have the fields its counts announce", Assert.Throws<InvalidDataException>(() => WordNetNouns.Read(dir.File("wn"))).Message);
    }

    [Fact]
    public void A_malformed_or_missing_hierarchy_is_a_clear_error()
    {
        using var dir = new TempDir();
        var bad = Assert.Throws<InvalidDataException>(() => WordNetNouns.Read(WriteHierarchy(dir.File("a"), "00000010 03 n 01 orphan 0 001 @ 00000099 n 0000 | x\n")));
        Assert.Contains("names hypernym 99, which is not in the file", bad.Message);
        bad = Assert.Throws<InvalidDataException>(() => WordNetNouns.Read(WriteHierarchy(dir.File("b"), "00000010 03 n 01 broken 0 009 @ 00000001 | x\n")));
        Assert.Contains("line 11", bad.Message);
        Assert.Contains("apt-get install wordnet-base", Assert.Throws<CorpusUnavailableException>(() => WordNetNouns.Read(dir.File("none"))).Message);
    }

    [Fact]
    public void Spearman_ranks_ties_by_their_mean_rank()
    {
        Assert.Equal([1, 2, 3.5, 5, 3.5], WordSimilarity.Ranks([5, 6, 7, 8, 7]));
        // Ranks 1…5 against 1, 2, 3.5, 5, 3.5: Σdxdy = 8, Σdx² = 10, Σdy² = 9.5.
        Assert.Equal(8 / Math.Sqrt(95), WordSimilarity.Spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 14);
        Assert.Equal(1.0, WordSimilarity.Spearman([1, 2, 3, 4], [1, 10, 100, 1000]), 15);
        Assert.Equal(-1.0, WordSimilarity.Spearman([1, 2, 3, 4], [4, 3, 2, 1]), 15);
        Assert.True(double.IsNaN(WordSimilarity.Spearman([1, 1, 1], [1, 2, 3])));
    }

    [Fact]
    public void Pairs_are_drawn_once_from_the_vocabularys_nouns_and_scored_against_random_vectors()
    {
        using var dir = new TempDir();
        var nouns = WordNetNouns.Read(WriteHierarchy(dir.File("wn")));
        var vocab = new Vocabulary(["the", "dog", "cat", "animal", "city", "paris", "andiron", "ran"], Enumerable.Repeat(3L, 8).ToArray());
        // Six nouns: fewer pairs possible (15) than asked, so every pair, once.
        var all = WordSimilarity.Pairs(vocab, nouns, 100);
        Assert.Equal(15, all.Count);
        Assert.Equal(15, all.Select(p => (p.First, p.Second)).Distinct().Count());
        Assert.All(all, p => Assert.Equal(nouns.WuPalmer(p.First, p.Second), p.WuPalmer));
        Assert.All(all, p => Assert.Equal(nouns.WuPalmer(p.First, p.Second, firstSenseOnly: true), p.FirstSense));
        // Fewer asked: a draw without repeats, the same every time.
        var some = WordSimilarity.Pairs(vocab, nouns, 6);
        Assert.Equal(6, some.Count);
        Assert.Equal(6, some.Select(p => p.First.CompareTo(p.Second) < 0 ? (p.First, p.Second) : (p.Second, p.First)).Distinct().Count());
        Assert.Equal(some, WordSimilarity.Pairs(vocab, nouns, 6));
        // Vectors in a plane, word i at angle θᵢ: the score is Spearman's ρ of cos(θᵢ − θⱼ) against Wu–Palmer similarity.
        var angle = new Dictionary<string, double> { ["dog"] = 0, ["cat"] = 0.2, ["animal"] = 0.5, ["andiron"] = 1.4, ["city"] = 2.6, ["paris"] = 2.7, ["the"] = 0, ["ran"] = 0 };
        var values = vocab.Words.SelectMany(w => new[] { (float)Math.Cos(angle[w]), (float)Math.Sin(angle[w]) }).ToArray();
        var vectors = new WordVectors(vocab, values, 2);
        var score = WordSimilarity.Score(vectors, all, 6);
        double[] cos = [.. all.Select(p => vectors.Similarity(vocab.IdOf(p.First), vocab.IdOf(p.Second)))];
        Assert.Equal(WordSimilarity.Spearman(cos, [.. all.Select(p => p.WuPalmer)]), score.Rho);
        Assert.Equal(WordSimilarity.Spearman(cos, [.. all.Select(p => p.FirstSense)]), score.FirstSenseRho);
        Assert.Equal((15, 6), (score.Pairs, score.Nouns));
        Assert.InRange(score.RandomRho, -1, 1);
        Assert.True(score.Low < score.Rho && score.Rho < score.High || Math.Abs(score.Rho) == 1, $"{score}");
    }

    [Fact]
    public void WordNet_3_nouns_rank_kinds_above_strangers()
    {
        var nouns = WordNetNouns.Read();
        Assert.Equal(82_115, nouns.Synsets);   // WordNet 3.0's noun synsets
        Assert.True(nouns.WuPalmer("dog", "cat") > nouns.WuPalmer("dog", "democracy"));
        Assert.True(nouns.WuPalmer("car", "truck") > nouns.WuPalmer("car", "banana"));
        Assert.Equal(1.0, nouns.WuPalmer("car", "automobile"));   // one synset
        // index.noun's order: dog's first sense is the domestic dog (02084071), cat's the feline (02121620).
        Assert.True(nouns.WuPalmer("dog", "cat", firstSenseOnly: true) > 0.8);
    }

    [Fact]
    public void Words_train_reports_the_similarity_correlation_in_json()
    {
        using var dir = new TempDir();
        string corpus = dir.File("c.txt");
        // Sentences about animals and about vehicles, so that the nouns of each kind share contexts.
        var g = new Generator(5);
        string[] animals = ["dog", "cat", "horse", "cow", "sheep", "lion"], vehicles = ["car", "truck", "bus", "train", "ship", "boat"];
        var lines = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            bool animal = i % 2 == 0;
            var kind = animal ? animals : vehicles;
            string w = kind[(int)g.NextLong(kind.Length)], v = kind[(int)g.NextLong(kind.Length)];
            lines.Add(animal ? $"the {w} and the {v} eat grass in the field" : $"the {w} and the {v} carry people on the road");
        }
        File.WriteAllLines(corpus, lines);
        var (code, output) = WordAnalogiesTests.Words("train", "--corpus", corpus, "--dim", "16", "--epochs", "2", "--min-count", "1", "--similarity-pairs", "40", "--json", "-");
        Assert.True(code == 0, output);
        var s = JsonDocument.Parse(output).RootElement.GetProperty("similarity");
        Assert.Equal(40, s.GetProperty("pairs").GetInt32());
        Assert.InRange(s.GetProperty("wordnet_nouns_in_vocabulary").GetInt32(), 12, 30);
        double rho = s.GetProperty("spearman_rho").GetDouble();
        Assert.InRange(rho, -1, 1);
        Assert.InRange(s.GetProperty("random_vectors_rho").GetDouble(), -1, 1);
        Assert.InRange(s.GetProperty("spearman_rho_first_sense").GetDouble(), -1, 1);
        Assert.Contains("not human judgements", s.GetProperty("reference").GetString());
    }
}
