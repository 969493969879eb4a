using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Aperture.Data;

/// <summary>
/// Iterates a <see cref="Dataset"/> in batches, like PyTorch's DataLoader: each pass (epoch) visits every example
/// once, in a fresh order drawn from <see cref="Generator"/> when shuffling. With <c>prefetch</c> &gt; 0 a background
/// thread prepares the next batches while the current one trains; the order and contents never change with it.
/// </summary>
/// <remarks>
/// Each enumeration is one epoch: it draws the epoch's permutation, takes the epoch number from <see cref="Epoch"/>
/// and advances it, and asks the dataset for its batches with that number (so augmentation depends on the epoch, not
/// on how many batches were read ahead). The background thread runs under the caller's <see cref="NumericsPolicy"/>
/// and grad mode, and an exception it meets is rethrown to the caller, unchanged, at the batch where it happened.
/// </remarks>
public sealed class DataLoader : IEnumerable<(Tensor Inputs, Tensor Targets)>
{
    /// <summary>Creates a loader.</summary>
    /// <param name="dataset">The examples.</param>
    /// <param name="batchSize">Examples per batch (the last batch may be smaller unless <paramref name="dropLast"/>).</param>
    /// <param name="shuffle">Visit the examples in a random order each epoch (needs <paramref name="generator"/>).</param>
    /// <param name="generator">The source of the shuffles; each epoch draws one permutation from it.</param>
    /// <param name="dropLast">Skip a final batch smaller than <paramref name="batchSize"/>.</param>
    /// <param name="prefetch">Batches to prepare ahead on a background thread (0: none).</param>
    public DataLoader(Dataset dataset, int batchSize, bool shuffle = false, Generator? generator = null, bool dropLast = false, int prefetch = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "DataLoader: batchSize must be at least 1");
        if (prefetch < 0) throw new ArgumentOutOfRangeException(nameof(prefetch), prefetch, "DataLoader: prefetch must be non-negative");
        if (shuffle && generator is null)
            throw new ArgumentException("DataLoader: shuffle needs a seeded generator (pass generator: new Generator(seed))", nameof(generator));
        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Generator = generator;
        DropLast = dropLast;
        Prefetch = prefetch;
    }

    /// <summary>The examples.</summary>
    public Dataset Dataset { get; }

    /// <summary>Examples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch shuffles.</summary>
    public bool Shuffle { get; }

    /// <summary>The generator the shuffles are drawn from.</summary>
    public Generator? Generator { get; }

    /// <summary>Whether a final short batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>Batches prepared ahead in the background.</summary>
    public int Prefetch { get; }

    /// <summary>
    /// The number the next epoch will have (0 at first; each enumeration takes it and adds one). Set it, with the
    /// generator's <see cref="Aperture.Generator.Offset"/>, to resume a run exactly.
    /// </summary>
    public int Epoch
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Epoch), value, "DataLoader: Epoch must be non-negative");
    }

    /// <summary>The number of batches in one epoch.</summary>
    public int BatchesPerEpoch => DropLast ? Dataset.Count / BatchSize : (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The order of one epoch: a permutation drawn now (when shuffling) or 0..n-1.</summary>
    private int[] EpochOrder()
    {
        if (Shuffle) return Generator!.Permutation(Dataset.Count);
        var order = new int[Dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        return order;
    }

    /// <summary>One epoch of batches. Each call starts a new epoch (drawing a new order when shuffling).</summary>
    public IEnumerator<(Tensor Inputs, Tensor Targets)> GetEnumerator() => Enumerate(0);

    /// <summary>
    /// The rest of an epoch that was interrupted after <paramref name="firstBatch"/> batches: the epoch's order is drawn
    /// and its number taken exactly as by a full pass (so the generator and <see cref="Epoch"/> must be where they stood
    /// when the interrupted epoch began), and batches <paramref name="firstBatch"/>, …, last are produced; the skipped
    /// ones are never built. <c>ResumeEpoch(0)</c> is a whole epoch. Used to resume training mid-epoch bitwise.
    /// </summary>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> ResumeEpoch(int firstBatch)
    {
        if (firstBatch < 0 || firstBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(firstBatch), firstBatch, $"DataLoader.ResumeEpoch: an epoch has {BatchesPerEpoch} batches; the first batch to produce must be in [0, {BatchesPerEpoch}]");
        return Rest(firstBatch);
    }

    private IEnumerable<(Tensor Inputs, Tensor Targets)> Rest(int firstBatch)
    {
        using var enumerator = Enumerate(firstBatch);
        while (enumerator.MoveNext()) yield return enumerator.Current;
    }

    private IEnumerator<(Tensor Inputs, Tensor Targets)> Enumerate(int firstBatch)
    {
        var order = EpochOrder();
        int epoch = Epoch++;
        int batches = BatchesPerEpoch;
        if (Prefetch == 0)
        {
            for (int b = firstBatch; b < batches; b++) yield return Batch(order, b, epoch);
            yield break;
        }

        using var queue = new BlockingCollection<(Tensor, Tensor)>(Prefetch);
        using var cancel = new CancellationTokenSource();
        ExceptionDispatchInfo? failure = null;
        var policy = NumericsPolicy.Current;
        bool gradEnabled = GradMode.Enabled;
        var worker = new Thread(() =>
        {
            try
            {
                // Thread-local settings do not follow a new thread: run under the caller's, so a batch is the same
                // whichever thread made it.
                using var numerics = NumericsPolicy.Use(policy);
                GradMode.Set(gradEnabled);
                for (int b = firstBatch; b < batches; b++) queue.Add(Batch(order, b, epoch), cancel.Token);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
            finally { queue.CompleteAdding(); }
        }) { IsBackground = true, Name = "Aperture.DataLoader" };
        worker.Start();
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable()) yield return batch;
            failure?.Throw();
        }
        finally
        {
            cancel.Cancel();
            worker.Join();
        }
    }

    private (Tensor, Tensor) Batch(int[] order, int b, int epoch)
    {
        int start = b * BatchSize, n = Math.Min(BatchSize, order.Length - start);
        return Dataset.GetBatch(order.AsSpan(start, n), epoch);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
