using System.Security.Cryptography;
using Aperture.Data;
using Aperture.IO;
using Aperture.Tests.IO;

namespace Aperture.Tests.Data;

/// <summary>
/// A full-size Fashion-MNIST lookalike (60,000 training and 10,000 test images), written once for the class: the
/// shipped subset's images and labels at their original indices, every other image filled with one grey level and
/// labelled i mod 10.
/// </summary>
public sealed class FullSizeCopyFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public FullSizeCopyFixture()
    {
        Aperture.Testing.FashionMnistCopies.WriteFullSize(Dir, (split, pixels, indices) =>
        {
            if (split == "t10k") (TestPixels, TestIndices) = ((byte[])pixels.Clone(), indices);
        });
    }

    public string Dir => _dir.Path;

    /// <summary>The test images as written.</summary>
    public byte[] TestPixels { get; private set; } = [];

    /// <summary>The subset's test indices.</summary>
    public int[] TestIndices { get; private set; } = [];

    public void Dispose() => _dir.Dispose();
}

public class FashionMnistSubsetTests(FullSizeCopyFixture full) : IClassFixture<FullSizeCopyFixture>
{
    private static string Subset => FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the built-in Fashion-MNIST subset is missing");

    private static void AssertSameContent(FashionMnist expected, FashionMnist actual)
    {
        Assert.Equal(expected.Fingerprint, actual.Fingerprint);
        foreach (var (e, a) in new[] { (expected.Train, actual.Train), (expected.Test, actual.Test) })
        {
            Assert.Equal(e.Inputs.ShapeArray(), a.Inputs.ShapeArray());
            Assert.True(e.Inputs.ToArray<float>().AsSpan().SequenceEqual(a.Inputs.ToArray<float>()), "the images differ");
            Assert.True(e.Targets.ToArray<long>().AsSpan().SequenceEqual(a.Targets.ToArray<long>()), "the labels differ");
        }
        Assert.Equal(expected.TrainIndices, actual.TrainIndices);
        Assert.Equal(expected.TestIndices, actual.TestIndices);
    }

    [Fact]
    public void TheShippedSubsetHasTheExpectedFingerprintAndIndices()
    {
        var data = FashionMnist.LoadSubset(Subset);
        Assert.Equal(FashionMnist.SubsetSha256, data.Fingerprint);
        Assert.True(data.IsSubsetView);
        Assert.Equal(FashionMnistOrigin.Directory, data.Origin);
        Assert.StartsWith("subset view (6000 train, 1000 test) of directory ", data.Source);
        Assert.Equal(6000, data.TrainIndices!.Count);
        Assert.Equal(1000, data.TestIndices!.Count);
        Assert.InRange(data.TrainIndices[^1], 0, FashionMnist.FullTrainCount - 1);
        Assert.InRange(data.TestIndices[^1], 0, FashionMnist.FullTestCount - 1);

        // The fingerprint is SHA-256 of the four decompressed IDX files, concatenated in FileNames order.
        using var all = new MemoryStream();
        foreach (string file in FashionMnist.FileNames) Idx.Write(all, Idx.Read(Path.Combine(Subset, file + ".gz")));
        Assert.Equal(FashionMnist.SubsetSha256, Convert.ToHexStringLower(SHA256.HashData(all.ToArray())));
        // Load gives the same content, without indices.
        var plain = FashionMnist.LoadFrom(Subset, FashionMnistOrigin.BuiltInSubset);
        Assert.Equal(FashionMnist.SubsetSha256, plain.Fingerprint);
        Assert.Null(plain.TrainIndices);
        Assert.False(plain.IsSubsetView);
    }

    [Fact]
    public void TheSubsetViewOfAFullCopyIsTheShippedSubsetBitForBit()
    {
        var shipped = FashionMnist.LoadSubset(Subset);
        var view = FashionMnist.LoadSubset(full.Dir);
        AssertSameContent(shipped, view);
        Assert.Equal(FashionMnistOrigin.Directory, view.Origin);
        Assert.Equal($"subset view (6000 train, 1000 test) of directory {full.Dir}", view.Source);

        var all = FashionMnist.LoadFull(full.Dir);
        Assert.Equal(FashionMnist.FullTrainCount, all.Train.Count);
        Assert.Equal(FashionMnist.FullTestCount, all.Test.Count);
        Assert.NotEqual(FashionMnist.SubsetSha256, all.Fingerprint);
        Assert.Matches("^[0-9a-f]{64}$", all.Fingerprint);
        Assert.Null(all.TrainIndices);
    }

    [Fact]
    public void TheSubsetViewOfDebiansCopyIsTheShippedSubsetBitForBit()
    {
        // Needs Debian's dataset-fashion-mnist; without it the test above covers the same path with a lookalike copy.
        if (!File.Exists(Path.Combine(FashionMnist.DebianDirectory, "train-images-idx3-ubyte.gz"))) return;
        var view = FashionMnist.LoadSubset();
        Assert.Equal(FashionMnistOrigin.DebianPackage, view.Origin);
        Assert.StartsWith("subset view (6000 train, 1000 test) of Debian package at ", view.Source);
        AssertSameContent(FashionMnist.LoadSubset(Subset), view);
        // zcat train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz | sha256sum
        var all = FashionMnist.LoadFull();
        Assert.Equal(FashionMnistOrigin.DebianPackage, all.Origin);
        Assert.Equal("14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214", all.Fingerprint);
    }

    [Fact]
    public void ACopyThatDiffersAtASubsetIndexIsRefused()
    {
        using var bad = new TempDirectory();
        foreach (string file in new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz" })
            File.Copy(Path.Combine(full.Dir, file), bad.File(file));
        var pixels = (byte[])full.TestPixels.Clone();
        pixels[full.TestIndices[500] * 784 + 400] ^= 1;
        Idx.Write(bad.File("t10k-images-idx3-ubyte"), new IdxArray(pixels, [FashionMnist.FullTestCount, 28, 28]));

        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSubset(bad.Path));
        Assert.Contains($"the images and labels at the subset's indices in {bad.Path} are not the shipped subset's", e.Message);
        Assert.Contains($"expected {FashionMnist.SubsetSha256}", e.Message);
        Assert.Contains("another version or corrupt", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // The same copy still loads in full: only the subset view promises particular images.
        Assert.Equal(FashionMnist.FullTestCount, FashionMnist.LoadFull(bad.Path).Test.Count);
    }

    [Fact]
    public void LoadFullWithoutAFullCopySaysHowToGetOneInOneLine()
    {
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadFull(Subset));
        Assert.Contains("holds 6000 training and 1000 test images, not the full dataset's 60000 and 10000", e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("--data-dir", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        using var empty = new TempDirectory();
        var missing = Assert.Throws<FileNotFoundException>(() => FashionMnist.LoadFull(empty.Path));
        Assert.Contains($"the full dataset is not in {empty.Path}", missing.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", missing.Message);
        Assert.DoesNotContain('\n', missing.Message);
    }
}
