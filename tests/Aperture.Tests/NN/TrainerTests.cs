using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;
using Aperture.Tests.Optim;

namespace Aperture.Tests.NN;

public class TrainerTests
{
    /// <summary>Three Gaussian blobs in the plane, <paramref name="perClass"/> points each, labels 0..2.</summary>
    private static TensorDataset Blobs(int perClass, ulong seed, int labelShift = 0)
    {
        var g = new Generator(seed);
        double[][] centers = [[2, 0], [-1, 1.7], [-1, -1.7]];
        var x = new float[perClass * 3 * 2];
        var y = new long[perClass * 3];
        var noise = Tensor.Randn([perClass * 3, 2], g).ToFloatArray();
        for (int i = 0; i < perClass * 3; i++)
        {
            int c = i % 3;
            x[2 * i] = (float)centers[c][0] + 0.5f * noise[2 * i];
            x[2 * i + 1] = (float)centers[c][1] + 0.5f * noise[2 * i + 1];
            y[i] = (c + labelShift) % 3;
        }
        return new TensorDataset(Tensor.FromArray(x, [perClass * 3, 2]), Tensor.FromArray(y));
    }

    private static Tensor CrossEntropy(Tensor output, Tensor target) => Losses.CrossEntropy(output, target);

    [Fact]
    public void FitTrainsRecordsAndReportsProgress()
    {
        var model = Models.Mlp(2, [16], 3, generator: new Generator(0));
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: 0.02), CrossEntropy);
        var progress = new List<TrainingProgress>();
        trainer.Progress = progress.Add;
        var steps = new List<StepInfo>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (_, s) => steps.Add(s) });
        var train = new DataLoader(Blobs(40, 1), 16, shuffle: true, generator: new Generator(2));
        var val = new DataLoader(Blobs(20, 3), 32);

        var history = trainer.Fit(train, 6, val);
        Assert.Equal(6, history.Count);
        Assert.Equal(6, trainer.Epoch);
        Assert.Equal(6 * 8, trainer.GlobalStep);
        Assert.Equal(Enumerable.Range(1, 6), history.Select(r => r.Epoch));
        Assert.True(history[^1].TrainLoss < 0.5 * history[0].TrainLoss);
        Assert.True(history[^1].TrainAccuracy > 0.9, $"train accuracy {history[^1].TrainAccuracy}");
        Assert.True(history[^1].ValidationAccuracy > 0.9, $"validation accuracy {history[^1].ValidationAccuracy}");
        Assert.Equal(0.02, history[0].LearningRate);
        Assert.Equal(48, steps.Count);
        Assert.Equal(8, steps[^1].BatchesPerEpoch);
        Assert.Equal(6 * 8 + 6, progress.Count);
        Assert.Equal(history[^1], progress[^1].Completed);
        Assert.Equal(6, progress[^1].LastEpoch);
        Assert.True(model.Training);

        trainer.Fit(train, 2, val); // continues the count
        Assert.Equal(8, trainer.History.Count);
        Assert.Equal(8, trainer.History[^1].Epoch);
    }

    [Fact]
    public void EvaluateReportsPerClassAccuracy()
    {
        // A fixed classifier: the predicted class is the index of the largest input feature.
        var model = new Linear(3, 3, bias: false, weightInit: Init.Constant(0));
        using (Aperture.Autodiff.NoGrad()) Ops.CopyInPlace(model.Weight, Tensor.Eye(3));
        var x = Tensor.FromArray([1f, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0], [5, 3]);
        var y = Tensor.FromArray([0L, 1L, 2L, 2L, 1L]);
        var trainer = new Trainer(model, new SGD(model.Parameters()), CrossEntropy);
        var result = trainer.Evaluate(new DataLoader(new TensorDataset(x, y), 2));
        Assert.Equal(5, result.Count);
        Assert.Equal(0.6, result.Accuracy!.Value, 12);
        Assert.Equal([1.0, 0.5, 0.5], result.PerClassAccuracy!);
        Assert.Equal([1, 2, 2], result.PerClassCount!);
        Assert.Equal(Losses.CrossEntropy(model.Forward(x), y).Item(), result.Loss, 6);
    }

    [Fact]
    public void EarlyStoppingStopsAndRestoresTheBestEpoch()
    {
        var model = Models.Mlp(2, [16], 3, generator: new Generator(0));
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: 0.05), CrossEntropy);
        var states = new Dictionary<int, Dictionary<string, Tensor>>();
        var early = new EarlyStopping(patience: 2);
        trainer.Callbacks.Add(new LambdaCallback { EpochEnd = (t, r) => states[r.Epoch] = t.Model.StateDict() });
        trainer.Callbacks.Add(early);
        // The validation labels are the training labels shifted by one: the better the fit, the worse the validation loss.
        var history = trainer.Fit(new DataLoader(Blobs(30, 1), 15), 30, new DataLoader(Blobs(30, 1, labelShift: 1), 90));

        Assert.True(early.StoppedEpoch > 0);
        Assert.Equal(early.BestEpoch + 2, early.StoppedEpoch);
        Assert.Equal(early.StoppedEpoch, history.Count);
        Assert.Equal(history.Min(r => r.ValidationLoss!.Value), early.BestLoss);
        OptimizerTests.AssertBitwiseEqual(states[early.BestEpoch], model.StateDict());
    }

    [Fact]
    public void TerminateOnNaNStopsAtTheFirstBadStep()
    {
        var model = Models.Mlp(2, [4], 3, generator: new Generator(0));
        var adam = new Adam(model.Parameters(), lr: 0.01) { HyperParameterFormat = StorageFormat.BFloat16 }; // beta2 → 1: NaN at step 1
        var stop = new TerminateOnNaN();
        var trainer = new Trainer(model, adam, CrossEntropy);
        trainer.Callbacks.Add(stop);
        trainer.Fit(new DataLoader(Blobs(10, 1), 5), 3);
        Assert.Equal(2, stop.StoppedAtStep); // step 1 made the weights NaN; step 2's loss shows it
        Assert.Single(trainer.History);
    }

    [Fact]
    public void ValidationSplitIsARandomPartition()
    {
        var data = Blobs(10, 1);
        var (train, val) = Trainer.SplitValidation(data, 0.2, new Generator(4));
        Assert.Equal(24, train.Count);
        Assert.Equal(6, val.Count);
        var all = train.GetAll().Inputs.ToFloatArray().Chunk(2).Concat(val.GetAll().Inputs.ToFloatArray().Chunk(2)).Select(p => (p[0], p[1])).ToHashSet();
        Assert.Equal(30, all.Count);
        var (train2, _) = Trainer.SplitValidation(data, 0.2, new Generator(4));
        Assert.Equal(train.GetAll().Targets.ToArray<long>(), train2.GetAll().Targets.ToArray<long>());
        Assert.Throws<ArgumentOutOfRangeException>(() => Trainer.SplitValidation(data, 1.0, new Generator(0)));
    }

    private static (Trainer Trainer, DataLoader Train, DataLoader Val) Build(ulong modelSeed)
    {
        var model = Models.Mlp(2, [12, 12], 3, dropout: 0.3, batchNorm: true, generator: new Generator(modelSeed));
        var opt = new SGD(model.Parameters(), lr: 0.1, momentum: 0.9, weightDecay: 1e-4);
        var trainer = new Trainer(model, opt, (o, t) => Losses.CrossEntropy(o, t, labelSmoothing: 0.1))
        {
            Scheduler = new CosineAnnealingLR(opt, tMax: 40),
            SchedulerInterval = SchedulerInterval.Step,
            ClipGradNorm = 1.0,
        };
        return (trainer, new DataLoader(Blobs(20, 1), 12, shuffle: true, generator: new Generator(77)), new DataLoader(Blobs(10, 2), 30));
    }

    [Fact]
    public void ResumingATrainerContinuesBitwise()
    {
        var (a, trainA, valA) = Build(1);
        a.Fit(trainA, 2, valA);
        var snapshot = a.StateDict(trainA);
        a.Fit(trainA, 2, valA);

        var (b, trainB, valB) = Build(123);
        b.LoadStateDict(snapshot, trainB);
        Assert.Equal(2, b.Epoch);
        Assert.Equal(2, b.History.Count);
        b.Fit(trainB, 2, valB);

        OptimizerTests.AssertBitwiseEqual(a.Model.StateDict(), b.Model.StateDict());
        Assert.Equal(a.History.TrainLoss, b.History.TrainLoss);
        Assert.Equal(a.History.ValidationLoss, b.History.ValidationLoss);
        Assert.Equal(a.GlobalStep, b.GlobalStep);
        Assert.Equal(a.Optimizer.ParamGroups[0].LearningRate, b.Optimizer.ParamGroups[0].LearningRate);
    }

    [Fact]
    public void ResumingFromACheckpointFileGivesTheSameFinalWeightsAsAnUninterruptedRun()
    {
        var (a, trainA, valA) = Build(1);
        a.Fit(trainA, 4, valA);                                 // uninterrupted

        var (b, trainB, valB) = Build(1);
        b.Fit(trainB, 2, valB);                                 // interrupted after epoch 2 ...
        var path = Path.Combine(Path.GetTempPath(), $"aperture-resume-{Guid.NewGuid():N}.safetensors");
        try
        {
            Aperture.IO.Checkpoint.SaveState(path, b.StateDict(trainB), new Dictionary<string, string> { ["note"] = "epoch 2" });
            var (c, trainC, valC) = Build(99);                  // ... a fresh process would rebuild everything
            var (state, meta) = Aperture.IO.Checkpoint.LoadState(path);
            Assert.Equal("epoch 2", meta["note"]);
            c.LoadStateDict(state, trainC);
            c.Fit(trainC, 2, valC);
            OptimizerTests.AssertBitwiseEqual(a.Model.StateDict(), c.Model.StateDict());
            Assert.Equal(a.History.TrainLoss, c.History.TrainLoss);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TransferLearningInMiniature()
    {
        Sequential Net(int classes, ulong seed)
        {
            var g = new Generator(seed);
            var body = new Sequential(new Linear(2, 16, generator: g), new Tanh(), new Linear(16, 16, generator: g), new Tanh());
            return new Sequential([("body", body), ("head", new Linear(16, classes, generator: g))]);
        }

        // Pretrain on the three-class task.
        var source = Net(3, 1);
        new Trainer(source, new Adam(source.Parameters(), lr: 0.02), CrossEntropy).Fit(new DataLoader(Blobs(30, 1), 15), 5);

        // A new model with a two-class head: take the body, leave the head.
        var target = Net(2, 2);
        var body = source.StateDict().Where(kv => kv.Key.StartsWith("body.", StringComparison.Ordinal)).ToDictionary();
        Assert.Throws<ArgumentException>(() => target.LoadStateDict(source.StateDict(), strict: false)); // the heads' shapes differ
        var result = target.LoadStateDict(body, strict: false);
        Assert.Equal(["head.weight", "head.bias"], result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        target.GetSubmodule("body").Freeze();

        // Fine-tune on a two-class task (class 0 against the rest).
        var blobs = Blobs(20, 5);
        var binary = new TensorDataset(blobs.Inputs, Ops.To(Ops.Gt(blobs.Targets, 0), DType.Int64));
        var trainer = new Trainer(target, new Adam(target.Parameters(), lr: 0.05), CrossEntropy);
        var bodyBefore = target.GetSubmodule("body").StateDict();
        var headBefore = target.GetParameter("head.weight").ToFloatArray();
        var history = trainer.Fit(new DataLoader(binary, 12), 5);

        OptimizerTests.AssertBitwiseEqual(bodyBefore, target.GetSubmodule("body").StateDict());
        OptimizerTests.AssertBitwiseEqual(body.ToDictionary(kv => kv.Key[5..], kv => kv.Value), bodyBefore);
        Assert.NotEqual(headBefore, target.GetParameter("head.weight").ToFloatArray());
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss);
        Assert.True(history[^1].TrainAccuracy > 0.9, $"accuracy {history[^1].TrainAccuracy}");
    }
}
