using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// The register-blocked inner kernels of the packed matmul: an MR×NR tile of C (NR = two registers) accumulated
/// over kc steps of a packed A panel (MR values per step) and a packed B panel (NR values per step). Each output is
/// one fused multiply-add chain in panel order, continued from C's current value when <c>load</c> is set.
/// </summary>
internal static class MicroKernels
{
    /// <summary>A 14×(2 registers) tile: 28 accumulators (l = left register, r = right register of each row), for 32 registers (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Tall<V, TV, T>(int kc, T* a, T* b, T* c, nint ldc, bool load)
        where V : IVec<TV, T> where TV : struct where T : unmanaged
    {
        int w = V.Width;
        TV l0, r0, l1, r1, l2, r2, l3, r3, l4, r4, l5, r5, l6, r6, l7, r7, l8, r8, l9, r9, l10, r10, l11, r11, l12, r12, l13, r13;
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
            l8 = V.Load(c + 8 * ldc); r8 = V.Load(c + 8 * ldc + w);
            l9 = V.Load(c + 9 * ldc); r9 = V.Load(c + 9 * ldc + w);
            l10 = V.Load(c + 10 * ldc); r10 = V.Load(c + 10 * ldc + w);
            l11 = V.Load(c + 11 * ldc); r11 = V.Load(c + 11 * ldc + w);
            l12 = V.Load(c + 12 * ldc); r12 = V.Load(c + 12 * ldc + w);
            l13 = V.Load(c + 13 * ldc); r13 = V.Load(c + 13 * ldc + w);
        }
        else
        {
            l0 = r0 = l1 = r1 = l2 = r2 = l3 = r3 = l4 = r4 = l5 = r5 = l6 = r6 = l7 = r7 = l8 = r8 = l9 = r9 = l10 = r10 = l11 = r11 = l12 = r12 = l13 = r13 = V.Zero;
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
            s = V.Splat(a[8]); l8 = V.Fma(s, b0, l8); r8 = V.Fma(s, b1, r8);
            s = V.Splat(a[9]); l9 = V.Fma(s, b0, l9); r9 = V.Fma(s, b1, r9);
            s = V.Splat(a[10]); l10 = V.Fma(s, b0, l10); r10 = V.Fma(s, b1, r10);
            s = V.Splat(a[11]); l11 = V.Fma(s, b0, l11); r11 = V.Fma(s, b1, r11);
            s = V.Splat(a[12]); l12 = V.Fma(s, b0, l12); r12 = V.Fma(s, b1, r12);
            s = V.Splat(a[13]); l13 = V.Fma(s, b0, l13); r13 = V.Fma(s, b1, r13);
            a += 14;
            b += 2 * w;
        }
        V.Store(c + 0 * ldc, l0); V.Store(c + 0 * ldc + w, r0);
        V.Store(c + 1 * ldc, l1); V.Store(c + 1 * ldc + w, r1);
        V.Store(c + 2 * ldc, l2); V.Store(c + 2 * ldc + w, r2);
        V.Store(c + 3 * ldc, l3); V.Store(c + 3 * ldc + w, r3);
        V.Store(c + 4 * ldc, l4); V.Store(c + 4 * ldc + w, r4);
        V.Store(c + 5 * ldc, l5); V.Store(c + 5 * ldc + w, r5);
        V.Store(c + 6 * ldc, l6); V.Store(c + 6 * ldc + w, r6);
        V.Store(c + 7 * ldc, l7); V.Store(c + 7 * ldc + w, r7);
        V.Store(c + 8 * ldc, l8); V.Store(c + 8 * ldc + w, r8);
        V.Store(c + 9 * ldc, l9); V.Store(c + 9 * ldc + w, r9);
        V.Store(c + 10 * ldc, l10); V.Store(c + 10 * ldc + w, r10);
        V.Store(c + 11 * ldc, l11); V.Store(c + 11 * ldc + w, r11);
        V.Store(c + 12 * ldc, l12); V.Store(c + 12 * ldc + w, r12);
        V.Store(c + 13 * ldc, l13); V.Store(c + 13 * ldc + w, r13);
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
