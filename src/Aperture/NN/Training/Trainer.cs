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
    /// Returns the history (of every epoch so far). After <see cref="LoadStateDict"/> of a state taken mid-epoch, the
    /// first of these epochs is the interrupted one, continued from its next batch (so <c>Fit(train, total − Epoch)</c>
    /// finishes a run of <c>total</c> epochs either way).
    /// </summary>
    public History Fit(DataLoader train, int epochs, DataLoader? validation = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (epochs < 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Fit: epochs must be ≥ 0");
        var resume = _resume;
        if (resume is not null && epochs > 0) CheckResume(resume, train);
        StopTraining = false;
        _running = null;
        int lastEpoch = Epoch + epochs;
        foreach (var c in Callbacks) c.OnTrainBegin(this);
        for (int e = 0; e < epochs && !StopTraining; e++)
        {
            int epoch = Epoch + 1;
            foreach (var c in Callbacks) c.OnEpochBegin(this, epoch);
            Model.Train();
            // Where the loader stands before it draws this epoch's order: what a state taken mid-epoch must record.
            var progress = new EpochProgress
            {
                Loader = train,
                LoaderEpoch = train.Epoch,
                LoaderGenerator = train.Generator is { } lg ? (lg.Seed, lg.Stream, lg.Offset) : null,
                BatchesPerEpoch = train.BatchesPerEpoch,
                LearningRate = Optimizer.ParamGroups[0].LearningRate,
                Classification = true,
            };
            if (resume is not null)
            {
                progress.Batch = resume.Batch;
                progress.LossSum = resume.LossSum;
                progress.Seen = resume.Seen;
                progress.Correct = resume.Correct;
                progress.Classification = resume.Classification;
                progress.LearningRate = resume.LearningRate;
                progress.EarlierSeconds = resume.EarlierSeconds;
            }
            progress.Clock.Start();
            _running = progress;
            int batches = train.BatchesPerEpoch, b = progress.Batch;
            var stepper = new TrainStep(Model, Optimizer, Loss)
            {
                ClipGradNorm = ClipGradNorm,
                ClipGradValue = ClipGradValue,
                Scheduler = SchedulerInterval == SchedulerInterval.Step ? Scheduler : null,
            };
            var batchSource = resume is null ? train : train.ResumeEpoch(resume.Batch);
            resume = _resume = null;
            foreach (var (x, y) in batchSource)
            {
                // The step's temporaries (activations, graph, intermediate gradients) are recycled inside it, so a
                // step in steady state allocates nothing.
                var outcome = stepper.Run(x, y);
                double value = outcome.Loss;
                long stepCorrect = 0;
                if (progress.Classification && outcome.Correct >= 0) stepCorrect = outcome.Correct;
                else progress.Classification = false;
                GlobalStep++;

                int n = x.Rank == 0 ? 1 : x.Shape[0];
                progress.LearningRate = outcome.LearningRate;
                progress.LossSum += value * n;
                progress.Seen += n;
                progress.Correct += stepCorrect;
                progress.Batch = ++b;
                var step = new StepInfo(epoch, b - 1, batches, GlobalStep, value, n);
                foreach (var c in Callbacks) c.OnStepEnd(this, step);
                Progress?.Invoke(new TrainingProgress(epoch, lastEpoch, b, batches, progress.LossSum / progress.Seen, null));
                if (StopTraining) break;
            }
            if (progress.Seen == 0) throw new InvalidOperationException("Trainer.Fit: the training loader produced no batches");
            var val = validation is null ? null : Evaluate(validation);
            if (Scheduler is not null && SchedulerInterval == SchedulerInterval.Epoch) Scheduler.Step();
            var record = new EpochRecord(epoch, progress.LossSum / progress.Seen, progress.Classification ? (double)progress.Correct / progress.Seen : null,
                val?.Loss, val?.Accuracy, progress.LearningRate, GlobalStep, progress.Seconds);
            History.Add(record);
            Epoch = epoch;
            _running = null;
            foreach (var c in Callbacks) c.OnEpochEnd(this, record);
            Progress?.Invoke(new TrainingProgress(epoch, lastEpoch, b, batches, record.TrainLoss, record));
        }
        foreach (var c in Callbacks) c.OnTrainEnd(this);
        return History;
    }

    /// <summary>The epoch in progress: its running sums and where its loader stood when it began.</summary>
    private sealed class EpochProgress
    {
        public DataLoader? Loader;
        public int LoaderEpoch;
        public (ulong Seed, ulong Stream, ulong Offset)? LoaderGenerator;
        public int BatchesPerEpoch;
        public int Batch;
        public double LossSum;
        public long Seen;
        public long Correct;
        public bool Classification;
        public double LearningRate;
        public double EarlierSeconds;
        public readonly Stopwatch Clock = new();

        public double Seconds => EarlierSeconds + Clock.Elapsed.TotalSeconds;
    }

    // The epoch Fit is inside (null between epochs), and an epoch restored mid-way that the next Fit continues.
    private EpochProgress? _running;
    private EpochProgress? _resume;

    private void CheckResume(EpochProgress resume, DataLoader train)
    {
        string where = string.Create(CultureInfo.InvariantCulture, $"the trainer was restored in the middle of epoch {Epoch + 1} (after {resume.Batch} of {resume.BatchesPerEpoch} batches)");
        if (train.BatchesPerEpoch != resume.BatchesPerEpoch)
            throw new InvalidOperationException($"Trainer.Fit: {where}, but this loader has {train.BatchesPerEpoch} batches per epoch; resume with the same data and batch size");
        var g = train.Generator;
        bool sameGenerator = resume.LoaderGenerator is { } saved
            ? g is not null && g.Seed == saved.Seed && g.Stream == saved.Stream && g.Offset == saved.Offset
            : g is null || !train.Shuffle;
        if (train.Epoch != resume.LoaderEpoch || !sameGenerator)
            throw new InvalidOperationException($"Trainer.Fit: {where}, but the loader is not where that epoch began; pass the training loader to LoadStateDict (or Load) so that its shuffling resumes too");
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

    /// <summary>The metadata key <see cref="Save"/> marks a trainer checkpoint with, and its value.</summary>
    public const string CheckpointKindKey = "aperture.checkpoint", CheckpointKind = "trainer-state-1";

    /// <summary>
    /// Everything needed to resume training bitwise: the model (<c>model.*</c>, with its generators), the optimizer
    /// (<c>optimizer.*</c>: buffers, step counts, every group's hyper-parameters), the schedule (<c>scheduler.*</c>),
    /// the counters and history (<c>trainer.*</c>, <c>history.*</c>) and, when <paramref name="train"/> is given, its
    /// shuffling generator (<c>data.generator</c>) and epoch number (<c>data.epoch</c>). Taken between epochs it
    /// describes a finished epoch; taken inside <see cref="Fit"/> (from a callback's <see cref="Callback.OnStepEnd"/>)
    /// it also records the epoch in progress — the batches done and the running sums — with the loader as it stood when
    /// that epoch began, so that <see cref="LoadStateDict"/> and the next <see cref="Fit"/> continue after the last
    /// finished step. Callbacks' own state is not included.
    /// </summary>
    /// <param name="train">The loader being trained on (the one given to <see cref="Fit"/>), or null to leave out the data's state.</param>
    public StateSnapshot StateDict(DataLoader? train = null)
    {
        var running = _running;
        if (running is not null && train is not null && !ReferenceEquals(train, running.Loader))
            throw new ArgumentException("Trainer.StateDict: inside Fit, pass the loader Fit is training on (or none)", nameof(train));
        // A mid-epoch state that was loaded but not yet continued by Fit is still this trainer's state: saving it again
        // (a resumed run saves before its first step) must keep its place in the epoch and the loader's epoch start.
        running ??= _resume;
        var s = new StateSnapshot();
        foreach (var (k, v) in Model.StateDict()) s.Tensors["model." + k] = v;
        s.Add("optimizer.", Optimizer.StateDict());
        if (Scheduler is not null)
            foreach (var (k, v) in Scheduler.StateDict()) s.Scalars["scheduler." + k] = v;
        s.Scalars["trainer.epoch"] = Epoch;
        s.Scalars["trainer.global_step"] = GlobalStep;
        if (running is not null && running.Batch > 0)
        {
            s.Scalars["trainer.batch"] = running.Batch;
            s.Scalars["trainer.batches_per_epoch"] = running.BatchesPerEpoch;
            s.Scalars["trainer.loss_sum"] = running.LossSum;
            s.Scalars["trainer.seen"] = running.Seen;
            s.Scalars["trainer.correct"] = running.Correct;
            s.Scalars["trainer.classification"] = running.Classification ? 1 : 0;
            s.Scalars["trainer.learning_rate"] = running.LearningRate;
            s.Scalars["trainer.seconds"] = running.Seconds;
        }
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
        if (train is not null)
        {
            if (running is not null && running.Batch > 0)
            {
                s.Scalars["data.epoch"] = running.LoaderEpoch;
                if (running.LoaderGenerator is { } lg)
                    s.Tensors["data.generator"] = Tensor.FromArray([unchecked((long)lg.Seed), unchecked((long)lg.Stream), unchecked((long)lg.Offset)]);
            }
            else
            {
                s.Scalars["data.epoch"] = train.Epoch;
                if (train.Generator is { } g) s.Tensors["data.generator"] = GeneratorState.Save(g);
            }
        }
        return s;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> into this trainer's model, optimizer and schedule (built the same
    /// way), and into <paramref name="train"/>'s generator and epoch number when given. All or nothing: every part is
    /// checked (model keys, shapes and dtypes; optimizer buffers, step counts and hyper-parameters; the schedule; the
    /// counters and history; the loader's generator) before any is changed, so a failed load leaves the trainer, its
    /// model, optimizer and schedule, and the loader exactly as they were. A state taken mid-epoch makes the next
    /// <see cref="Fit"/> continue that epoch after its last finished step.
    /// </summary>
    /// <exception cref="ArgumentException">The state does not fit this trainer, or holds invalid values; the message names each entry.</exception>
    public void LoadStateDict(StateSnapshot state, DataLoader? train = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var errors = new List<string>();
        foreach (var key in state.Tensors.Keys.Concat(state.Scalars.Keys))
            if (!KnownPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)) && key != "data.generator" && key != "data.epoch")
                errors.Add($"unexpected entry '{key}' (a trainer state holds model.*, optimizer.*, scheduler.*, trainer.*, history.* and data.*)");

        Action? applyModel = null, applyOptimizer = null, applyScheduler = null;
        var model = state.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[6..], kv => kv.Value);
        try { applyModel = Model.PrepareLoad(model).Apply; }
        catch (ArgumentException e) { errors.Add($"model: {Plain(e)}"); }
        try { applyOptimizer = Optimizer.PrepareLoad(state.Sub("optimizer.")); }
        catch (ArgumentException e) { errors.Add($"optimizer (entries under 'optimizer.'): {Plain(e)}"); }
        var schedule = state.Sub("scheduler.");
        if (Scheduler is not null)
        {
            if (schedule.Scalars.Count == 0) errors.Add("the trainer has a schedule but the state holds none (no 'scheduler.t')");
            else
                try { applyScheduler = Scheduler.PrepareLoad(schedule.Scalars); }
                catch (ArgumentException e) { errors.Add($"schedule (entries under 'scheduler.'): {Plain(e)}"); }
        }
        else if (schedule.Scalars.Count > 0 || schedule.Tensors.Count > 0)
            errors.Add("the state holds a schedule ('scheduler.t') but the trainer has none; set Scheduler before loading");

        int epoch = Count(state, "trainer.epoch", int.MaxValue, errors);
        long globalStep = Count(state, "trainer.global_step", long.MaxValue, errors);
        int historyCount = Count(state, "history.count", int.MaxValue, errors);
        var history = new List<EpochRecord>();
        if (historyCount > epoch) errors.Add($"'history.count' = {historyCount} exceeds 'trainer.epoch' = {epoch}");
        else
            for (int i = 0; i < historyCount; i++)
            {
                string p = string.Create(CultureInfo.InvariantCulture, $"history.{i}.");
                double Get(string field) => state.Scalars.TryGetValue(p + field, out var v) ? v : Missing(p + field, errors);
                static double? Opt(double v) => double.IsNaN(v) ? null : v;
                history.Add(new EpochRecord((int)Math.Clamp(Get("epoch"), 0, int.MaxValue), Get("train_loss"), Opt(Get("train_accuracy")),
                    Opt(Get("validation_loss")), Opt(Get("validation_accuracy")), Get("learning_rate"),
                    (long)Math.Clamp(Get("steps"), 0, long.MaxValue), Get("seconds")));
            }

        // The epoch in progress, when the state was taken mid-epoch.
        EpochProgress? resume = null;
        if (state.Scalars.ContainsKey("trainer.batch"))
        {
            resume = new EpochProgress
            {
                Batch = Count(state, "trainer.batch", int.MaxValue, errors),
                BatchesPerEpoch = Count(state, "trainer.batches_per_epoch", int.MaxValue, errors),
                LossSum = Finite(state, "trainer.loss_sum", errors, allowNaN: true),
                Seen = Count(state, "trainer.seen", long.MaxValue, errors),
                Correct = Count(state, "trainer.correct", long.MaxValue, errors),
                Classification = Count(state, "trainer.classification", 1, errors) == 1,
                LearningRate = Finite(state, "trainer.learning_rate", errors),
                EarlierSeconds = Finite(state, "trainer.seconds", errors),
            };
            if (resume.Batch > resume.BatchesPerEpoch)
                errors.Add($"'trainer.batch' = {resume.Batch} exceeds 'trainer.batches_per_epoch' = {resume.BatchesPerEpoch}");
            if (resume.Batch == 0) resume = null;
        }

        // The data: the loader's generator must be the saved one's (same seed and stream), at the saved offset.
        Tensor? savedGenerator = null;
        int? loaderEpoch = null;
        if (state.Scalars.ContainsKey("data.epoch")) loaderEpoch = Count(state, "data.epoch", int.MaxValue, errors);
        if (state.Tensors.TryGetValue("data.generator", out var sg))
        {
            if (sg is null || !GeneratorState.IsState(sg))
                errors.Add($"'data.generator' should be a saved generator (int64 of shape [3]), got {(sg is null ? "null" : $"{sg.DType.Name()} of shape {Shapes.Format(sg.Shape)}")}");
            else savedGenerator = sg;
        }
        if (train is not null)
        {
            if (train.Generator is { } loaderGenerator)
            {
                if (savedGenerator is null)
                {
                    if (!state.Tensors.ContainsKey("data.generator"))
                        errors.Add("a loader was given but the state holds no 'data.generator'");
                }
                else
                {
                    var probe = GeneratorState.Load(savedGenerator);
                    if (probe.Seed != loaderGenerator.Seed || probe.Stream != loaderGenerator.Stream)
                        errors.Add("the loader's generator has a different seed or stream than the saved one; build the loader with the same generator");
                }
            }
            else if (savedGenerator is not null)
                errors.Add("the state holds the loader's shuffling generator ('data.generator') but the loader given has none; build it the same way");
        }
        if (resume is not null)
        {
            resume.LoaderEpoch = loaderEpoch ?? -1;
            if (savedGenerator is not null)
            {
                var g = GeneratorState.Load(savedGenerator);
                resume.LoaderGenerator = (g.Seed, g.Stream, g.Offset);
            }
        }

        if (errors.Count > 0)
            throw new ArgumentException($"Trainer.LoadStateDict: nothing was loaded: {string.Join("; ", errors)}", nameof(state));

        // Every check passed: apply (none of these can fail).
        applyModel!();
        applyOptimizer!();
        applyScheduler?.Invoke();
        Epoch = epoch;
        GlobalStep = globalStep;
        History.Clear();
        foreach (var r in history) History.Add(r);
        _running = null;
        _resume = resume;
        if (train is not null)
        {
            if (train.Generator is { } g && savedGenerator is not null) GeneratorState.Restore(g, savedGenerator);
            if (loaderEpoch is { } le) train.Epoch = le;
        }
    }

    /// <summary>
    /// Saves the whole training state (<see cref="StateDict"/>) to <paramref name="path"/> in one safetensors file,
    /// atomically: a crash or a kill during the save leaves the previous file intact, and the next save or load in
    /// that folder removes the temporary file it left (<see cref="Aperture.IO.AtomicFile.RemoveStaleTemporaries"/>).
    /// Tensors are stored under their state names and scalars (step counts, hyper-parameters, the schedule, the
    /// counters) as round-trip text in the metadata, so <see cref="Load"/> continues bitwise.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="train">The training loader, to save its shuffling state (see <see cref="StateDict"/>).</param>
    /// <param name="metadata">The caller's own strings (a run's configuration), returned by <see cref="Load"/>.</param>
    public void Save(string path, DataLoader? train = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null)
            foreach (var (k, v) in metadata)
            {
                if (k == CheckpointKindKey) throw new ArgumentException($"Trainer.Save: the metadata key '{k}' is reserved", nameof(metadata));
                meta[k] = v;
            }
        meta[CheckpointKindKey] = CheckpointKind;
        Aperture.IO.Checkpoint.SaveState(path, StateDict(train), meta);
    }

    /// <summary>
    /// Restores a file written by <see cref="Save"/> into this trainer (built as the saved one was) and into
    /// <paramref name="train"/>, all or nothing (<see cref="LoadStateDict"/>), and returns the caller's metadata.
    /// </summary>
    /// <exception cref="Aperture.IO.SafeTensorsFormatException">The file is malformed, or is not a trainer checkpoint.</exception>
    /// <exception cref="ArgumentException">The checkpoint does not fit this trainer; the message names the file and each entry.</exception>
    public IReadOnlyDictionary<string, string> Load(string path, DataLoader? train = null)
    {
        var (state, meta) = Aperture.IO.Checkpoint.LoadState(path);
        if (!meta.TryGetValue(CheckpointKindKey, out var kind) || kind != CheckpointKind)
            throw new Aperture.IO.SafeTensorsFormatException(path, kind is null
                ? $"not a trainer checkpoint (no '{CheckpointKindKey}' metadata; write one with Trainer.Save)"
                : $"'{CheckpointKindKey}' is '{kind}', expected '{CheckpointKind}'");
        try { LoadStateDict(state, train); }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"checkpoint '{path}': {Plain(e)} (in the file, a scalar entry such as 'optimizer.state.0.step' is the metadata key " +
                $"'{Aperture.IO.Checkpoint.ScalarPrefix}optimizer.state.0.step'; a tensor entry is a tensor of that name)", nameof(path), e);
        }
        var user = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in meta) if (k != CheckpointKindKey) user[k] = v;
        return user;
    }

    private static readonly string[] KnownPrefixes = ["model.", "optimizer.", "scheduler.", "trainer.", "history."];

    /// <summary>An argument exception's message without the runtime's " (Parameter 'x')" suffix.</summary>
    private static string Plain(ArgumentException e) => e.ParamName is null ? e.Message : e.Message.Split(" (Parameter '")[0];

    private static double Missing(string key, List<string> errors)
    {
        errors.Add($"missing '{key}'");
        return double.NaN;
    }

    private static int Count(StateSnapshot s, string key, int max, List<string> errors) => (int)Count(s, key, (long)max, errors);

    private static long Count(StateSnapshot s, string key, long max, List<string> errors)
    {
        if (!s.Scalars.TryGetValue(key, out var v)) { errors.Add($"missing '{key}'"); return 0; }
        if (!(v >= 0 && v <= Math.Min(max, 9007199254740992L) && v == Math.Floor(v)))
        {
            errors.Add($"'{key}' = {v.ToString("R", CultureInfo.InvariantCulture)} is not a whole number in [0, {Math.Min(max, 9007199254740992L)}]");
            return 0;
        }
        return (long)v;
    }

    private static double Finite(StateSnapshot s, string key, List<string> errors, bool allowNaN = false)
    {
        if (!s.Scalars.TryGetValue(key, out var v)) { errors.Add($"missing '{key}'"); return 0; }
        if (!double.IsFinite(v) && !(allowNaN && double.IsNaN(v)))
            errors.Add($"'{key}' = {v.ToString("R", CultureInfo.InvariantCulture)} is not finite");
        return v;
    }
}
