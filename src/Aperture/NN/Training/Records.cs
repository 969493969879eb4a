using System.Collections;

namespace Aperture.NN;

/// <summary>What one epoch of <see cref="Trainer.Fit"/> measured.</summary>
/// <param name="Epoch">The epoch's number, from 1.</param>
/// <param name="TrainLoss">The mean training loss over the epoch's examples (each batch weighted by its size), measured in training mode as the batches went by.</param>
/// <param name="TrainAccuracy">The fraction of training examples classified correctly (classification only).</param>
/// <param name="ValidationLoss">The validation loss after the epoch, in evaluation mode (when a validation set is given).</param>
/// <param name="ValidationAccuracy">The validation accuracy after the epoch.</param>
/// <param name="LearningRate">The first group's learning rate during the epoch's last step.</param>
/// <param name="Steps">The total number of optimizer steps taken by the end of the epoch.</param>
/// <param name="Seconds">The epoch's wall-clock time (the one entry that differs between identical runs).</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy,
    double LearningRate, long Steps, double Seconds);

/// <summary>The epochs a <see cref="Trainer"/> has run, in order: plain records a lab can store.</summary>
public sealed class History : IReadOnlyList<EpochRecord>
{
    private readonly List<EpochRecord> _epochs = [];

    /// <summary>The record of the i-th epoch run (0-based).</summary>
    public EpochRecord this[int index] => _epochs[index];

    /// <summary>The number of epochs recorded.</summary>
    public int Count => _epochs.Count;

    /// <summary>The last epoch's record, or null.</summary>
    public EpochRecord? Last => _epochs.Count > 0 ? _epochs[^1] : null;

    /// <summary>The training loss of each epoch.</summary>
    public double[] TrainLoss => _epochs.Select(e => e.TrainLoss).ToArray();

    /// <summary>The validation loss of each epoch (NaN where there was none).</summary>
    public double[] ValidationLoss => _epochs.Select(e => e.ValidationLoss ?? double.NaN).ToArray();

    internal void Add(EpochRecord record) => _epochs.Add(record);

    internal void Clear() => _epochs.Clear();

    /// <inheritdoc/>
    public IEnumerator<EpochRecord> GetEnumerator() => _epochs.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>What <see cref="Trainer.Evaluate"/> measured on a data set, in evaluation mode.</summary>
/// <param name="Loss">The mean loss over the examples.</param>
/// <param name="Accuracy">The fraction classified correctly (classification only: outputs [N, C] and int64 targets [N]).</param>
/// <param name="PerClassAccuracy">For each class, the fraction of its examples classified correctly (NaN for a class with none).</param>
/// <param name="PerClassCount">For each class, how many examples it has.</param>
/// <param name="Count">The number of examples.</param>
public sealed record EvaluationResult(double Loss, double? Accuracy, double[]? PerClassAccuracy, int[]? PerClassCount, int Count);

/// <summary>One optimizer step of <see cref="Trainer.Fit"/>.</summary>
/// <param name="Epoch">The epoch's number, from 1.</param>
/// <param name="Batch">The batch's index in the epoch, from 0.</param>
/// <param name="BatchesPerEpoch">Batches in the epoch.</param>
/// <param name="GlobalStep">Steps taken so far, this one included.</param>
/// <param name="Loss">The batch's loss.</param>
/// <param name="BatchSize">Examples in the batch.</param>
public readonly record struct StepInfo(int Epoch, int Batch, int BatchesPerEpoch, long GlobalStep, double Loss, int BatchSize);

/// <summary>Where training stands, for a progress display (the CLI turns it into a progress bar).</summary>
/// <param name="Epoch">The current epoch's number, from 1.</param>
/// <param name="LastEpoch">The number the last epoch of this <see cref="Trainer.Fit"/> call will have.</param>
/// <param name="Batch">Batches done in the current epoch.</param>
/// <param name="BatchesPerEpoch">Batches in an epoch.</param>
/// <param name="Loss">The running mean training loss of the current epoch.</param>
/// <param name="Completed">The epoch's record when this report ends an epoch; otherwise null.</param>
public readonly record struct TrainingProgress(int Epoch, int LastEpoch, int Batch, int BatchesPerEpoch, double Loss, EpochRecord? Completed);
