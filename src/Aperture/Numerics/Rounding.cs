namespace Aperture;

/// <summary>
/// Emulated low-precision storage: rounds float32/float64 values to the nearest (or truncated) value of
/// bfloat16, float16 or float32, following IEEE 754 (overflow to infinity under nearest-even, gradual
/// underflow through the target's subnormals, NaN kept). The result is held in the tensor's own dtype.
/// </summary>
public static class Rounding
{
    private readonly record struct Format(int Precision, int MinExponent, int MaxExponent)
    {
        // Precision counts the significand bits including the implicit one; exponents are of the leading bit.
        public double MaxFinite => (2.0 - Math.ScaleB(1.0, 1 - Precision)) * Math.ScaleB(1.0, MaxExponent);
    }

    private static Format Of(StorageFormat format) => format switch
    {
        StorageFormat.BFloat16 => new Format(8, -126, 127),
        StorageFormat.Float16 => new Format(11, -14, 15),
        StorageFormat.Float32 => new Format(24, -126, 127),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "no rounding for this format"),
    };

    /// <summary>
    /// Rounds one value to <paramref name="format"/> (e.g. a hyper-parameter: bfloat16 turns 0.999 into 1.0
    /// under nearest-even and into 0.99609375 under truncation).
    /// </summary>
    public static double Round(double value, StorageFormat format, RoundingMode mode = RoundingMode.NearestEven)
    {
        if (format == StorageFormat.Native || !double.IsFinite(value) || value == 0) return value;
        var f = Of(format);
        double a = Math.Abs(value);
        int exponent = Math.ILogB(a);
        // Below the normal range the spacing is that of the subnormals.
        int quantumExponent = Math.Max(exponent, f.MinExponent) - (f.Precision - 1);
        double scaled = Math.ScaleB(a, -quantumExponent); // exact: a power-of-two scaling
        double rounded = mode == RoundingMode.NearestEven
            ? Math.Round(scaled, MidpointRounding.ToEven)
            : Math.Truncate(scaled);
        double r = Math.ScaleB(rounded, quantumExponent);
        if (r > f.MaxFinite) r = mode == RoundingMode.NearestEven ? double.PositiveInfinity : f.MaxFinite;
        return Math.CopySign(r, value);
    }

    /// <summary>Rounds a float32 value to <paramref name="format"/>.</summary>
    public static float Round(float value, StorageFormat format, RoundingMode mode = RoundingMode.NearestEven)
    {
        if (format == StorageFormat.BFloat16) return RoundBFloat16(value, mode);
        // Every float32 is exact in float64, and the result fits in float32, so the round trip is exact.
        return (float)Round((double)value, format, mode);
    }

    /// <summary>Rounds a float32 to bfloat16 with bit operations (bfloat16 is the top half of a float32).</summary>
    private static float RoundBFloat16(float value, RoundingMode mode)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return value;
        if (mode == RoundingMode.NearestEven)
            bits += 0x7FFFu + ((bits >> 16) & 1u); // carries into the exponent give the next binade or infinity
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    /// <summary>Rounds every element of a floating-point tensor in place.</summary>
    public static void RoundInPlace(Tensor t, StorageFormat format, RoundingMode mode = RoundingMode.NearestEven)
    {
        if (format == StorageFormat.Native) return;
        if (!t.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"RoundInPlace: only floating-point tensors can be rounded, got {t.DType.Name()}");
        if (t.DType == DType.Float32 && format == StorageFormat.Float32) return;
        if (!t.IsContiguous)
        {
            var c = StridedCopy.ToContiguous(t);
            RoundInPlace(c, format, mode);
            StridedCopy.CopyInto(c, t);
        }
        else if (t.DType == DType.Float32)
        {
            var s = t.ContiguousSpan<float>();
            for (int i = 0; i < s.Length; i++) s[i] = Round(s[i], format, mode);
        }
        else
        {
            var s = t.ContiguousSpan<double>();
            for (int i = 0; i < s.Length; i++) s[i] = Round(s[i], format, mode);
        }
        t.BumpVersion("RoundInPlace");
    }
}
