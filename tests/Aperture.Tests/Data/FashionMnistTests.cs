using Aperture.Data;
using Aperture.IO;
using Aperture.Tests.IO;

namespace Aperture.Tests.Data;

public class FashionMnistTests
{
    /// <summary>Writes a tiny Fashion-MNIST lookalike: image i has every pixel equal to 10·i + 5, label i mod 10.</summary>
    private static void WriteTiny(string dir, int train, int test, bool gzip, Action<string>? tamper = null)
    {
        foreach (var (split, n) in new[] { ("train", train), ("t10k", test) })
        {
            var pixels = new byte[n * 784];
            for (int i = 0; i < n; i++) pixels.AsSpan(i * 784, 784).Fill((byte)(10 * i + 5));
            var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
            string ext = gzip ? ".gz" : "";
            Idx.Write(Path.Combine(dir, $"{split}-images-idx3-ubyte{ext}"), new IdxArray(pixels, [n, 28, 28]), gzip);
            Idx.Write(Path.Combine(dir, $"{split}-labels-idx1-ubyte{ext}"), new IdxArray(labels, [n]), gzip);
        }
        tamper?.Invoke(dir);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoadsImagesScaledToTheUnitIntervalAndLabels(bool gzip)
    {
        using var dir = new TempDirectory();
        WriteTiny(dir.Path, train: 12, test: 3, gzip);
        var data = FashionMnist.Load(dir.Path);
        Assert.Equal(FashionMnistOrigin.Directory, data.Origin);
        Assert.Equal($"directory {dir.Path} (12 train, 3 test)", data.Source);
        Assert.Equal([12, 1, 28, 28], data.Train.Inputs.ShapeArray());
        Assert.Equal(DType.Float32, data.Train.Inputs.DType);
        Assert.Equal([3], data.Test.Targets.ShapeArray());
        Assert.Equal(DType.Int64, data.Test.Targets.DType);
        Assert.Equal(105 / 255f, data.Train.Inputs.At(10, 0, 27, 27));
        Assert.Equal(5 / 255f, data.Test.Inputs.At(0, 0, 0, 0));
        Assert.Equal(new long[] { 0, 1, 2 }, data.Test.Targets.ToArray<long>());
        Assert.Equal(1L, data.Train.Targets.ToArray<long>()[11]);
    }

    [Fact]
    public void FilesThatDoNotBelongTogetherAreRejected()
    {
        using var a = new TempDirectory();
        WriteTiny(a.Path, 4, 2, gzip: false, dir => Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), new IdxArray(new byte[3], [3])));
        var e = Assert.Throws<IdxFormatException>(() => FashionMnist.Load(a.Path));
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
        Assert.Contains("has 3 labels but", e.Message);

        using var b = new TempDirectory();
        WriteTiny(b.Path, 4, 2, gzip: false, dir => Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte"), new IdxArray(new byte[] { 0, 1, 10, 2 }, [4])));
        Assert.Contains("label 2 is 10", Assert.Throws<IdxFormatException>(() => FashionMnist.Load(b.Path)).Message);

        using var c = new TempDirectory();
        WriteTiny(c.Path, 4, 2, gzip: true, dir => Idx.Write(Path.Combine(dir, "train-images-idx3-ubyte.gz"), new IdxArray(new byte[4 * 27 * 28], [4, 27, 28]), gzip: true));
        Assert.Contains("expected unsigned-byte images [n, 28, 28]", Assert.Throws<IdxFormatException>(() => FashionMnist.Load(c.Path)).Message);

        using var d = new TempDirectory();
        var missing = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(d.Path));
        Assert.Contains("train-images-idx3-ubyte.gz", missing.Message);
    }

    [Fact]
    public void TheShippedSubsetIsStratifiedAndFound()
    {
        string? dir = FashionMnist.FindBuiltInSubset();
        Assert.NotNull(dir);
        var data = FashionMnist.LoadFrom(dir, FashionMnistOrigin.BuiltInSubset);
        Assert.StartsWith("built-in subset (6000 train, 1000 test) at ", data.Source);
        var train = data.Train.Targets.ToArray<long>();
        var test = data.Test.Targets.ToArray<long>();
        for (int c = 0; c < 10; c++)
        {
            Assert.Equal(600, train.Count(l => l == c));
            Assert.Equal(100, test.Count(l => l == c));
        }
        var pixels = data.Train.Inputs.ToArray<float>();
        Assert.Equal(1f, pixels.Max());
        Assert.Equal(0f, pixels.Min());
        Assert.InRange(pixels.Average(), 0.2, 0.4); // Fashion-MNIST's mean intensity is about 0.29
        long bytes = Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 5_000_000, $"the subset takes {bytes} bytes");
    }

    [Fact]
    public void WithoutADirectoryDebiansCopyComesBeforeTheSubset()
    {
        // Resolution only: reading all 70,000 images is not for the fast suite.
        var (dir, origin) = FashionMnist.Resolve(null);
        if (File.Exists(Path.Combine(FashionMnist.DebianDirectory, "train-images-idx3-ubyte.gz")))
            Assert.Equal((FashionMnist.DebianDirectory, FashionMnistOrigin.DebianPackage), (dir, origin));
        else
            Assert.Equal((FashionMnist.FindBuiltInSubset(), FashionMnistOrigin.BuiltInSubset), (dir, origin));
        Assert.Equal(("/some/where", FashionMnistOrigin.Directory), FashionMnist.Resolve("/some/where"));
    }
}
