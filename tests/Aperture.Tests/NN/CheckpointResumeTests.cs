using Aperture.Data;
using Aperture.IO;
using Aperture.NN;
using Aperture.Optim;
using Aperture.Tests.IO;
using Aperture.Tests.Optim;

namespace Aperture.Tests.NN;

/// <summary>
/// Whole-state checkpoints: <see cref="Trainer.Save"/>/<see cref="Trainer.Load"/>, resuming mid-epoch, training
/// "killed" at random steps and resumed to the same bits, and loads that change nothing when they fail.
/// </summary>
public class CheckpointResumeTests
{
    private const int Epochs = 4;

    /// <summary>Three Gaussian blobs in the plane.</summary>
    private static TensorDataset Blobs(int perClass, ulong seed)
    {
        var g = new Generator(seed);
        double[][] centers = [[2, 0], [-1, 1.7], [-1, -1.7]];
        var noise = Tensor.Randn([perClass * 3, 2], g).ToFloatArray();
        var x = new float[perClass * 3 * 2];
        var y = new long[perClass * 3];
        for (int i = 0; i < perClass * 3; i++)
        {
            x[2 * i] = (float)centers[i % 3][0] + 0.6f * noise[2 * i];
            x[2 * i + 1] = (float)centers[i % 3][1] + 0.6f * noise[2 * i + 1];
            y[i] = i % 3;
        }
        return new TensorDataset(Tensor.FromArray(x, [perClass * 3, 2]), Tensor.FromArray(y));
    }

    /// <summary>
    /// A run with every kind of state: dropout's generator, batch-norm's running statistics, Adam's moments and step
    /// counts, a per-step cosine schedule, a shuffling loader with prefetch. <paramref name="initSeed"/> only changes
    /// the initial weights, which a load must overwrite.
    /// </summary>
    private static (Trainer Trainer, DataLoader Train, DataLoader Validation) Build(ulong initSeed, int prefetch = 0)
    {
        var model = Models.Mlp(2, [12, 12], 3, dropout: 0.25, batchNorm: true, generator: new Generator(initSeed));
        var opt = new AdamW(model.Parameters(), lr: 0.02, weightDecay: 1e-3);
        var train = new DataLoader(Blobs(10, 1), 7, shuffle: true, generator: new Generator(5, stream: 1), prefetch: prefetch);
        var trainer = new Trainer(model, opt, (o, t) => Losses.CrossEntropy(o, t))
        {
            Scheduler = new CosineAnnealingLR(opt, tMax: Epochs * train.BatchesPerEpoch),
            SchedulerInterval = SchedulerInterval.Step,
            ClipGradNorm = 2.0,
        };
        return (trainer, train, new DataLoader(Blobs(5, 2), 15));
    }

    private sealed class SimulatedKill : Exception;

    /// <summary>Throws at the given global step, after any save that step made: the process "dies" there.</summary>
    private sealed class KillAt(long step) : Callback
    {
        public override void OnStepEnd(Trainer trainer, StepInfo info)
        {
            if (info.GlobalStep == step) throw new SimulatedKill();
        }
    }

    [Fact]
    public void TrainingKilledAtRandomStepsResumesToTheSameBits_20of20()
    {
        var (reference, refTrain, refVal) = Build(1);
        reference.Fit(refTrain, Epochs, refVal);
        var expected = reference.StateDict();
        int totalSteps = Epochs * refTrain.BatchesPerEpoch;

        var rng = new Random(20261205);
        int resumes = 0, midEpoch = 0;
        for (int trial = 0; trial < 20; trial++)
        {
            using var dir = new TempDirectory();
            string path = dir.File("run.ckpt");
            int saveEvery = 1 + rng.Next(4);
            // Two or three kills at random steps (some fall on a save, some between saves, some at an epoch's end).
            var kills = Enumerable.Range(0, 2 + rng.Next(2)).Select(_ => (long)(1 + rng.Next(totalSteps - 1))).Distinct().Order().ToList();
            int attempts = 0, killed = 0;
            Trainer? finished = null;
            while (finished is null)
            {
                Assert.True(++attempts <= kills.Count + 1, $"trial {trial}: did not finish");
                // A fresh process: with a checkpoint, built from another seed (the load must overwrite everything);
                // killed before its first save, it starts over from the run's own seed.
                bool resume = File.Exists(path);
                var (t, train, val) = Build(resume ? (ulong)(100 + attempts) : 1, prefetch: trial % 2);
                if (resume)
                {
                    t.Load(path, train);
                    resumes++;
                    if (t.GlobalStep % train.BatchesPerEpoch != 0) midEpoch++;
                }
                long next = killed < kills.Count ? kills[killed++] : -1;
                t.Callbacks.Add(new SaveCheckpoint(path, train, saveEvery));
                if (next > 0) t.Callbacks.Add(new KillAt(next));
                // A kill may also land inside a save: leave the orphan a killed writer would (its process is gone).
                if (attempts > 1) File.WriteAllBytes(Path.Combine(dir.Path, OrphanName("run.ckpt")), new byte[1000]);
                try
                {
                    t.Fit(train, Epochs - t.Epoch, val);
                    finished = t;
                }
                catch (SimulatedKill) { }
            }
            Assert.Equal(totalSteps, finished.GlobalStep);
            OptimizerTests.AssertBitwiseEqual(expected.Tensors, finished.StateDict().Tensors);
            Assert.Equal(reference.History.TrainLoss, finished.History.TrainLoss);
            Assert.Equal(reference.History.ValidationLoss, finished.History.ValidationLoss);
            Assert.Equal(reference.Optimizer.ParamGroups[0].LearningRate, finished.Optimizer.ParamGroups[0].LearningRate);
            // Every orphan was removed by a later save; only the checkpoint is left.
            Assert.Equal(["run.ckpt"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        }
        // The kills did resume from files, often in the middle of an epoch.
        Assert.InRange(resumes, 30, 60);
        Assert.InRange(midEpoch, 10, resumes);
    }

    /// <summary>The temporary name a killed writer (a process id that cannot exist) leaves for <paramref name="file"/>.</summary>
    private static string OrphanName(string file)
    {
        string own = AtomicFile.TemporaryName(file);                     // .{file}.aperture-{host}-{pid}-{guid}.tmp
        string[] parts = own[(file.Length + 2)..].Split('-');
        return $".{file}.{parts[0]}-{parts[1]}-999999999-{Guid.NewGuid():N}.tmp";
    }

    [Fact]
    public void AStateTakenMidEpochResumesThatEpochBitwise()
    {
        var (a, trainA, valA) = Build(1, prefetch: 2);
        StateSnapshot? midway = null;
        a.Callbacks.Add(new LambdaCallback { StepEnd = (t, s) => { if (s.GlobalStep == 7) midway = t.StateDict(trainA); } });
        a.Fit(trainA, Epochs, valA);
        Assert.NotNull(midway);
        Assert.Equal(2, midway.Scalar("trainer.batch"));             // 5 batches per epoch: step 7 is batch 2 of epoch 2
        Assert.Equal(1, midway.Scalar("trainer.epoch"));

        var (b, trainB, valB) = Build(9, prefetch: 2);
        b.LoadStateDict(midway, trainB);
        b.Fit(trainB, Epochs - b.Epoch, valB);
        OptimizerTests.AssertBitwiseEqual(a.Model.StateDict(), b.Model.StateDict());
        Assert.Equal(a.History.TrainLoss, b.History.TrainLoss);
        Assert.Equal(a.History.Select(r => r.TrainAccuracy), b.History.Select(r => r.TrainAccuracy));
        Assert.Equal(a.GlobalStep, b.GlobalStep);
    }

    [Fact]
    public void AMidEpochStateSavedAgainBeforeAnyStepKeepsItsPlace()
    {
        // A resumed run saves before its first step; killed then, the next resume starts from that second save, which
        // must still say where in the epoch (and where the loader's epoch began) the first one was.
        var (a, trainA, valA) = Build(1);
        StateSnapshot? midway = null;
        a.Callbacks.Add(new LambdaCallback { StepEnd = (t, s) => { if (s.GlobalStep == 7) midway = t.StateDict(trainA); } });
        a.Fit(trainA, Epochs, valA);

        var (b, trainB, _) = Build(9);
        b.LoadStateDict(midway!, trainB);
        var again = b.StateDict(trainB);
        Assert.Equal(2, again.Scalar("trainer.batch"));
        var (c, trainC, valC) = Build(5);
        c.LoadStateDict(again, trainC);
        c.Fit(trainC, Epochs - c.Epoch, valC);
        OptimizerTests.AssertBitwiseEqual(a.Model.StateDict(), c.Model.StateDict());
        Assert.Equal(a.History.TrainLoss, c.History.TrainLoss);
        Assert.Equal(a.GlobalStep, c.GlobalStep);
    }

    [Fact]
    public void AMidEpochStateNeedsItsLoader()
    {
        var (a, trainA, _) = Build(1);
        StateSnapshot? midway = null, noLoader = null;
        a.Callbacks.Add(new LambdaCallback { StepEnd = (t, s) => { if (s.GlobalStep == 3) { midway = t.StateDict(trainA); noLoader = t.StateDict(); } } });
        a.Fit(trainA, 1);

        var (b, trainB, _) = Build(2);
        b.LoadStateDict(noLoader!);                                  // the model alone can be loaded ...
        var e = Assert.Throws<InvalidOperationException>(() => b.Fit(trainB, 1));   // ... but the epoch cannot go on without the loader
        Assert.Contains("in the middle of epoch 1 (after 3 of 5 batches)", e.Message);

        var (c, _, _) = Build(2);
        var otherBatching = new DataLoader(Blobs(10, 1), 4, shuffle: true, generator: new Generator(5, stream: 1));
        c.LoadStateDict(midway!, otherBatching);
        Assert.Contains("8 batches per epoch", Assert.Throws<InvalidOperationException>(() => c.Fit(otherBatching, 1)).Message);
    }

    [Fact]
    public void SaveAndLoadAreOneCallEachAndKeepTheCallersMetadata()
    {
        using var dir = new TempDirectory();
        var (a, trainA, _) = Build(1);
        a.Fit(trainA, 1);
        a.Save(dir.File("a.ckpt"), trainA, new Dictionary<string, string> { ["run"] = "x1" });

        var (b, trainB, _) = Build(2);
        var meta = b.Load(dir.File("a.ckpt"), trainB);
        Assert.Equal("x1", meta["run"]);
        Assert.False(meta.ContainsKey(Trainer.CheckpointKindKey));
        OptimizerTests.AssertBitwiseEqual(a.Model.StateDict(), b.Model.StateDict());
        Assert.Equal(a.Optimizer.StateDict().Scalars, b.Optimizer.StateDict().Scalars);   // step counts and hyper-parameters
        Assert.Equal(trainA.Epoch, trainB.Epoch);
        Assert.Equal(trainA.Generator!.Offset, trainB.Generator!.Offset);

        // A model-only checkpoint is not a trainer state: refused with a format error naming the file.
        Checkpoint.Save(dir.File("m.ckpt"), a.Model.StateDict());
        var e = Assert.Throws<SafeTensorsFormatException>(() => b.Load(dir.File("m.ckpt"), trainB));
        Assert.Contains("m.ckpt", e.Message);
        Assert.Contains("not a trainer checkpoint", e.Message);
    }

    // ---- all-or-nothing loads --------------------------------------------------------------------------

    /// <summary>Everything a load could change, as plain values.</summary>
    private static string Fingerprint(Trainer t, DataLoader train)
    {
        var parts = new List<string>();
        foreach (var (k, v) in t.Model.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
            parts.Add(k + "=" + string.Join(",", v.ToDoubleArray().Select(d => BitConverter.DoubleToInt64Bits(d))));
        var o = t.Optimizer.StateDict();
        foreach (var (k, v) in o.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            parts.Add("opt." + k + "=" + string.Join(",", v.ToDoubleArray().Select(d => BitConverter.DoubleToInt64Bits(d))));
        foreach (var (k, v) in o.Scalars.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.Add("opt." + k + "=" + BitConverter.DoubleToInt64Bits(v));
        foreach (var (k, v) in t.Scheduler!.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.Add("sched." + k + "=" + v);
        parts.Add($"epoch={t.Epoch} step={t.GlobalStep} history={t.History.Count} loader={train.Epoch}/{train.Generator!.Offset}");
        return string.Join("\n", parts);
    }

    public static TheoryData<string, string> BadStates => new()
    {
        { "scheduler t = NaN", "'t' = NaN is not a whole number" },
        { "extra parameter group", "parameter group 1, but the optimizer has 1" },
        { "eps = NaN", "eps = NaN in parameter group 0 is invalid" },
        { "eps = +Inf", "eps = Infinity in parameter group 0 is invalid" },
        { "beta2 = 1", "beta2 = 1 in parameter group 0 is invalid" },
        { "renamed buffer", "'state.0.exp_avg_sq_renamed' names a buffer 'exp_avg_sq_renamed' that AdamW does not keep" },
        { "missing buffer", "parameter 0 has taken 5 steps but its state lacks 'state.0.exp_avg_sq'" },
        { "step without an index", "scalar 'state.step' is not a per-parameter step count" },
        { "fractional step", "'state.0.step' = 2.5 is not a whole number" },
        { "wrong model shape", "'0.weight' has shape [12, 3] in the state dict but [12, 2]" },
        { "negative epoch", "'trainer.epoch' = -1 is not a whole number" },
        { "missing history entry", "missing 'history.0.train_loss'" },
        { "stray key", "unexpected entry 'junk'" },
    };

    [Theory]
    [MemberData(nameof(BadStates))]
    public void AFailedTrainerLoadChangesNothing(string corruption, string message)
    {
        var (source, sourceTrain, _) = Build(1);
        source.Fit(sourceTrain, 1);
        var state = source.StateDict(sourceTrain);
        switch (corruption)
        {
            case "scheduler t = NaN": state.Scalars["scheduler.t"] = double.NaN; break;
            case "extra parameter group": state.Scalars["optimizer.param_groups.1.lr"] = 0.1; break;
            case "eps = NaN": state.Scalars["optimizer.param_groups.0.eps"] = double.NaN; break;
            case "eps = +Inf": state.Scalars["optimizer.param_groups.0.eps"] = double.PositiveInfinity; break;
            case "beta2 = 1": state.Scalars["optimizer.param_groups.0.beta2"] = 1; break;
            case "renamed buffer":
                state.Tensors["optimizer.state.0.exp_avg_sq_renamed"] = state.Tensors["optimizer.state.0.exp_avg_sq"];
                state.Tensors.Remove("optimizer.state.0.exp_avg_sq");
                break;
            case "missing buffer": state.Tensors.Remove("optimizer.state.0.exp_avg_sq"); break;
            case "step without an index": state.Scalars["optimizer.state.step"] = 3; break;
            case "fractional step": state.Scalars["optimizer.state.0.step"] = 2.5; break;
            case "wrong model shape": state.Tensors["model.0.weight"] = Tensor.Zeros([12, 3]); break;
            case "negative epoch": state.Scalars["trainer.epoch"] = -1; break;
            case "missing history entry": state.Scalars.Remove("history.0.train_loss"); break;
            case "stray key": state.Scalars["junk"] = 1; break;
        }

        var (target, train, _) = Build(2);
        target.Fit(train, 2);                                        // some state of its own to keep
        string before = Fingerprint(target, train);
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(state, train));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("Trainer.LoadStateDict: nothing was loaded", e.Message);
        Assert.Equal(before, Fingerprint(target, train));
    }

    [Fact]
    public void AFailedTrainerLoadFromAFileNamesTheFileAndTheMetadataEntry()
    {
        using var dir = new TempDirectory();
        var (a, trainA, _) = Build(1);
        a.Fit(trainA, 1);
        var state = a.StateDict(trainA);
        state.Scalars["optimizer.state.step"] = 1;                   // stored as aperture.scalar.optimizer.state.step
        Checkpoint.SaveState(dir.File("bad.ckpt"), state, new Dictionary<string, string> { [Trainer.CheckpointKindKey] = Trainer.CheckpointKind });
        var (b, trainB, _) = Build(2);
        string before = Fingerprint(b, trainB);
        var e = Assert.Throws<ArgumentException>(() => b.Load(dir.File("bad.ckpt"), trainB));
        Assert.Contains("bad.ckpt", e.Message);
        Assert.Contains("'state.step'", e.Message);
        Assert.Contains("entries under 'optimizer.'", e.Message);
        Assert.Contains("'aperture.scalar.optimizer.state.0.step'", e.Message);   // how an entry maps to the file's metadata keys
        Assert.Equal(before, Fingerprint(b, trainB));
    }

    [Fact]
    public void AScheduleMismatchIsRefusedBothWays()
    {
        var (a, trainA, _) = Build(1);
        a.Fit(trainA, 1);
        var state = a.StateDict(trainA);
        var model = Models.Mlp(2, [12, 12], 3, dropout: 0.25, batchNorm: true, generator: new Generator(3));
        var bare = new Trainer(model, new AdamW(model.Parameters(), lr: 0.02, weightDecay: 1e-3), (o, t) => Losses.CrossEntropy(o, t));
        Assert.Contains("the trainer has none", Assert.Throws<ArgumentException>(() => bare.LoadStateDict(state)).Message);
        var noSchedule = bare.StateDict();
        var (c, _, _) = Build(4);
        Assert.Contains("the state holds none", Assert.Throws<ArgumentException>(() => c.LoadStateDict(noSchedule)).Message);
    }
}
