using System.Numerics;
using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// Chooses, for one product, the orientation (C or Cᵀ, whichever wastes fewer lanes of the register tile) and
/// the method: unpacked for small or vector-shaped products, where packing would cost more than it saves, and
/// packed otherwise. Every choice computes each output with the same fused multiply-add chain over k.
/// </summary>
internal static unsafe class GemmDriver<T, V, TV, K>
    where T : unmanaged, IFloatingPointIeee754<T>
    where V : IVec<TV, T>
    where TV : struct
    where K : ITile<T>
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(GemmProblem<T> g)
    {
        long work = (long)g.M * g.N * g.K;
        int w = V.Width;
        if (work <= GemmBlocking.DirectMaxWork || Math.Min(g.M, g.N) <= 2)
        {
            // The vector runs along N: put the longer side there (rounded to whole registers); on a tie prefer the
            // orientation whose B rows are already contiguous.
            long wasteN = (long)g.M * RoundUp(g.N, w), wasteT = (long)g.N * RoundUp(g.M, w);
            bool transpose = wasteT < wasteN || (wasteT == wasteN && g.CsB != 1 && g.RsA == 1);
            GemmDirect<T, V, TV>.Run(transpose ? g.Transposed() : g);
            return;
        }
        {
            long wasteN = (long)RoundUp(g.M, K.MR) * RoundUp(g.N, K.NR);
            long wasteT = (long)RoundUp(g.N, K.MR) * RoundUp(g.M, K.NR);
            Gemm<T, K>.Run(wasteT < wasteN ? g.Transposed() : g);
        }
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;
}

/// <summary>
/// The unpacked product: one row of C at a time, four registers of columns, k inner. Rows of B must be
/// contiguous (they are copied into a scratch buffer when they are not).
/// </summary>
internal static unsafe class GemmDirect<T, V, TV>
    where T : unmanaged, IFloatingPointIeee754<T>
    where V : IVec<TV, T>
    where TV : struct
{
    public static void Run(GemmProblem<T> g)
    {
        byte[]? owner = null;
        if (g.CsB != 1 && g.N > 1)
        {
            // Gather B into row-major order once; reading it strided in the k loop would be far slower.
            T* dense = (g.K * (long)g.N > 1 << 16) ? GemmBuffers.Shared<T>((nint)g.K * g.N, out owner) : GemmBuffers.Direct<T>((nint)g.K * g.N);
            T* src = g.Bp;
            for (int p = 0; p < g.K; p++)
                for (int j = 0; j < g.N; j++) dense[p * g.N + j] = src[p * g.RsB + j * g.CsB];
            g = new GemmProblem<T>(g.Ap, g.RsA, g.CsA, dense, g.N, 1, g.Cp, g.RsC, g.CsC, g.M, g.N, g.K);
        }
        long work = (long)g.M * g.N * g.K;
        int w = V.Width;
        if (work >= GemmBlocking.ParallelMinWork && Parallelism.Threads > 1)
        {
            var gc = g;
            if (g.M >= g.N) Parallelism.For(g.M, (long)g.N * g.K, (i0, i1) => Rows(gc, i0, i1, 0, gc.N));
            else
            {
                int units = (g.N + 4 * w - 1) / (4 * w);
                Parallelism.For(units, (long)4 * w * g.M * g.K, (u0, u1) => Rows(gc, 0, gc.M, u0 * 4 * w, Math.Min(u1 * 4 * w, gc.N)));
            }
        }
        else Rows(g, 0, g.M, 0, g.N);
        GC.KeepAlive(owner);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows(in GemmProblem<T> g, int m0, int m1, int n0, int n1)
    {
        int w = V.Width, k = g.K;
        nint csA = g.CsA, rsB = g.RsB, csC = g.CsC;
        T* tmp = stackalloc T[w];
        for (int i = m0; i < m1; i++)
        {
            T* a = g.Ap + i * g.RsA;
            T* c = g.Cp + i * g.RsC;
            int j = n0;
            for (; j + 4 * w <= n1; j += 4 * w)
            {
                TV x0 = V.Zero, x1 = V.Zero, x2 = V.Zero, x3 = V.Zero;
                T* b = g.Bp + j;
                for (int p = 0; p < k; p++)
                {
                    TV s = V.Splat(a[p * csA]);
                    T* bp = b + p * rsB;
                    x0 = V.Fma(s, V.Load(bp), x0);
                    x1 = V.Fma(s, V.Load(bp + w), x1);
                    x2 = V.Fma(s, V.Load(bp + 2 * w), x2);
                    x3 = V.Fma(s, V.Load(bp + 3 * w), x3);
                }
                Put(c + j * csC, csC, x0, tmp);
                Put(c + (j + w) * csC, csC, x1, tmp);
                Put(c + (j + 2 * w) * csC, csC, x2, tmp);
                Put(c + (j + 3 * w) * csC, csC, x3, tmp);
            }
            for (; j + w <= n1; j += w)
            {
                TV x0 = V.Zero;
                T* b = g.Bp + j;
                for (int p = 0; p < k; p++) x0 = V.Fma(V.Splat(a[p * csA]), V.Load(b + p * rsB), x0);
                Put(c + j * csC, csC, x0, tmp);
            }
            for (; j < n1; j++)
            {
                T x0 = T.Zero;
                T* b = g.Bp + j * g.CsB;
                for (int p = 0; p < k; p++) x0 = T.FusedMultiplyAdd(a[p * csA], b[p * rsB], x0);
                c[j * csC] = x0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(T* c, nint csC, TV x, T* tmp)
    {
        if (csC == 1)
        {
            V.Store(c, x);
            return;
        }
        V.Store(tmp, x);
        for (int l = 0; l < V.Width; l++) c[l * csC] = tmp[l];
    }
}
