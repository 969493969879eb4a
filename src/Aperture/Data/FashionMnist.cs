using System.Numerics.Tensors;
using Aperture.IO;

namespace Aperture.Data;

/// <summary>Where a copy of Fashion-MNIST came from.</summary>
public enum FashionMnistOrigin
{
    /// <summary>A directory the caller named.</summary>
    Directory,
    /// <summary>Debian's <c>dataset-fashion-mnist</c> package.</summary>
    DebianPackage,
    /// <summary>The stratified subset shipped with Aperture.</summary>
    BuiltInSubset,
}

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28×28 grey images of clothing in 10 classes, 60,000 for training
/// and 10,000 for testing. Images are float32 [n, 1, 28, 28] scaled to [0, 1]; labels are int64 [n].
/// </summary>
public sealed class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The shipped subset's folder, relative to the repository root and to the application's directory.</summary>
    public const string SubsetFolder = "data/fashion-mnist-subset";

    /// <summary>The ten class names, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The file names of the four IDX files, without the optional <c>.gz</c>.</summary>
    public static IReadOnlyList<string> FileNames { get; } =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    private FashionMnist(TensorDataset train, TensorDataset test, FashionMnistOrigin origin, string directory)
    {
        Train = train;
        Test = test;
        Origin = origin;
        Directory = directory;
    }

    /// <summary>The training images and labels.</summary>
    public TensorDataset Train { get; }

    /// <summary>The test images and labels.</summary>
    public TensorDataset Test { get; }

    /// <summary>Which copy was loaded.</summary>
    public FashionMnistOrigin Origin { get; }

    /// <summary>The directory the files were read from.</summary>
    public string Directory { get; }

    /// <summary>A sentence saying which copy was loaded, for logs and reports.</summary>
    public string Source => Origin switch
    {
        FashionMnistOrigin.Directory => $"directory {Directory} ({Train.Count} train, {Test.Count} test)",
        FashionMnistOrigin.DebianPackage => $"Debian package at {Directory} ({Train.Count} train, {Test.Count} test)",
        _ => $"built-in subset ({Train.Count} train, {Test.Count} test) at {Directory}",
    };

    /// <summary>
    /// Loads Fashion-MNIST from <paramref name="directory"/> when given (an error if the files are not there);
    /// otherwise from Debian's package at <see cref="DebianDirectory"/> when installed; otherwise the subset shipped
    /// with Aperture. <see cref="Source"/> says which.
    /// </summary>
    public static FashionMnist Load(string? directory = null)
    {
        var (dir, origin) = Resolve(directory);
        return LoadFrom(dir, origin);
    }

    /// <summary>The directory <see cref="Load"/> reads and what kind of copy it is.</summary>
    internal static (string Directory, FashionMnistOrigin Origin) Resolve(string? directory)
    {
        if (directory is not null) return (directory, FashionMnistOrigin.Directory);
        if (HasFiles(DebianDirectory)) return (DebianDirectory, FashionMnistOrigin.DebianPackage);
        var subset = FindBuiltInSubset()
            ?? throw new FileNotFoundException(
                $"Fashion-MNIST: no copy found. Install Debian's dataset-fashion-mnist (files in {DebianDirectory}), pass a directory " +
                $"holding {string.Join(", ", FileNames)} (each optionally .gz), or run from a checkout that has {SubsetFolder}");
        return (subset, FashionMnistOrigin.BuiltInSubset);
    }

    /// <summary>Loads the four IDX files (plain or <c>.gz</c>) from <paramref name="directory"/>.</summary>
    public static FashionMnist LoadFrom(string directory, FashionMnistOrigin origin = FashionMnistOrigin.Directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var paths = FileNames.Select(f => Locate(directory, f)).ToArray();
        var train = Read(paths[0], paths[1]);
        var test = Read(paths[2], paths[3]);
        return new FashionMnist(train, test, origin, System.IO.Path.GetFullPath(directory));
    }

    /// <summary>
    /// The shipped subset's directory: <see cref="SubsetFolder"/> under the application's directory (where builds
    /// copy it), or under the nearest ancestor directory that has it (a source checkout); null when neither exists.
    /// </summary>
    public static string? FindBuiltInSubset()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, SubsetFolder);
            if (HasFiles(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Reads a pair of image and label files into a dataset, checking that they belong together.</summary>
    public static TensorDataset Read(string imagesPath, string labelsPath)
    {
        var images = Idx.Read(imagesPath);
        var labels = Idx.Read(labelsPath);
        if (images.ElementType != IdxElementType.UInt8 || images.Shape.Length != 3 || images.Shape[1] != 28 || images.Shape[2] != 28)
            throw new IdxFormatException(imagesPath, $"expected unsigned-byte images [n, 28, 28], found {images.ElementType} {Shapes.Format(images.Shape)}");
        if (labels.ElementType != IdxElementType.UInt8 || labels.Shape.Length != 1)
            throw new IdxFormatException(labelsPath, $"expected unsigned-byte labels [n], found {labels.ElementType} {Shapes.Format(labels.Shape)}");
        int n = images.Shape[0];
        if (labels.Shape[0] != n)
            throw new IdxFormatException(labelsPath, $"has {labels.Shape[0]} labels but {imagesPath} has {n} images");
        var pixels = (byte[])images.Data;
        var x = GC.AllocateUninitializedArray<float>(pixels.Length);
        TensorPrimitives.ConvertTruncating<byte, float>(pixels, x); // exact: every byte is a float
        TensorPrimitives.Divide(x, 255f, x);                        // correctly rounded, like the scalar p / 255f
        var raw = (byte[])labels.Data;
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            if (raw[i] >= ClassNames.Count)
                throw new IdxFormatException(labelsPath, $"label {i} is {raw[i]}; Fashion-MNIST labels are 0 to {ClassNames.Count - 1}");
            y[i] = raw[i];
        }
        return new TensorDataset(Tensor.Wrap(x, [n, 1, 28, 28]), Tensor.Wrap(y, [n]));
    }

    private static bool HasFiles(string directory) =>
        System.IO.Directory.Exists(directory) && FileNames.All(f => File.Exists(System.IO.Path.Combine(directory, f)) || File.Exists(System.IO.Path.Combine(directory, f + ".gz")));

    private static string Locate(string directory, string file)
    {
        string plain = System.IO.Path.Combine(directory, file), gz = plain + ".gz";
        if (File.Exists(plain)) return plain;
        if (File.Exists(gz)) return gz;
        throw new FileNotFoundException($"Fashion-MNIST: '{directory}' has neither {file} nor {file}.gz", plain);
    }
}
