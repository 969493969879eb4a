using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Standard normal float32 draws for samplers that need many per step (the Langevin noise of <see cref="Optim.Sgld"/>):
/// Box–Muller in single precision, eight pairs per vector, the way PyTorch fills a float tensor. Philox block b gives
/// elements 4b … 4b + 3: two pairs of 24-bit uniforms (u₁, u₂), each giving r·cos θ and r·sin θ with
/// r = √(−2 ln(1 − u₁)) and θ = 2π·u₂.
/// </summary>
/// <remarks>
/// <para>
/// The logarithm, sine and cosine are Cephes' single-precision polynomials (about 1 ulp) written with plain IEEE
/// additions, multiplications, square roots and selects on 256-bit vectors, which give the same bits whether the
/// vectors run in hardware or not, on every code path and at every thread count (element i always comes from block
/// i / 4). They are not <see cref="RandomFill.Normal"/>'s values, which come from double-precision Box–Muller through
/// the C library and cost about five times as much.
/// </para>
/// <para>
/// The uniforms have 24 bits, so |z| ≤ √(2·24·ln 2) ≈ 5.77: the tail beyond that (probability about 8·10⁻⁹) is never
/// drawn, as with PyTorch's float32 <c>normal_</c>.
/// </para>
/// </remarks>
internal static class NormalSingles
{
    /// <summary>Draws below which a fill runs on the calling thread (about 15 µs of work on one core).</summary>
    internal const int ParallelMin = 1 << 14;

    /// <summary>Philox blocks used for <paramref name="count"/> normals.</summary>
    public static long Blocks(int count) => (count + 3L) / 4;

    /// <summary>Fills <paramref name="destination"/> with N(0, 1) draws, advancing <paramref name="g"/> by <see cref="Blocks"/>.</summary>
    public static void Fill(float[] destination, int offset, int count, Generator g)
    {
        ulong start = g.Reserve(Blocks(count));
        int groups = (int)((Blocks(count) + Philox.Lanes - 1) / Philox.Lanes);
        var body = new Body(g, start, destination, offset, count);
        // Below ParallelMin draws the fill stays on the calling thread: the SGLD step of a 10k-parameter network
        // draws 2,500 normals per weight matrix (a few µs), and split across two cores each fill cost more in the
        // hand-off and in moving the draws back to the caller's cache than it saved.
        if (count < ParallelMin) body.Run(0, groups);
        else Parallelism.For(groups, 32 * 40, body);
    }

    private readonly struct Body(Generator g, ulong start, float[] d, int offset, int n) : Parallelism.IRangeBody
    {
        [SkipLocalsInit]
        public void Run(int g0, int g1)
        {
            Span<uint> words = stackalloc uint[4 * Philox.Lanes];
            Span<float> z = stackalloc float[4 * Philox.Lanes];
            Span<float> ua = stackalloc float[Philox.Lanes], ub = stackalloc float[Philox.Lanes], uc = stackalloc float[Philox.Lanes], ud = stackalloc float[Philox.Lanes];
            for (int q = g0; q < g1; q++)
            {
                ulong block = start + (ulong)q * Philox.Lanes;
                g.BlocksAt(block, words);
                for (int i = 0; i < Philox.Lanes; i++)
                {
                    ua[i] = Generator.ToSingle(words[4 * i]);
                    ub[i] = Generator.ToSingle(words[4 * i + 1]);
                    uc[i] = Generator.ToSingle(words[4 * i + 2]);
                    ud[i] = Generator.ToSingle(words[4 * i + 3]);
                }
                var (c0, s0) = BoxMuller(Vector256.Create<float>(ua), Vector256.Create<float>(ub));
                var (c1, s1) = BoxMuller(Vector256.Create<float>(uc), Vector256.Create<float>(ud));
                for (int i = 0; i < Philox.Lanes; i++)
                {
                    z[4 * i] = c0.GetElement(i);
                    z[4 * i + 1] = s0.GetElement(i);
                    z[4 * i + 2] = c1.GetElement(i);
                    z[4 * i + 3] = s1.GetElement(i);
                }
                int first = q * 4 * Philox.Lanes;
                int take = Math.Min(4 * Philox.Lanes, n - first);
                z[..take].CopyTo(d.AsSpan(offset + first, take));
            }
        }
    }

    /// <summary>(r·cos θ, r·sin θ) for r = √(−2 ln(1 − u₁)), θ = 2π·u₂, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<float> Cos, Vector256<float> Sin) BoxMuller(Vector256<float> u1, Vector256<float> u2)
    {
        // 1 − u₁ is exact (u₁ is a multiple of 2⁻²⁴ below 1) and in (0, 1]: no log(0).
        var r = Vector256.Sqrt(Vector256.Create(-2f) * Log(Vector256<float>.One - u1));
        // θ = q·π/2 + a with q the nearest quarter turn: t = u₂ − q/4 is exact and in [−1/8, 1/8], a = 2π·t in [−π/4, π/4].
        var q = Vector256.Floor(u2 * 4f + Vector256.Create(0.5f));
        var t = u2 - q * 0.25f;
        var a = t * 6.28318530717958647692f;
        var z = a * a;
        var sin = (((Vector256.Create(-1.9515295891e-4f) * z + Vector256.Create(8.3321608736e-3f)) * z - Vector256.Create(1.6666654611e-1f)) * z) * a + a;
        var cos = (((Vector256.Create(2.443315711809948e-5f) * z - Vector256.Create(1.388731625493765e-3f)) * z + Vector256.Create(4.166664568298827e-2f)) * z) * z
                  - z * 0.5f + Vector256<float>.One;
        var qi = Vector256.ConvertToInt32(q);
        var swap = Vector256.Equals(qi & Vector256.Create(1), Vector256.Create(1)).AsSingle();
        var s = Vector256.ConditionalSelect(swap, cos, sin);
        var c = Vector256.ConditionalSelect(swap, sin, cos);
        // sin θ is negative in quarters 2 and 3, cos θ in quarters 1 and 2 (q = 4 is quarter 0 again).
        var signBit = Vector256.Create(int.MinValue);
        var sinNeg = (qi & Vector256.Create(2)) << 30;
        var cosNeg = ((qi + Vector256.Create(1)) & Vector256.Create(2)) << 30;
        s = (s.AsInt32() ^ (sinNeg & signBit)).AsSingle();
        c = (c.AsInt32() ^ (cosNeg & signBit)).AsSingle();
        return (r * c, r * s);
    }

    /// <summary>ln v for v in (0, 1] (Cephes' logf: v = 2ᵉ·m with m in [√½, √2), a degree-9 polynomial in m − 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Log(Vector256<float> v)
    {
        var bits = v.AsInt32();
        // e such that m = v·2⁻ᵉ is in [√½, √2): subtract the bits of √½ before taking the exponent.
        var e = (bits - Vector256.Create(0x3F3504F3)) >> 23;
        var m = (bits - (e << 23)).AsSingle();
        var fe = Vector256.ConvertToSingle(e);
        var x = m - Vector256<float>.One;
        var z = x * x;
        var p = Vector256.Create(7.0376836292e-2f);
        p = p * x + Vector256.Create(-1.1514610310e-1f);
        p = p * x + Vector256.Create(1.1676998740e-1f);
        p = p * x + Vector256.Create(-1.2420140846e-1f);
        p = p * x + Vector256.Create(1.4249322787e-1f);
        p = p * x + Vector256.Create(-1.6668057665e-1f);
        p = p * x + Vector256.Create(2.0000714765e-1f);
        p = p * x + Vector256.Create(-2.4999993993e-1f);
        p = p * x + Vector256.Create(3.3333331174e-1f);
        var y = x * (z * p);
        y += fe * -2.12194440e-4f;
        y += z * -0.5f;
        return x + y + fe * 0.693359375f;
    }
}
