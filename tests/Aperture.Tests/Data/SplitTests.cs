using Aperture.Data;

namespace Aperture.Tests.Data;

public class SplitTests
{
    private static TensorDataset Labelled(params long[] labels) =>
        new(Tensor.Arange(0, labels.Length, 1, DType.Float32).Reshape(labels.Length, 1), Tensor.Wrap(labels, [labels.Length]));

    [Fact]
    public void ASubsetReadsTheChosenExamples()
    {
        var data = Labelled(10, 11, 12, 13, 14);
        var s = new Subset(data, [4, 0, 2]);
        Assert.Equal(3, s.Count);
        Assert.Equal(new long[] { 12, 14 }, s.GetBatch([2, 0]).Targets.ToArray<long>());
        Assert.Equal(new long[] { 14, 10, 12 }, s.GetAll().Targets.ToArray<long>());
        Assert.Throws<ArgumentOutOfRangeException>(() => s.GetBatch([3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Subset(data, [5]));
    }

    [Fact]
    public void ARandomSplitPartitionsTheDatasetReproducibly()
    {
        var data = Labelled(Enumerable.Range(0, 101).Select(i => (long)i).ToArray());
        var (train, validation) = Splits.Random(data, 0.2, new Generator(1));
        Assert.Equal(81, train.Count);
        Assert.Equal(20, validation.Count);
        Assert.Equal(Enumerable.Range(0, 101), train.Indices.Concat(validation.Indices).Order());
        Assert.Equal(train.Indices.Order(), train.Indices);
        var (train2, _) = Splits.Random(data, 0.2, new Generator(1));
        Assert.Equal(train.Indices, train2.Indices);
        Assert.NotEqual(train.Indices, Splits.Random(data, 0.2, new Generator(2)).Train.Indices);
        Assert.Throws<ArgumentOutOfRangeException>(() => Splits.Random(data, 1.5, new Generator(1)));
    }

    [Fact]
    public void AStratifiedSplitKeepsEachClassesShare()
    {
        // 40 of class 0, 20 of class 1, 10 of class 2.
        var labels = Enumerable.Range(0, 70).Select(i => i < 40 ? 0L : i < 60 ? 1 : 2).ToArray();
        var data = Labelled(labels);
        var (train, validation) = Splits.Stratified(data, 0.1, new Generator(5));
        long[] ValidationLabels() => validation.GetAll().Targets.ToArray<long>();
        Assert.Equal(4, ValidationLabels().Count(l => l == 0));
        Assert.Equal(2, ValidationLabels().Count(l => l == 1));
        Assert.Equal(1, ValidationLabels().Count(l => l == 2));
        Assert.Equal(63, train.Count);
        Assert.Empty(train.Indices.Intersect(validation.Indices));
        Assert.Throws<ArgumentException>(() => Splits.Stratified(new TensorDataset(Tensor.Zeros([3, 1]), Tensor.Zeros([3, 1])), 0.5, new Generator(0)));
    }

    [Fact]
    public void AStratifiedSampleTakesTheSameNumberFromEachClass()
    {
        var labels = Enumerable.Range(0, 300).Select(i => (long)(i * 7 % 3)).ToArray();
        var picked = Splits.StratifiedSample(labels, 25, new Generator(3));
        Assert.Equal(75, picked.Length);
        Assert.Equal(picked.Order(), picked);
        Assert.Equal(75, picked.Distinct().Count());
        Assert.All(Enumerable.Range(0, 3), c => Assert.Equal(25, picked.Count(i => labels[i] == c)));
        Assert.Equal(picked, Splits.StratifiedSample(labels, 25, new Generator(3)));
        var e = Assert.Throws<ArgumentException>(() => Splits.StratifiedSample(labels, 101, new Generator(3)));
        Assert.Contains("fewer than the 101", e.Message);
    }
}
