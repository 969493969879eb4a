using Aperture.Data;

namespace Aperture.Tests.Data;

public class TransformTests
{
    /// <summary>Images [n, c, h, w] whose pixel values say where they are: 1000·image + 100·channel + position.</summary>
    private static Tensor Labelled(int n, int c, int h, int w, DType dtype = DType.Float64)
    {
        var x = new double[n * c * h * w];
        for (int i = 0; i < x.Length; i++) x[i] = 1000 * (i / (c * h * w)) + 100 * (i / (h * w) % c) + i % (h * w);
        var t = Tensor.Wrap(x, [n, c, h, w]);
        return dtype == DType.Float64 ? t : Ops.To(t, dtype);
    }

    private static Generator[] Generators(int n, ulong seed) => Enumerable.Range(0, n).Select(i => new Generator(seed, (ulong)i)).ToArray();

    [Fact]
    public void NormalizeUsesPerChannelStatistics()
    {
        var x = Tensor.Wrap(new[] { 1.0, 3, 10, 30, 5, 7, 50, 70 }, [2, 2, 2]);
        var y = new Normalize([2.0, 20], [1.0, 10]).Apply(x, new Generator(0)).ToArray<double>();
        Assert.Equal(new[] { -1.0, 1, -1, 1, 3, 5, 3, 5 }, y);
        var fromData = Normalize.FromData(x);
        var z = fromData.Apply(x, new Generator(0));
        foreach (int ch in new[] { 0, 1 })
        {
            var values = Enumerable.Range(0, 8).Where(i => i / 2 % 2 == ch).Select(i => z.ToArray<double>()[i]).ToArray();
            Assert.Equal(0, values.Average(), 12);
            Assert.Equal(1, Math.Sqrt(values.Select(v => v * v).Average()), 12);
        }
        Assert.Throws<ShapeMismatchException>(() => new Normalize([0.0, 0, 0], [1.0, 1, 1]).Apply(x, new Generator(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Normalize(0, 0));
    }

    [Fact]
    public void ShiftMovesPixelsAndFillsTheBorder()
    {
        var x = Labelled(1, 2, 3, 4);
        var y = RandomCrop.Shift(x, dy: 1, dx: -1, fill: -5);
        for (int ch = 0; ch < 2; ch++)
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 4; s++)
                {
                    int sr = r + 1, ss = s - 1;
                    double want = sr < 3 && ss >= 0 ? x.At(0, ch, sr, ss) : -5;
                    Assert.Equal(want, y.At(0, ch, r, s));
                }
        Assert.Equal(x.ToArray<double>(), RandomCrop.Shift(x, 0, 0).ToArray<double>());
    }

    [Fact]
    public void RandomCropDrawsEveryShiftInRange()
    {
        // A single bright pixel in the middle of a 9×9 image shows each image's shift.
        int n = 400;
        var x = Tensor.Zeros([n, 1, 9, 9], DType.Float32);
        for (int i = 0; i < n; i++) x.SetAt(1, i, 0, 4, 4);
        var y = new RandomCrop(2).Apply(x, Generators(n, 3));
        var seen = new HashSet<(int, int)>();
        for (int i = 0; i < n; i++)
        {
            var img = Ops.Select(y, 0, i).ToArray<float>();
            int at = Array.IndexOf(img, 1f);
            Assert.True(at >= 0);
            Assert.Equal(1f, img.Sum());
            seen.Add((at / 9 - 4, at % 9 - 4));
        }
        Assert.Equal(25, seen.Count); // every (dy, dx) in [-2, 2]²
        Assert.Equal(DType.Float32, y.DType);
    }

    [Fact]
    public void FlipMirrorsRows()
    {
        var x = Labelled(3, 2, 2, 3);
        var flipped = new RandomHorizontalFlip(1).Apply(x, new Generator(0));
        for (int i = 0; i < 3; i++)
            for (int ch = 0; ch < 2; ch++)
                for (int r = 0; r < 2; r++)
                    for (int s = 0; s < 3; s++)
                        Assert.Equal(x.At(i, ch, r, 2 - s), flipped.At(i, ch, r, s));
        Assert.Equal(x.ToArray<double>(), new RandomHorizontalFlip(0).Apply(x, new Generator(0)).ToArray<double>());
        var half = new RandomHorizontalFlip(0.5).Apply(Labelled(1000, 1, 1, 2), Generators(1000, 1));
        int count = Enumerable.Range(0, 1000).Count(i => half.At(i, 0, 0, 0) > half.At(i, 0, 0, 1));
        Assert.InRange(count, 420, 580);
    }

    [Fact]
    public void RotationByRightAnglesMovesPixelsExactly()
    {
        var x = Labelled(2, 3, 5, 5);
        Assert.Equal(x.ToArray<double>(), RandomRotation.Rotate(x, 0).ToArray<double>());
        var y = RandomRotation.Rotate(x, 90);
        // Counter-clockwise as displayed: the right-hand column becomes the top row.
        for (int i = 0; i < 2; i++)
            for (int ch = 0; ch < 3; ch++)
                for (int r = 0; r < 5; r++)
                    for (int s = 0; s < 5; s++)
                        Assert.Equal(x.At(i, ch, s, 4 - r), y.At(i, ch, r, s), 9);
        var full = RandomRotation.Rotate(x, 360).ToArray<double>();
        Assert.Equal(x.ToArray<double>(), full, (a, b) => Math.Abs(a - b) < 1e-9);
    }

    [Fact]
    public void SmallRotationsInterpolateAndKeepTheCentre()
    {
        var x = Labelled(1, 1, 7, 7);
        var y = RandomRotation.Rotate(x, 10);
        Assert.Equal(x.At(0, 0, 3, 3), y.At(0, 0, 3, 3), 12);
        // Bilinear interpolation stays within the range of the pixels around it.
        foreach (double v in y.ToArray<double>()) Assert.InRange(v, 0, 48);
        // A constant image stays constant inside and takes in the fill at the corners.
        var ones = RandomRotation.Rotate(Tensor.Ones([1, 1, 7, 7], DType.Float64), 10, fill: 0);
        Assert.Equal(1, ones.At(0, 0, 3, 3), 12);
        Assert.Equal(1, ones.At(0, 0, 2, 4), 12);
        Assert.InRange(ones.At(0, 0, 0, 0), 0, 0.99);
        var random = new RandomRotation(15).Apply(Labelled(50, 1, 7, 7), Generators(50, 4));
        for (int i = 0; i < 50; i++) Assert.Equal(1000.0 * i + 24, random.At(i, 0, 3, 3), 9);
    }

    [Fact]
    public void GaussianNoiseHasTheRequestedSpreadAndIsReproducible()
    {
        var x = Tensor.Zeros([20, 1, 10, 10], DType.Float64);
        var a = new GaussianNoise(0.3).Apply(x, Generators(20, 8)).ToArray<double>();
        var b = new GaussianNoise(0.3).Apply(x, Generators(20, 8)).ToArray<double>();
        Assert.Equal(a, b);
        Assert.Equal(0, a.Average(), tolerance: 0.02);
        Assert.Equal(0.3, Math.Sqrt(a.Select(v => v * v).Average()), tolerance: 0.02);
        Assert.NotEqual(a, new GaussianNoise(0.3).Apply(x, Generators(20, 9)).ToArray<double>());
    }

    [Fact]
    public void ComposeAppliesInOrder()
    {
        var x = Labelled(2, 1, 3, 3);
        var composed = new Compose(new RandomHorizontalFlip(1), new Normalize(10, 2)).Apply(x, new Generator(0));
        var manual = new Normalize(10, 2).Apply(new RandomHorizontalFlip(1).Apply(x, new Generator(0)), new Generator(0));
        Assert.Equal(manual.ToArray<double>(), composed.ToArray<double>());
    }

    [Fact]
    public void BadInputsAreRejected()
    {
        Assert.Throws<ShapeMismatchException>(() => new RandomCrop(1).Apply(Tensor.Zeros([2, 9]), new Generator(0)));
        Assert.Throws<DTypeMismatchException>(() => new RandomHorizontalFlip().Apply(Tensor.Zeros([1, 1, 2, 2], DType.Int64), new Generator(0)));
        Assert.Throws<ArgumentException>(() => new GaussianNoise(1).Apply(Tensor.Zeros([3, 2]), Generators(2, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomRotation(181));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomCrop(-1));
    }

    [Fact]
    public void ATransformedDatasetAugmentsEachExampleByItsEpochAndIndexOnly()
    {
        var images = Labelled(10, 1, 6, 6, DType.Float32);
        var data = new TransformedDataset(new TensorDataset(images, Tensor.Arange(10)), new Compose(new RandomCrop(2), new GaussianNoise(0.1)), seed: 42);
        var together = data.GetBatch([3, 7, 5], epoch: 2).Inputs;
        var alone = data.GetBatch([7], epoch: 2).Inputs;
        Assert.Equal(Ops.Select(together, 0, 1).ToArray<float>(), Ops.Select(alone, 0, 0).ToArray<float>());
        Assert.NotEqual(alone.ToArray<float>(), data.GetBatch([7], epoch: 3).Inputs.ToArray<float>());
        Assert.Equal(data.GetBatch([7]).Inputs.ToArray<float>(), data.GetBatch([7], epoch: 0).Inputs.ToArray<float>());
        var same = new TransformedDataset(new TensorDataset(images, Tensor.Arange(10)), new Compose(new RandomCrop(2), new GaussianNoise(0.1)), seed: 42);
        Assert.Equal(alone.ToArray<float>(), same.GetBatch([7], epoch: 2).Inputs.ToArray<float>());
        var other = new TransformedDataset(new TensorDataset(images, Tensor.Arange(10)), new Compose(new RandomCrop(2), new GaussianNoise(0.1)), seed: 43);
        Assert.NotEqual(alone.ToArray<float>(), other.GetBatch([7], epoch: 2).Inputs.ToArray<float>());
        Assert.Equal(new long[] { 3, 7, 5 }, data.GetBatch([3, 7, 5], epoch: 2).Targets.ToArray<long>());
        // A subset keeps each example's augmentation, since it passes the underlying index through.
        var subset = new Subset(data, [7, 3]);
        Assert.Equal(alone.ToArray<float>(), subset.GetBatch([0], epoch: 2).Inputs.ToArray<float>());
    }
}
