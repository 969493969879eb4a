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
    public static void Run(GemmProblem<T> g, ProductSplit split = ProductSplit.Any)
    {
        int w = V.Width;
        if (Unpacked(g))
        {
            // The vector runs along N: put the longer side there (rounded to whole registers); on a tie prefer the
            // orientation whose B rows are already contiguous.
            long wasteN = (long)g.M * RoundUp(g.N, w), wasteT = (long)g.N * RoundUp(g.M, w);
            bool transpose = wasteT < wasteN || (wasteT == wasteN && g.CsB != 1 && g.RsA == 1);
            GemmDirect<T, V, TV>.Run(transpose ? g.Transposed() : g, transpose ? split.Transposed() : split);
            return;
        }
        if (typeof(T) == typeof(float) && typeof(V) == typeof(F32x16) && ThinGemm.TryRun(Unsafe.As<GemmProblem<T>, GemmProblem<float>>(ref g), split)) return;
        {
            long wasteN = (long)RoundUp(g.M, K.MR) * RoundUp(g.N, K.NR);
            long wasteT = (long)RoundUp(g.N, K.MR) * RoundUp(g.M, K.NR);
            Gemm<T, K>.Run(wasteT < wasteN ? g.Transposed() : g, wasteT < wasteN ? split.Transposed() : split);
        }
    }

    /// <summary>Whether <see cref="Run"/> does this product without packing.</summary>
    private static bool Unpacked(in GemmProblem<T> g)
    {
        long work = (long)g.M * g.N * g.K;
        return (work <= GemmBlocking.DirectMaxWork && (long)g.K * Math.Max(g.M, g.N) <= GemmBlocking.DirectMaxB) || Math.Min(g.M, g.N) <= 2
            || (Math.Min(g.M, g.N) <= GemmBlocking.DirectMaxThin && Math.Max(g.M, g.N) >= GemmBlocking.DirectMinLong);
    }

    /// <summary>
    /// Whether <see cref="Run"/> takes the packed product in this orientation (not Cᵀ), so that a B packed ahead of
    /// time (<see cref="Gemm{T, K}.PackWholeB"/>) can stand in for the packing it would do.
    /// </summary>
    public static bool PacksAsGiven(in GemmProblem<T> g) =>
        !Unpacked(g) && (long)RoundUp(g.N, K.MR) * RoundUp(g.M, K.NR) >= (long)RoundUp(g.M, K.MR) * RoundUp(g.N, K.NR);

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;
}

/// <summary>
/// The unpacked product: up to four rows of C at a time, eight with 512-bit registers (several independent chains
/// per column register hide the FMA latency, and each B load serves every row), k inner. Rows of B must be contiguous; they are gathered into a scratch buffer when they are not.
/// </summary>
internal static unsafe class GemmDirect<T, V, TV>
    where T : unmanaged, IFloatingPointIeee754<T>
    where V : IVec<TV, T>
    where TV : struct
{
    public static void Run(GemmProblem<T> g, ProductSplit split = ProductSplit.Any)
    {
        if (g.M <= 2 && g.RsB == 1 && g.CsB != 1 && g.N > 1 && g.K > 0 && Packing.Transposes<T>())
        {
            ThinRows(g, split);
            return;
        }
        if (GemmBlocking.Narrow && g.M <= V.Width && g.N >= 64 && g.RsB == 1 && g.CsB != 1 && g.K > 0 && Packing.Transposes<T>() && V.Width * sizeof(T) == 64)
        {
            NarrowColumns(g.Transposed(), split);
            return;
        }
        byte[]? owner = null;
        if (g.CsB != 1 && g.N > 1)
        {
            // Gather B into row-major order once; reading it strided in the k loop would be far slower.
            nint count = (nint)g.K * g.N + 64;
            T* dense = count > 1 << 16 ? GemmBuffers.Shared<T>(count, out owner) : GemmBuffers.Direct<T>(count);
            if (g.RsB == 1 && Packing.Transposes<T>()) Packing.Transpose(g.Bp, g.CsB, g.N, g.K, dense, g.N);
            else Packing.Strided(g.Bp, g.CsB, g.RsB, g.N, g.K, dense, g.N);
            g = new GemmProblem<T>(g.Ap, g.RsA, g.CsA, dense, g.N, 1, g.Cp, g.RsC, g.CsC, g.M, g.N, g.K);
        }
        long work = (long)g.M * g.N * g.K;
        if (work >= GemmBlocking.DirectParallelMinWork && Parallelism.Threads > 1 && split != ProductSplit.None) Parallel(g, split);
        else Rows(g, 0, g.M, 0, g.N);
        GC.KeepAlive(owner);
    }

    /// <summary>
    /// One or two rows of C against a B whose columns are contiguous in k (B = Wᵀ of a row-major [out, in] weight: a
    /// Linear layer at batch 1 or 2). Gathering all of B into row order first costs a pass over memory as large as
    /// the product itself, for a product that reads each element of B once. Instead each k-chunk of four registers'
    /// worth of columns is transposed into a buffer that stays in L1 and consumed at once, with the accumulators kept
    /// in registers across chunks: each output is the same fused multiply-add chain over k in order as on every other
    /// path.
    /// </summary>
    private static void ThinRows(GemmProblem<T> g, ProductSplit split)
    {
        int units = (g.N + 4 * V.Width - 1) / (4 * V.Width);
        long work = (long)g.M * g.N * g.K;
        if (work >= GemmBlocking.ParallelMinWork && Parallelism.Threads > 1 && units > 1 && split != ProductSplit.None)
            Parallelism.For(units, (long)4 * V.Width * g.M * g.K, new ThinBody(g));
        else if (g.M == 1) ThinColumns<R1>(g, 0, g.N);
        else ThinColumns<R2>(g, 0, g.N);
    }

    private readonly struct ThinBody(GemmProblem<T> g) : Parallelism.IRangeBody
    {
        public void Run(int u0, int u1)
        {
            int jb = 4 * V.Width, n1 = Math.Min(u1 * jb, g.N);
            if (g.M == 1) ThinColumns<R1>(g, u0 * jb, n1);
            else ThinColumns<R2>(g, u0 * jb, n1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // tmp is written before it is read
    private static void ThinColumns<R>(in GemmProblem<T> g, int n0, int n1) where R : IRows
    {
        int w = V.Width, jb = 4 * w, rows = R.Count;
        // 128 deep × 64 floats is 32 KiB: the chunk is read back while it is still in L1.
        int kcMax = Math.Clamp(GemmBlocking.Kc, 1, 128);
        T* buf = GemmBuffers.Direct<T>((nint)kcMax * jb + 64);
        T* tmp = stackalloc T[V.Width];
        nint csA = g.CsA, rsA = g.RsA, csC = g.CsC, rsC = g.RsC;
        for (int j0 = n0; j0 < n1; j0 += jb)
        {
            int jn = Math.Min(jb, n1 - j0);
            TV x0 = V.Zero, y0 = V.Zero, z0 = V.Zero, u0 = V.Zero, x1 = V.Zero, y1 = V.Zero, z1 = V.Zero, u1 = V.Zero;
            for (int k0 = 0; k0 < g.K; k0 += kcMax)
            {
                int kc = Math.Min(kcMax, g.K - k0);
                Packing.Transpose(g.Bp + j0 * g.CsB + k0, g.CsB, jn, kc, buf, jb);
                T* a = g.Ap + k0 * csA;
                for (int p = 0; p < kc; p++)
                {
                    T* bp = buf + p * jb;
                    TV b0 = V.Load(bp), b1 = V.Load(bp + w), b2 = V.Load(bp + 2 * w), b3 = V.Load(bp + 3 * w);
                    T* ap = a + p * csA;
                    TV s = V.Splat(ap[0]);
                    x0 = V.Fma(s, b0, x0); y0 = V.Fma(s, b1, y0); z0 = V.Fma(s, b2, z0); u0 = V.Fma(s, b3, u0);
                    if (rows > 1)
                    {
                        s = V.Splat(ap[rsA]);
                        x1 = V.Fma(s, b0, x1); y1 = V.Fma(s, b1, y1); z1 = V.Fma(s, b2, z1); u1 = V.Fma(s, b3, u1);
                    }
                }
            }
            T* c = g.Cp + j0 * csC;
            Columns(c, csC, jn, x0, y0, z0, u0, tmp);
            if (rows > 1) Columns(c + rsC, csC, jn, x1, y1, z1, u1, tmp);
        }
    }

    /// <summary>The first <paramref name="count"/> of the four registers' columns into a row of C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(T* c, nint csC, int count, TV r0, TV r1, TV r2, TV r3, T* tmp)
    {
        int w = V.Width;
        if (count == 4 * w)
        {
            Put(c, csC, r0, tmp); Put(c + w * csC, csC, r1, tmp); Put(c + 2 * w * csC, csC, r2, tmp); Put(c + 3 * w * csC, csC, r3, tmp);
            return;
        }
        for (int q = 0; q < 4 && q * w < count; q++)
        {
            V.Store(tmp, q switch { 0 => r0, 1 => r1, 2 => r2, _ => r3 });
            int lanes = Math.Min(w, count - q * w);
            for (int l = 0; l < lanes; l++) c[(q * w + l) * csC] = tmp[l];
        }
    }

    private static void Parallel(GemmProblem<T> g, ProductSplit split)
    {
        int w = V.Width;
        // Row blocks of eight keep the eight-row kernel whole; columns go in register pairs.
        int rowUnits = (g.M + 7) / 8, columnUnits = (g.N + 2 * w - 1) / (2 * w);
        if (split.CutsRows(g.M >= g.N, rowUnits, columnUnits, Parallelism.Threads)) Parallelism.For(rowUnits, (long)8 * g.N * g.K, new RowBlocksBody(g));
        else Parallelism.For(columnUnits, (long)2 * w * g.M * g.K, new ColumnPairsBody(g));
    }

    private readonly struct RowBlocksBody(GemmProblem<T> g) : Parallelism.IRangeBody
    {
        public void Run(int i0, int i1) => Rows(g, i0 * 8, Math.Min(i1 * 8, g.M), 0, g.N);
    }

    private readonly struct ColumnPairsBody(GemmProblem<T> g) : Parallelism.IRangeBody
    {
        public void Run(int u0, int u1) => Rows(g, 0, g.M, u0 * 2 * V.Width, Math.Min(u1 * 2 * V.Width, g.N));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // tmp is written before it is read
    private static void Rows(in GemmProblem<T> g, int m0, int m1, int n0, int n1)
    {
        int i = m0;
        T* tmp = stackalloc T[V.Width];
        if (V.Width * sizeof(T) == 64)
        {
            // 32 registers: eight rows share each pair of B registers (16 accumulators).
            int wide = n0 + (n1 - n0) / (2 * V.Width) * (2 * V.Width);
            for (; i + 8 <= m1; i += 8)
            {
                Eight(g, i, n0, wide, tmp);
                if (wide < n1)
                {
                    Block<R4>(g, i, wide, n1, tmp);
                    Block<R4>(g, i + 4, wide, n1, tmp);
                }
            }
        }
        for (; i + 4 <= m1; i += 4) Block<R4>(g, i, n0, n1, tmp);
        switch (m1 - i)
        {
            case 3: Block<R3>(g, i, n0, n1, tmp); break;
            case 2: Block<R2>(g, i, n0, n1, tmp); break;
            case 1: Block<R1>(g, i, n0, n1, tmp); break;
        }
    }

    /// <summary>Eight rows of C by two registers of columns, over [n0, n1) (a whole number of register pairs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Eight(in GemmProblem<T> g, int i, int n0, int n1, T* tmp)
    {
        int w = V.Width, k = g.K;
        nint csA = g.CsA, rsB = g.RsB, csC = g.CsC, rsA = g.RsA, rsC = g.RsC;
        T* a = g.Ap + i * rsA;
        T* c = g.Cp + i * rsC;
        for (int j = n0; j < n1; j += 2 * w)
        {
            TV x0 = V.Zero, y0 = V.Zero, x1 = V.Zero, y1 = V.Zero, x2 = V.Zero, y2 = V.Zero, x3 = V.Zero, y3 = V.Zero;
            TV x4 = V.Zero, y4 = V.Zero, x5 = V.Zero, y5 = V.Zero, x6 = V.Zero, y6 = V.Zero, x7 = V.Zero, y7 = V.Zero;
            T* b = g.Bp + j;
            for (int p = 0; p < k; p++)
            {
                T* bp = b + p * rsB;
                TV b0 = V.Load(bp), b1 = V.Load(bp + w);
                T* ap = a + p * csA;
                TV s = V.Splat(ap[0]); x0 = V.Fma(s, b0, x0); y0 = V.Fma(s, b1, y0);
                s = V.Splat(ap[rsA]); x1 = V.Fma(s, b0, x1); y1 = V.Fma(s, b1, y1);
                s = V.Splat(ap[2 * rsA]); x2 = V.Fma(s, b0, x2); y2 = V.Fma(s, b1, y2);
                s = V.Splat(ap[3 * rsA]); x3 = V.Fma(s, b0, x3); y3 = V.Fma(s, b1, y3);
                s = V.Splat(ap[4 * rsA]); x4 = V.Fma(s, b0, x4); y4 = V.Fma(s, b1, y4);
                s = V.Splat(ap[5 * rsA]); x5 = V.Fma(s, b0, x5); y5 = V.Fma(s, b1, y5);
                s = V.Splat(ap[6 * rsA]); x6 = V.Fma(s, b0, x6); y6 = V.Fma(s, b1, y6);
                s = V.Splat(ap[7 * rsA]); x7 = V.Fma(s, b0, x7); y7 = V.Fma(s, b1, y7);
            }
            T* cj = c + j * csC;
            nint right = w * csC;
            Put(cj, csC, x0, tmp); Put(cj + right, csC, y0, tmp);
            Put(cj + rsC, csC, x1, tmp); Put(cj + rsC + right, csC, y1, tmp);
            Put(cj + 2 * rsC, csC, x2, tmp); Put(cj + 2 * rsC + right, csC, y2, tmp);
            Put(cj + 3 * rsC, csC, x3, tmp); Put(cj + 3 * rsC + right, csC, y3, tmp);
            Put(cj + 4 * rsC, csC, x4, tmp); Put(cj + 4 * rsC + right, csC, y4, tmp);
            Put(cj + 5 * rsC, csC, x5, tmp); Put(cj + 5 * rsC + right, csC, y5, tmp);
            Put(cj + 6 * rsC, csC, x6, tmp); Put(cj + 6 * rsC + right, csC, y6, tmp);
            Put(cj + 7 * rsC, csC, x7, tmp); Put(cj + 7 * rsC + right, csC, y7, tmp);
        }
    }

    /// <summary>
    /// C = A·B for a C at most one register wide (a Linear layer with few outputs, as an MLP's ten-way output layer:
    /// X·Wᵀ with W = [10, 1024]). The unpacked path would run it as Cᵀ = W·Xᵀ, so as to fill its registers, after
    /// gathering all of Xᵀ into row order: a transpose of the whole of X (1 MiB at 256 × 1024) that cost more than the
    /// product, which ran at about 30 GFLOP/s. Here B (Wᵀ, small) is packed once into k-major rows of one register
    /// (zero past the last column), and A is read in place, up to 12 rows at a time, each value broadcast against B's
    /// row into one accumulator per row of C. Each output is one fused multiply-add chain over k in order from zero,
    /// as on every other path. Measured on a Zen 5 core (thread CPU time, one thread, interleaved with the gathering
    /// path, best of 10 windows): 256 × 1024 · 1024 × 10 at 80–83 GFLOP/s against 27–34.
    /// </summary>
    private static void NarrowColumns(GemmProblem<T> g, ProductSplit split)
    {
        int w = V.Width;
        T* packedB = GemmBuffers.PackB<T>((nint)g.K * w + 64);
        if (g.RsB == 1 && Packing.Transposes<T>()) Packing.Transpose(g.Bp, g.CsB, g.N, g.K, packedB, w);
        else Packing.Strided(g.Bp, g.CsB, g.RsB, g.N, g.K, packedB, w);
        int units = (g.M + 11) / 12;
        long work = (long)g.M * g.N * g.K;
        var body = new NarrowBody(g, packedB);
        if (work >= GemmBlocking.DirectParallelMinWork && Parallelism.Threads > 1 && units > 1 && split != ProductSplit.None)
            Parallelism.For(units, (long)12 * g.N * g.K, body);
        else body.Run(0, units);
    }

    private readonly struct NarrowBody(GemmProblem<T> g, T* packedB) : Parallelism.IRangeBody
    {
        public void Run(int u0, int u1)
        {
            int m1 = Math.Min(u1 * 12, g.M);
            for (int i = u0 * 12; i < m1; i += 12)
            {
                int rows = Math.Min(12, m1 - i);
                if (rows > 8) NarrowRows<R12>(g, packedB, i, rows);
                else if (rows > 4) NarrowRows<R8>(g, packedB, i, rows);
                else NarrowRows<R4>(g, packedB, i, rows);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // tmp is written before it is read
    private static void NarrowRows<R>(in GemmProblem<T> g, T* packedB, int i0, int count) where R : IRows
    {
        int w = V.Width, rows = R.Count, n = g.N, k = g.K;
        nint rsA = g.RsA, csA = g.CsA, rsC = g.RsC, csC = g.CsC;
        // Rows past the last compute a copy of it, never stored.
        int last = count - 1;
        T* a0 = g.Ap + i0 * rsA;
        nint o1 = Math.Min(1, last) * rsA, o2 = Math.Min(2, last) * rsA, o3 = Math.Min(3, last) * rsA;
        nint o4 = Math.Min(4, last) * rsA, o5 = Math.Min(5, last) * rsA, o6 = Math.Min(6, last) * rsA, o7 = Math.Min(7, last) * rsA;
        nint o8 = Math.Min(8, last) * rsA, o9 = Math.Min(9, last) * rsA, oa = Math.Min(10, last) * rsA, ob = Math.Min(11, last) * rsA;
        TV x0 = V.Zero, x1 = V.Zero, x2 = V.Zero, x3 = V.Zero, x4 = V.Zero, x5 = V.Zero;
        TV x6 = V.Zero, x7 = V.Zero, x8 = V.Zero, x9 = V.Zero, xa = V.Zero, xb = V.Zero;
        T* bp = packedB;
        T* ap = a0;
        for (int p = 0; p < k; p++)
        {
            TV b = V.Load(bp);
            x0 = V.Fma(V.Splat(ap[0]), b, x0);
            x1 = V.Fma(V.Splat(ap[o1]), b, x1);
            x2 = V.Fma(V.Splat(ap[o2]), b, x2);
            x3 = V.Fma(V.Splat(ap[o3]), b, x3);
            if (rows > 4)
            {
                x4 = V.Fma(V.Splat(ap[o4]), b, x4);
                x5 = V.Fma(V.Splat(ap[o5]), b, x5);
                x6 = V.Fma(V.Splat(ap[o6]), b, x6);
                x7 = V.Fma(V.Splat(ap[o7]), b, x7);
            }
            if (rows > 8)
            {
                x8 = V.Fma(V.Splat(ap[o8]), b, x8);
                x9 = V.Fma(V.Splat(ap[o9]), b, x9);
                xa = V.Fma(V.Splat(ap[oa]), b, xa);
                xb = V.Fma(V.Splat(ap[ob]), b, xb);
            }
            ap += csA;
            bp += w;
        }
        T* tmp = stackalloc T[V.Width];
        T* c = g.Cp + i0 * rsC;
        for (int i = 0; i < count; i++)
        {
            V.Store(tmp, i switch
            {
                0 => x0, 1 => x1, 2 => x2, 3 => x3, 4 => x4, 5 => x5, 6 => x6, 7 => x7, 8 => x8, 9 => x9, 10 => xa, _ => xb,
            });
            T* ci = c + i * rsC;
            for (int j = 0; j < n; j++) ci[j * csC] = tmp[j];
        }
    }

    private interface IRows { static abstract int Count { get; } }
    private readonly struct R8 : IRows { public static int Count => 8; }
    private readonly struct R12 : IRows { public static int Count => 12; }
    private readonly struct R1 : IRows { public static int Count => 1; }
    private readonly struct R2 : IRows { public static int Count => 2; }
    private readonly struct R3 : IRows { public static int Count => 3; }
    private readonly struct R4 : IRows { public static int Count => 4; }

    /// <summary>
    /// R rows of C (R a constant per instantiation, so the unused accumulators vanish): column blocks of four
    /// registers for one or two rows, then two registers, one register and single columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<R>(in GemmProblem<T> g, int i, int n0, int n1, T* tmp) where R : IRows
    {
        int w = V.Width, k = g.K, rows = R.Count;
        nint csA = g.CsA, rsB = g.RsB, csC = g.CsC, rsA = g.RsA, rsC = g.RsC;
        T* a = g.Ap + i * rsA;
        T* c = g.Cp + i * rsC;
        int j = n0;
        if (rows <= 2)
        {
            for (; j + 4 * w <= n1; j += 4 * w)
            {
                TV x0 = V.Zero, y0 = V.Zero, z0 = V.Zero, u0 = V.Zero, x1 = V.Zero, y1 = V.Zero, z1 = V.Zero, u1 = V.Zero;
                T* b = g.Bp + j;
                for (int p = 0; p < k; p++)
                {
                    T* bp = b + p * rsB;
                    TV b0 = V.Load(bp), b1 = V.Load(bp + w), b2 = V.Load(bp + 2 * w), b3 = V.Load(bp + 3 * w);
                    T* ap = a + p * csA;
                    TV s = V.Splat(ap[0]);
                    x0 = V.Fma(s, b0, x0); y0 = V.Fma(s, b1, y0); z0 = V.Fma(s, b2, z0); u0 = V.Fma(s, b3, u0);
                    if (rows > 1)
                    {
                        s = V.Splat(ap[rsA]);
                        x1 = V.Fma(s, b0, x1); y1 = V.Fma(s, b1, y1); z1 = V.Fma(s, b2, z1); u1 = V.Fma(s, b3, u1);
                    }
                }
                T* cj = c + j * csC;
                Put(cj, csC, x0, tmp); Put(cj + w * csC, csC, y0, tmp); Put(cj + 2 * w * csC, csC, z0, tmp); Put(cj + 3 * w * csC, csC, u0, tmp);
                if (rows > 1)
                {
                    cj += rsC;
                    Put(cj, csC, x1, tmp); Put(cj + w * csC, csC, y1, tmp); Put(cj + 2 * w * csC, csC, z1, tmp); Put(cj + 3 * w * csC, csC, u1, tmp);
                }
            }
        }
        for (; j + 2 * w <= n1; j += 2 * w)
        {
            TV x0 = V.Zero, y0 = V.Zero, x1 = V.Zero, y1 = V.Zero, x2 = V.Zero, y2 = V.Zero, x3 = V.Zero, y3 = V.Zero;
            T* b = g.Bp + j;
            for (int p = 0; p < k; p++)
            {
                T* bp = b + p * rsB;
                TV b0 = V.Load(bp), b1 = V.Load(bp + w);
                T* ap = a + p * csA;
                TV s = V.Splat(ap[0]); x0 = V.Fma(s, b0, x0); y0 = V.Fma(s, b1, y0);
                if (rows > 1) { s = V.Splat(ap[rsA]); x1 = V.Fma(s, b0, x1); y1 = V.Fma(s, b1, y1); }
                if (rows > 2) { s = V.Splat(ap[2 * rsA]); x2 = V.Fma(s, b0, x2); y2 = V.Fma(s, b1, y2); }
                if (rows > 3) { s = V.Splat(ap[3 * rsA]); x3 = V.Fma(s, b0, x3); y3 = V.Fma(s, b1, y3); }
            }
            T* cj = c + j * csC;
            Put(cj, csC, x0, tmp); Put(cj + w * csC, csC, y0, tmp);
            if (rows > 1) { Put(cj + rsC, csC, x1, tmp); Put(cj + rsC + w * csC, csC, y1, tmp); }
            if (rows > 2) { Put(cj + 2 * rsC, csC, x2, tmp); Put(cj + 2 * rsC + w * csC, csC, y2, tmp); }
            if (rows > 3) { Put(cj + 3 * rsC, csC, x3, tmp); Put(cj + 3 * rsC + w * csC, csC, y3, tmp); }
        }
        for (; j + w <= n1; j += w)
        {
            TV x0 = V.Zero, x1 = V.Zero, x2 = V.Zero, x3 = V.Zero;
            T* b = g.Bp + j;
            for (int p = 0; p < k; p++)
            {
                TV b0 = V.Load(b + p * rsB);
                T* ap = a + p * csA;
                x0 = V.Fma(V.Splat(ap[0]), b0, x0);
                if (rows > 1) x1 = V.Fma(V.Splat(ap[rsA]), b0, x1);
                if (rows > 2) x2 = V.Fma(V.Splat(ap[2 * rsA]), b0, x2);
                if (rows > 3) x3 = V.Fma(V.Splat(ap[3 * rsA]), b0, x3);
            }
            T* cj = c + j * csC;
            Put(cj, csC, x0, tmp);
            if (rows > 1) Put(cj + rsC, csC, x1, tmp);
            if (rows > 2) Put(cj + 2 * rsC, csC, x2, tmp);
            if (rows > 3) Put(cj + 3 * rsC, csC, x3, tmp);
        }
        for (; j < n1; j++)
        {
            T x0 = T.Zero, x1 = T.Zero, x2 = T.Zero, x3 = T.Zero;
            T* b = g.Bp + j * g.CsB;
            for (int p = 0; p < k; p++)
            {
                T bv = b[p * rsB];
                T* ap = a + p * csA;
                x0 = T.FusedMultiplyAdd(ap[0], bv, x0);
                if (rows > 1) x1 = T.FusedMultiplyAdd(ap[rsA], bv, x1);
                if (rows > 2) x2 = T.FusedMultiplyAdd(ap[2 * rsA], bv, x2);
                if (rows > 3) x3 = T.FusedMultiplyAdd(ap[3 * rsA], bv, x3);
            }
            T* cj = c + j * csC;
            cj[0] = x0;
            if (rows > 1) cj[rsC] = x1;
            if (rows > 2) cj[2 * rsC] = x2;
            if (rows > 3) cj[3 * rsC] = x3;
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
