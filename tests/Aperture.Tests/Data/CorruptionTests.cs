using Aperture.Data;

namespace Aperture.Tests.Data;

public class CorruptionTests
{
    private static TensorDataset Images(int n, int c, int h, int w)
    {
        var x = new float[n * c * h * w];
        for (int i = 0; i < x.Length; i++) x[i] = 1000 * (i / (c * h * w)) + 100 * (i / (h * w) % c) + i % (h * w);
        return new TensorDataset(Tensor.Wrap(x, [n, c, h, w]), Tensor.Wrap(Enumerable.Range(0, n).Select(i => (long)(i % 10)).ToArray(), [n]));
    }

    [Fact]
    public void RandomLabelsReplaceTheChosenFractionOnceAndForAll()
    {
        var data = Images(1000, 1, 2, 2);
        var original = data.Targets.ToArray<long>();
        Assert.Equal(original, Corruptions.RandomLabels(data, 0, 10, new Generator(1)).Targets.ToArray<long>());
        var half = Corruptions.RandomLabels(data, 0.5, 10, new Generator(1));
        var changed = Enumerable.Range(0, 1000).Count(i => half.Targets.ToArray<long>()[i] != original[i]);
        // 500 replaced, of which about a tenth draw their own label again.
        Assert.InRange(changed, 400, 500);
        Assert.All(half.Targets.ToArray<long>(), l => Assert.InRange(l, 0, 9));
        Assert.Same(data.Inputs, half.Inputs);
        Assert.Equal(half.Targets.ToArray<long>(), Corruptions.RandomLabels(data, 0.5, 10, new Generator(1)).Targets.ToArray<long>());
        var all = Corruptions.RandomLabels(data, 1, 10, new Generator(2)).Targets.ToArray<long>();
        Assert.InRange(Enumerable.Range(0, 1000).Count(i => all[i] != original[i]), 850, 950);
    }

    [Fact]
    public void AFixedPermutationShufflesEveryImageTheSameWay()
    {
        var data = Images(5, 3, 4, 4);
        var shuffled = Corruptions.ShufflePixels(data, perImage: false, new Generator(3));
        var x = data.Inputs.ToArray<float>();
        var y = shuffled.Inputs.ToArray<float>();
        int[]? permutation = null;
        for (int i = 0; i < 5; i++)
            for (int ch = 0; ch < 3; ch++)
            {
                // Each pixel value is 1000·image + 100·channel + position, so y reveals where each pixel came from.
                var p = Enumerable.Range(0, 16).Select(k => (int)(y[(i * 3 + ch) * 16 + k] - 1000 * i - 100 * ch)).ToArray();
                Assert.Equal(Enumerable.Range(0, 16), p.Order());
                permutation ??= p;
                Assert.Equal(permutation, p);
            }
        Assert.NotEqual(Enumerable.Range(0, 16), permutation!);
        Assert.Equal(x.Order(), y.Order());
        Assert.Equal(data.Targets.ToArray<long>(), shuffled.Targets.ToArray<long>());
    }

    [Fact]
    public void PerImagePermutationsDiffer()
    {
        var data = Images(4, 1, 5, 5);
        var y = Corruptions.ShufflePixels(data, perImage: true, new Generator(3)).Inputs.ToArray<float>();
        var perms = Enumerable.Range(0, 4).Select(i => Enumerable.Range(0, 25).Select(k => (int)y[i * 25 + k] - 1000 * i).ToArray()).ToList();
        foreach (var p in perms) Assert.Equal(Enumerable.Range(0, 25), p.Order());
        Assert.NotEqual(perms[0], perms[1]);
        Assert.NotEqual(perms[2], perms[3]);
        Assert.Equal(y, Corruptions.ShufflePixels(data, perImage: true, new Generator(3)).Inputs.ToArray<float>());
    }

    [Fact]
    public void GaussianInputsMatchTheDatasMeanAndVariance()
    {
        var g = new Generator(0);
        var x = Tensor.Normal([200, 1, 8, 8], 0.3, 0.2, g);
        var data = new TensorDataset(x, Tensor.Zeros([200], DType.Int64));
        var noise = Corruptions.GaussianInputs(data, new Generator(1));
        Assert.Equal(x.ShapeArray(), noise.Inputs.ShapeArray());
        Assert.Equal(DType.Float32, noise.Inputs.DType);
        var v = noise.Inputs.ToArray<float>().Select(f => (double)f).ToArray();
        var d = x.ToArray<float>().Select(f => (double)f).ToArray();
        double mean = v.Average(), dataMean = d.Average();
        Assert.Equal(dataMean, mean, tolerance: 0.005);
        Assert.Equal(Math.Sqrt(d.Select(a => (a - dataMean) * (a - dataMean)).Average()), Math.Sqrt(v.Select(a => (a - mean) * (a - mean)).Average()), tolerance: 0.005);
        Assert.NotEqual(d, v);
    }
}
