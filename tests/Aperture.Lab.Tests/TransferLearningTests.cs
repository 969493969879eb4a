using Aperture.Lab.Phenomena;
using static Aperture.Lab.Phenomena.TransferLearning;

namespace Aperture.Lab.Tests;

/// <summary>transfer-learning on a tiny protocol: its arms, what each trains, and its verdict.</summary>
public class TransferLearningTests
{
    private static readonly TransferLearning Phenomenon = Tiny.Transfer;

    [Fact]
    public void RunsEveryDepthAndJudgesTheConvBodyAgainstScratchAndTheWholeBody()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, Tiny.TransferProtocol(2));
        var p = (Protocol)outcome.Protocol;
        Assert.Equal(["scratch", "frozen d=1", "frozen d=2", "frozen d=3", "frozen d=4", "fine-tuned d=4"], Phenomenon.Arms(p).Select(a => a.Name));
        Assert.Equal((12, 0), (outcome.RunsExecuted, outcome.RunsReused));
        Assert.Equal(2, outcome.Verdict.Checks.Count);
        Assert.Equal("above 0.01", outcome.Verdict.Checks[0].Band);
        Assert.Equal("below -0.01", outcome.Verdict.Checks[1].Band);
        Assert.StartsWith("test accuracy, frozen d=2 − scratch", outcome.Verdict.Effect.Name);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "source test accuracy of the pretrained net");
        Assert.Equal(["test-accuracy-by-depth-frozen", "test-accuracy-by-depth-fine-tuned", "validation-accuracy-by-decay"],
            Phenomenon.Figures(p, store.LoadRunSet(store.ListRuns().Select(r => r.RunId))).Select(f => f.Name));
    }

    [Fact]
    public void EachArmTakesTheLayersItNamesAndTrainsOnlyTheRest()
    {
        var p = (Protocol)Tiny.TransferProtocol(2);
        RunContext Run(int depth, Layers mode)
        {
            var arm = new Transfer(depth, mode);
            var run = new RunContext(arm, 0, Tier.Quick, Tiny.Subset);
            Phenomenon.Run(p, arm, run);
            return run;
        }
        var scratch = Run(0, Layers.Frozen);
        var conv = Run(2, Layers.Frozen);
        var body = Run(4, Layers.Frozen);
        var fineTuned = Run(4, Layers.FineTuned);
        // LeNet-5's five-way head is 84·5 + 5 = 425 parameters; its convolutions 6·25 + 6 + 16·6·25 + 16 = 2572.
        Assert.Equal(425, body.Results["trainable_parameters"]);
        Assert.Equal(2572, conv.Results["transferred_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"] - 2572, conv.Results["trainable_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"] - 425, fineTuned.Results["transferred_parameters"]);
        Assert.Equal(scratch.Results["trainable_parameters"], fineTuned.Results["trainable_parameters"]);
        Assert.False(scratch.Results.ContainsKey("source_test_accuracy"));
        Assert.Equal(body.Results["source_test_accuracy"], fineTuned.Results["source_test_accuracy"]);
        Assert.Contains(body.Results["weight_decay"], p.WeightDecays);
        // A rerun of an arm is bitwise the same.
        Assert.Equal(body.Results, Run(4, Layers.Frozen).Results);
    }

    [Fact]
    public void SourceClassesMustBeFiveDistinctClassesAndTheJudgedDepthsMustRun()
    {
        Assert.Contains(new Protocol { SourceClasses = [0, 1, 2, 3, 3] }.Problems(), m => m.Contains("source_classes"));
        Assert.Contains(new Protocol { FrozenDepths = [1, 2] }.Problems(), m => m.Contains("frozen_depths"));
        Assert.Equal([1, 3, 5, 7, 9], new Protocol().TargetClasses);
        Assert.Equal("fine-tuned d=3", new Transfer(3, Layers.FineTuned).Name);
        Assert.Equal("""{"depth":3,"mode":"fine-tuned"}""", new Transfer(3, Layers.FineTuned).ToJson());
    }
}
