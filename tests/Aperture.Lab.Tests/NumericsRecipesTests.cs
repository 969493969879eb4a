using Aperture.Lab.Probes;
using Aperture.Lab.Recipes;
using Aperture.NN;

namespace Aperture.Lab.Tests;

/// <summary>The recipes and probes the numerics phenomena share: splits, lockstep training, divergence, ratio of means.</summary>
public class NumericsRecipesTests
{
    [Fact]
    public void FlatSplitsAreStratifiedDisjointAndStandardizedByTheTrainingPart()
    {
        var s = FlatSplits.Draw(Tiny.Subset.FashionMnist, 4, 2, 3, new Generator(5));
        Assert.Equal(40, s.Train.Count);
        Assert.Equal(20, s.Validation.Count);
        Assert.Equal(30, s.Test.Count);
        Assert.All(s.Validation.Targets.ToArray<long>().GroupBy(l => l), g => Assert.Equal(2, g.Count()));
        // No validation image is a training image.
        var train = s.Train.Inputs.ToArray<float>().Chunk(LabData.Pixels).Select(r => string.Join(',', r)).ToHashSet();
        Assert.DoesNotContain(s.Validation.Inputs.ToArray<float>().Chunk(LabData.Pixels), r => train.Contains(string.Join(',', r)));
        Assert.Equal(0, s.Train.Inputs.ToDoubleArray().Average(), 5);
        // The same generator draws the same bits.
        var again = FlatSplits.Draw(Tiny.Subset.FashionMnist, 4, 2, 3, new Generator(5));
        Assert.True(RunComparison.BitwiseEqual(s.Validation.Inputs.ToArray<float>(), again.Validation.Inputs.ToArray<float>()));
    }

    [Fact]
    public void ReplicaDrawsWhatTheOriginalDrawsNext()
    {
        var g = new Generator(3, 2);
        g.NextDouble();
        var r = SgdMlp.Replica(g);
        Assert.Equal(g.NextDouble(), r.NextDouble());
        Assert.Equal(g.NextLong(1000), r.NextLong(1000));
    }

    [Fact]
    public void LockstepRunsOfTheSameStreamsStayIdenticalAndAnotherSeedDiverges()
    {
        var s = FlatSplits.Draw(Tiny.Subset.FashionMnist, 5, 0, 2, new Generator(1));
        SgdMlp Net(ulong seed) => new(s.Train, [6], 0.05, 0.9, 10, 2, new Generator(seed, 1), new Generator(seed, 2));
        var same = new RunContext("same", 0, Tier.Quick);
        Lockstep.Train(Net(7), Net(7), 2, 1, s.Test, same);
        Assert.Equal(1, same.Results["identical"]);
        Assert.Equal(0, same.Results["disagreement"]);
        Assert.Equal(10, same.Results["steps"]);
        var other = new RunContext("other", 0, Tier.Quick);
        Lockstep.Train(Net(7), Net(8), 2, 1, s.Test, other);
        Assert.Equal(0, other.Results["identical"]);
        Assert.Equal(0, other.Results["first_difference_step"]);
        Assert.True(other.Results["final_distance"] > 0);
    }

    [Fact]
    public void DivergenceTrackerRecordsTheFirstDifferenceAndTheLargestDistance()
    {
        var t = new DivergenceTracker();
        t.Compare(0, [1f, 2f], [1f, 2f]);
        Assert.True(t.Identical);
        Assert.Equal(3, t.Compare(1, [1f, 2f], [1f, 5f]));
        t.Compare(2, [0f], [-0f]);
        Assert.False(t.Identical);
        Assert.Equal(1, t.FirstDifference);
        Assert.Equal(3, t.MaxDistance);
        Assert.Equal(0.5, AdamTraining.UnchangedShare([1f, 0f], [1f, -0f]));
    }

    [Fact]
    public void RatioOfMeansIsTheRatioOfSumsWithAnIntervalAroundIt()
    {
        var e = RatioOfMeans.Bca("r", [1, 2, 3, 2, 1.5], [2, 4, 5, 5, 3]);
        Assert.Equal(9.5 / 19, e.Value, 12);
        Assert.True(e.Low < e.Value && e.Value < e.High);
        Assert.Equal((e.Low, e.High), (RatioOfMeans.Bca("r", [1, 2, 3, 2, 1.5], [2, 4, 5, 5, 3]) is var f ? (f.Low, f.High) : default));
        Assert.True(e.IntervalAt!(0.5).High < e.High);
        Assert.True(RatioOfMeans.Bca("zero", [1, 2], [0, 1]).Degenerate);
    }
}
