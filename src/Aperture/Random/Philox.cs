using System.Runtime.CompilerServices;

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
        ulong limit = ulong.MaxValue - ulong.MaxValue % (ulong)bound;
        while (true)
        {
            var (a, b, _, _) = Next();
            ulong v = (ulong)a << 32 | b;
            if (v < limit) return (long)(v % (ulong)bound);
        }
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public double NextNormal()
    {
        var (a, b, c, d) = Next();
        return BoxMuller(ToDouble(a, b), ToDouble(c, d)).Item1;
    }

    /// <summary>A uniform random permutation of 0..n-1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)NextLong(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
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
        double theta = 2.0 * Math.PI * u2;
        return (r * Math.Cos(theta), r * Math.Sin(theta));
    }
}
