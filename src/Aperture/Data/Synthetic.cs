namespace Aperture.Data;

/// <summary>How <see cref="Synthetic.ModularArithmetic"/> presents the two operands.</summary>
public enum ModularEncoding
{
    /// <summary>int64 [n, 2]: the operands a and b (for an embedding layer).</summary>
    Indices,
    /// <summary>float32 [n, 2p]: one-hot a followed by one-hot b (for an MLP).</summary>
    OneHot,
}

/// <summary>The examples of a Gaussian mixture and the class means they were drawn around.</summary>
/// <param name="Data">Inputs float32 [n, dim] and int64 labels [n].</param>
/// <param name="Means">The class means, float64 [classes, dim].</param>
public sealed record GaussianMixtureTask(TensorDataset Data, Tensor Means);

/// <summary>All pairs (a, b) of residues mod p with label (a + b) mod p, split into training and test pairs.</summary>
/// <param name="Train">The training pairs.</param>
/// <param name="Test">The held-out pairs.</param>
/// <param name="Modulus">p.</param>
public sealed record ModularArithmeticTask(TensorDataset Train, TensorDataset Test, int Modulus);

/// <summary>
/// Synthetic tasks for controlled experiments. Each draws everything from an explicit <see cref="Generator"/>, so
/// the same seed gives the same data bit for bit.
/// </summary>
public static partial class Synthetic
{
    /// <summary>
    /// Regression of y = sin(x) + noise from <paramref name="n"/> points x in [<paramref name="low"/>, <paramref name="high"/>]
    /// (evenly spaced, ends included, or drawn uniformly). Inputs and targets are [n, 1].
    /// </summary>
    public static TensorDataset SineRegression(int n, Generator generator, double low = -Math.PI, double high = Math.PI,
        double noiseStd = 0, bool evenlySpaced = false, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(generator);
        CheckCount(n, nameof(n), "SineRegression");
        if (!(high > low) || !double.IsFinite(low) || !double.IsFinite(high))
            throw new ArgumentException($"SineRegression: need finite low < high, got [{low}, {high}]");
        CheckNoise(noiseStd, "SineRegression");
        var x = evenlySpaced ? Tensor.Linspace(low, high, n, DType.Float64) : Tensor.Uniform([n], low, high, generator, DType.Float64);
        var xs = x.ToArray<double>();
        var noise = noiseStd > 0 ? Tensor.Normal([n], 0, noiseStd, generator, DType.Float64).ToArray<double>() : new double[n];
        var ys = new double[n];
        for (int i = 0; i < n; i++) ys[i] = Math.Sin(xs[i]) + noise[i];
        return new TensorDataset(Cast(xs, [n, 1], dtype), Cast(ys, [n, 1], dtype));
    }

    /// <summary>
    /// Two interleaved spirals in the plane (Lang and Witbrock, 1988): <paramref name="n"/> points, alternately of
    /// class 0 and 1, at radius t ∈ (0, 1] and angle 2π·<paramref name="turns"/>·t (+π for class 1), with Gaussian
    /// noise of <paramref name="noiseStd"/> on each coordinate. Inputs [n, 2], int64 labels [n].
    /// </summary>
    public static TensorDataset TwoSpirals(int n, Generator generator, double noiseStd = 0, double turns = 1.5, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(generator);
        CheckCount(n, nameof(n), "TwoSpirals");
        CheckNoise(noiseStd, "TwoSpirals");
        if (!(turns > 0) || !double.IsFinite(turns)) throw new ArgumentOutOfRangeException(nameof(turns), turns, "TwoSpirals: turns must be positive");
        // sqrt of a uniform draw spreads the points evenly along the spiral's length rather than crowding the centre.
        var t = Tensor.Rand([n], generator, DType.Float64).ToArray<double>();
        var noise = noiseStd > 0 ? Tensor.Normal([n, 2], 0, noiseStd, generator, DType.Float64).ToArray<double>() : new double[2 * n];
        var xy = new double[2 * n];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 2;
            double r = Math.Sqrt(1 - t[i]); // in (0, 1]
            double angle = 2 * Math.PI * turns * r + Math.PI * labels[i];
            xy[2 * i] = r * Math.Cos(angle) + noise[2 * i];
            xy[2 * i + 1] = r * Math.Sin(angle) + noise[2 * i + 1];
        }
        return new TensorDataset(Cast(xy, [n, 2], dtype), Tensor.Wrap(labels, [n]));
    }

    /// <summary>
    /// A mixture of <paramref name="classes"/> isotropic Gaussians in <paramref name="dim"/> dimensions: class means lie
    /// at distance <paramref name="radius"/> from the origin in random directions, and each example is its class mean
    /// plus noise of standard deviation <paramref name="std"/>. Classes take turns (example i has class i mod classes).
    /// </summary>
    public static GaussianMixtureTask GaussianMixture(int n, int classes, int dim, Generator generator, double radius = 3, double std = 1)
    {
        ArgumentNullException.ThrowIfNull(generator);
        CheckCount(n, nameof(n), "GaussianMixture");
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "GaussianMixture: classes must be at least 1");
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "GaussianMixture: dim must be at least 1");
        if (!(radius >= 0) || !double.IsFinite(radius)) throw new ArgumentOutOfRangeException(nameof(radius), radius, "GaussianMixture: radius must be non-negative");
        CheckNoise(std, "GaussianMixture");
        var means = Tensor.Randn([classes, dim], generator, DType.Float64).ToArray<double>();
        for (int c = 0; c < classes; c++)
        {
            double norm = 0;
            for (int k = 0; k < dim; k++) norm += means[c * dim + k] * means[c * dim + k];
            norm = Math.Sqrt(norm);
            for (int k = 0; k < dim; k++) means[c * dim + k] = norm > 0 ? radius * means[c * dim + k] / norm : 0;
        }
        var x = Tensor.Normal([n, dim], 0, std, generator, DType.Float64).ToArray<double>();
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % classes;
            labels[i] = c;
            for (int k = 0; k < dim; k++) x[i * dim + k] += means[c * dim + k];
        }
        return new GaussianMixtureTask(new TensorDataset(Cast(x, [n, dim], DType.Float32), Tensor.Wrap(labels, [n])), Tensor.Wrap(means, [classes, dim]));
    }

    /// <summary>
    /// Modular addition (Power et al., "Grokking", 2022): every pair (a, b) with 0 ≤ a, b &lt; p, labelled (a + b) mod p;
    /// round(<paramref name="trainFraction"/> · p²) pairs chosen at random form the training set, the rest the test set.
    /// Each set lists its pairs in the order a·p + b.
    /// </summary>
    public static ModularArithmeticTask ModularArithmetic(int modulus, double trainFraction, Generator generator, ModularEncoding encoding = ModularEncoding.Indices)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (modulus is < 2 or > 46340) throw new ArgumentOutOfRangeException(nameof(modulus), modulus, "ModularArithmetic: the modulus must be in [2, 46340]");
        if (!(trainFraction >= 0 && trainFraction <= 1)) throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "ModularArithmetic: trainFraction must be in [0, 1]");
        int pairs = modulus * modulus;
        int k = (int)Math.Round(trainFraction * pairs, MidpointRounding.ToEven);
        var order = generator.Permutation(pairs);
        var train = order.AsSpan(0, k).ToArray();
        var test = order.AsSpan(k).ToArray();
        Array.Sort(train);
        Array.Sort(test);
        return new ModularArithmeticTask(Pairs(train, modulus, encoding), Pairs(test, modulus, encoding), modulus);
    }

    private static TensorDataset Pairs(int[] ids, int p, ModularEncoding encoding)
    {
        int n = ids.Length;
        var labels = new long[n];
        for (int i = 0; i < n; i++) labels[i] = (ids[i] / p + ids[i] % p) % p;
        if (encoding == ModularEncoding.Indices)
        {
            var ab = new long[2 * n];
            for (int i = 0; i < n; i++) (ab[2 * i], ab[2 * i + 1]) = (ids[i] / p, ids[i] % p);
            return new TensorDataset(Tensor.Wrap(ab, [n, 2]), Tensor.Wrap(labels, [n]));
        }
        var oneHot = new float[(long)n * 2 * p];
        for (int i = 0; i < n; i++)
        {
            oneHot[(long)i * 2 * p + ids[i] / p] = 1;
            oneHot[(long)i * 2 * p + p + ids[i] % p] = 1;
        }
        return new TensorDataset(Tensor.Wrap(oneHot, [n, 2 * p]), Tensor.Wrap(labels, [n]));
    }

    private static Tensor Cast(double[] values, int[] shape, DType dtype)
    {
        if (dtype == DType.Float64) return Tensor.Wrap(values, shape);
        if (dtype != DType.Float32) throw new DTypeMismatchException($"Synthetic: inputs are float32 or float64, not {dtype.Name()}");
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)values[i];
        return Tensor.Wrap(f, shape);
    }

    private static void CheckCount(int n, string parameter, string op)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(parameter, n, $"{op}: the number of examples must be non-negative");
    }

    private static void CheckNoise(double std, string op)
    {
        if (!(std >= 0) || !double.IsFinite(std)) throw new ArgumentOutOfRangeException(nameof(std), std, $"{op}: a standard deviation must be non-negative and finite");
    }
}
