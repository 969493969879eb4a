using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Sums in the order a <see cref="NumericsPolicy"/> names. Each order is defined on the sequence of terms alone,
/// so the bits do not depend on the vector width, the code path or the thread count.
/// </summary>
internal static class Reduce
{
    public const int Lanes = 16;

    /// <summary>The sum of a contiguous run of float32 values under a policy.</summary>
    public static float Sum(ReadOnlySpan<float> x, NumericsPolicy p)
    {
        if (p.Accumulation == AccumulationPrecision.Float64) return (float)SumWide(x, p);
        return p.Order switch
        {
            ReductionOrder.Default => Interleaved(x),
            ReductionOrder.Sequential => Sequential(x),
            ReductionOrder.Reversed => Reversed(x),
            ReductionOrder.Pairwise => Pairwise(x),
            ReductionOrder.Blocked => Blocked(x, p.BlockSize),
            _ => throw new ArgumentOutOfRangeException(nameof(p)),
        };
    }

    /// <summary>The sum of a contiguous run of float64 values under a policy.</summary>
    public static double Sum(ReadOnlySpan<double> x, NumericsPolicy p) => p.Order switch
    {
        ReductionOrder.Default => Interleaved(x),
        ReductionOrder.Sequential => Sequential(x),
        ReductionOrder.Reversed => Reversed(x),
        ReductionOrder.Pairwise => Pairwise(x),
        ReductionOrder.Blocked => Blocked(x, p.BlockSize),
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>float32 terms accumulated in float64, in the policy's order.</summary>
    private static double SumWide(ReadOnlySpan<float> x, NumericsPolicy p)
    {
        double[]? rented = null;
        Span<double> wide = x.Length <= 256 ? stackalloc double[x.Length] : (rented = System.Buffers.ArrayPool<double>.Shared.Rent(x.Length)).AsSpan(0, x.Length);
        for (int i = 0; i < x.Length; i++) wide[i] = x[i];
        double s = Sum(wide, p with { Accumulation = AccumulationPrecision.Native });
        if (rented is not null) System.Buffers.ArrayPool<double>.Shared.Return(rented);
        return s;
    }

    public static T Sequential<T>(ReadOnlySpan<T> x) where T : INumberBase<T>
    {
        T s = T.Zero;
        for (int i = 0; i < x.Length; i++) s += x[i];
        return s;
    }

    public static T Reversed<T>(ReadOnlySpan<T> x) where T : INumberBase<T>
    {
        T s = T.Zero;
        for (int i = x.Length - 1; i >= 0; i--) s += x[i];
        return s;
    }

    public static T Pairwise<T>(ReadOnlySpan<T> x) where T : INumberBase<T>
    {
        if (x.Length == 0) return T.Zero;
        if (x.Length == 1) return x[0];
        int half = x.Length / 2;
        return Pairwise(x[..half]) + Pairwise(x[half..]);
    }

    public static T Blocked<T>(ReadOnlySpan<T> x, int block) where T : INumberBase<T>
    {
        T total = T.Zero;
        for (int start = 0; start < x.Length; start += block)
            total += Sequential(x.Slice(start, Math.Min(block, x.Length - start)));
        return total;
    }

    /// <summary>The default order: 16 interleaved partial sums, then the fixed tree 8, 4, 2, 1.</summary>
    /// <remarks>The 16 partials are one 512-bit register, two 256-bit ones or 16 scalars: the same sums either way.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Interleaved(ReadOnlySpan<float> x)
    {
        int i = 0, n = x.Length;
        Span<float> p = stackalloc float[Lanes];
        p.Clear();
        ref float r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                {
                    var a0 = Vector512<float>.Zero;
                    for (; i <= n - Lanes; i += Lanes) a0 += Vector512.LoadUnsafe(ref r, (nuint)i);
                    a0.CopyTo(p);
                    break;
                }
            case KernelPath.Avx2:
                {
                    var a0 = Vector256<float>.Zero;
                    var a1 = Vector256<float>.Zero;
                    for (; i <= n - Lanes; i += Lanes)
                    {
                        a0 += Vector256.LoadUnsafe(ref r, (nuint)i);
                        a1 += Vector256.LoadUnsafe(ref r, (nuint)(i + 8));
                    }
                    a0.CopyTo(p);
                    a1.CopyTo(p[8..]);
                    break;
                }
            default:
                for (; i <= n - Lanes; i += Lanes)
                    for (int lane = 0; lane < Lanes; lane++) p[lane] += x[i + lane];
                break;
        }
        for (; i < x.Length; i++) p[i & (Lanes - 1)] += x[i];
        return Tree(p);
    }

    /// <summary>The default order for float64 (same definition as for float32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Interleaved(ReadOnlySpan<double> x)
    {
        int i = 0, n = x.Length;
        Span<double> p = stackalloc double[Lanes];
        p.Clear();
        ref double r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                {
                    var a0 = Vector512<double>.Zero;
                    var a1 = Vector512<double>.Zero;
                    for (; i <= n - Lanes; i += Lanes)
                    {
                        a0 += Vector512.LoadUnsafe(ref r, (nuint)i);
                        a1 += Vector512.LoadUnsafe(ref r, (nuint)(i + 8));
                    }
                    a0.CopyTo(p);
                    a1.CopyTo(p[8..]);
                    break;
                }
            case KernelPath.Avx2:
                {
                    var a0 = Vector256<double>.Zero;
                    var a1 = Vector256<double>.Zero;
                    var a2 = Vector256<double>.Zero;
                    var a3 = Vector256<double>.Zero;
                    for (; i <= n - Lanes; i += Lanes)
                    {
                        a0 += Vector256.LoadUnsafe(ref r, (nuint)i);
                        a1 += Vector256.LoadUnsafe(ref r, (nuint)(i + 4));
                        a2 += Vector256.LoadUnsafe(ref r, (nuint)(i + 8));
                        a3 += Vector256.LoadUnsafe(ref r, (nuint)(i + 12));
                    }
                    a0.CopyTo(p);
                    a1.CopyTo(p[4..]);
                    a2.CopyTo(p[8..]);
                    a3.CopyTo(p[12..]);
                    break;
                }
            default:
                for (; i <= n - Lanes; i += Lanes)
                    for (int lane = 0; lane < Lanes; lane++) p[lane] += x[i + lane];
                break;
        }
        for (; i < x.Length; i++) p[i & (Lanes - 1)] += x[i];
        return Tree(p);
    }

    /// <summary>Interleaved order over a strided sequence x[0], x[stride], ... (scalar; same bits as the contiguous form).</summary>
    public static T InterleavedStrided<T>(ReadOnlySpan<T> x, int count, int stride) where T : unmanaged, INumberBase<T>
    {
        Span<T> p = stackalloc T[Lanes];
        p.Fill(T.Zero);
        for (int i = 0; i < count; i++) p[i % Lanes] += x[i * stride];
        return Tree(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Tree<T>(Span<T> p) where T : INumberBase<T>
    {
        for (int w = Lanes / 2; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) p[j] += p[j + w];
        return p[0];
    }

    /// <summary>Interleaved order over any span (scalar reference of <see cref="Interleaved(ReadOnlySpan{float})"/>).</summary>
    public static T InterleavedScalar<T>(ReadOnlySpan<T> x) where T : unmanaged, INumberBase<T> => InterleavedStrided(x, x.Length, 1);
}

/// <summary>
/// Switches that force a kernel code path, so tests can cover every path on one machine:
/// <c>APERTURE_KERNEL_PATH=scalar|avx2|avx512</c>. (The runtime's <c>DOTNET_EnableAVX512=0</c> and
/// <c>DOTNET_EnableHWIntrinsic=0</c> also work, process-wide.)
/// </summary>
public static class KernelPaths
{
    private static readonly string s_forced = (Environment.GetEnvironmentVariable("APERTURE_KERNEL_PATH") ?? "").Trim().ToLowerInvariant();

    /// <summary>True when the scalar path is forced.</summary>
    public static bool ForceScalar { get; set; } = s_forced == "scalar";

    /// <summary>True when the 512-bit path is allowed (hardware has it and it is not forced off).</summary>
    public static bool UseAvx512 { get; set; } = Vector512.IsHardwareAccelerated && s_forced is "" or "avx512";

    /// <summary>The path name in force, for reports.</summary>
    public static string Current => Active switch { KernelPath.Avx512 => "avx512", KernelPath.Avx2 => "avx2", _ => "scalar" };

    /// <summary>The code path kernels take now: the forced one, or the widest the hardware runs.</summary>
    internal static KernelPath Active =>
        ForceScalar ? KernelPath.Scalar
        : UseAvx512 && Vector512.IsHardwareAccelerated ? KernelPath.Avx512
        : Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported ? KernelPath.Avx2
        : KernelPath.Scalar;

    /// <summary>The code paths this machine can run (tests iterate over them).</summary>
    internal static KernelPath[] Available()
    {
        var list = new List<KernelPath> { KernelPath.Scalar };
        if (Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported) list.Add(KernelPath.Avx2);
        if (Vector512.IsHardwareAccelerated) list.Add(KernelPath.Avx512);
        return [.. list];
    }

    /// <summary>Forces <paramref name="path"/> until the returned scope is disposed (process-wide: tests that use it run alone).</summary>
    internal static PathScope Force(KernelPath path)
    {
        var scope = new PathScope(ForceScalar, UseAvx512);
        ForceScalar = path == KernelPath.Scalar;
        UseAvx512 = path == KernelPath.Avx512;
        return scope;
    }

    internal readonly struct PathScope(bool forceScalar, bool useAvx512) : IDisposable
    {
        public void Dispose()
        {
            ForceScalar = forceScalar;
            UseAvx512 = useAvx512;
        }
    }
}

/// <summary>A kernel code path: the register width its loops use.</summary>
internal enum KernelPath
{
    /// <summary>One element at a time.</summary>
    Scalar,
    /// <summary>256-bit registers with fused multiply-add.</summary>
    Avx2,
    /// <summary>512-bit registers.</summary>
    Avx512,
}
