using System.Diagnostics;
using System.Globalization;
using Aperture.Data;
using Aperture.Optim;

namespace Aperture.NN;

/// <summary>When a <see cref="Trainer"/> advances its learning-rate schedule.</summary>
public enum SchedulerInterval
{
    /// <summary>Once per epoch, after validation.</summary>
    Epoch,
    /// <summary>Once per optimizer step.</summary>
    Step,
}

/// <summary>
/// The training loop: for each batch, zero the gradients, run the model, compute the loss, backpropagate, clip,
/// step the optimizer (and the schedule); after each epoch, evaluate on the validation set and record an
/// <see cref="EpochRecord"/> in <see cref="History"/>. Callbacks run at each step and epoch, and
/// <see cref="Progress"/> reports for a progress display.
/// </summary>
/// <remarks>
/// The loss function takes (output, target) and returns the mean loss over the batch (e.g.
/// <c>(o, t) =&gt; Losses.CrossEntropy(o, t)</c>); epoch losses weight each batch by its size. Accuracy is reported
/// when the outputs are [N, C] scores and the targets int64 class indices [N], by <see cref="Metrics.CountCorrect(Tensor, Tensor)"/>
/// (arg-max, first maximum; a row holding a NaN counts as wrong). Training is deterministic: the
/// same model, optimizer, data and seeds give the same bits, and <see cref="StateDict"/>/<see cref="LoadStateDict"/>
/// resume a run exactly.
/// </remarks>
public sealed class Trainer
{
    /// <summary>Creates a trainer.</summary>
    public Trainer(Module model, GradientOptimizer optimizer, Func<Tensor, Tensor, Tensor> loss)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Loss = loss ?? throw new ArgumentNullException(nameof(loss));
    }

    /// <summary>The model trained.</summary>
    public Module Model { get; }

    /// <summary>The optimizer.</summary>
    public GradientOptimizer Optimizer { get; }

    /// <summary>The loss: (output, target) → mean loss of the batch.</summary>
    public Func<Tensor, Tensor, Tensor> Loss { get; }

    /// <summary>A learning-rate schedule to advance (null: none).</summary>
    public LRScheduler? Scheduler { get; set; }

    /// <summary>When <see cref="Scheduler"/> advances.</summary>
    public SchedulerInterval SchedulerInterval { get; set; } = SchedulerInterval.Epoch;

    /// <summary>When set, gradients are clipped to this joint 2-norm before each step (<see cref="GradClip.ClipGradNorm"/>).</summary>
    public double? ClipGradNorm { get; set; }

    /// <summary>When set, each gradient element is clamped to ±this value before each step.</summary>
    public double? ClipGradValue { get; set; }

    /// <summary>The callbacks, run in order.</summary>
    public List<Callback> Callbacks { get; } = [];

    /// <summary>Called after every step and at the end of every epoch, for a progress display.</summary>
    public Action<TrainingProgress>? Progress { get; set; }

    /// <summary>Set (by a callback) to end training after the current step.</summary>
    public bool StopTraining { get; set; }

    /// <summary>The number of epochs completed (over every <see cref="Fit"/> call).</summary>
    public int Epoch { get; private set; }

    /// <summary>The number of optimizer steps taken.</summary>
    public long GlobalStep { get; private set; }

    /// <summary>Every epoch's record.</summary>
    public History History { get; } = new();

    /// <summary>
    /// Trains for <paramref name="epochs"/> more epochs (continuing the epoch count) on <paramref name="train"/>,
    /// evaluating on <paramref name="validation"/> after each. Stops early when <see cref="StopTraining"/> is set.
    /// Returns the history (of every epoch so far).
    /// </summary>
    public History Fit(DataLoader train, int epochs, DataLoader? validation = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (epochs < 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Fit: epochs must be ≥ 0");
        StopTraining = false;
        int lastEpoch = Epoch + epochs;
        foreach (var c in Callbacks) c.OnTrainBegin(this);
        for (int e = 0; e < epochs && !StopTraining; e++)
        {
            int epoch = Epoch + 1;
            foreach (var c in Callbacks) c.OnEpochBegin(this, epoch);
            var clock = Stopwatch.StartNew();
            Model.Train();
            double lossSum = 0, lr = Optimizer.ParamGroups[0].LearningRate;
            long seen = 0, correct = 0;
            bool classification = true;
            int batches = train.BatchesPerEpoch, b = 0;
            var stepper = new TrainStep(Model, Optimizer, Loss)
            {
                ClipGradNorm = ClipGradNorm,
                ClipGradValue = ClipGradValue,
                Scheduler = SchedulerInterval == SchedulerInterval.Step ? Scheduler : null,
            };
            foreach (var (x, y) in train)
            {
                // The step's temporaries (activations, graph, intermediate gradients) are recycled inside it, so a
                // step in steady state allocates nothing.
                var outcome = stepper.Run(x, y);
                double value = outcome.Loss;
                lr = outcome.LearningRate;
                long stepCorrect = 0;
                if (classification && outcome.Correct >= 0) stepCorrect = outcome.Correct;
                else classification = false;
                GlobalStep++;

                int n = x.Rank == 0 ? 1 : x.Shape[0];
                lossSum += value * n;
                seen += n;
                correct += stepCorrect;
                var step = new StepInfo(epoch, b, batches, GlobalStep, value, n);
                foreach (var c in Callbacks) c.OnStepEnd(this, step);
                b++;
                Progress?.Invoke(new TrainingProgress(epoch, lastEpoch, b, batches, lossSum / seen, null));
                if (StopTraining) break;
            }
            if (seen == 0) throw new InvalidOperationException("Trainer.Fit: the training loader produced no batches");
            var val = validation is null ? null : Evaluate(validation);
            if (Scheduler is not null && SchedulerInterval == SchedulerInterval.Epoch) Scheduler.Step();
            var record = new EpochRecord(epoch, lossSum / seen, classification ? (double)correct / seen : null, val?.Loss, val?.Accuracy, lr, GlobalStep,
                clock.Elapsed.TotalSeconds);
            History.Add(record);
            Epoch = epoch;
            foreach (var c in Callbacks) c.OnEpochEnd(this, record);
            Progress?.Invoke(new TrainingProgress(epoch, lastEpoch, b, batches, record.TrainLoss, record));
        }
        foreach (var c in Callbacks) c.OnTrainEnd(this);
        return History;
    }

    /// <summary>
    /// The mean loss (and, for classification, accuracy and per-class accuracy) of the model on <paramref name="data"/>,
    /// in evaluation mode and without recording a graph. The model's mode is restored afterwards.
    /// </summary>
    public EvaluationResult Evaluate(DataLoader data)
    {
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = Model.Training;
        Model.Eval();
        try
        {
            using var _ = Autodiff.NoGrad();
            double lossSum = 0;
            int seen = 0;
            long correct = 0;
            bool classification = true;
            long[]? perClassCorrect = null, perClassCount = null;
            foreach (var (x, y) in data)
            {
                var output = Model.Forward(x);
                var loss = Loss(output, y);
                int n = x.Rank == 0 ? 1 : x.Shape[0];
                lossSum += loss.Item() * n;
                seen += n;
                if (classification && Classification(output, y))
                {
                    int classes = output.Shape[1];
                    perClassCorrect ??= new long[classes];
                    perClassCount ??= new long[classes];
                    if (perClassCount.Length != classes) classification = false;
                    else correct += Metrics.CountCorrect(output, y, perClassCorrect, perClassCount);
                }
                else classification = false;
            }
            if (seen == 0) throw new InvalidOperationException("Trainer.Evaluate: the loader produced no batches");
            if (!classification || perClassCount is null) return new EvaluationResult(lossSum / seen, null, null, null, seen);
            var perClass = new double[perClassCount.Length];
            for (int c = 0; c < perClass.Length; c++) perClass[c] = perClassCount[c] == 0 ? double.NaN : (double)perClassCorrect![c] / perClassCount[c];
            return new EvaluationResult(lossSum / seen, (double)correct / seen, perClass, perClassCount.Select(v => (int)v).ToArray(), seen);
        }
        finally
        {
            Model.Train(wasTraining);
        }
    }

    private static bool Classification(Tensor output, Tensor target) => TrainStep.IsClassification(output, target);

    // ---- validation split ------------------------------------------------------------------------------

    /// <summary>
    /// Splits <paramref name="data"/> at random into a training part and a validation part holding a
    /// <paramref name="validationFraction"/> of the examples (see <see cref="Splits.Random"/>); both parts must be non-empty.
    /// </summary>
    public static (Dataset Train, Dataset Validation) SplitValidation(Dataset data, double validationFraction, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!(validationFraction > 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "SplitValidation: the fraction must be in (0, 1)");
        var (train, validation) = Splits.Random(data, validationFraction, generator);
        if (train.Count == 0 || validation.Count == 0)
            throw new ArgumentException($"SplitValidation: {validationFraction} of {data.Count} examples leaves {validation.Count} for validation and {train.Count} for training; each part needs at least one");
        return (train, validation);
    }

    // ---- save and restore --------------------------------------------------------------------------------

    /// <summary>
    /// Everything needed to resume training bitwise: the model (<c>model.*</c>, with its generators), the optimizer
    /// (<c>optimizer.*</c>), the schedule (<c>scheduler.*</c>), the counters and history (<c>trainer.*</c>,
    /// <c>history.*</c>) and, when <paramref name="train"/> is given, its shuffling generator (<c>data.generator</c>).
    /// Callbacks' own state is not included.
    /// </summary>
    public StateSnapshot StateDict(DataLoader? train = null)
    {
        var s = new StateSnapshot();
        foreach (var (k, v) in Model.StateDict()) s.Tensors["model." + k] = v;
        s.Add("optimizer.", Optimizer.StateDict());
        if (Scheduler is not null)
            foreach (var (k, v) in Scheduler.StateDict()) s.Scalars["scheduler." + k] = v;
        s.Scalars["trainer.epoch"] = Epoch;
        s.Scalars["trainer.global_step"] = GlobalStep;
        s.Scalars["history.count"] = History.Count;
        for (int i = 0; i < History.Count; i++)
        {
            var r = History[i];
            string p = string.Create(CultureInfo.InvariantCulture, $"history.{i}.");
            s.Scalars[p + "epoch"] = r.Epoch;
            s.Scalars[p + "train_loss"] = r.TrainLoss;
            s.Scalars[p + "train_accuracy"] = r.TrainAccuracy ?? double.NaN;
            s.Scalars[p + "validation_loss"] = r.ValidationLoss ?? double.NaN;
            s.Scalars[p + "validation_accuracy"] = r.ValidationAccuracy ?? double.NaN;
            s.Scalars[p + "learning_rate"] = r.LearningRate;
            s.Scalars[p + "steps"] = r.Steps;
            s.Scalars[p + "seconds"] = r.Seconds;
        }
        if (train?.Generator is { } g) s.Tensors["data.generator"] = GeneratorState.Save(g);
        return s;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> into this trainer's model, optimizer and schedule (built the same
    /// way), and into <paramref name="train"/>'s generator when given.
    /// </summary>
    public void LoadStateDict(StateSnapshot state, DataLoader? train = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var model = state.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[6..], kv => kv.Value);
        if (train?.Generator is { } loaderGenerator)
        {
            if (!state.Tensors.TryGetValue("data.generator", out var saved))
                throw new ArgumentException("Trainer.LoadStateDict: a loader was given but the state holds no 'data.generator'", nameof(state));
            var probe = GeneratorState.Load(saved);
            if (probe.Seed != loaderGenerator.Seed || probe.Stream != loaderGenerator.Stream)
                throw new ArgumentException("Trainer.LoadStateDict: the loader's generator has a different seed or stream than the saved one; build the loader with the same generator", nameof(train));
        }
        if (Scheduler is not null && !state.Scalars.ContainsKey("scheduler.t"))
            throw new ArgumentException("Trainer.LoadStateDict: the trainer has a schedule but the state holds none", nameof(state));
        Model.LoadStateDict(model);
        Optimizer.LoadStateDict(state.Sub("optimizer."));
        Scheduler?.LoadStateDict(state.Sub("scheduler.").Scalars);
        Epoch = (int)state.Scalar("trainer.epoch");
        GlobalStep = (long)state.Scalar("trainer.global_step");
        History.Clear();
        int count = (int)state.Scalar("history.count");
        for (int i = 0; i < count; i++)
        {
            string p = string.Create(CultureInfo.InvariantCulture, $"history.{i}.");
            static double? Opt(double v) => double.IsNaN(v) ? null : v;
            History.Add(new EpochRecord((int)state.Scalar(p + "epoch"), state.Scalar(p + "train_loss"), Opt(state.Scalar(p + "train_accuracy")),
                Opt(state.Scalar(p + "validation_loss")), Opt(state.Scalar(p + "validation_accuracy")), state.Scalar(p + "learning_rate"),
                (long)state.Scalar(p + "steps"), state.Scalar(p + "seconds")));
        }
        if (train?.Generator is { } g) GeneratorState.Restore(g, state.Tensor("data.generator"));
    }
}
