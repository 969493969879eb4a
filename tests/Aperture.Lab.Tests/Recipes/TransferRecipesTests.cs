using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.Lab.Recipes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Recipes;

public class TransferRecipesTests
{
    [Fact]
    public void CutsSplitLeNetAtItsLayersAndTheTwoHalvesComposeToTheNet()
    {
        Assert.Equal([0, 3, 6, 9, 11], Enumerable.Range(0, 5).Select(TransferStages.Cut));
        Assert.Throws<ArgumentOutOfRangeException>(() => TransferStages.Cut(5));
        var net = Models.LeNet5(classes: 5, generator: new Generator(1));
        var x = new TensorDataset(Tensor.Randn([4, 1, 28, 28], new Generator(2)), Tensor.FromArray(new long[] { 0, 1, 2, 3 }));
        var whole = Classification.Logits(net, x).ToDoubleArray();
        for (int d = 0; d <= TransferStages.MaxDepth; d++)
        {
            int cut = TransferStages.Cut(d);
            var features = TransferStages.Features(TransferStages.Layers(net, 0, cut), x);
            var top = TransferStages.Layers(net, cut, net.Count);
            Assert.Equal(whole, Classification.Logits(top, features).ToDoubleArray());
        }
        // The layers keep their names, so a state dict of the top loads by LeNet-5's keys.
        Assert.Contains("11.weight", TransferStages.Layers(net, 9, net.Count).StateDict().Keys);
    }

    [Fact]
    public void ClassSamplesRelabelByPositionAndAPretrainedBodyRoundTrips()
    {
        var data = Tiny.Subset.FashionMnist;
        var sample = TransferStages.ClassSample(data.Train, [7, 3], 4, new Generator(3), "test");
        Assert.Equal([8, 1, 28, 28], sample.Inputs.Shape.ToArray());
        Assert.Equal([0L, 0, 0, 0, 1, 1, 1, 1], sample.Targets.ToArray<long>().Order());
        var body = new PretrainedBody(new Dictionary<string, Tensor> { ["0.weight"] = Tensor.FromArray(new float[] { 1, 2 }) }, 0.5, 0.25);
        var back = PretrainedBody.Unpack(body.Pack());
        Assert.Equal((0.5, 0.25), (back.SourceTrainAccuracy, back.SourceTestAccuracy));
        Assert.Equal([1f, 2f], back.Body["0.weight"].ToArray<float>());
    }

    [Fact]
    public void WeightDecaySelectionChoosesOnValidationFromOneStartAndLeavesTheChosenWeights()
    {
        var task = Synthetic.GaussianMixture(90, 3, 4, new Generator(5), radius: 1.5);
        TensorDataset Part(int from, int to)
        {
            var index = Tensor.FromArray(Enumerable.Range(from, to - from).Select(i => (long)i).ToArray());
            return new TensorDataset(Ops.IndexSelect(task.Data.Inputs, 0, index), Ops.IndexSelect(task.Data.Targets, 0, index));
        }
        var (train, validation, test) = (Part(0, 40), Part(40, 65), Part(65, 90));
        DecaySelection Once(out Module model)
        {
            model = Models.Mlp(4, [8], 3, generator: new Generator(1));
            return WeightDecaySelection.Fit(model, train, validation, test, [1e-3, 1.0], 30, 10, 0.03, new Generator(2));
        }
        var s = Once(out var m);
        Assert.Equal(2, s.Fits.Count);
        var best = s.Fits.Max(f => f.ValidationAccuracy);
        Assert.Equal(best, s.Best.ValidationAccuracy);
        Assert.Equal(s.Best.ValidationAccuracy, Classification.Accuracy(m, validation));
        Assert.Equal(s.Best.TestAccuracy, Classification.Accuracy(m, test));
        // A strong decay fits the training set less well.
        Assert.True(s.Fits[1].TrainLoss > s.Fits[0].TrainLoss);
        Assert.Equal(s, Once(out _), new SelectionComparer());
    }

    private sealed class SelectionComparer : IEqualityComparer<DecaySelection>
    {
        public bool Equals(DecaySelection? a, DecaySelection? b) => a!.Chosen == b!.Chosen && a.Fits.SequenceEqual(b.Fits);
        public int GetHashCode(DecaySelection s) => s.Chosen;
    }
}
