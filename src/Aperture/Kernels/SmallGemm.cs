using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Small float32 products whose width is not a whole number of 512-bit registers (a 50-wide layer: 3 registers and
/// 2 columns). The unpacked kernel computes such leftover columns one scalar chain at a time, which on a 100 × 50 ·
/// 50 × 50 product took about a third of the time. Here B is gathered into rows padded with zeros to whole registers,
/// C is computed into a padded scratch and its real columns copied out: every output is still the same fused
/// multiply-add chain over k in order (the padding lanes compute 0·x chains that are thrown away), so the bits are
/// those of every other path.
/// </summary>
internal static unsafe class SmallGemm
{
    [ThreadStatic] private static float[]? t_b;
    [ThreadStatic] private static float[]? t_c;

    /// <summary>
    /// Runs <paramref name="g"/> padded when it is a small product that the unpacked kernel would take with leftover
    /// columns; returns false (doing nothing) otherwise. <paramref name="split"/>: the cut the caller asked for (see
    /// <see cref="ProductSplit"/>).
    /// </summary>
    public static bool TryRun(GemmProblem<float> g, ProductSplit split = ProductSplit.Any)
    {
        const int w = 16;
        if (KernelPaths.Active != KernelPath.Avx512 || g.K < 1 || Math.Min(g.M, g.N) <= 2) return false;
        // Only where the driver would take the unpacked kernel for its size (the thin-and-long case aside).
        if ((long)g.M * g.N * g.K > GemmBlocking.DirectMaxWork || (long)g.K * Math.Max(g.M, g.N) > GemmBlocking.DirectMaxB) return false;
        // The driver's orientation: the vector along whichever side wastes fewer lanes.
        long wasteN = (long)g.M * RoundUp(g.N, w), wasteT = (long)g.N * RoundUp(g.M, w);
        if (wasteT < wasteN || (wasteT == wasteN && g.CsB != 1 && g.RsA == 1))
        {
            g = g.Transposed();
            split = split.Transposed();
        }
        if (g.N % w == 0) return false;
        int np = RoundUp(g.N, w);
        float* b = Buffer(ref t_b, (nint)g.K * np + 64);
        float* c = Buffer(ref t_c, (nint)g.M * np);
        if (g.CsB == 1)
            for (int k = 0; k < g.K; k++)
            {
                new ReadOnlySpan<float>(g.Bp + k * g.RsB, g.N).CopyTo(new Span<float>(b + k * np, g.N));
                new Span<float>(b + k * np + g.N, np - g.N).Clear();
            }
        else if (g.RsB == 1 && Packing.Transposes<float>()) Packing.Transpose(g.Bp, g.CsB, g.N, g.K, b, np);
        else Packing.Strided(g.Bp, g.CsB, g.RsB, g.N, g.K, b, np);
        var padded = new GemmProblem<float>(g.Ap, g.RsA, g.CsA, b, np, 1, c, np, 1, g.M, np, g.K);
        GemmDirect<float, F32x16, Vector512<float>>.Run(padded, split);
        for (int i = 0; i < g.M; i++)
        {
            float* src = c + i * np;
            float* dst = g.Cp + i * g.RsC;
            if (g.CsC == 1) new ReadOnlySpan<float>(src, g.N).CopyTo(new Span<float>(dst, g.N));
            else
                for (int j = 0; j < g.N; j++) dst[j * g.CsC] = src[j];
        }
        return true;
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>A per-thread pinned, 64-byte-aligned scratch of at least <paramref name="count"/> floats.</summary>
    private static float* Buffer(ref float[]? slot, nint count)
    {
        if (slot is null || slot.Length < count + 16) slot = GC.AllocateUninitializedArray<float>((int)Math.Max(count + 16, 1024), pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(slot));
        return (float*)((p + 63) & ~(nint)63);
    }
}
