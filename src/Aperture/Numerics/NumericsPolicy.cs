namespace Aperture;

/// <summary>The order in which a reduction (a sum, a mean, the k-loop of a matmul) adds its terms.</summary>
public enum ReductionOrder
{
    /// <summary>
    /// Each op's documented default. For sums: 16 interleaved partial sums (term i goes to partial i mod 16,
    /// each partial added in increasing i), combined by the fixed tree (p[j] += p[j+8], then +4, +2, +1) — the
    /// same bits with scalar, 256-bit or 512-bit code. For matmul: each output accumulated over k in increasing
    /// order with fused multiply-adds.
    /// </summary>
    Default,
    /// <summary>Left to right: ((x0 + x1) + x2) + ...</summary>
    Sequential,
    /// <summary>Right to left: ((x[n-1] + x[n-2]) + x[n-3]) + ...</summary>
    Reversed,
    /// <summary>Recursive halving: sum(left half) + sum(right half), the left half holding floor(n/2) terms.</summary>
    Pairwise,
    /// <summary>Consecutive blocks of <see cref="NumericsPolicy.BlockSize"/> terms summed left to right, then the block sums left to right.</summary>
    Blocked,
}

/// <summary>The precision in which reductions accumulate.</summary>
public enum AccumulationPrecision
{
    /// <summary>The tensor's own dtype.</summary>
    Native,
    /// <summary>float64 partial sums for float32 data (rounded to float32 once, at the end).</summary>
    Float64,
}

/// <summary>A floating-point storage format that rounding can emulate.</summary>
public enum StorageFormat
{
    /// <summary>No rounding: values keep the tensor's own dtype.</summary>
    Native,
    /// <summary>IEEE single precision (8-bit exponent, 24-bit significand): rounds float64 tensors.</summary>
    Float32,
    /// <summary>bfloat16 (8-bit exponent, 8-bit significand).</summary>
    BFloat16,
    /// <summary>IEEE half precision (5-bit exponent, 11-bit significand, subnormals, max 65504).</summary>
    Float16,
}

/// <summary>How a value that falls between two representable numbers is rounded.</summary>
public enum RoundingMode
{
    /// <summary>IEEE 754 round-to-nearest, ties to even (what hardware conversions do).</summary>
    NearestEven,
    /// <summary>Toward zero: drop the extra bits (the truncating conversion some code paths use).</summary>
    TowardZero,
}

/// <summary>
/// The numerics an experiment runs under: the reduction order, the accumulation precision, and which tensors
/// are rounded to an emulated low-precision storage format. Set it for a scope with <see cref="Use"/>; the
/// default policy is bitwise deterministic whatever the thread count.
/// </summary>
public sealed record NumericsPolicy
{
    /// <summary>The policy in force when no scope sets one.</summary>
    public static readonly NumericsPolicy Default = new();

    [ThreadStatic] private static NumericsPolicy? t_current;

    /// <summary>The policy in force on this thread.</summary>
    public static NumericsPolicy Current => t_current ?? Default;

    /// <summary>The order of every sum, mean and matmul reduction.</summary>
    public ReductionOrder Order { get; init; } = ReductionOrder.Default;

    /// <summary>The block size of <see cref="ReductionOrder.Blocked"/>.</summary>
    public int BlockSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BlockSize), value, "BlockSize must be at least 1");
    } = 64;

    /// <summary>The precision of partial sums.</summary>
    public AccumulationPrecision Accumulation { get; init; } = AccumulationPrecision.Native;

    /// <summary>The format parameters are rounded to after each optimizer step (and when a module is built).</summary>
    public StorageFormat Weights { get; init; } = StorageFormat.Native;

    /// <summary>The format every forward op result is rounded to.</summary>
    public StorageFormat Activations { get; init; } = StorageFormat.Native;

    /// <summary>The format every backward op result and every accumulated leaf gradient is rounded to.</summary>
    public StorageFormat Gradients { get; init; } = StorageFormat.Native;

    /// <summary>The rounding mode of all storage rounding under this policy.</summary>
    public RoundingMode Rounding { get; init; } = RoundingMode.NearestEven;

    /// <summary>Makes <paramref name="policy"/> current on this thread until the returned scope is disposed.</summary>
    public static NumericsScope Use(NumericsPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var previous = t_current;
        t_current = policy;
        return new NumericsScope(previous);
    }

    internal static void Restore(NumericsPolicy? previous) => t_current = previous;

    internal static void ApplyStorageRounding(Tensor output, bool inBackward)
    {
        var p = t_current;
        if (p is null) return;
        var format = inBackward ? p.Gradients : p.Activations;
        if (format != StorageFormat.Native) Aperture.Rounding.RoundInPlace(output, format, p.Rounding);
    }

    internal static void RoundGradient(Tensor grad)
    {
        var p = t_current;
        if (p is null || p.Gradients == StorageFormat.Native) return;
        Aperture.Rounding.RoundInPlace(grad, p.Gradients, p.Rounding);
    }

    /// <summary>Rounds a parameter in place to the policy's weight format (optimizers call this after each step).</summary>
    public static void RoundWeights(Tensor parameter)
    {
        var p = t_current;
        if (p is null || p.Weights == StorageFormat.Native) return;
        Aperture.Rounding.RoundInPlace(parameter, p.Weights, p.Rounding);
    }
}

/// <summary>Restores the previous <see cref="NumericsPolicy"/> when disposed.</summary>
public readonly struct NumericsScope : IDisposable
{
    private readonly NumericsPolicy? _previous;

    internal NumericsScope(NumericsPolicy? previous) => _previous = previous;

    /// <summary>Restores the previous policy.</summary>
    public void Dispose() => NumericsPolicy.Restore(_previous);
}
