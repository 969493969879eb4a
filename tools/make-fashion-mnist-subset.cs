#:project ../src/Aperture/Aperture.csproj
// Builds data/fashion-mnist-subset, the stratified Fashion-MNIST subset shipped so that the README works offline:
// 600 training and 100 test images per class, drawn without replacement from Debian's dataset-fashion-mnist with a
// fixed seed, written as gzipped IDX files with the original names. Run from the repository root:
//   dotnet run tools/make-fashion-mnist-subset.cs [source directory] [output directory]
using Aperture;
using Aperture.Data;
using Aperture.IO;

const ulong Seed = 20170825; // Fashion-MNIST's release date
const int TrainPerClass = 600, TestPerClass = 100;

string source = args.Length > 0 ? args[0] : FashionMnist.DebianDirectory;
string output = args.Length > 1 ? args[1] : FashionMnist.SubsetFolder;
var generator = new Generator(Seed);
Directory.CreateDirectory(output);
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
    Idx.Write(Path.Combine(output, $"{split}-images-idx3-ubyte.gz"), new IdxArray(pickedImages, [chosen.Length, images.Shape[1], images.Shape[2]]), gzip: true);
    Idx.Write(Path.Combine(output, $"{split}-labels-idx1-ubyte.gz"), new IdxArray(pickedLabels, [chosen.Length]), gzip: true);
    Console.WriteLine($"{split}: {chosen.Length} images ({perClass} per class) from {images.Shape[0]}");
}
