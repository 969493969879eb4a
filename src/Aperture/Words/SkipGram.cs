using System.Diagnostics;
using System.Numerics.Tensors;

namespace Aperture.Words;

/// <summary>The settings of <see cref="SkipGram.Train"/> (word2vec.c's names in brackets).</summary>
public sealed record SkipGramOptions
{
    /// <summary>The size of each word vector [-size].</summary>
    public int Dim { get; init; } = 100;

    /// <summary>The largest distance between a word and its context [-window]; each centre samples its own, uniformly in 1 … Window.</summary>
    public int Window { get; init; } = 5;

    /// <summary>Noise words per (word, context) pair [-negative].</summary>
    public int Negatives { get; init; } = 5;

    /// <summary>Passes over the corpus [-iter].</summary>
    public int Epochs { get; init; } = 5;

    /// <summary>The starting learning rate [-alpha], decayed linearly to 10⁻⁴ of itself over training.</summary>
    public double LearningRate { get; init; } = 0.025;

    /// <summary>The subsampling threshold t [-sample]; 0 keeps every token.</summary>
    public double Subsample { get; init; } = 1e-3;

    /// <summary>
    /// Centre words per synchronous block. Each block's gradients are computed from the parameters at its start and
    /// applied in corpus order; the block size, not the thread count, fixes the arithmetic.
    /// </summary>
    public int BlockSize { get; init; } = 64;

    internal void Validate()
    {
        static void Check(double value, double min, double max, string name)
        {
            if (!(value >= min && value <= max))
                throw new ArgumentOutOfRangeException(name, value, $"SkipGramOptions: {name} must lie in [{min}, {max}], found {value}");
        }
        Check(Dim, 1, 10_000, nameof(Dim));
        Check(Window, 1, 100, nameof(Window));
        Check(Negatives, 0, 100, nameof(Negatives));
        Check(Epochs, 1, 10_000, nameof(Epochs));
        Check(LearningRate, 1e-9, 10, nameof(LearningRate));
        Check(Subsample, 0, 1, nameof(Subsample));
        Check(BlockSize, 1, 1_000_000, nameof(BlockSize));
    }
}

/// <summary>What <see cref="SkipGram.Train"/> returns: the vectors and how much work it did.</summary>
/// <param name="Vectors">The input vectors (word2vec's syn0), one per vocabulary word.</param>
/// <param name="TrainedTokens">Centre words trained on, over all epochs (after subsampling).</param>
/// <param name="CorpusTokens">Corpus tokens read, over all epochs (before subsampling; word2vec.c's word count).</param>
/// <param name="Seconds">Wall-clock time of the training loop.</param>
public sealed record SkipGramResult(WordVectors Vectors, long TrainedTokens, long CorpusTokens, double Seconds)
{
    /// <summary>Corpus tokens per second, word2vec.c's "words/thread/sec" times the thread count.</summary>
    public double TokensPerSecond => Seconds > 0 ? CorpusTokens / Seconds : double.PositiveInfinity;
}

/// <summary>
/// Skip-gram with negative sampling (Mikolov et al. 2013, "Distributed representations of words and phrases"), as
/// word2vec.c trains it: subsampling of frequent words (a token of a word with frequency f is kept with probability
/// (√(f/t) + 1)·t/f), the unigram^0.75 noise distribution, a window drawn per centre word, a learning rate decaying
/// linearly with the tokens read, and for each (context, centre) pair the update of the context's input vector
/// against the centre's output vector and the noise words' output vectors.
/// </summary>
/// <remarks>
/// <para>
/// Deterministic whatever the thread count. word2vec.c runs lock-free threads over shared vectors (Hogwild), whose
/// results depend on timing; here the corpus is cut into blocks of <see cref="SkipGramOptions.BlockSize"/> centre
/// words. Within a block every pair's gradient is computed (in parallel) from the vectors at the block's start, then
/// the updates are applied (in parallel over disjoint sets of rows) in corpus order for each row. This is minibatch
/// SGD with a small batch, so the bits depend on the block size but not on the thread count. Every random draw comes
/// from a counter-based stream keyed by (seed, epoch, corpus position), so no draw depends on scheduling either.
/// </para>
/// <para>
/// Noise words are drawn exactly from unigram^0.75 with Walker's alias method instead of word2vec.c's table of 10⁸
/// entries, which rounds each probability to a multiple of 10⁻⁸. A noise word equal to the centre is skipped, as in
/// word2vec.c. The sigmoid is computed exactly rather than from a table.
/// </para>
/// </remarks>
public static class SkipGram
{
    /// <summary>Trains word vectors on <paramref name="corpus"/>; the same seed and options give the same bits on any thread count.</summary>
    public static SkipGramResult Train(TokenizedCorpus corpus, SkipGramOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (corpus.Vocabulary.Count < 2)
            throw new ArgumentException($"SkipGram: the corpus has {corpus.Vocabulary.Count} distinct words after min-count; at least 2 are needed");
        var model = new SkipGramModel(corpus.Vocabulary.Count, options.Dim, options.Negatives, options.BlockSize * 2 * options.Window);
        model.Initialize(seed);
        var noise = new AliasSampler(corpus.Vocabulary.Counts, 0.75);
        var keep = KeepProbabilities(corpus.Vocabulary, options.Subsample);
        var tokens = corpus.Tokens;
        var starts = corpus.SentenceStarts;
        int n = tokens.Length;
        var kept = new int[n];
        var keptPosition = new int[n];
        var keptStarts = new int[corpus.Sentences + 1];
        var centres = new CentreBlock(options.BlockSize);
        long total = (long)options.Epochs * n, trained = 0;
        var watch = Stopwatch.StartNew();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            // Subsampling, one keyed draw per corpus position; the kept tokens close up, so the window spans the gaps.
            int m = 0;
            for (int s = 0; s < corpus.Sentences; s++)
            {
                keptStarts[s] = m;
                for (int p = starts[s]; p < starts[s + 1]; p++)
                {
                    if (keep[tokens[p]] < 1 && Uniform(Key(seed, epoch, p, Salt.Subsample)) >= keep[tokens[p]]) continue;
                    kept[m] = tokens[p];
                    keptPosition[m++] = p;
                }
            }
            keptStarts[corpus.Sentences] = m;
            trained += m;
            int sentence = 0;
            for (int first = 0; first < m; first += options.BlockSize)
            {
                int last = Math.Min(m, first + options.BlockSize);
                double progress = ((double)epoch * n + keptPosition[first]) / (total + 1);
                float alpha = (float)(options.LearningRate * Math.Max(1e-4, 1 - progress));
                int pairs = 0;
                centres.Count = last - first;
                for (int k = first; k < last; k++)
                {
                    while (keptStarts[sentence + 1] <= k) sentence++;
                    ulong key = Key(seed, epoch, keptPosition[k], Salt.Window);
                    int reduce = (int)(Mix(key) % (ulong)options.Window);
                    int window = options.Window - reduce;
                    int lo = Math.Max(keptStarts[sentence], k - window), hi = Math.Min(keptStarts[sentence + 1] - 1, k + window);
                    int c = k - first;
                    centres.Word[c] = kept[k];
                    centres.Key[c] = Key(seed, epoch, keptPosition[k], Salt.Negatives);
                    centres.FirstPair[c] = pairs;
                    for (int j = lo; j <= hi; j++)
                        if (j != k) model.Input[pairs++] = kept[j];
                }
                centres.FirstPair[centres.Count] = pairs;
                model.Step(centres, noise, pairs, alpha);
            }
        }
        watch.Stop();
        return new SkipGramResult(new WordVectors(corpus.Vocabulary, model.Syn0, options.Dim), trained, total, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Per word, the probability that a token is kept: word2vec.c's (√(f/t) + 1)·t/f, capped at 1; 1 when t = 0.</summary>
    internal static double[] KeepProbabilities(Vocabulary vocabulary, double t)
    {
        var keep = new double[vocabulary.Count];
        double total = vocabulary.TotalCount;
        for (int w = 0; w < keep.Length; w++)
        {
            double f = vocabulary.Counts[w] / total;
            keep[w] = t <= 0 || f <= 0 ? 1 : Math.Min(1, (Math.Sqrt(f / t) + 1) * t / f);
        }
        return keep;
    }

    internal enum Salt : ulong { Subsample = 1, Window = 2, Negatives = 3 }

    /// <summary>The key of one draw stream: a hash of (seed, epoch, position, purpose).</summary>
    internal static ulong Key(ulong seed, int epoch, int position, Salt salt) =>
        Mix(Mix(Mix(seed ^ 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)epoch << 32 | (uint)position)) ^ (ulong)salt);

    /// <summary>SplitMix64's finalizer: a bijective mix of 64 bits.</summary>
    internal static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1) from the top 53 bits of <paramref name="key"/> after mixing.</summary>
    internal static double Uniform(ulong key) => (Mix(key) >> 11) * (1.0 / (1UL << 53));
}

/// <summary>The centre words of one block: word, draw key and the range of its pairs.</summary>
internal sealed class CentreBlock(int capacity)
{
    public int Count;
    public readonly int[] Word = new int[capacity];
    public readonly ulong[] Key = new ulong[capacity];
    public readonly int[] FirstPair = new int[capacity + 1];
}

/// <summary>
/// Walker's alias method over weights count^power: a draw is one uniform column and one uniform threshold, exact up
/// to the double rounding of the probabilities (Vose's construction, deterministic for given counts).
/// </summary>
internal sealed class AliasSampler
{
    private readonly double[] _threshold;
    private readonly int[] _alias;

    public AliasSampler(ReadOnlySpan<long> counts, double power)
    {
        int n = counts.Length;
        _threshold = new double[n];
        _alias = new int[n];
        var p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] = Math.Pow(counts[i], power);
        var small = new Stack<int>();
        var large = new Stack<int>();
        for (int i = n - 1; i >= 0; i--)
        {
            p[i] = p[i] * n / sum;
            (p[i] < 1 ? small : large).Push(i);
        }
        while (small.Count > 0 && large.Count > 0)
        {
            int s = small.Pop(), l = large.Pop();
            _threshold[s] = p[s];
            _alias[s] = l;
            p[l] = p[l] + p[s] - 1;
            (p[l] < 1 ? small : large).Push(l);
        }
        while (large.Count > 0) { int l = large.Pop(); _threshold[l] = 1; _alias[l] = l; }
        while (small.Count > 0) { int s = small.Pop(); _threshold[s] = 1; _alias[s] = s; }   // rounding leftovers
    }

    public int Count => _threshold.Length;

    /// <summary>A draw from the 64 random bits <paramref name="bits"/>: the column from the high bits, the coin from the low 32.</summary>
    public int Sample(ulong bits)
    {
        int column = (int)(((bits >> 32) * (ulong)_threshold.Length) >> 32);
        double coin = (uint)bits * (1.0 / 4294967296.0);
        return coin < _threshold[column] ? column : _alias[column];
    }
}

/// <summary>
/// The two tables of skip-gram (input vectors syn0, output vectors syn1neg) and one block's buffers. A block step
/// computes every pair's gradient from the current tables, then applies the updates: minibatch SGD on the block's
/// summed loss −log σ(u·v_centre) − Σ log σ(−u·v_noise).
/// </summary>
internal sealed class SkipGramModel
{
    public readonly float[] Syn0, Syn1;
    public readonly int Words, Dim, Negatives;
    public readonly int[] Input;        // per pair: the context word whose input vector moves
    public readonly int[] Target;       // per pair × (1 + negatives): the centre, then the noise words (−1: skipped)
    public readonly float[] Coef;       // per pair × (1 + negatives): α·(label − σ(u·v))
    public readonly float[] Error;      // per pair × dim: Σ coef·v, the input vector's update
    private CentreBlock? _centres;
    private AliasSampler? _noise;
    private int _pairs;
    private float _alpha;
    private readonly Action<int, int> _gradients, _outputUpdates, _inputUpdates;
    private int _parts;

    public SkipGramModel(int words, int dim, int negatives, int maxPairs)
    {
        Words = words;
        Dim = dim;
        Negatives = negatives;
        Syn0 = new float[(long)words * dim];
        Syn1 = new float[(long)words * dim];
        Input = new int[maxPairs];
        Target = new int[maxPairs * (negatives + 1)];
        Coef = new float[maxPairs * (negatives + 1)];
        Error = new float[maxPairs * dim];
        _gradients = Gradients;
        _outputUpdates = OutputUpdates;
        _inputUpdates = InputUpdates;
    }

    /// <summary>word2vec.c's initialisation: syn0 uniform in [−0.5/dim, 0.5/dim), syn1neg zero.</summary>
    public void Initialize(ulong seed)
    {
        var g = new Generator(seed, 1);
        for (int i = 0; i < Syn0.Length; i++) Syn0[i] = (float)((g.NextDouble() - 0.5) / Dim);
    }

    /// <summary>One block: the noise words are drawn per centre from its key (in parallel), then the updates applied.</summary>
    public void Step(CentreBlock centres, AliasSampler noise, int pairs, float alpha)
    {
        _centres = centres;
        _noise = noise;
        _pairs = pairs;
        _alpha = alpha;
        if (Splits(pairs)) Parallelism.For(centres.Count, (long)(pairs / Math.Max(1, centres.Count) + 1) * (Negatives + 1) * Dim, _gradients);
        else Gradients(0, centres.Count);
        Apply(pairs);
        _centres = null;
        _noise = null;
    }

    /// <summary>One block over given pairs and targets (already in <see cref="Input"/> and <see cref="Target"/>): the tests' entry point.</summary>
    internal void StepOnPairs(int pairs, float alpha)
    {
        _pairs = pairs;
        _alpha = alpha;
        _centres = null;
        Gradients(0, 0);
        for (int p = 0; p < pairs; p++) PairGradient(p);
        Apply(pairs);
    }

    private void Apply(int pairs)
    {
        // Output vectors first: their updates read the input vectors as they were at the block's start.
        if (!Splits(pairs))
        {
            // One part: each row's updates come in the same pair order as with any number of parts, so the bits do not change.
            _parts = 1;
            OutputUpdates(0, 1);
            InputUpdates(0, 1);
            return;
        }
        _parts = Parallelism.Threads;
        long cost = (long)pairs * (Negatives + 1) * Dim / _parts + 1;
        Parallelism.For(_parts, cost, _outputUpdates);
        Parallelism.For(_parts, (long)pairs * Dim / _parts + 1, _inputUpdates);
    }

    /// <summary>
    /// Multiply-adds of a block's gradient phase, (negatives + 1)·dim per pair, below which the block runs on the
    /// calling thread. A block's three phases each hand work to the other core and back, and the rows each core
    /// reads were mostly last written by the other, so for word2vec-sized blocks (64 centres, a few hundred pairs:
    /// about 300k multiply-adds, tens of µs) two threads took 11.2 s against 6.6 s on one over the KJV. Larger blocks
    /// (more centres, wider vectors) still split.
    /// </summary>
    internal static long SplitMinWork = 1L << 22;

    private bool Splits(int pairs) => Parallelism.Threads > 1 && (long)pairs * (Negatives + 1) * Dim >= SplitMinWork;

    private void Gradients(int start, int end)
    {
        var centres = _centres;
        if (centres is null) return;
        int stride = Negatives + 1;
        for (int c = start; c < end; c++)
        {
            int word = centres.Word[c];
            ulong state = centres.Key[c];
            for (int p = centres.FirstPair[c]; p < centres.FirstPair[c + 1]; p++)
            {
                int t = p * stride;
                Target[t] = word;
                for (int k = 1; k <= Negatives; k++)
                {
                    state += 0x9E3779B97F4A7C15UL;
                    int noise = _noise!.Sample(SkipGram.Mix(state));
                    Target[t + k] = noise == word ? -1 : noise;
                }
                PairGradient(p);
            }
        }
    }

    private void PairGradient(int p)
    {
        int d = Dim, stride = Negatives + 1;
        var u = new ReadOnlySpan<float>(Syn0, Input[p] * d, d);
        var e = new Span<float>(Error, p * d, d);
        e.Clear();
        for (int k = 0; k < stride; k++)
        {
            int target = Target[p * stride + k];
            if (target < 0) { Coef[p * stride + k] = 0; continue; }
            var v = new ReadOnlySpan<float>(Syn1, target * d, d);
            float f = TensorPrimitives.Dot(u, v);
            float label = k == 0 ? 1f : 0f;
            float g = (label - 1f / (1f + MathF.Exp(-f))) * _alpha;
            Coef[p * stride + k] = g;
            TensorPrimitives.MultiplyAdd(v, g, e, e);
        }
    }

    private void OutputUpdates(int startPart, int endPart)
    {
        int d = Dim, stride = Negatives + 1, parts = _parts;
        for (int part = startPart; part < endPart; part++)
            for (int p = 0; p < _pairs; p++)
            {
                var u = new ReadOnlySpan<float>(Syn0, Input[p] * d, d);
                for (int k = 0; k < stride; k++)
                {
                    int target = Target[p * stride + k];
                    if (target < 0 || target % parts != part) continue;
                    var v = new Span<float>(Syn1, target * d, d);
                    TensorPrimitives.MultiplyAdd(u, Coef[p * stride + k], v, v);
                }
            }
    }

    private void InputUpdates(int startPart, int endPart)
    {
        int d = Dim, parts = _parts;
        for (int part = startPart; part < endPart; part++)
            for (int p = 0; p < _pairs; p++)
            {
                int input = Input[p];
                if (input % parts != part) continue;
                var w = new Span<float>(Syn0, input * d, d);
                TensorPrimitives.Add(w, new ReadOnlySpan<float>(Error, p * d, d), w);
            }
    }
}
