namespace Aperture;

public sealed partial class Tensor
{
    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(ReadOnlySpan<int> shape, DType dtype = DType.Float32) => ZerosInternal(CheckShape("Zeros", shape), dtype);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(ReadOnlySpan<int> shape, DType dtype = DType.Float32) => Full(shape, 1.0, dtype);

    /// <summary>A tensor whose every element is <paramref name="value"/>.</summary>
    public static Tensor Full(ReadOnlySpan<int> shape, double value, DType dtype = DType.Float32)
    {
        var t = Empty(CheckShape("Full", shape), dtype);
        t.FillRaw(value);
        return t;
    }

    /// <summary>A tensor with uninitialized elements (every element will be overwritten by the caller).</summary>
    public static Tensor Uninitialized(ReadOnlySpan<int> shape, DType dtype = DType.Float32) => Empty(CheckShape("Uninitialized", shape), dtype);

    /// <summary>Zeros with the shape and dtype of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like) => ZerosInternal(like.Shape, like.DType);

    /// <summary>Ones with the shape and dtype of <paramref name="like"/>.</summary>
    public static Tensor OnesLike(Tensor like) => Full(like.Shape, 1.0, like.DType);

    /// <summary>A filled tensor with the shape and dtype of <paramref name="like"/>.</summary>
    public static Tensor FullLike(Tensor like, double value) => Full(like.Shape, value, like.DType);

    /// <summary>A 0-d tensor holding one value.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32) => Full([], value, dtype);

    internal static Tensor OnesInternal(ReadOnlySpan<int> shape, DType dtype) => Full(shape, 1.0, dtype);

    /// <summary>Values from <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive) spaced by <paramref name="step"/>, like <c>torch.arange</c>.</summary>
    public static Tensor Arange(double start, double end, double step = 1.0, DType dtype = DType.Float32)
    {
        if (step == 0 || !double.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(step), step, "Arange: step must be finite and non-zero");
        double count = Math.Ceiling((end - start) / step);
        if (count > int.MaxValue) throw new ArgumentException($"Arange: {count} elements is too many");
        int n = Math.Max(0, (int)count);
        var t = Empty([n], dtype);
        for (int i = 0; i < n; i++) t.SetRaw(i, start + i * step);
        return t;
    }

    /// <summary>Values from 0 to <paramref name="end"/> - 1.</summary>
    public static Tensor Arange(int end, DType dtype = DType.Int64) => Arange(0, end, 1, dtype);

    /// <summary><paramref name="steps"/> evenly spaced values from <paramref name="start"/> to <paramref name="end"/>, both included.</summary>
    public static Tensor Linspace(double start, double end, int steps, DType dtype = DType.Float32)
    {
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "Linspace: steps must be non-negative");
        var t = Empty([steps], dtype);
        double delta = steps > 1 ? (end - start) / (steps - 1) : 0;
        // Like torch.linspace: fill the first half from start and the second half from end, so both ends are exact.
        int half = steps / 2;
        for (int i = 0; i < steps; i++) t.SetRaw(i, i < half ? start + i * delta : end - (steps - 1 - i) * delta);
        return t;
    }

    /// <summary>An identity matrix of <paramref name="n"/> rows and <paramref name="m"/> columns (default square).</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32)
    {
        int cols = m ?? n;
        var t = ZerosInternal(CheckShape("Eye", [n, cols]), dtype);
        for (int i = 0; i < Math.Min(n, cols); i++) t.SetRaw(i * cols + i, 1.0);
        return t;
    }

    /// <summary>A float32 tensor holding a copy of <paramref name="data"/> in the given shape (default: 1-d).</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, ReadOnlySpan<int> shape = default) => FromSpan(data, shape, "FromArray");

    /// <summary>A float64 tensor holding a copy of <paramref name="data"/> in the given shape (default: 1-d).</summary>
    public static Tensor FromArray(ReadOnlySpan<double> data, ReadOnlySpan<int> shape = default) => FromSpan(data, shape, "FromArray");

    /// <summary>An int64 tensor holding a copy of <paramref name="data"/> in the given shape (default: 1-d).</summary>
    public static Tensor FromArray(ReadOnlySpan<long> data, ReadOnlySpan<int> shape = default) => FromSpan(data, shape, "FromArray");

    /// <summary>An int64 tensor from int values (labels, indices).</summary>
    public static Tensor FromArray(ReadOnlySpan<int> data, ReadOnlySpan<int> shape = default)
    {
        var longs = new long[data.Length];
        for (int i = 0; i < data.Length; i++) longs[i] = data[i];
        return FromSpan<long>(longs, shape, "FromArray");
    }

    /// <summary>A bool tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<bool> data, ReadOnlySpan<int> shape = default) => FromSpan(data, shape, "FromArray");

    /// <summary>A 2-d float32 tensor from a rectangular array.</summary>
    public static Tensor FromArray(float[,] data)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var flat = new float[r * c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) flat[i * c + j] = data[i, j];
        return new Tensor(flat, 0, [r, c], [c, 1], DType.Float32);
    }

    /// <summary>A 2-d float64 tensor from a rectangular array.</summary>
    public static Tensor FromArray(double[,] data)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var flat = new double[r * c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) flat[i * c + j] = data[i, j];
        return new Tensor(flat, 0, [r, c], [c, 1], DType.Float64);
    }

    /// <summary>Wraps an existing array without copying (changes to either are seen by both).</summary>
    public static Tensor Wrap<T>(T[] data, ReadOnlySpan<int> shape) where T : unmanaged
    {
        var s = CheckShape("Wrap", shape).ToArray();
        if (Shapes.Numel(s) != data.Length)
            throw new ShapeMismatchException($"Wrap: shape {Shapes.Format(s)} holds {Shapes.Numel(s)} elements but the array has {data.Length}");
        var t = new Tensor(data, 0, s, Shapes.ContiguousStrides(s), DTypes.Of<T>());
        // The caller keeps the array and may write it without the engine knowing: no version can vouch for it.
        t._version.External = true;
        return t;
    }

    private static Tensor FromSpan<T>(ReadOnlySpan<T> data, ReadOnlySpan<int> shape, string op) where T : unmanaged
    {
        int[] s = shape.IsEmpty ? [data.Length] : CheckShape(op, shape).ToArray();
        if (Shapes.Numel(s) != data.Length)
            throw new ShapeMismatchException($"{op}: shape {Shapes.Format(s)} holds {Shapes.Numel(s)} elements but {data.Length} were given");
        return new Tensor(data.ToArray(), 0, s, Shapes.ContiguousStrides(s), DTypes.Of<T>());
    }

    private static ReadOnlySpan<int> CheckShape(string op, ReadOnlySpan<int> shape)
    {
        foreach (int d in shape)
            if (d < 0) throw new ArgumentException($"{op}: shape {Shapes.Format(shape)} has a negative dimension", nameof(shape));
        return shape;
    }

    // ---- random ---------------------------------------------------------------------------------

    /// <summary>Uniform values in [0, 1) drawn from <paramref name="generator"/>.</summary>
    public static Tensor Rand(ReadOnlySpan<int> shape, Generator generator, DType dtype = DType.Float32) =>
        Uniform(shape, 0, 1, generator, dtype);

    /// <summary>Uniform values in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Tensor Uniform(ReadOnlySpan<int> shape, double low, double high, Generator generator, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var t = Empty(CheckShape("Uniform", shape), RequireFloat("Uniform", dtype));
        RandomFill.Uniform(t, low, high, generator);
        return t;
    }

    /// <summary>Standard normal values drawn from <paramref name="generator"/>.</summary>
    public static Tensor Randn(ReadOnlySpan<int> shape, Generator generator, DType dtype = DType.Float32) =>
        Normal(shape, 0, 1, generator, dtype);

    /// <summary>Normal values with the given mean and standard deviation.</summary>
    public static Tensor Normal(ReadOnlySpan<int> shape, double mean, double std, Generator generator, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (!(std >= 0)) throw new ArgumentOutOfRangeException(nameof(std), std, "Normal: std must be non-negative");
        var t = Empty(CheckShape("Normal", shape), RequireFloat("Normal", dtype));
        RandomFill.Normal(t, mean, std, generator);
        return t;
    }

    /// <summary>Uniform integers in [<paramref name="low"/>, <paramref name="high"/>) as int64.</summary>
    public static Tensor RandInt(long low, long high, ReadOnlySpan<int> shape, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (high <= low) throw new ArgumentException($"RandInt: high ({high}) must be greater than low ({low})");
        var t = Empty(CheckShape("RandInt", shape), DType.Int64);
        RandomFill.Integers(t, low, high, generator);
        return t;
    }

    /// <summary>1 with probability <paramref name="p"/> and 0 otherwise, in <paramref name="dtype"/>.</summary>
    public static Tensor Bernoulli(ReadOnlySpan<int> shape, double p, Generator generator, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "Bernoulli: p must be in [0, 1]");
        var t = Empty(CheckShape("Bernoulli", shape), dtype);
        RandomFill.Bernoulli(t, p, generator);
        return t;
    }

    /// <summary>A random permutation of 0..n-1 as int64.</summary>
    public static Tensor RandPerm(int n, Generator generator)
    {
        var p = generator.Permutation(n);
        var data = new long[n];
        for (int i = 0; i < n; i++) data[i] = p[i];
        return new Tensor(data, 0, [n], [1], DType.Int64);
    }

    private static DType RequireFloat(string op, DType dtype) => dtype.IsFloatingPoint()
        ? dtype
        : throw new DTypeMismatchException($"{op}: needs a floating-point dtype, got {dtype.Name()}");
}
