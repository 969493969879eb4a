using Aperture.Data;

namespace Aperture.Tests.Data;

public class DataLoaderTests
{
    private static TensorDataset Numbers(int n)
    {
        var x = new float[n * 2];
        var y = new long[n];
        for (int i = 0; i < n; i++) { x[2 * i] = i; x[2 * i + 1] = -i; y[i] = i; }
        return new TensorDataset(Tensor.Wrap(x, [n, 2]), Tensor.Wrap(y, [n]));
    }

    private static List<long[]> Epoch(DataLoader loader) => loader.Select(b => b.Targets.ToArray<long>()).ToList();

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void ResumeEpochProducesTheRestOfTheSameEpoch(int prefetch)
    {
        var full = new DataLoader(Numbers(23), 5, shuffle: true, generator: new Generator(8), prefetch: prefetch);
        Epoch(full);
        var second = Epoch(full);
        var resumed = new DataLoader(Numbers(23), 5, shuffle: true, generator: new Generator(8), prefetch: prefetch);
        Epoch(resumed);
        ulong offset = resumed.Generator!.Offset;
        foreach (int first in new[] { 0, 2, 5 })
        {
            resumed.Generator.Offset = offset;
            resumed.Epoch = 1;
            var rest = resumed.ResumeEpoch(first).Select(b => b.Targets.ToArray<long>()).ToList();
            Assert.Equal(second.Skip(first), rest);
            Assert.Equal(2, resumed.Epoch);
        }
        Assert.Equal(full.Generator!.Offset, resumed.Generator.Offset);
        Assert.Throws<ArgumentOutOfRangeException>(() => resumed.ResumeEpoch(6));
        Assert.Throws<ArgumentOutOfRangeException>(() => resumed.ResumeEpoch(-1));
    }

    [Fact]
    public void WithoutShuffleBatchesFollowTheDatasetOrder()
    {
        var loader = new DataLoader(Numbers(10), batchSize: 4);
        var batches = loader.ToList();
        Assert.Equal(3, loader.BatchesPerEpoch);
        Assert.Equal([4, 4, 2], batches.Select(b => b.Inputs.Shape[0]));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), batches.SelectMany(b => b.Targets.ToArray<long>()));
        Assert.Equal([8f, -8f, 9f, -9f], batches[2].Inputs.ToArray<float>());
    }

    [Fact]
    public void DropLastSkipsTheShortBatch()
    {
        var loader = new DataLoader(Numbers(10), batchSize: 4, dropLast: true);
        Assert.Equal(2, loader.BatchesPerEpoch);
        Assert.Equal([4, 4], loader.Select(b => b.Targets.Shape[0]));
        Assert.Empty(new DataLoader(Numbers(3), batchSize: 4, dropLast: true));
        Assert.Single(new DataLoader(Numbers(3), batchSize: 4));
    }

    [Fact]
    public void ShuffleVisitsEveryExampleOnceInAnOrderThatChangesByEpochAndRepeatsFromTheSeed()
    {
        var a = new DataLoader(Numbers(50), 8, shuffle: true, generator: new Generator(7));
        var b = new DataLoader(Numbers(50), 8, shuffle: true, generator: new Generator(7));
        var epochsA = Enumerable.Range(0, 3).Select(_ => Epoch(a).SelectMany(x => x).ToArray()).ToList();
        var epochsB = Enumerable.Range(0, 3).Select(_ => Epoch(b).SelectMany(x => x).ToArray()).ToList();
        for (int e = 0; e < 3; e++)
        {
            Assert.Equal(epochsA[e], epochsB[e]);
            Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), epochsA[e].Order());
        }
        Assert.NotEqual(epochsA[0], epochsA[1]);
        Assert.NotEqual(epochsA[1], epochsA[2]);
        Assert.NotEqual(Enumerable.Range(0, 50).Select(i => (long)i), epochsA[0]);
        var other = new DataLoader(Numbers(50), 8, shuffle: true, generator: new Generator(8));
        Assert.NotEqual(epochsA[0], Epoch(other).SelectMany(x => x).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void PrefetchGivesTheSameBatchesAsReadingInline(int prefetch)
    {
        var data = new TransformedDataset(Numbers(37), new GaussianNoise(0.5), seed: 3);
        var inline = new DataLoader(data, 5, shuffle: true, generator: new Generator(11));
        var ahead = new DataLoader(data, 5, shuffle: true, generator: new Generator(11), prefetch: prefetch);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var x = inline.ToList();
            var y = ahead.ToList();
            Assert.Equal(x.Count, y.Count);
            for (int i = 0; i < x.Count; i++)
            {
                Assert.Equal(x[i].Inputs.ToArray<float>(), y[i].Inputs.ToArray<float>());
                Assert.Equal(x[i].Targets.ToArray<long>(), y[i].Targets.ToArray<long>());
            }
        }
    }

    [Fact]
    public void AbandoningAPrefetchingEpochDoesNotHangOrChangeTheNextEpoch()
    {
        var data = new TransformedDataset(Numbers(40), new GaussianNoise(1), seed: 5);
        var inline = new DataLoader(data, 4, shuffle: true, generator: new Generator(2));
        var ahead = new DataLoader(data, 4, shuffle: true, generator: new Generator(2), prefetch: 4);
        // Read one batch of the first epoch and walk away: the worker has read ahead, which must not leak into epoch 1.
        using (var e = inline.GetEnumerator()) Assert.True(e.MoveNext());
        using (var e = ahead.GetEnumerator()) Assert.True(e.MoveNext());
        var x = inline.ToList();
        var y = ahead.ToList();
        for (int i = 0; i < x.Count; i++) Assert.Equal(x[i].Inputs.ToArray<float>(), y[i].Inputs.ToArray<float>());
        Assert.Equal(2, ahead.Epoch);
    }

    private sealed class FailingDataset(int failAt) : Dataset
    {
        public override int Count => 20;

        public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices)
        {
            if (indices[0] >= failAt) throw new FormatException($"example {indices[0]} is unreadable");
            return (Tensor.Zeros([indices.Length, 1]), Tensor.Zeros([indices.Length], DType.Int64));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void AnExceptionWhileReadingSurfacesUnchangedAfterTheBatchesBeforeIt(int prefetch)
    {
        var loader = new DataLoader(new FailingDataset(failAt: 12), 4, prefetch: prefetch);
        int seen = 0;
        var e = Assert.Throws<FormatException>(() => { foreach (var _ in loader) seen++; });
        Assert.Equal(3, seen);
        Assert.Contains("example 12", e.Message);
        Assert.Contains(nameof(FailingDataset), e.StackTrace);
    }

    private sealed class CancellingDataset : Dataset
    {
        public override int Count => 8;

        public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices) =>
            indices[0] >= 4 ? throw new OperationCanceledException("the source went away") : (Tensor.Zeros([indices.Length, 1]), Tensor.Zeros([indices.Length], DType.Int64));
    }

    [Fact]
    public void ADatasetsOwnCancellationIsNotMistakenForTheEndOfTheEpoch()
    {
        // The worker stops quietly only when the loader cancelled it; a dataset's OperationCanceledException is an error.
        int seen = 0;
        Assert.Throws<OperationCanceledException>(() => { foreach (var _ in new DataLoader(new CancellingDataset(), 2, prefetch: 2)) seen++; });
        Assert.Equal(2, seen);
    }

    [Fact]
    public void TheBackgroundThreadRunsUnderTheCallersNumericsPolicy()
    {
        var x = new float[16];
        for (int i = 0; i < x.Length; i++) x[i] = 1 + i / 1000f; // not representable in bfloat16
        var data = new TensorDataset(Tensor.Wrap(x, [16, 1]), Tensor.Zeros([16], DType.Int64));
        using var _ = NumericsPolicy.Use(new NumericsPolicy { Activations = StorageFormat.BFloat16 });
        var inline = new DataLoader(data, 4).Select(b => b.Inputs.ToArray<float>()).ToList();
        var ahead = new DataLoader(data, 4, prefetch: 2).Select(b => b.Inputs.ToArray<float>()).ToList();
        Assert.Equal(inline, ahead);
    }

    [Fact]
    public void SettingTheEpochAndGeneratorOffsetResumesARun()
    {
        var data = new TransformedDataset(Numbers(30), new GaussianNoise(1), seed: 9);
        var g = new Generator(4);
        var full = new DataLoader(data, 7, shuffle: true, generator: g);
        _ = full.ToList();
        ulong offset = g.Offset;
        var second = full.Select(b => b.Inputs.ToArray<float>()).ToList();

        var resumed = new DataLoader(data, 7, shuffle: true, generator: new Generator(4) { Offset = offset }) { Epoch = 1 };
        Assert.Equal(second, resumed.Select(b => b.Inputs.ToArray<float>()).ToList());
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Numbers(3), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Numbers(3), 1, prefetch: -1));
        Assert.Throws<ArgumentException>(() => new DataLoader(Numbers(3), 1, shuffle: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => Numbers(3).GetBatch([3]));
    }
}
