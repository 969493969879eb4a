using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Security.Cryptography;
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
/// <see cref="LoadSubset"/> gives the shipped stratified subset (6,000 and 1,000 images), the same images whichever
/// copy is installed; <see cref="LoadFull"/> gives the full dataset or says how to install it; <see cref="Load"/>
/// gives whichever copy is found. <see cref="Fingerprint"/> identifies the content loaded.
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

    /// <summary>
    /// The files in <see cref="SubsetFolder"/> that give each subset image's index in the full dataset (training, then
    /// test; int32 IDX, increasing), without the optional <c>.gz</c>.
    /// </summary>
    public static IReadOnlyList<string> IndexFileNames { get; } = ["train-indices-idx1-int32", "t10k-indices-idx1-int32"];

    /// <summary>The number of training images in the full dataset.</summary>
    public const int FullTrainCount = 60_000;

    /// <summary>The number of test images in the full dataset.</summary>
    public const int FullTestCount = 10_000;

    /// <summary>
    /// The <see cref="Fingerprint"/> of the shipped subset: what <see cref="LoadSubset"/> must read, from whichever copy.
    /// </summary>
    public const string SubsetSha256 = "eaf0fad18be080ee58d0cdb58b45a1f888ef6aa20fe096a26ae3ffa672096772";

    private const string InstallHint =
        "install it with 'sudo apt-get install dataset-fashion-mnist' (files in " + DebianDirectory + ") or pass --data-dir DIR, " +
        "a directory holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and " +
        "t10k-labels-idx1-ubyte.gz (gzipped or not)";

    private FashionMnist(TensorDataset train, TensorDataset test, FashionMnistOrigin origin, string directory, string fingerprint,
        int[]? trainIndices = null, int[]? testIndices = null)
    {
        Train = train;
        Test = test;
        Origin = origin;
        Directory = directory;
        Fingerprint = fingerprint;
        TrainIndices = trainIndices is null ? null : Array.AsReadOnly(trainIndices);
        TestIndices = testIndices is null ? null : Array.AsReadOnly(testIndices);
    }

    /// <summary>The training images and labels.</summary>
    public TensorDataset Train { get; }

    /// <summary>The test images and labels.</summary>
    public TensorDataset Test { get; }

    /// <summary>Which copy was loaded.</summary>
    public FashionMnistOrigin Origin { get; }

    /// <summary>The directory the files were read from.</summary>
    public string Directory { get; }

    /// <summary>
    /// The content loaded, as lowercase hexadecimal SHA-256 of the four IDX files decompressed and concatenated in
    /// <see cref="FileNames"/> order (header with the shape, then the raw bytes: training images, training labels,
    /// test images, test labels), so <c>zcat</c> and <c>sha256sum</c> compute it too. The same for the same images and
    /// labels wherever they were read from: the subset view is always <see cref="SubsetSha256"/>.
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>
    /// For the subset view (<see cref="LoadSubset"/>), each training image's index in the full training split,
    /// increasing; null otherwise.
    /// </summary>
    public IReadOnlyList<int>? TrainIndices { get; }

    /// <summary>
    /// For the subset view (<see cref="LoadSubset"/>), each test image's index in the full test split, increasing;
    /// null otherwise.
    /// </summary>
    public IReadOnlyList<int>? TestIndices { get; }

    /// <summary>Whether this is the subset view from <see cref="LoadSubset"/>.</summary>
    public bool IsSubsetView => TrainIndices is not null;

    /// <summary>A sentence saying which copy was loaded, for logs and reports.</summary>
    public string Source => (Origin, IsSubsetView) switch
    {
        (FashionMnistOrigin.Directory, false) => $"directory {Directory} ({Train.Count} train, {Test.Count} test)",
        (FashionMnistOrigin.DebianPackage, false) => $"Debian package at {Directory} ({Train.Count} train, {Test.Count} test)",
        (FashionMnistOrigin.Directory, true) => $"subset view ({Train.Count} train, {Test.Count} test) of directory {Directory}",
        (FashionMnistOrigin.DebianPackage, true) => $"subset view ({Train.Count} train, {Test.Count} test) of Debian package at {Directory}",
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

    /// <summary>
    /// The shipped subset (600 training and 100 test images per class), the same images whichever copy is read: from
    /// <paramref name="directory"/> when given, else from Debian's package at <see cref="DebianDirectory"/> when
    /// installed, the images and labels at the shipped indices (<see cref="TrainIndices"/>, <see cref="TestIndices"/>)
    /// are taken; otherwise (or when <paramref name="directory"/> holds the subset itself) the shipped subset files are
    /// read. <see cref="Origin"/> and <see cref="Source"/> say which copy. The content read must have
    /// <see cref="SubsetSha256"/> as its <see cref="Fingerprint"/>; a copy that differs at those indices (another
    /// version, or corrupt) is an <see cref="InvalidDataException"/>.
    /// </summary>
    public static FashionMnist LoadSubset(string? directory = null)
    {
        string subset = FindBuiltInSubset()
            ?? throw new FileNotFoundException(
                $"Fashion-MNIST: the shipped subset ({SubsetFolder}) was not found next to the application or above it; it holds the indices of the subset's images");
        var trainIndices = ReadIndices(subset, IndexFileNames[0]);
        var testIndices = ReadIndices(subset, IndexFileNames[1]);
        var (dir, origin) = Resolve(directory);
        var (train, test) = ReadRaw(dir);
        if (train.Count != trainIndices.Length || test.Count != testIndices.Length)
        {
            train = train.Gather(trainIndices, dir, "training");
            test = test.Gather(testIndices, dir, "test");
        }
        string fingerprint = Hash(train, test);
        if (fingerprint != SubsetSha256)
            throw new InvalidDataException(
                $"Fashion-MNIST: the images and labels at the subset's indices in {dir} are not the shipped subset's (content SHA-256 " +
                $"{fingerprint}, expected {SubsetSha256}): this copy is another version or corrupt; reinstall dataset-fashion-mnist " +
                "or pass --data-dir with the original files");
        return new FashionMnist(train.ToDataset(), test.ToDataset(), origin, System.IO.Path.GetFullPath(dir), fingerprint, trainIndices, testIndices);
    }

    /// <summary>
    /// The full dataset (60,000 training and 10,000 test images): from <paramref name="directory"/> when given, else
    /// from Debian's package at <see cref="DebianDirectory"/>. Without one, a <see cref="FileNotFoundException"/> (no
    /// files) or <see cref="InvalidDataException"/> (files of another size, such as the subset) whose one-line message
    /// says how to install it or which <c>--data-dir</c> to pass.
    /// </summary>
    public static FashionMnist LoadFull(string? directory = null)
    {
        string? dir = directory ?? (HasFiles(DebianDirectory) ? DebianDirectory : null);
        if (dir is null)
            throw new FileNotFoundException($"Fashion-MNIST: the full dataset is not installed; {InstallHint}");
        if (!HasFiles(dir))
            throw new FileNotFoundException($"Fashion-MNIST: the full dataset is not in {dir}; {InstallHint}");
        var (train, test) = ReadRaw(dir);
        if (train.Count != FullTrainCount || test.Count != FullTestCount)
            throw new InvalidDataException(
                $"Fashion-MNIST: {dir} holds {train.Count} training and {test.Count} test images, not the full dataset's " +
                $"{FullTrainCount} and {FullTestCount}; {InstallHint}");
        return new FashionMnist(train.ToDataset(), test.ToDataset(), directory is null ? FashionMnistOrigin.DebianPackage : FashionMnistOrigin.Directory,
            System.IO.Path.GetFullPath(dir), Hash(train, test));
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
        var (train, test) = ReadRaw(directory);
        return new FashionMnist(train.ToDataset(), test.ToDataset(), origin, System.IO.Path.GetFullPath(directory), Hash(train, test));
    }

    private static (RawSplit Train, RawSplit Test) ReadRaw(string directory)
    {
        var paths = FileNames.Select(f => Locate(directory, f)).ToArray();
        return (RawSplit.Read(paths[0], paths[1]), RawSplit.Read(paths[2], paths[3]));
    }

    /// <summary>
    /// The shipped subset's directory, looked for in this order: <see cref="SubsetFolder"/> under the application's
    /// directory (where builds, and the Aperture package's content files, copy it) or under its nearest ancestor that
    /// has it (a source checkout); then next to this assembly when it is loaded from elsewhere, as from the NuGet
    /// package folder by a script host (<c>dotnet fsi</c>, notebooks), which does not copy content files: the
    /// package's <c>contentFiles/any/any/</c><see cref="SubsetFolder"/>. Null when none exists.
    /// </summary>
    public static string? FindBuiltInSubset()
    {
        static string? Above(string? start, string relative)
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = System.IO.Path.Combine(dir.FullName, relative);
                if (HasFiles(candidate)) return candidate;
            }
            return null;
        }
        string? assemblyDir = typeof(FashionMnist).Assembly.Location is { Length: > 0 } location ? System.IO.Path.GetDirectoryName(location) : null;
        return Above(AppContext.BaseDirectory, SubsetFolder)
            ?? Above(assemblyDir, SubsetFolder)
            ?? Above(assemblyDir, System.IO.Path.Combine("contentFiles", "any", "any", SubsetFolder));
    }

    /// <summary>Reads a pair of image and label files into a dataset, checking that they belong together.</summary>
    public static TensorDataset Read(string imagesPath, string labelsPath) => RawSplit.Read(imagesPath, labelsPath).ToDataset();

    /// <summary>
    /// SHA-256 of the four IDX files' contents as <see cref="Idx.Write(Stream, IdxArray)"/> lays them out: for each
    /// split, the images' header [n, 28, 28] and bytes, then the labels' header [n] and bytes.
    /// </summary>
    private static string Hash(RawSplit train, RawSplit test)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> header = stackalloc byte[16];
        foreach (var split in new[] { train, test })
        {
            header.Clear();
            header[2] = (byte)IdxElementType.UInt8;
            header[3] = 3;
            BinaryPrimitives.WriteInt32BigEndian(header[4..], split.Count);
            BinaryPrimitives.WriteInt32BigEndian(header[8..], 28);
            BinaryPrimitives.WriteInt32BigEndian(header[12..], 28);
            sha.AppendData(header);
            sha.AppendData(split.Pixels);
            header[3] = 1;
            sha.AppendData(header[..8]);
            sha.AppendData(split.Labels);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static int[] ReadIndices(string directory, string file)
    {
        string path = Locate(directory, file);
        var array = Idx.Read(path);
        if (array.ElementType != IdxElementType.Int32 || array.Shape.Length != 1)
            throw new IdxFormatException(path, $"expected int32 indices [n], found {array.ElementType} {Shapes.Format(array.Shape)}");
        var indices = (int[])array.Data;
        for (int i = 0; i < indices.Length; i++)
            if (indices[i] < 0 || (i > 0 && indices[i] <= indices[i - 1]))
                throw new IdxFormatException(path, $"index {i} is {indices[i]}; the indices must be non-negative and increasing");
        return indices;
    }

    /// <summary>One split as in the files: n×784 pixel bytes and n label bytes, checked.</summary>
    private sealed record RawSplit(byte[] Pixels, byte[] Labels)
    {
        private const int PixelCount = 28 * 28;

        public int Count => Labels.Length;

        public static RawSplit Read(string imagesPath, string labelsPath)
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
            var raw = (byte[])labels.Data;
            for (int i = 0; i < n; i++)
                if (raw[i] >= ClassNames.Count)
                    throw new IdxFormatException(labelsPath, $"label {i} is {raw[i]}; Fashion-MNIST labels are 0 to {ClassNames.Count - 1}");
            return new RawSplit((byte[])images.Data, raw);
        }

        /// <summary>The images and labels at <paramref name="indices"/>, in that order.</summary>
        public RawSplit Gather(int[] indices, string directory, string split)
        {
            var pixels = new byte[(long)indices.Length * PixelCount];
            var labels = new byte[indices.Length];
            for (int i = 0; i < indices.Length; i++)
            {
                int k = indices[i];
                if (k >= Count)
                    throw new InvalidDataException(
                        $"Fashion-MNIST: the subset's {split} index {k} is past the {Count} {split} images in {directory}; {InstallHint}");
                Pixels.AsSpan(k * PixelCount, PixelCount).CopyTo(pixels.AsSpan(i * PixelCount));
                labels[i] = Labels[k];
            }
            return new RawSplit(pixels, labels);
        }

        public TensorDataset ToDataset()
        {
            int n = Count;
            var x = GC.AllocateUninitializedArray<float>(Pixels.Length);
            TensorPrimitives.ConvertTruncating<byte, float>(Pixels, x); // exact: every byte is a float
            TensorPrimitives.Divide(x, 255f, x);                        // correctly rounded, like the scalar p / 255f
            var y = new long[n];
            for (int i = 0; i < n; i++) y[i] = Labels[i];
            return new TensorDataset(Tensor.Wrap(x, [n, 1, 28, 28]), Tensor.Wrap(y, [n]));
        }
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
