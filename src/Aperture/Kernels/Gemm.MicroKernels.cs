using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// The register-blocked inner kernels of the packed matmul: an MR×NR tile of C (NR = two registers) accumulated
/// over kc steps of a packed A panel (MR values per step) and a packed B panel (NR values per step). Each output is
/// one fused multiply-add chain in panel order, continued from C's current value when <c>load</c> is set.
/// (Generated code: one accumulator pair l/r per row, the left and right register.)
/// </summary>
internal static class MicroKernels
{
    /// <summary>
    /// An 8×(2 registers) tile: 16 accumulators (AVX-512). On a Zen 4 core it runs at the FMA peak from L1 like a
    /// 14-row tile, and batch sizes (multiples of 8) fill it exactly. On a Zen 5 core 12- and 14-row tiles of the
    /// same width (24 and 28 accumulators, no spills) measured 5–15% slower on n = 512–2048 products.
    /// <para>
    /// The JIT's final code for the float AVX-512 instance (FullOpts, from <c>DOTNET_JitDisasm</c>), per k step: two
    /// 512-bit loads of B, eight <c>vbroadcastss zmm, [a+4i]</c> (each A value loaded once and used by its two FMAs;
    /// an embedded <c>{1to16}</c> broadcast would load it twice), sixteen <c>vfmadd231ps</c>, then two pointer adds
    /// and an increment-compare-branch: no bounds checks, no spills, no extra moves. Sixteen independent chains
    /// cover Zen 5's two 4-cycle FMA pipes (eight needed), so unrolling k buys nothing. With A, B and C in L1 it runs
    /// at the FMA peak: as fast as a bare 12-chain FMA loop measured beside it (about 220 GFLOP/s each, CPU time). A software prefetch of A 256–1024 bytes ahead inside the loop measured no gain.
    /// </para>
    /// <para>
    /// <c>ldb</c>: elements from one k-step of the B panel to the next, 2·V.Width for a packed panel, or B's row stride
    /// where a row-major B is read in place (the thin products, <see cref="ThinGemm.ReadBInPlace"/>).
    /// </para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Mid<V, TV, T>(int kc, T* a, T* b, nint ldb, T* c, nint ldc, bool load)
        where V : IVec<TV, T> where TV : struct where T : unmanaged
    {
        int w = V.Width;
        TV l0, r0, l1, r1, l2, r2, l3, r3, l4, r4, l5, r5, l6, r6, l7, r7;
        if (load)
        {
            l0 = V.Load(c + 0 * ldc); r0 = V.Load(c + 0 * ldc + w);
            l1 = V.Load(c + 1 * ldc); r1 = V.Load(c + 1 * ldc + w);
            l2 = V.Load(c + 2 * ldc); r2 = V.Load(c + 2 * ldc + w);
            l3 = V.Load(c + 3 * ldc); r3 = V.Load(c + 3 * ldc + w);
            l4 = V.Load(c + 4 * ldc); r4 = V.Load(c + 4 * ldc + w);
            l5 = V.Load(c + 5 * ldc); r5 = V.Load(c + 5 * ldc + w);
            l6 = V.Load(c + 6 * ldc); r6 = V.Load(c + 6 * ldc + w);
            l7 = V.Load(c + 7 * ldc); r7 = V.Load(c + 7 * ldc + w);
        }
        else
        {
            l0 = r0 = l1 = r1 = l2 = r2 = l3 = r3 = l4 = r4 = l5 = r5 = l6 = r6 = l7 = r7 = V.Zero;
        }
        for (int p = 0; p < kc; p++)
        {
            TV b0 = V.Load(b), b1 = V.Load(b + w);
            TV s;
            s = V.Splat(a[0]); l0 = V.Fma(s, b0, l0); r0 = V.Fma(s, b1, r0);
            s = V.Splat(a[1]); l1 = V.Fma(s, b0, l1); r1 = V.Fma(s, b1, r1);
            s = V.Splat(a[2]); l2 = V.Fma(s, b0, l2); r2 = V.Fma(s, b1, r2);
            s = V.Splat(a[3]); l3 = V.Fma(s, b0, l3); r3 = V.Fma(s, b1, r3);
            s = V.Splat(a[4]); l4 = V.Fma(s, b0, l4); r4 = V.Fma(s, b1, r4);
            s = V.Splat(a[5]); l5 = V.Fma(s, b0, l5); r5 = V.Fma(s, b1, r5);
            s = V.Splat(a[6]); l6 = V.Fma(s, b0, l6); r6 = V.Fma(s, b1, r6);
            s = V.Splat(a[7]); l7 = V.Fma(s, b0, l7); r7 = V.Fma(s, b1, r7);
            a += 8;
            b += ldb;
        }
        V.Store(c + 0 * ldc, l0); V.Store(c + 0 * ldc + w, r0);
        V.Store(c + 1 * ldc, l1); V.Store(c + 1 * ldc + w, r1);
        V.Store(c + 2 * ldc, l2); V.Store(c + 2 * ldc + w, r2);
        V.Store(c + 3 * ldc, l3); V.Store(c + 3 * ldc + w, r3);
        V.Store(c + 4 * ldc, l4); V.Store(c + 4 * ldc + w, r4);
        V.Store(c + 5 * ldc, l5); V.Store(c + 5 * ldc + w, r5);
        V.Store(c + 6 * ldc, l6); V.Store(c + 6 * ldc + w, r6);
        V.Store(c + 7 * ldc, l7); V.Store(c + 7 * ldc + w, r7);
    }

    /// <summary>A 6×(2 registers) tile: 12 accumulators, for 16 registers (AVX2, and scalar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Short<V, TV, T>(int kc, T* a, T* b, T* c, nint ldc, bool load)
        where V : IVec<TV, T> where TV : struct where T : unmanaged
    {
        int w = V.Width;
        TV l0, r0, l1, r1, l2, r2, l3, r3, l4, r4, l5, r5;
        if (load)
        {
            l0 = V.Load(c + 0 * ldc); r0 = V.Load(c + 0 * ldc + w);
            l1 = V.Load(c + 1 * ldc); r1 = V.Load(c + 1 * ldc + w);
            l2 = V.Load(c + 2 * ldc); r2 = V.Load(c + 2 * ldc + w);
            l3 = V.Load(c + 3 * ldc); r3 = V.Load(c + 3 * ldc + w);
            l4 = V.Load(c + 4 * ldc); r4 = V.Load(c + 4 * ldc + w);
            l5 = V.Load(c + 5 * ldc); r5 = V.Load(c + 5 * ldc + w);
        }
        else
        {
            l0 = r0 = l1 = r1 = l2 = r2 = l3 = r3 = l4 = r4 = l5 = r5 = V.Zero;
        }
        for (int p = 0; p < kc; p++)
        {
            TV b0 = V.Load(b), b1 = V.Load(b + w);
            TV s;
            s = V.Splat(a[0]); l0 = V.Fma(s, b0, l0); r0 = V.Fma(s, b1, r0);
            s = V.Splat(a[1]); l1 = V.Fma(s, b0, l1); r1 = V.Fma(s, b1, r1);
            s = V.Splat(a[2]); l2 = V.Fma(s, b0, l2); r2 = V.Fma(s, b1, r2);
            s = V.Splat(a[3]); l3 = V.Fma(s, b0, l3); r3 = V.Fma(s, b1, r3);
            s = V.Splat(a[4]); l4 = V.Fma(s, b0, l4); r4 = V.Fma(s, b1, r4);
            s = V.Splat(a[5]); l5 = V.Fma(s, b0, l5); r5 = V.Fma(s, b1, r5);
            a += 6;
            b += 2 * w;
        }
        V.Store(c + 0 * ldc, l0); V.Store(c + 0 * ldc + w, r0);
        V.Store(c + 1 * ldc, l1); V.Store(c + 1 * ldc + w, r1);
        V.Store(c + 2 * ldc, l2); V.Store(c + 2 * ldc + w, r2);
        V.Store(c + 3 * ldc, l3); V.Store(c + 3 * ldc + w, r3);
        V.Store(c + 4 * ldc, l4); V.Store(c + 4 * ldc + w, r4);
        V.Store(c + 5 * ldc, l5); V.Store(c + 5 * ldc + w, r5);
    }
}
