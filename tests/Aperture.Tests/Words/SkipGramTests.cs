using Aperture.NN;
using Aperture.Optim;
using Aperture.Words;

namespace Aperture.Tests.Words;

/// <summary>
/// Skip-gram with negative sampling: a block step is a gradient step on the SGNS loss (checked against an autodiff
/// reference built from sparse embeddings and plain SGD, in float64), the noise sampler and subsampling follow their
/// formulas, training is bit-identical at 1 and 2 threads, and on the planted corpus the planted analogies and
/// neighbours are recovered.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class SkipGramTests
{
    [Fact]
    public void A_block_step_is_a_gradient_step_on_the_sgns_loss()
    {
        const int words = 7, dim = 4, negatives = 2;
        int[] input = [3, 1, 3, 6, 0];
        int[] target = [2, 5, -1, 4, 2, 2, 2, 0, 1, 3, 4, 5, 6, 3, 3];   // per pair: centre, then noise (−1: skipped)
        var model = new SkipGramModel(words, dim, negatives, input.Length);
        var g = new Generator(3);
        for (int i = 0; i < model.Syn0.Length; i++) model.Syn0[i] = (float)g.NextNormal() * 0.5f;
        for (int i = 0; i < model.Syn1.Length; i++) model.Syn1[i] = (float)g.NextNormal() * 0.5f;
        var syn0 = model.Syn0.Select(x => (double)x).ToArray();
        var syn1 = model.Syn1.Select(x => (double)x).ToArray();
        input.CopyTo(model.Input, 0);
        target.CopyTo(model.Target, 0);
        const float alpha = 0.1f;
        model.StepOnPairs(input.Length, alpha);

        // The reference: L = Σ_pairs −log σ(u·v_centre) − Σ_noise log σ(−u·v_noise), one SGD step of size α.
        var inEmb = new Embedding(words, dim, generator: new Generator(0), dtype: DType.Float64, sparse: true);
        var outEmb = new Embedding(words, dim, generator: new Generator(0), dtype: DType.Float64, sparse: true);
        using (Aperture.Autodiff.NoGrad())
        {
            Ops.CopyInPlace(inEmb.Weight, Tensor.FromArray(syn0, [words, dim]));
            Ops.CopyInPlace(outEmb.Weight, Tensor.FromArray(syn1, [words, dim]));
        }
        var pairOf = new List<long>();
        var targets = new List<long>();
        var signs = new List<double>();
        for (int p = 0; p < input.Length; p++)
            for (int k = 0; k <= negatives; k++)
            {
                int t = target[p * (negatives + 1) + k];
                if (t < 0) continue;
                pairOf.Add(input[p]);
                targets.Add(t);
                signs.Add(k == 0 ? 1 : -1);
            }
        var u = inEmb.Forward(Tensor.FromArray(pairOf.ToArray()));
        var v = outEmb.Forward(Tensor.FromArray(targets.ToArray()));
        var score = Ops.Mul(Ops.Sum(Ops.Mul(u, v), 1), Tensor.FromArray(signs.ToArray()));
        Ops.Neg(Ops.Sum(Ops.Log(Ops.Sigmoid(score)))).Backward();
        new SGD(inEmb.Parameters().Concat(outEmb.Parameters()), lr: alpha).Step();

        var want0 = inEmb.Weight.ToArray<double>();
        var want1 = outEmb.Weight.ToArray<double>();
        for (int i = 0; i < want0.Length; i++) Assert.Equal(want0[i], model.Syn0[i], 1e-6);
        for (int i = 0; i < want1.Length; i++) Assert.Equal(want1[i], model.Syn1[i], 1e-6);
        Assert.NotEqual(syn0[3 * dim], model.Syn0[3 * dim]);   // the step moved something
    }

    [Fact]
    public void The_noise_sampler_draws_unigram_to_the_three_quarters()
    {
        long[] counts = [1000, 300, 50, 7, 1, 0];
        var sampler = new AliasSampler(counts, 0.75);
        double z = counts.Sum(c => Math.Pow(c, 0.75));
        var hits = new int[counts.Length];
        const int draws = 400_000;
        ulong state = 12345;
        for (int i = 0; i < draws; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            hits[sampler.Sample(SkipGram.Mix(state))]++;
        }
        for (int w = 0; w < counts.Length; w++)
        {
            double p = Math.Pow(counts[w], 0.75) / z;
            double sd = Math.Sqrt(draws * p * (1 - p));
            Assert.InRange(hits[w], draws * p - 5 * sd - 1, draws * p + 5 * sd + 1);
        }
        Assert.Equal(0, hits[^1]);
    }

    [Fact]
    public void Subsampling_keeps_word2vecs_share_of_each_word()
    {
        var vocab = new Vocabulary(["the", "of", "rare"], [900_000, 99_000, 1_000]);
        var keep = SkipGram.KeepProbabilities(vocab, 1e-3);
        Assert.Equal((Math.Sqrt(0.9 / 1e-3) + 1) * 1e-3 / 0.9, keep[0], 15);
        Assert.Equal((Math.Sqrt(0.099 / 1e-3) + 1) * 1e-3 / 0.099, keep[1], 15);
        Assert.Equal(1, keep[2]);
        Assert.All(SkipGram.KeepProbabilities(vocab, 0), k => Assert.Equal(1, k));
    }

    private static readonly PlantedAnalogyOptions Planted = new() { Families = 2, ConceptsPerFamily = 8, FormsPerFamily = 3, Sentences = 8_000 };
    private static readonly SkipGramOptions Small = new() { Dim = 24, Window = 5, Negatives = 5, Epochs = 4, Subsample = 1e-3 };

    private static SkipGramResult TrainPlanted(int threads, PlantedAnalogyCorpus corpus, bool splitEveryBlock = false)
    {
        int saved = Parallelism.Threads;
        long savedSplit = SkipGramModel.SplitMinWork;
        Parallelism.Threads = threads;
        // Blocks this small stay on one thread by default; forced, every block is split across the threads.
        if (splitEveryBlock) SkipGramModel.SplitMinWork = 0;
        try { return SkipGram.Train(TokenizedCorpus.FromLines(corpus.Lines, minCount: 1), Small, seed: 7); }
        finally
        {
            Parallelism.Threads = saved;
            SkipGramModel.SplitMinWork = savedSplit;
        }
    }

    [Fact]
    public void On_the_planted_corpus_analogies_and_neighbours_are_recovered_and_the_bits_do_not_depend_on_threads()
    {
        var corpus = PlantedAnalogyCorpus.Generate(Planted, new Generator(1));
        var one = TrainPlanted(1, corpus);
        var two = TrainPlanted(2, corpus);
        var split = TrainPlanted(2, corpus, splitEveryBlock: true);
        Assert.Equal(one.Vectors.ToTensor().ToArray<float>(), two.Vectors.ToTensor().ToArray<float>());
        Assert.Equal(one.Vectors.ToTensor().ToArray<float>(), split.Vectors.ToTensor().ToArray<float>());
        Assert.Equal(one.TrainedTokens, two.TrainedTokens);

        var scores = one.Vectors.Evaluate(corpus.Questions);
        double Acc(AnalogyMethod m) => scores.Single(s => s.Method == m).Accuracy;
        Assert.Equal(1.0, scores[0].Coverage);
        Assert.Equal(1.0, Acc(AnalogyMethod.CosAdd));
        Assert.True(Acc(AnalogyMethod.CosMul) >= 0.99, $"3CosMul {Acc(AnalogyMethod.CosMul)}");
        // The trivial baselines stay near 1/(forms − 1) and below.
        Assert.True(Acc(AnalogyMethod.NearestOfC) <= 0.7, $"nearest of c {Acc(AnalogyMethod.NearestOfC)}");
        Assert.True(Acc(AnalogyMethod.NearestOfB) <= 0.2, $"nearest of b {Acc(AnalogyMethod.NearestOfB)}");
        // Planted neighbours: among the planted words, each one's nearest is another form of its concept.
        var vocab = one.Vectors.Vocabulary;
        var planted = corpus.Concepts.SelectMany(c => c).Select(vocab.IdOf).ToArray();
        foreach (var concept in corpus.Concepts)
            foreach (var word in concept)
            {
                int id = vocab.IdOf(word);
                int nearest = planted.Where(x => x != id).MaxBy(x => one.Vectors.Similarity(id, x));
                Assert.Contains(vocab[nearest], concept);
            }
    }

    [Fact]
    public void Different_seeds_give_different_vectors_and_bad_options_are_named()
    {
        var corpus = TokenizedCorpus.FromLines(PlantedAnalogyCorpus.Generate(Planted with { Sentences = 200 }, new Generator(1)).Lines, minCount: 1);
        var a = SkipGram.Train(corpus, Small with { Epochs = 1 }, 1).Vectors.ToTensor().ToArray<float>();
        var b = SkipGram.Train(corpus, Small with { Epochs = 1 }, 2).Vectors.ToTensor().ToArray<float>();
        Assert.NotEqual(a, b);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SkipGram.Train(corpus, Small with { Window = 0 }, 1));
        Assert.Contains("Window must lie in [1, 100], found 0", e.Message);
    }
}
