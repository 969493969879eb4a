using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
/// generator. The output for a (key, counter) pair is a pure function of them, so element i of a draw can be
/// computed by any thread in any order and the stream never depends on how work is split.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Four 32-bit random words for the 128-bit counter (<paramref name="counterLow"/>, <paramref name="counterHigh"/>) under a 64-bit key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint, uint, uint) Block(ulong key, ulong counterLow, ulong counterHigh)
    {
        uint c0 = (uint)counterLow, c1 = (uint)(counterLow >> 32), c2 = (uint)counterHigh, c3 = (uint)(counterHigh >> 32);
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n1 = (uint)p1;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            uint n3 = (uint)p0;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0; k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>How many consecutive blocks <see cref="Blocks"/> computes at once.</summary>
    internal const int Lanes = 8;

    /// <summary>
    /// The blocks for counters <paramref name="counterLow"/> + 0 … + 7 (wrapping in 64 bits, as <see cref="Block"/>
    /// is called with them), word w of block i into <c>words[4·i + w]</c>: the same bits as eight calls of
    /// <see cref="Block"/>, computed eight lanes wide (one 64-bit lane per block holding a 32-bit word, so the
    /// 32×32→64-bit products are one unsigned multiply of the even halves).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Blocks(ulong key, ulong counterLow, ulong counterHigh, Span<uint> words)
    {
        if (words.Length < 4 * Lanes) throw new ArgumentException("need room for eight blocks", nameof(words));
        if (Avx512F.IsSupported) Blocks512(key, counterLow, counterHigh, words);
        else if (Avx2.IsSupported) { Blocks256(key, counterLow, counterHigh, words); Blocks256(key, counterLow + 4, counterHigh, words[16..]); }
        else
            for (int i = 0; i < Lanes; i++)
            {
                var (a, b, c, d) = Block(key, counterLow + (ulong)i, counterHigh);
                words[4 * i] = a; words[4 * i + 1] = b; words[4 * i + 2] = c; words[4 * i + 3] = d;
            }
    }

    private static void Blocks512(ulong key, ulong counterLow, ulong counterHigh, Span<uint> words)
    {
        var low32 = Vector512.Create(0xFFFF_FFFFUL);
        var ctr = Vector512.Create(counterLow) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        Vector512<ulong> c0 = ctr & low32, c1 = ctr >>> 32;
        Vector512<ulong> c2 = Vector512.Create(counterHigh & 0xFFFF_FFFF), c3 = Vector512.Create(counterHigh >> 32);
        var m0 = Vector512.Create((ulong)M0).AsUInt32();
        var m1 = Vector512.Create((ulong)M1).AsUInt32();
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        for (int round = 0; round < 10; round++)
        {
            var p0 = Avx512F.Multiply(m0, c0.AsUInt32());
            var p1 = Avx512F.Multiply(m1, c2.AsUInt32());
            var n0 = (p1 >>> 32) ^ c1 ^ Vector512.Create((ulong)k0);
            var n1 = p1 & low32;
            var n2 = (p0 >>> 32) ^ c3 ^ Vector512.Create((ulong)k1);
            var n3 = p0 & low32;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0; k1 += W1;
        }
        // Interleave the four words of each lane: word w of lane i goes to 4·i + w. Each 64-bit lane of v01 holds lane
        // i's words 0 and 1 (word 0 low, so in memory order), of v23 its words 2 and 3; the two permutes then take
        // lanes i of v01 and v23 alternately (a scalar copy through the stack cost as much as the ten rounds).
        var v01 = c0 | (c1 << 32);
        var v23 = c2 | (c3 << 32);
        var first = Avx512F.PermuteVar8x64x2(v01, Vector512.Create(0UL, 8, 1, 9, 2, 10, 3, 11), v23);
        var second = Avx512F.PermuteVar8x64x2(v01, Vector512.Create(4UL, 12, 5, 13, 6, 14, 7, 15), v23);
        var destination = System.Runtime.InteropServices.MemoryMarshal.Cast<uint, ulong>(words);
        first.CopyTo(destination);
        second.CopyTo(destination[8..]);
    }

    private static void Blocks256(ulong key, ulong counterLow, ulong counterHigh, Span<uint> words)
    {
        var low32 = Vector256.Create(0xFFFF_FFFFUL);
        var ctr = Vector256.Create(counterLow) + Vector256.Create(0UL, 1, 2, 3);
        Vector256<ulong> c0 = ctr & low32, c1 = ctr >>> 32;
        Vector256<ulong> c2 = Vector256.Create(counterHigh & 0xFFFF_FFFF), c3 = Vector256.Create(counterHigh >> 32);
        var m0 = Vector256.Create((ulong)M0).AsUInt32();
        var m1 = Vector256.Create((ulong)M1).AsUInt32();
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        for (int round = 0; round < 10; round++)
        {
            var p0 = Avx2.Multiply(m0, c0.AsUInt32());
            var p1 = Avx2.Multiply(m1, c2.AsUInt32());
            var n0 = (p1 >>> 32) ^ c1 ^ Vector256.Create((ulong)k0);
            var n1 = p1 & low32;
            var n2 = (p0 >>> 32) ^ c3 ^ Vector256.Create((ulong)k1);
            var n3 = p0 & low32;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0; k1 += W1;
        }
        Span<ulong> t = stackalloc ulong[16];
        c0.CopyTo(t); c1.CopyTo(t[4..]); c2.CopyTo(t[8..]); c3.CopyTo(t[12..]);
        for (int i = 0; i < 4; i++)
        {
            words[4 * i] = (uint)t[i]; words[4 * i + 1] = (uint)t[4 + i]; words[4 * i + 2] = (uint)t[8 + i]; words[4 * i + 3] = (uint)t[12 + i];
        }
    }
}

/// <summary>
/// A seeded source of randomness for tensors (<see cref="Tensor.Rand"/>, <see cref="Tensor.Randn"/>, dropout masks,
/// shuffles). Each draw uses the next block of Philox counters, so a generator created with the same seed gives the
/// same values, whatever the thread count. Not thread-safe: give each thread its own generator.
/// </summary>
public sealed class Generator
{
    /// <summary>Creates a generator with the given seed (stream 0).</summary>
    public Generator(ulong seed) : this(seed, 0) { }

    /// <summary>Creates a generator for an independent stream <paramref name="stream"/> of <paramref name="seed"/>.</summary>
    public Generator(ulong seed, ulong stream)
    {
        Seed = seed;
        Stream = stream;
    }

    /// <summary>The seed (the Philox key).</summary>
    public ulong Seed { get; }

    /// <summary>The stream (the upper half of the Philox counter).</summary>
    public ulong Stream { get; }

    /// <summary>How many 4-word counter blocks have been used; save and restore it to resume a stream exactly.</summary>
    public ulong Offset { get; set; }

    /// <summary>A new generator whose stream is derived from this one's next draw (for handing to a worker or a sub-task).</summary>
    public Generator Fork()
    {
        var (a, b, _, _) = Next();
        return new Generator(Seed ^ ((ulong)a << 32 | b), Stream + 1);
    }

    internal (uint, uint, uint, uint) Next() => Philox.Block(Seed, Offset++, Stream);

    /// <summary>Reserves <paramref name="blocks"/> counter blocks and returns the first one's index.</summary>
    internal ulong Reserve(long blocks)
    {
        ulong start = Offset;
        Offset += (ulong)blocks;
        return start;
    }

    internal (uint, uint, uint, uint) BlockAt(ulong block) => Philox.Block(Seed, block, Stream);

    /// <summary>The blocks <paramref name="block"/> … + 7 (see <see cref="Philox.Blocks"/>), eight lanes wide.</summary>
    internal void BlocksAt(ulong block, Span<uint> words) => Philox.Blocks(Seed, block, Stream, words);

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble()
    {
        var (a, b, _, _) = Next();
        return ToDouble(a, b);
    }

    /// <summary>A uniform integer in [0, <paramref name="bound"/>), without modulo bias.</summary>
    public long NextLong(long bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "bound must be positive");
        while (true)
        {
            var (a, b, _, _) = Next();
            ulong v = (ulong)a << 32 | b;
            if (Unbiased(v, (ulong)bound)) return (long)(v % (ulong)bound);
        }
    }

    /// <summary>
    /// Whether <c>v % bound</c> is an unbiased draw: v below the largest multiple of <paramref name="bound"/> that fits,
    /// 2⁶⁴ − 1 − (2⁶⁴ − 1) mod bound. Every v up to 2⁶⁴ − 1 − bound is, so the 64-bit division is left to the rare draw
    /// within <paramref name="bound"/> of 2⁶⁴.
    /// </summary>
    internal static bool Unbiased(ulong v, ulong bound) => v <= ulong.MaxValue - bound || v < ulong.MaxValue - ulong.MaxValue % bound;

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public double NextNormal()
    {
        var (a, b, c, d) = Next();
        return BoxMuller(ToDouble(a, b), ToDouble(c, d)).Item1;
    }

    /// <summary>A uniform random permutation of 0..n-1 (Fisher–Yates).</summary>
    /// <remarks>
    /// The swap at position i takes j = <see cref="NextLong"/>(i + 1), each from the next counter block: the blocks are
    /// computed eight at a time (<see cref="Philox.Blocks"/>), and the generator ends at the block after the last one
    /// used, as one <see cref="NextLong"/> call per position would leave it, with its rejection test
    /// (<see cref="Unbiased"/>): the same draws, the same permutation.
    /// </remarks>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Span<uint> words = stackalloc uint[4 * Philox.Lanes];
        ulong next = Offset, loaded = 0;   // the next block to use; the first of the eight held in words
        bool held = false;
        for (int i = n - 1; i > 0; i--)
        {
            ulong bound = (ulong)i + 1, v;
            do
            {
                if (!held || next - loaded >= Philox.Lanes)
                {
                    BlocksAt(next, words);
                    loaded = next;
                    held = true;
                }
                int lane = (int)(next - loaded);
                v = (ulong)words[4 * lane] << 32 | words[4 * lane + 1];
                next++;
            }
            while (!Unbiased(v, bound));
            int j = (int)(v % bound);
            (p[i], p[j]) = (p[j], p[i]);
        }
        Offset = next;
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double ToDouble(uint hi, uint lo) => ((ulong)(hi >> 5) * 67108864.0 + (lo >> 6)) * (1.0 / 9007199254740992.0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ToSingle(uint u) => (u >> 8) * (1.0f / 16777216.0f);

    /// <summary>Two independent standard normals from two uniforms in [0, 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (double, double) BoxMuller(double u1, double u2)
    {
        double r = Math.Sqrt(-2.0 * Math.Log(1.0 - u1)); // 1 - u1 is in (0, 1]: no log(0)
        // One call for both: the same bits as Math.Cos and Math.Sin (checked by a test), at about two thirds the cost.
        var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
        return (r * cos, r * sin);
    }
}
