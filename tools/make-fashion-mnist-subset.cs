#:project ../src/Aperture/Aperture.csproj
// Builds data/fashion-mnist-subset, the stratified Fashion-MNIST subset shipped so that the README works offline:
// 600 training and 100 test images per class, drawn without replacement from Debian's dataset-fashion-mnist with a
// fixed seed, written as gzipped IDX files with the original names, together with each split's indices into the full
// dataset (train-indices-idx1-int32.gz, t10k-indices-idx1-int32.gz: int32 IDX, increasing), which
// FashionMnist.LoadSubset reads to take the same images from a full copy. Prints the subset's content SHA-256
// (FashionMnist.SubsetSha256: the four decompressed image and label files, concatenated in FashionMnist.FileNames
// order). Run from the repository root:
//   dotnet run tools/make-fashion-mnist-subset.cs [source directory] [output directory]
using System.Security.Cryptography;
using Aperture;
using Aperture.Data;
using Aperture.IO;

const ulong Seed = 20170825; // Fashion-MNIST's release date
const int TrainPerClass = 600, TestPerClass = 100;

string source = args.Length > 0 ? args[0] : FashionMnist.DebianDirectory;
string output = args.Length > 1 ? args[1] : FashionMnist.SubsetFolder;
var generator = new Generator(Seed); // one generator for both splits: train draws first, then t10k continues
Directory.CreateDirectory(output);
using var content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
foreach (var (split, perClass) in new[] { ("train", TrainPerClass), ("t10k", TestPerClass) })
{
    var images = Idx.Read(Path.Combine(source, $"{split}-images-idx3-ubyte.gz"));
    var labels = Idx.Read(Path.Combine(source, $"{split}-labels-idx1-ubyte.gz"));
    var labelBytes = (byte[])labels.Data;
    var chosen = Splits.StratifiedSample(labelBytes.Select(b => (long)b).ToArray(), perClass, generator);
    int pixels = images.Shape[1] * images.Shape[2];
    var pickedImages = new byte[chosen.Length * pixels];
    var pickedLabels = new byte[chosen.Length];
    for (int i = 0; i < chosen.Length; i++)
    {
        Array.Copy((byte[])images.Data, (long)chosen[i] * pixels, pickedImages, (long)i * pixels, pixels);
        pickedLabels[i] = labelBytes[chosen[i]];
    }
    var imageArray = new IdxArray(pickedImages, [chosen.Length, images.Shape[1], images.Shape[2]]);
    var labelArray = new IdxArray(pickedLabels, [chosen.Length]);
    Idx.Write(Path.Combine(output, $"{split}-images-idx3-ubyte.gz"), imageArray, gzip: true);
    Idx.Write(Path.Combine(output, $"{split}-labels-idx1-ubyte.gz"), labelArray, gzip: true);
    Idx.Write(Path.Combine(output, $"{split}-indices-idx1-int32.gz"), new IdxArray(chosen, [chosen.Length]), gzip: true);
    foreach (var array in new[] { imageArray, labelArray })
    {
        using var idx = new MemoryStream();
        Idx.Write(idx, array);
        content.AppendData(idx.GetBuffer(), 0, (int)idx.Length);
    }
    Console.WriteLine($"{split}: {chosen.Length} images ({perClass} per class) from {images.Shape[0]}");
}
Console.WriteLine($"content SHA-256: {Convert.ToHexStringLower(content.GetHashAndReset())}");
