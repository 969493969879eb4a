using System.Diagnostics;
using Aperture.Words;

namespace Aperture.Bench.Harness;

/// <summary>
/// <c>--words</c>: skip-gram training throughput, Aperture only — word2vec.c's default settings (dim 100, window 5,
/// 5 negatives, subsampling 10⁻³, one epoch) on the planted-analogy corpus (100,000 sentences of 9 words, about 900,000
/// tokens, drawn from seed 0; a corpus that needs no download), at each thread count. Prints corpus tokens per second
/// (word2vec.c's "words/sec" summed over threads) and checks that every thread count gives the same vectors bit for bit.
/// </summary>
public static class WordVectorsBench
{
    public static int Run(IReadOnlyList<int> threads, bool quick)
    {
        var planted = PlantedAnalogyCorpus.Generate(new PlantedAnalogyOptions { Sentences = quick ? 20_000 : 100_000 }, new Generator(0));
        var corpus = TokenizedCorpus.FromLines(planted.Lines, minCount: 1);
        var options = new SkipGramOptions { Dim = 100, Window = 5, Negatives = 5, Epochs = 1 };
        Console.WriteLine($"skip-gram, negative sampling: {corpus.Tokens.Length:N0} tokens, {corpus.Vocabulary.Count} words, dim {options.Dim}, window {options.Window}, {options.Negatives} negatives, 1 epoch");
        float[]? first = null;
        foreach (int t in threads)
        {
            Parallelism.Threads = t;
            SkipGram.Train(corpus, options with { Epochs = 1 }, seed: 1);   // warm-up: JIT and pool
            var watch = Stopwatch.StartNew();
            var result = SkipGram.Train(corpus, options, seed: 1);
            watch.Stop();
            var bits = result.Vectors.ToTensor().ToArray<float>();
            first ??= bits;
            bool same = bits.AsSpan().SequenceEqual(first);
            Console.WriteLine($"{t} thread(s): {result.CorpusTokens / watch.Elapsed.TotalSeconds,12:N0} tokens/s ({watch.Elapsed.TotalSeconds:F2} s){(same ? "" : "  DIFFERENT BITS from the first thread count")}");
            if (!same) return 1;
        }
        return 0;
    }
}
