using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

/// <summary>transfer-learning on a tiny protocol: its arms, what each trains, and its verdict.</summary>
public class TransferLearningTests
{
    private static readonly TransferLearning Phenomenon = Tiny.Transfer;

    [Fact]
    public void RunsEveryArmAndJudgesBothTransferArmsAgainstScratch()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, Tiny.TransferProtocol(2));
        var p = (TransferLearning.Protocol)outcome.Protocol;
        Assert.Equal([TransferLearning.Scratch, TransferLearning.FrozenConv, TransferLearning.Frozen, TransferLearning.FineTune], Phenomenon.ArmNames(p));
        Assert.Equal((8, 0), (outcome.RunsExecuted, outcome.RunsReused));
        Assert.Equal(2, outcome.Verdict.Checks.Count);
        Assert.StartsWith("target test accuracy, frozen-conv − scratch", outcome.Verdict.Effect.Name);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "source test accuracy of the pretrained net");
        Assert.NotEmpty(Phenomenon.Figures(p, store.LoadRunSet(store.ListRuns().Select(r => r.RunId))));
    }

    [Fact]
    public void EachArmTakesAndFreezesTheLayersItNamesFromOnePretrainedNet()
    {
        var p = (TransferLearning.Protocol)Tiny.TransferProtocol(2);
        RunContext Run(string arm)
        {
            var run = new RunContext(arm, 0, Tier.Quick, Tiny.Subset);
            Phenomenon.Run(p, run);
            return run;
        }
        var scratch = Run(TransferLearning.Scratch);
        var frozenConv = Run(TransferLearning.FrozenConv);
        var frozen = Run(TransferLearning.Frozen);
        var fineTune = Run(TransferLearning.FineTune);
        // LeNet-5's five-way head is 84·5 + 5 = 425 parameters; its convolutions 6·25 + 6 + 16·6·25 + 16 = 2572.
        Assert.Equal(425, frozen.Results["trainable_parameters"]);
        Assert.Equal(2572, frozenConv.Results["transferred_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"] - 2572, frozenConv.Results["trainable_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"] - 425, fineTune.Results["transferred_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"], fineTune.Results["trainable_parameters"]);
        Assert.True(scratch.Results["trainable_parameters"] > 40_000);
        Assert.False(scratch.Results.ContainsKey("source_test_accuracy"));
        Assert.Equal(frozen.Results["source_test_accuracy"], fineTune.Results["source_test_accuracy"]);
        // A rerun of an arm is bitwise the same.
        Assert.Equal(frozen.Results["test_accuracy"], Run(TransferLearning.Frozen).Results["test_accuracy"]);
    }

    [Fact]
    public void SourceClassesMustBeFiveDistinctClasses()
    {
        var bad = new TransferLearning.Protocol { SourceClasses = [0, 1, 2, 3, 3] };
        Assert.Contains(bad.Problems(), m => m.Contains("source_classes"));
        Assert.Equal([1, 3, 5, 7, 9], new TransferLearning.Protocol().TargetClasses);
    }
}
