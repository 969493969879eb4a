namespace Aperture.NN;

/// <summary>
/// Code run by a <see cref="Trainer"/> at fixed points of training (Keras-style). Override what you need; set
/// <see cref="Trainer.StopTraining"/> to end training after the current step.
/// </summary>
public abstract class Callback
{
    /// <summary>Before the first epoch of a <see cref="Trainer.Fit"/> call.</summary>
    public virtual void OnTrainBegin(Trainer trainer) { }

    /// <summary>Before each epoch (numbered from 1).</summary>
    public virtual void OnEpochBegin(Trainer trainer, int epoch) { }

    /// <summary>After each optimizer step.</summary>
    public virtual void OnStepEnd(Trainer trainer, StepInfo step) { }

    /// <summary>After each epoch, once its validation has run and its record is in the history.</summary>
    public virtual void OnEpochEnd(Trainer trainer, EpochRecord record) { }

    /// <summary>After the last epoch of a <see cref="Trainer.Fit"/> call (also when stopped early).</summary>
    public virtual void OnTrainEnd(Trainer trainer) { }
}

/// <summary>A callback made of delegates, for one-off probes: <c>new LambdaCallback { StepEnd = (t, s) => … }</c>.</summary>
public sealed class LambdaCallback : Callback
{
    /// <summary>Run at <see cref="Callback.OnTrainBegin"/>.</summary>
    public Action<Trainer>? TrainBegin { get; init; }

    /// <summary>Run at <see cref="Callback.OnEpochBegin"/>.</summary>
    public Action<Trainer, int>? EpochBegin { get; init; }

    /// <summary>Run at <see cref="Callback.OnStepEnd"/>.</summary>
    public Action<Trainer, StepInfo>? StepEnd { get; init; }

    /// <summary>Run at <see cref="Callback.OnEpochEnd"/>.</summary>
    public Action<Trainer, EpochRecord>? EpochEnd { get; init; }

    /// <summary>Run at <see cref="Callback.OnTrainEnd"/>.</summary>
    public Action<Trainer>? TrainEnd { get; init; }

    /// <inheritdoc/>
    public override void OnTrainBegin(Trainer trainer) => TrainBegin?.Invoke(trainer);

    /// <inheritdoc/>
    public override void OnEpochBegin(Trainer trainer, int epoch) => EpochBegin?.Invoke(trainer, epoch);

    /// <inheritdoc/>
    public override void OnStepEnd(Trainer trainer, StepInfo step) => StepEnd?.Invoke(trainer, step);

    /// <inheritdoc/>
    public override void OnEpochEnd(Trainer trainer, EpochRecord record) => EpochEnd?.Invoke(trainer, record);

    /// <inheritdoc/>
    public override void OnTrainEnd(Trainer trainer) => TrainEnd?.Invoke(trainer);
}

/// <summary>
/// Stops training when the validation loss has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> epochs, and (with <see cref="RestoreBest"/>) puts back the model state of the best epoch
/// when training ends. Without a validation set it monitors the training loss. Its state is kept in memory and
/// is not part of <see cref="Trainer.StateDict"/>.
/// </summary>
public sealed class EarlyStopping : Callback
{
    private Dictionary<string, Tensor>? _best;

    /// <summary>Creates the callback.</summary>
    public EarlyStopping(int patience = 5, double minDelta = 0, bool restoreBest = true)
    {
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "EarlyStopping: patience must be ≥ 0");
        if (!(minDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "EarlyStopping: minDelta must be ≥ 0");
        Patience = patience;
        MinDelta = minDelta;
        RestoreBest = restoreBest;
    }

    /// <summary>Epochs without improvement tolerated before stopping.</summary>
    public int Patience { get; }

    /// <summary>The decrease that counts as an improvement.</summary>
    public double MinDelta { get; }

    /// <summary>Whether the best epoch's model state is restored at the end.</summary>
    public bool RestoreBest { get; }

    /// <summary>The best monitored loss so far.</summary>
    public double BestLoss { get; private set; } = double.PositiveInfinity;

    /// <summary>The epoch with the best loss (0 before any).</summary>
    public int BestEpoch { get; private set; }

    /// <summary>The epoch after which training was stopped (0 if it was not).</summary>
    public int StoppedEpoch { get; private set; }

    /// <summary>Epochs since the last improvement.</summary>
    public int Wait { get; private set; }

    /// <inheritdoc/>
    public override void OnTrainBegin(Trainer trainer)
    {
        BestLoss = double.PositiveInfinity;
        BestEpoch = 0;
        StoppedEpoch = 0;
        Wait = 0;
        _best = null;
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(Trainer trainer, EpochRecord record)
    {
        double loss = record.ValidationLoss ?? record.TrainLoss;
        if (loss < BestLoss - MinDelta)
        {
            BestLoss = loss;
            BestEpoch = record.Epoch;
            Wait = 0;
            if (RestoreBest) _best = trainer.Model.StateDict();
            return;
        }
        Wait++;
        if (Wait >= Patience)
        {
            StoppedEpoch = record.Epoch;
            trainer.StopTraining = true;
        }
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(Trainer trainer)
    {
        if (RestoreBest && _best is not null) trainer.Model.LoadStateDict(_best);
    }
}

/// <summary>Stops training as soon as a step's loss is NaN or infinite (the step has already been taken).</summary>
public sealed class TerminateOnNaN : Callback
{
    /// <summary>The global step at which a non-finite loss was seen (0 if none).</summary>
    public long StoppedAtStep { get; private set; }

    /// <inheritdoc/>
    public override void OnStepEnd(Trainer trainer, StepInfo step)
    {
        if (double.IsFinite(step.Loss)) return;
        StoppedAtStep = step.GlobalStep;
        trainer.StopTraining = true;
    }
}

/// <summary>
/// Saves the whole training state to one file (<see cref="Trainer.Save"/>) at the end of every epoch and, when
/// <see cref="EverySteps"/> &gt; 0, every that many optimizer steps inside an epoch, so that a run killed at any moment
/// resumes with <see cref="Trainer.Load"/> from its last save and ends with the same bits as an uninterrupted run.
/// Each save is atomic: a kill during a save leaves the previous file intact.
/// </summary>
/// <param name="path">The checkpoint file, replaced at each save.</param>
/// <param name="train">The loader the trainer trains on (its shuffling state is saved with the rest).</param>
/// <param name="everySteps">Steps between saves inside an epoch (0: only at epoch ends).</param>
/// <param name="metadata">Strings stored with every save (a run's configuration), returned by <see cref="Trainer.Load"/>.</param>
public sealed class SaveCheckpoint(string path, Data.DataLoader train, int everySteps = 0, IReadOnlyDictionary<string, string>? metadata = null) : Callback
{
    /// <summary>The checkpoint file.</summary>
    public string Path { get; } = !string.IsNullOrEmpty(path) ? path : throw new ArgumentException("SaveCheckpoint: the path is empty", nameof(path));

    /// <summary>The training loader.</summary>
    public Data.DataLoader Train { get; } = train ?? throw new ArgumentNullException(nameof(train));

    /// <summary>Steps between saves inside an epoch (0: only at epoch ends).</summary>
    public int EverySteps { get; } = everySteps >= 0 ? everySteps : throw new ArgumentOutOfRangeException(nameof(everySteps), everySteps, "SaveCheckpoint: everySteps must be ≥ 0");

    /// <summary>How many saves this callback has made.</summary>
    public int Saves { get; private set; }

    /// <inheritdoc/>
    public override void OnStepEnd(Trainer trainer, StepInfo step)
    {
        // The last step of an epoch is saved by OnEpochEnd, with the epoch's record.
        if (EverySteps > 0 && step.GlobalStep % EverySteps == 0 && step.Batch < step.BatchesPerEpoch - 1) SaveNow(trainer);
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(Trainer trainer, EpochRecord record) => SaveNow(trainer);

    private void SaveNow(Trainer trainer)
    {
        trainer.Save(Path, Train, metadata);
        Saves++;
    }
}
