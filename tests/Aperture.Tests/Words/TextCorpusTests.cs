using Aperture.IO;
using Aperture.Words;

namespace Aperture.Tests.Words;

/// <summary>Tokenizer, vocabulary, tokenized corpus, the planted corpus, analogy scoring on hand-made vectors, and the vectors file.</summary>
public class TextCorpusTests
{
    [Fact]
    public void Words_are_lowercased_runs_of_letters()
    {
        Assert.Equal(["the", "lord", "s", "house", "éclair", "x"], Tokenizer.Words("The LORD's house, 3:16 Éclair—x"));
        Assert.Empty(Tokenizer.Words(" 12, -- ; "));
        // A word longer than the scratch buffer is cut into pieces of its length.
        var pieces = new List<string>();
        Tokenizer.ForEachWord("abcdefg", new char[3], w => pieces.Add(new string(w)));
        Assert.Equal(["abc", "def", "g"], pieces);
    }

    [Fact]
    public void The_vocabulary_is_sorted_by_count_then_ordinally_and_drops_rare_words()
    {
        var corpus = TokenizedCorpus.FromLines(["b a c a", "", "d b a", "b e c"], minCount: 2);
        var v = corpus.Vocabulary;
        // a: 3, b: 3, c: 2 (d and e once: dropped); a before b by ordinal order.
        Assert.Equal(["a", "b", "c"], v.Words);
        Assert.Equal(new long[] { 3, 3, 2 }, v.Counts.ToArray());
        Assert.Equal(8, v.TotalCount);
        // Rare words vanish from their sentence; the empty line is no sentence.
        Assert.Equal(new[] { 1, 0, 2, 0, 1, 0, 1, 2 }, corpus.Tokens.ToArray());
        Assert.Equal(new[] { 0, 4, 6, 8 }, corpus.SentenceStarts.ToArray());
        Assert.Equal(-1, v.IdOf("d"));
        // The order of first sight does not matter.
        var again = TokenizedCorpus.FromLines(["e c b", "a b d", "a c a b"], minCount: 2).Vocabulary;
        Assert.Equal(v.Words, again.Words);
    }

    [Fact]
    public void A_long_line_becomes_sentences_of_at_most_1000_words()
    {
        var corpus = TokenizedCorpus.FromLines([string.Join(' ', Enumerable.Repeat("w", 2500))], minCount: 1);
        Assert.Equal(new[] { 0, 1000, 2000, 2500 }, corpus.SentenceStarts.ToArray());
    }

    [Fact]
    public void Bad_vocabularies_are_refused_with_the_word_named()
    {
        Assert.Contains("'x' appears twice", Assert.Throws<ArgumentException>(() => new Vocabulary(["x", "y", "x"], [1, 1, 1])).Message);
        Assert.Contains("negative count", Assert.Throws<ArgumentException>(() => new Vocabulary(["x"], [-1])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizedCorpus.FromLines(["a"], minCount: 0));
    }

    [Fact]
    public void The_planted_corpus_is_seeded_and_its_questions_hold_by_construction()
    {
        var options = new PlantedAnalogyOptions { Families = 2, ConceptsPerFamily = 3, FormsPerFamily = 3, Sentences = 50 };
        var one = PlantedAnalogyCorpus.Generate(options, new Generator(4));
        var two = PlantedAnalogyCorpus.Generate(options, new Generator(4));
        Assert.Equal(one.Lines, two.Lines);
        Assert.NotEqual(one.Lines, PlantedAnalogyCorpus.Generate(options, new Generator(5)).Lines);
        Assert.Equal(2 * 3 * 2 * 3 * 2, one.Questions.Count);   // families × concept pairs × form pairs
        Assert.Equal(6, one.Concepts.Count);
        foreach (var q in one.Questions)
        {
            // a and b share a concept, as do c and d; a and c share a form, as do b and d.
            var ca = one.Concepts.Single(g => g.Contains(q.A));
            Assert.Contains(q.B, ca);
            Assert.DoesNotContain(q.C, ca);
            Assert.Contains(q.D, one.Concepts.Single(g => g.Contains(q.C)));
            Assert.Equal(q.A[^1], q.C[^1]);
            Assert.Equal(q.B[^1], q.D[^1]);
        }
        // Every line tokenizes back to its words (names are letters only).
        Assert.All(one.Lines, l => Assert.Equal(l.Split(' '), Tokenizer.Words(l)));
    }

    /// <summary>Hand-made vectors: the offset answers, the baselines answer their neighbour, and question words are excluded.</summary>
    private static WordVectors Toy()
    {
        // man (1,0,0), woman (1,1,0), king (1,0,1), queen (1,1,1), royal (0.9,0,1) close to king, apple (0,−1,0.2) far away.
        var vocab = new Vocabulary(["man", "woman", "king", "queen", "royal", "apple"], [6, 5, 4, 3, 2, 1]);
        float[] v = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0.9f, 0, 1, 0, -1, 0.2f];
        return new WordVectors(vocab, v, 3);
    }

    [Fact]
    public void Analogies_and_baselines_on_hand_made_vectors()
    {
        var w = Toy();
        Assert.Equal("queen", w.Analogy("man", "woman", "king")[0].Word);
        Assert.Equal("queen", w.Analogy("man", "woman", "king", AnalogyMethod.CosMul)[0].Word);
        // The nearest neighbour of king (excluding man, woman, king) is royal: the baseline misses.
        Assert.Equal("royal", w.Analogy("man", "woman", "king", AnalogyMethod.NearestOfC)[0].Word);
        Assert.Equal("queen", w.Analogy("man", "woman", "king", AnalogyMethod.NearestOfB)[0].Word);
        // 3CosAdd's score is cos(x, b) − cos(x, a) + cos(x, c).
        double expect = 1 / Math.Sqrt(3) * 2 / Math.Sqrt(2) - 1 / Math.Sqrt(3) + 2 / Math.Sqrt(6);
        Assert.Equal(expect, w.Analogy("man", "woman", "king")[0].Similarity, 5);
        Assert.Equal(["king", "queen"], w.Neighbours("royal", 2).Select(n => n.Word));
        var scores = w.Evaluate([
            new("man", "woman", "king", "queen", "gender"),
            new("man", "woman", "apple", "king", "gender"),   // answered queen: wrong
            new("man", "woman", "king", "pear", "gender"),   // not covered
        ]);
        var add = scores.Single(s => s.Method == AnalogyMethod.CosAdd);
        Assert.Equal((2, 3), (add.Covered, add.Total));
        Assert.Equal(1, add.Correct);
        Assert.Equal(2.0 / 3, add.Coverage, 12);
        Assert.Equal(0, scores.Single(s => s.Method == AnalogyMethod.NearestOfC).Correct);
        Assert.Contains("'pear' is not in the vocabulary", Assert.Throws<KeyNotFoundException>(() => w.Neighbours("pear")).Message);
    }

    [Fact]
    public void Neighbours_come_from_the_exact_cosine_index_and_match_a_float64_reference()
    {
        // 300 random words of dimension 17 (not a multiple of any vector width), then three exact copies of word 5's
        // vector at ids 300–302 and a zero vector at 303: equal similarities must come in increasing id.
        var g = new Generator(11);
        int n = 304, d = 17;
        var values = new float[n * d];
        for (int i = 0; i < 300 * d; i++) values[i] = (float)g.NextNormal();
        for (int c = 300; c < 303; c++) Array.Copy(values, 5 * d, values, c * d, d);
        var words = Enumerable.Range(0, n).Select(i => "w" + i).ToArray();
        var w = new WordVectors(new Vocabulary(words, Enumerable.Repeat(1L, n).ToArray()), values, d);
        double Cos(int a, int b)
        {
            double dot = 0, na = 0, nb = 0;
            for (int j = 0; j < d; j++) { dot += (double)values[a * d + j] * values[b * d + j]; na += (double)values[a * d + j] * values[a * d + j]; nb += (double)values[b * d + j] * values[b * d + j]; }
            return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
        }
        foreach (int q in new[] { 0, 42, 299 })
        {
            var reference = Enumerable.Range(0, n).Where(x => x != q).Select(x => (Id: x, Sim: Cos(q, x)))
                .OrderByDescending(t => t.Sim).ThenBy(t => t.Id).Take(10).ToList();
            var found = w.Neighbours("w" + q, 10);
            Assert.Equal(reference.Select(t => "w" + t.Id), found.Select(f => f.Word));
            // float32 vectors: within a few float32 ulps of 1 of the float64 cosine.
            for (int i = 0; i < 10; i++) Assert.True(Math.Abs(reference[i].Sim - found[i].Similarity) < 1e-6, $"{reference[i].Sim} vs {found[i].Similarity}");
            Assert.Equal(found.Select(f => f.Similarity).OrderDescending(), found.Select(f => f.Similarity));
        }
        // Word 5's copies: similarity 1 (to rounding), listed by id; the query itself is never listed.
        var five = w.Neighbours("w5", 3);
        Assert.Equal(["w300", "w301", "w302"], five.Select(f => f.Word));
        Assert.All(five, f => Assert.True(Math.Abs(1 - f.Similarity) < 1e-6, $"{f.Similarity}"));
        // A copy with a higher id than its original lists the original first, and not itself.
        Assert.Equal(["w5", "w300", "w302"], w.Neighbours("w301", 3).Select(f => f.Word));
        // The zero vector is at distance 1 from everything: every other word ties at similarity 0, in id order.
        var zero = w.Neighbours("w303", 4);
        Assert.Equal(["w0", "w1", "w2", "w3"], zero.Select(f => f.Word));
        Assert.All(zero, f => Assert.Equal(0, f.Similarity));
        // More than the vocabulary holds: every other word once; k below 1 is refused.
        Assert.Equal(n - 1, w.Neighbours("w7", 1000).Select(f => f.Word).Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Neighbours("w7", 0));
    }

    [Fact]
    public void The_vectors_file_round_trips_and_refuses_hostile_content()
    {
        var dir = Directory.CreateTempSubdirectory("aperture-words-");
        try
        {
            var w = Toy();
            string path = Path.Combine(dir.FullName, "v.safetensors");
            WordVectorsFile.Save(path, w, new Dictionary<string, string> { ["dim"] = "3" });
            var (back, meta) = WordVectorsFile.Load(path);
            Assert.Equal(w.Vocabulary.Words, back.Vocabulary.Words);
            Assert.Equal(w.Vocabulary.Counts.ToArray(), back.Vocabulary.Counts.ToArray());
            Assert.Equal(w.ToTensor().ToArray<float>(), back.ToTensor().ToArray<float>());
            Assert.Equal("3", meta["dim"]);

            string Write(IReadOnlyDictionary<string, Tensor> tensors, Dictionary<string, string> metadata)
            {
                string p = Path.Combine(dir.FullName, Guid.NewGuid().ToString("N") + ".safetensors");
                SafeTensors.Save(p, tensors, metadata);
                return p;
            }
            var vecs = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, [2, 2]);
            var counts = Tensor.FromArray(new long[] { 2, 1 }, [2]);
            Dictionary<string, string> Meta(string vocab) => new() { ["format"] = WordVectorsFile.FormatTag, ["vocabulary"] = vocab };
            void Bad(string expected, IReadOnlyDictionary<string, Tensor> tensors, Dictionary<string, string> metadata) =>
                Assert.Contains(expected, Assert.Throws<WordVectorsFormatException>(() => WordVectorsFile.Load(Write(tensors, metadata))).Message);
            Bad("'format' is missing", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = counts }, new() { ["vocabulary"] = "a\nb" });
            Bad("holds 3 words but 'vectors' has 2 rows", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = counts }, Meta("a\nb\nc"));
            Bad("'a' appears twice", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = counts }, Meta("a\na"));
            Bad("word 1 of the vocabulary is empty", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = counts }, Meta("a\n"));
            Bad("the count of word 1", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = Tensor.FromArray(new long[] { 2, -1 }, [2]) }, Meta("a\nb"));
            Bad("holds NaN", new Dictionary<string, Tensor> { ["vectors"] = Tensor.FromArray(new float[] { 1, 2, float.NaN, 4 }, [2, 2]), ["counts"] = counts }, Meta("a\nb"));
            Bad("'counts' must be int64 [2]", new Dictionary<string, Tensor> { ["vectors"] = vecs, ["counts"] = Tensor.FromArray(new long[] { 1 }, [1]) }, Meta("a\nb"));
            Bad("'vectors' must be float32", new Dictionary<string, Tensor> { ["vectors"] = vecs.To(DType.Float64), ["counts"] = counts }, Meta("a\nb"));
            // A truncated file is the container's error, naming the file.
            string trunc = Path.Combine(dir.FullName, "t.safetensors");
            File.WriteAllBytes(trunc, File.ReadAllBytes(path)[..20]);
            Assert.Contains("t.safetensors", Assert.ThrowsAny<DataFormatException>(() => WordVectorsFile.Load(trunc)).Message);
        }
        finally { dir.Delete(recursive: true); }
    }
}
