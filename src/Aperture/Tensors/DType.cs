namespace Aperture;

/// <summary>The element type of a <see cref="Tensor"/>.</summary>
public enum DType
{
    /// <summary>IEEE 754 single precision (the default for networks).</summary>
    Float32,
    /// <summary>IEEE 754 double precision (gradient checks, references).</summary>
    Float64,
    /// <summary>64-bit signed integers: labels, indices, argmax results.</summary>
    Int64,
    /// <summary>Booleans: comparison results and masks.</summary>
    Bool,
}

/// <summary>Facts about each <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>The size of one element in bytes.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float64 => 8,
        DType.Int64 => 8,
        DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>True for float32 and float64, the types autodiff works on.</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>The lower-case name PyTorch uses (float32, float64, int64, bool).</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Int64 => "int64",
        DType.Bool => "bool",
        _ => dtype.ToString(),
    };

    /// <summary>The dtype whose elements are <typeparamref name="T"/>.</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"no Aperture dtype holds elements of type {typeof(T).Name}");
    }

    internal static DType Of(Array buffer) => buffer switch
    {
        float[] => DType.Float32,
        double[] => DType.Float64,
        long[] => DType.Int64,
        bool[] => DType.Bool,
        _ => throw new ArgumentException($"no dtype holds a {buffer.GetType().Name}"),
    };

    /// <summary>
    /// A buffer of <paramref name="length"/> uninitialized elements (zeroed for bool). A length beyond what one array
    /// holds is refused up front, and a failed allocation names the shape and the bytes asked for, instead of the
    /// runtime's bare <see cref="OutOfMemoryException"/>.
    /// </summary>
    internal static Array Allocate(DType dtype, int length, ReadOnlySpan<int> shape = default) => AllocateChecked(dtype, length, shape, zeroed: false);

    /// <summary>A buffer of <paramref name="length"/> zeros (see <see cref="Allocate"/> for the checks).</summary>
    internal static Array AllocateZeroed(DType dtype, int length, ReadOnlySpan<int> shape = default) => AllocateChecked(dtype, length, shape, zeroed: true);

    private static Array AllocateChecked(DType dtype, int length, ReadOnlySpan<int> shape, bool zeroed)
    {
        if ((uint)length > (uint)Array.MaxLength)
            throw new ArgumentException($"{Describe(dtype, length, shape)}: more than the {Array.MaxLength} elements one .NET array (and so one Aperture tensor) can hold");
        try
        {
            return (dtype, zeroed) switch
            {
                (DType.Float32, false) => GC.AllocateUninitializedArray<float>(length),
                (DType.Float64, false) => GC.AllocateUninitializedArray<double>(length),
                (DType.Int64, false) => GC.AllocateUninitializedArray<long>(length),
                (DType.Float32, true) => new float[length],
                (DType.Float64, true) => new double[length],
                (DType.Int64, true) => new long[length],
                (DType.Bool, _) => new bool[length],
                _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
            };
        }
        catch (OutOfMemoryException e)
        {
            throw new OutOfMemoryException($"{Describe(dtype, length, shape)}: the allocation failed; not enough memory", e);
        }
    }

    private static string Describe(DType dtype, int length, ReadOnlySpan<int> shape)
    {
        long bytes = (long)length * dtype.SizeOf();
        string what = shape.IsEmpty && length != 1 ? $"{length} elements" : $"shape {Shapes.Format(shape)}";
        return $"a {dtype.Name()} tensor of {what} needs {bytes} bytes ({bytes / (1024.0 * 1024 * 1024):0.##} GiB)";
    }
}
