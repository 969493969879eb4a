using Aperture.Data;
using Aperture.IO;

namespace Aperture.Testing;

/// <summary>
/// Full-size copies of Fashion-MNIST for tests that must not depend on Debian's package: the shipped subset's images and
/// labels at their original indices, every other image one grey level (index mod 251) with label index mod 10, written
/// as gzipped IDX files with the standard names. Shared by the engine's and the lab's tests.
/// </summary>
internal static class FashionMnistCopies
{
    /// <summary>Writes a full-size copy into <paramref name="dir"/>; <paramref name="alter"/> may change a split's pixels before they are written.</summary>
    public static void WriteFullSize(string dir, Action<string, byte[], int[]>? alter = null)
    {
        string subset = FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the shipped Fashion-MNIST subset is missing");
        Directory.CreateDirectory(dir);
        foreach (var (split, n) in new[] { ("train", FashionMnist.FullTrainCount), ("t10k", FashionMnist.FullTestCount) })
        {
            var indices = (int[])Idx.Read(Path.Combine(subset, $"{split}-indices-idx1-int32.gz")).Data;
            var subsetPixels = (byte[])Idx.Read(Path.Combine(subset, $"{split}-images-idx3-ubyte.gz")).Data;
            var subsetLabels = (byte[])Idx.Read(Path.Combine(subset, $"{split}-labels-idx1-ubyte.gz")).Data;
            var pixels = new byte[n * 784];
            var labels = new byte[n];
            for (int i = 0; i < n; i++)
            {
                pixels.AsSpan(i * 784, 784).Fill((byte)(i % 251));
                labels[i] = (byte)(i % 10);
            }
            for (int j = 0; j < indices.Length; j++)
            {
                subsetPixels.AsSpan(j * 784, 784).CopyTo(pixels.AsSpan(indices[j] * 784));
                labels[indices[j]] = subsetLabels[j];
            }
            alter?.Invoke(split, pixels, indices);
            Idx.Write(Path.Combine(dir, $"{split}-images-idx3-ubyte.gz"), new IdxArray(pixels, [n, 28, 28]), gzip: true);
            Idx.Write(Path.Combine(dir, $"{split}-labels-idx1-ubyte.gz"), new IdxArray(labels, [n]), gzip: true);
        }
    }
}
