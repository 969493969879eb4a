namespace Aperture.Data;

/// <summary>
/// A change applied to a batch of inputs [n, ...], such as normalization or random augmentation. Randomness comes
/// from one <see cref="Generator"/> per example, so an example's augmentation does not depend on which other examples
/// share its batch. Transforms are data preparation: they record no autodiff graph.
/// </summary>
public abstract class Transform
{
    /// <summary>Applies the transform to <paramref name="batch"/> [n, ...]; <paramref name="generators"/>[i] is example i's randomness.</summary>
    public abstract Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators);

    /// <summary>Applies the transform with one generator per example forked, in order, from <paramref name="generator"/>.</summary>
    public Tensor Apply(Tensor batch, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(generator);
        if (batch.Rank == 0) throw new ShapeMismatchException($"{GetType().Name}: expected a batch [n, ...], got a scalar");
        var generators = new Generator[batch.Shape[0]];
        for (int i = 0; i < generators.Length; i++) generators[i] = generator.Fork();
        return Apply(batch, generators);
    }

    /// <summary>Checks a batch and its generators; returns the batch's elements as float64 and the example size.</summary>
    private protected double[] Begin(Tensor batch, ReadOnlySpan<Generator> generators, int rank, out int exampleSize) =>
        Begin(GetType().Name, batch, generators.Length, rank, out exampleSize);

    /// <summary>Checks a batch of rank <paramref name="rank"/> (0: any) with <paramref name="generators"/> generators (−1: none needed).</summary>
    private protected static double[] Begin(string name, Tensor batch, int generators, int rank, out int exampleSize)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (rank > 0 && batch.Rank != rank)
            throw new ShapeMismatchException($"{name}: expected images [n, channels, height, width], got shape {Shapes.Format(batch.Shape)}");
        if (batch.Rank == 0) throw new ShapeMismatchException($"{name}: expected a batch [n, ...], got a scalar");
        if (!batch.DType.IsFloatingPoint()) throw new DTypeMismatchException($"{name}: expected float32 or float64 inputs, got {batch.DType.Name()}");
        if (generators >= 0 && generators != batch.Shape[0])
            throw new ArgumentException($"{name}: {generators} generators for a batch of {batch.Shape[0]} examples");
        exampleSize = batch.Shape[0] == 0 ? 0 : batch.Numel / batch.Shape[0];
        return batch.ToDoubleArray();
    }

    /// <summary>A tensor of <paramref name="like"/>'s shape and dtype holding <paramref name="values"/>.</summary>
    private protected static Tensor Finish(double[] values, Tensor like)
    {
        if (like.DType == DType.Float64) return Tensor.Wrap(values, like.Shape);
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)values[i];
        return Tensor.Wrap(f, like.Shape);
    }
}

/// <summary>Several transforms applied in order, sharing each example's generator.</summary>
public sealed class Compose : Transform
{
    private readonly Transform[] _transforms;

    /// <summary>Applies <paramref name="transforms"/> first to last.</summary>
    public Compose(params Transform[] transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        foreach (var t in transforms) ArgumentNullException.ThrowIfNull(t, nameof(transforms));
        _transforms = [.. transforms];
    }

    /// <summary>The transforms, in the order they apply.</summary>
    public IReadOnlyList<Transform> Transforms => _transforms;

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        foreach (var t in _transforms) batch = t.Apply(batch, generators);
        return batch;
    }
}

/// <summary>(x − mean) / std per channel (dimension 1), like torchvision's Normalize.</summary>
public sealed class Normalize : Transform
{
    private readonly double[] _mean, _std;

    /// <summary>One mean and standard deviation for every channel.</summary>
    public Normalize(double mean, double std) : this([mean], [std]) { }

    /// <summary>A mean and standard deviation per channel (or one value for all channels).</summary>
    public Normalize(double[] mean, double[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"Normalize: {mean.Length} means and {std.Length} standard deviations; give one of each per channel");
        foreach (double s in std)
            if (!(s > 0) || !double.IsFinite(s)) throw new ArgumentOutOfRangeException(nameof(std), s, "Normalize: every std must be positive and finite");
        _mean = [.. mean];
        _std = [.. std];
    }

    /// <summary>The per-channel means and standard deviations of <paramref name="inputs"/> [n, channels, ...] (population std).</summary>
    public static Normalize FromData(Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Rank < 2 || inputs.Numel == 0)
            throw new ShapeMismatchException($"Normalize.FromData: expected non-empty inputs [n, channels, ...], got shape {Shapes.Format(inputs.Shape)}");
        int n = inputs.Shape[0], c = inputs.Shape[1], inner = inputs.Numel / (n * c);
        var x = inputs.ToDoubleArray();
        var mean = new double[c];
        var std = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++)
                for (int k = 0, at = (i * c + ch) * inner; k < inner; k++) sum += x[at + k];
            double m = sum / ((double)n * inner);
            for (int i = 0; i < n; i++)
                for (int k = 0, at = (i * c + ch) * inner; k < inner; k++) sq += (x[at + k] - m) * (x[at + k] - m);
            mean[ch] = m;
            std[ch] = Math.Sqrt(sq / ((double)n * inner));
            if (!(std[ch] > 0)) std[ch] = 1; // a constant channel is only centred
        }
        return new Normalize(mean, std);
    }

    /// <summary>The means, one per channel (or one for all).</summary>
    public IReadOnlyList<double> Mean => _mean;

    /// <summary>The standard deviations, one per channel (or one for all).</summary>
    public IReadOnlyList<double> Std => _std;

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        var x = Begin(batch, generators, 0, out int size);
        int c = batch.Rank >= 2 ? batch.Shape[1] : 1;
        if (_mean.Length != 1 && _mean.Length != c)
            throw new ShapeMismatchException($"Normalize: {_mean.Length} channel statistics for inputs of shape {Shapes.Format(batch.Shape)} ({c} channels)");
        int inner = c == 0 ? 0 : size / c;
        for (int i = 0; i < x.Length; i++)
        {
            int ch = _mean.Length == 1 ? 0 : i / inner % c;
            x[i] = (x[i] - _mean[ch]) / _std[ch];
        }
        return Finish(x, batch);
    }
}

/// <summary>
/// Shifts each image by a random whole number of pixels in [−padding, padding] along each axis, filling the
/// uncovered border: the same as padding by <c>padding</c> pixels and cropping at a random place, like
/// torchvision's <c>RandomCrop(size, padding)</c>.
/// </summary>
public sealed class RandomCrop(int padding, double fill = 0) : Transform
{
    /// <summary>The largest shift, in pixels.</summary>
    public int Padding { get; } = padding >= 0 ? padding : throw new ArgumentOutOfRangeException(nameof(padding), padding, "RandomCrop: padding must be non-negative");

    /// <summary>The value of pixels shifted in from outside the image.</summary>
    public double Fill { get; } = fill;

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        var x = Begin(batch, generators, 4, out int size);
        var y = new double[x.Length];
        for (int i = 0; i < generators.Length; i++)
        {
            int dy = (int)generators[i].NextLong(2 * Padding + 1) - Padding;
            int dx = (int)generators[i].NextLong(2 * Padding + 1) - Padding;
            Images.Shift(x, y, i * size, batch.Shape[1], batch.Shape[2], batch.Shape[3], dy, dx, Fill);
        }
        return Finish(y, batch);
    }

    /// <summary>
    /// Moves every image of <paramref name="images"/> [n, c, h, w] by <paramref name="dy"/> rows and
    /// <paramref name="dx"/> columns (output pixel (r, s) is input pixel (r + dy, s + dx)), filling with <paramref name="fill"/>.
    /// </summary>
    public static Tensor Shift(Tensor images, int dy, int dx, double fill = 0)
    {
        var x = Begin("RandomCrop.Shift", images, -1, 4, out int size);
        var y = new double[x.Length];
        for (int i = 0; i < images.Shape[0]; i++) Images.Shift(x, y, i * size, images.Shape[1], images.Shape[2], images.Shape[3], dy, dx, fill);
        return Finish(y, images);
    }
}

/// <summary>Mirrors each image left to right with probability <see cref="Probability"/>.</summary>
public sealed class RandomHorizontalFlip(double probability = 0.5) : Transform
{
    /// <summary>The chance that an image is flipped.</summary>
    public double Probability { get; } = probability is >= 0 and <= 1 ? probability
        : throw new ArgumentOutOfRangeException(nameof(probability), probability, "RandomHorizontalFlip: probability must be in [0, 1]");

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        var x = Begin(batch, generators, 4, out int size);
        int rows = batch.Shape[1] * batch.Shape[2], w = batch.Shape[3];
        for (int i = 0; i < generators.Length; i++)
            if (generators[i].NextDouble() < Probability)
                for (int r = 0; r < rows; r++) x.AsSpan(i * size + r * w, w).Reverse();
        return Finish(x, batch);
    }
}

/// <summary>
/// Rotates each image about its centre by an angle drawn uniformly from [−<see cref="MaxDegrees"/>, <see cref="MaxDegrees"/>]
/// (positive is counter-clockwise as displayed), sampling bilinearly and filling outside the image.
/// </summary>
public sealed class RandomRotation(double maxDegrees, double fill = 0) : Transform
{
    /// <summary>The largest rotation, in degrees.</summary>
    public double MaxDegrees { get; } = maxDegrees is >= 0 and <= 180 ? maxDegrees
        : throw new ArgumentOutOfRangeException(nameof(maxDegrees), maxDegrees, "RandomRotation: maxDegrees must be in [0, 180]");

    /// <summary>The value of pixels that come from outside the image.</summary>
    public double Fill { get; } = fill;

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        var x = Begin(batch, generators, 4, out int size);
        var y = new double[x.Length];
        for (int i = 0; i < generators.Length; i++)
        {
            double degrees = (2 * generators[i].NextDouble() - 1) * MaxDegrees;
            Images.Rotate(x, y, i * size, batch.Shape[1], batch.Shape[2], batch.Shape[3], degrees, Fill);
        }
        return Finish(y, batch);
    }

    /// <summary>Rotates every image of <paramref name="images"/> [n, c, h, w] by <paramref name="degrees"/> (counter-clockwise as displayed).</summary>
    public static Tensor Rotate(Tensor images, double degrees, double fill = 0)
    {
        var x = Begin("RandomRotation.Rotate", images, -1, 4, out int size);
        var y = new double[x.Length];
        for (int i = 0; i < images.Shape[0]; i++) Images.Rotate(x, y, i * size, images.Shape[1], images.Shape[2], images.Shape[3], degrees, fill);
        return Finish(y, images);
    }
}

/// <summary>Adds independent Gaussian noise of standard deviation <see cref="Std"/> to every element.</summary>
public sealed class GaussianNoise(double std) : Transform
{
    /// <summary>The noise's standard deviation.</summary>
    public double Std { get; } = std >= 0 && double.IsFinite(std) ? std
        : throw new ArgumentOutOfRangeException(nameof(std), std, "GaussianNoise: std must be non-negative and finite");

    /// <inheritdoc/>
    public override Tensor Apply(Tensor batch, ReadOnlySpan<Generator> generators)
    {
        var x = Begin(batch, generators, 0, out int size);
        for (int i = 0; i < generators.Length; i++)
        {
            var noise = Tensor.Randn([size], generators[i], DType.Float64).ToArray<double>();
            for (int k = 0; k < size; k++) x[i * size + k] += Std * noise[k];
        }
        return Finish(x, batch);
    }
}

/// <summary>Pixel loops shared by the image transforms, on float64 copies of [c, h, w] images.</summary>
internal static class Images
{
    public static void Shift(double[] x, double[] y, int at, int c, int h, int w, int dy, int dx, double fill)
    {
        for (int ch = 0; ch < c; ch++)
            for (int r = 0; r < h; r++)
            {
                int sr = r + dy, row = at + (ch * h + r) * w;
                for (int s = 0; s < w; s++)
                {
                    int ss = s + dx;
                    y[row + s] = (uint)sr < (uint)h && (uint)ss < (uint)w ? x[at + (ch * h + sr) * w + ss] : fill;
                }
            }
    }

    public static void Rotate(double[] x, double[] y, int at, int c, int h, int w, double degrees, double fill)
    {
        double theta = degrees * Math.PI / 180, cos = Math.Cos(theta), sin = Math.Sin(theta);
        double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
        for (int r = 0; r < h; r++)
            for (int s = 0; s < w; s++)
            {
                // The output pixel shows the input at the inverse rotation of its position (y grows downwards).
                double ddx = s - cx, ddy = r - cy;
                double sx = cx + cos * ddx - sin * ddy, sy = cy + sin * ddx + cos * ddy;
                double fx = Math.Floor(sx), fy = Math.Floor(sy);
                int x0 = (int)fx, y0 = (int)fy;
                double ax = sx - fx, ay = sy - fy;
                for (int ch = 0; ch < c; ch++)
                {
                    int plane = at + ch * h * w;
                    double v00 = Pixel(x, plane, h, w, y0, x0, fill), v01 = Pixel(x, plane, h, w, y0, x0 + 1, fill);
                    double v10 = Pixel(x, plane, h, w, y0 + 1, x0, fill), v11 = Pixel(x, plane, h, w, y0 + 1, x0 + 1, fill);
                    y[plane + r * w + s] = (1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11);
                }
            }
    }

    private static double Pixel(double[] x, int plane, int h, int w, int r, int s, double fill) =>
        (uint)r < (uint)h && (uint)s < (uint)w ? x[plane + r * w + s] : fill;
}

/// <summary>
/// A dataset whose inputs pass through a <see cref="Transform"/> each time they are read. Example i in epoch e
/// draws its randomness from its own generator, derived from (seed, e, i): the augmentation is reproducible from the
/// seed and the same whatever the batch size, order or prefetching, and differs from epoch to epoch.
/// </summary>
public sealed class TransformedDataset : Dataset
{
    private readonly ulong _key;

    /// <summary>Applies <paramref name="transform"/> to the inputs of <paramref name="dataset"/>, with randomness from <paramref name="seed"/>.</summary>
    public TransformedDataset(Dataset dataset, Transform transform, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(transform);
        Dataset = dataset;
        Transform = transform;
        Seed = seed;
        // A key of its own, so an augmentation seed equal to a model's initialization seed draws different numbers.
        ulong z = seed ^ 0x6175676D656E7431UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        _key = z ^ (z >> 31);
    }

    /// <summary>The dataset whose inputs are transformed.</summary>
    public Dataset Dataset { get; }

    /// <summary>The transform.</summary>
    public Transform Transform { get; }

    /// <summary>The seed of the augmentation.</summary>
    public ulong Seed { get; }

    /// <inheritdoc/>
    public override int Count => Dataset.Count;

    /// <summary>The examples as seen in epoch 0.</summary>
    public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices) => GetBatch(indices, 0);

    /// <inheritdoc/>
    public override (Tensor Inputs, Tensor Targets) GetBatch(ReadOnlySpan<int> indices, int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "TransformedDataset: epoch must be non-negative");
        CheckIndices(indices);
        var (x, y) = Dataset.GetBatch(indices, epoch);
        var generators = new Generator[indices.Length];
        for (int i = 0; i < generators.Length; i++) generators[i] = ExampleGenerator(epoch, indices[i]);
        using (Autodiff.NoGrad())
            return (Transform.Apply(x, generators), y);
    }

    /// <summary>The generator example <paramref name="index"/> draws its augmentation from in <paramref name="epoch"/>.</summary>
    public Generator ExampleGenerator(int epoch, int index) => new(_key, (ulong)(uint)epoch << 32 | (uint)index);
}
