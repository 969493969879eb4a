using Aperture.Tests.Kernels;

namespace Aperture.Tests.Tensors;

[Collection(ThreadCountCollection.Name)]
public class RandomTests
{
    /// <summary>Known-answer vectors from Random123's kat_vectors for philox4x32-10.</summary>
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox_matches_the_reference_vectors(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint r0, uint r1, uint r2, uint r3)
    {
        var (a, b, c, d) = Philox.Block((ulong)k1 << 32 | k0, (ulong)c1 << 32 | c0, (ulong)c3 << 32 | c2);
        Assert.Equal((r0, r1, r2, r3), (a, b, c, d));
    }

    [Fact]
    public void Draws_do_not_depend_on_the_thread_count()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 1;
            var one = Tensor.Randn([1000, 257], new Generator(42)).ToArray<float>();
            var u1 = Tensor.Rand([100_001], new Generator(42), DType.Float64).ToArray<double>();
            Parallelism.Threads = 2;
            var two = Tensor.Randn([1000, 257], new Generator(42)).ToArray<float>();
            var u2 = Tensor.Rand([100_001], new Generator(42), DType.Float64).ToArray<double>();
            Assert.Equal(one, two);
            Assert.Equal(u1, u2);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Fact]
    public void Distributions_have_the_right_moments()
    {
        var g = new Generator(3);
        var n = Tensor.Normal([200_000], 2, 3, g, DType.Float64);
        Assert.Equal(2, n.Mean().Item(), 1);
        Assert.Equal(3, n.Std().Item(), 1);
        var u = Tensor.Uniform([200_000], -1, 3, g, DType.Float64).ToDoubleArray();
        Assert.True(u.Min() >= -1 && u.Max() < 3);
        Assert.Equal(1, u.Average(), 1);
        var r = Tensor.RandInt(-3, 4, [100_000], g).ToArray<long>();
        Assert.True(r.Min() == -3 && r.Max() == 3);
        Assert.Equal(0.3, Tensor.Bernoulli([100_000], 0.3, g).Mean().Item(), 2);
        var perm = Tensor.RandPerm(50, g).ToArray<long>();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), perm.Order());
    }

    [Fact]
    public void Same_seed_same_stream_and_consecutive_draws_differ()
    {
        var a = new Generator(5);
        var b = new Generator(5);
        Assert.Equal(Tensor.Randn([10], a).ToArray<float>(), Tensor.Randn([10], b).ToArray<float>());
        Assert.NotEqual(Tensor.Randn([10], a).ToArray<float>(), Tensor.Randn([10], new Generator(5)).ToArray<float>());
        Assert.NotEqual(Tensor.Randn([10], new Generator(5, stream: 1)).ToArray<float>(), Tensor.Randn([10], new Generator(5)).ToArray<float>());
    }

    /// <summary>The eight-lane Philox gives the words of eight single-block calls, also across a 32- and 64-bit counter carry.</summary>
    [Theory]
    [InlineData(0UL, 0UL, 0UL)]
    [InlineData(42UL, 0xFFFF_FFFDUL, 7UL)]
    [InlineData(0xFFFF_FFFF_FFFF_FFFFUL, 0xFFFF_FFFF_FFFF_FFFBUL, 0xFFFF_FFFF_FFFF_FFFFUL)]
    [InlineData(0x243f6a8885a308d3UL, 123456789UL, 0x13198a2e03707344UL)]
    public void Eight_lane_Philox_matches_one_block_at_a_time(ulong key, ulong counterLow, ulong counterHigh)
    {
        Span<uint> words = stackalloc uint[4 * Philox.Lanes];
        Philox.Blocks(key, counterLow, counterHigh, words);
        for (int i = 0; i < Philox.Lanes; i++)
        {
            var (a, b, c, d) = Philox.Block(key, counterLow + (ulong)i, counterHigh);
            Assert.Equal((a, b, c, d), (words[4 * i], words[4 * i + 1], words[4 * i + 2], words[4 * i + 3]));
        }
    }

    /// <summary>
    /// Normals are Box–Muller on block i's two 53-bit uniforms: the fill (eight blocks at a time, sine and cosine in
    /// one call) gives the bits of that formula evaluated one block at a time with separate Math.Sin and Math.Cos.
    /// </summary>
    [Theory]
    [InlineData(1, 0.0, 1.0)]
    [InlineData(17, 0.5, 2.0)]
    [InlineData(255, -1.0, 0.25)]
    [InlineData(4099, 3.0, 1.5)]
    public void Normal_fill_matches_Box_Muller_one_block_at_a_time(int n, double mean, double std)
    {
        var g = new Generator(9, stream: 3) { Offset = 5 };
        var f = Tensor.Normal([n], mean, std, g).ToArray<float>();
        var d = Tensor.Normal([n], mean, std, g, DType.Float64).ToArray<double>();
        int blocks = (n + 1) / 2;
        Assert.Equal(5UL + 2UL * (ulong)blocks, g.Offset);
        for (int pass = 0; pass < 2; pass++)
            for (int b = 0; b < blocks; b++)
            {
                var (w0, w1, w2, w3) = Philox.Block(9, 5UL + (ulong)(pass * blocks + b), 3);
                double u1 = Generator.ToDouble(w0, w1), u2 = Generator.ToDouble(w2, w3);
                double r = Math.Sqrt(-2.0 * Math.Log(1.0 - u1)), theta = 2.0 * Math.PI * u2;
                double z0 = r * Math.Cos(theta), z1 = r * Math.Sin(theta);
                if (pass == 0)
                {
                    Assert.Equal((float)(mean + std * z0), f[2 * b]);
                    if (2 * b + 1 < n) Assert.Equal((float)(mean + std * z1), f[2 * b + 1]);
                }
                else
                {
                    Assert.Equal(mean + std * z0, d[2 * b]);
                    if (2 * b + 1 < n) Assert.Equal(mean + std * z1, d[2 * b + 1]);
                }
            }
    }

    [Theory]
    [InlineData(1, 0.3)]
    [InlineData(17, 0.5)]
    [InlineData(255, 0.9)]
    [InlineData(40_001, 0.25)]
    public void Bernoulli_fill_matches_one_block_at_a_time_for_every_dtype_and_thread_count(int n, double p)
    {
        // Element i is ToDouble(the first two words of block i/2) < p for an even i, of the last two for an odd one:
        // the definition the eight-block fill must keep, at any thread count (40,001 elements split across the pool).
        var expected = new bool[n];
        for (int b = 0; b < (n + 1) / 2; b++)
        {
            var (w0, w1, w2, w3) = Philox.Block(11, 7UL + (ulong)b, 2);
            expected[2 * b] = Generator.ToDouble(w0, w1) < p;
            if (2 * b + 1 < n) expected[2 * b + 1] = Generator.ToDouble(w2, w3) < p;
        }
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () =>
            {
                foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64, DType.Bool })
                {
                    var g = new Generator(11, stream: 2) { Offset = 7 };
                    var mask = Tensor.Bernoulli([n], p, g, dtype).ToDoubleArray();
                    Assert.Equal(7UL + (ulong)((n + 1) / 2), g.Offset);
                    for (int i = 0; i < n; i++)
                        Assert.True(mask[i] == (expected[i] ? 1 : 0), $"{dtype}, {threads} thread(s): element {i} is {mask[i]}");
                }
                // The dropout layers' form: 0 or a scale, into a view at an offset.
                var g2 = new Generator(11, stream: 2) { Offset = 7 };
                var big = Tensor.Zeros([n + 3]);
                var view = Ops.Narrow(big, 0, 3, n);
                RandomFill.Bernoulli(view, p, g2, 2.5);
                var values = big.ToArray<float>();
                Assert.Equal(new float[3], values[..3]);
                for (int i = 0; i < n; i++) Assert.Equal(expected[i] ? 2.5f : 0f, values[3 + i]);
            });
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(5UL)]
    [InlineData(ulong.MaxValue - 20)]
    public void Permutation_matches_Fisher_Yates_one_block_at_a_time(ulong start)
    {
        // Fisher–Yates with NextLong per position, as Permutation is specified: the same permutation, and the
        // generator left at the same block, for lengths around the eight blocks drawn at once (and a counter that
        // wraps past 2⁶⁴ inside a batch).
        foreach (int n in new[] { 0, 1, 2, 7, 8, 9, 10, 16, 17, 100, 6000 })
            foreach (ulong seed in new[] { 1UL, 42UL })
            {
                var reference = new Generator(seed, 3) { Offset = start };
                var expected = new int[n];
                for (int i = 0; i < n; i++) expected[i] = i;
                for (int i = n - 1; i > 0; i--)
                {
                    int j = (int)reference.NextLong(i + 1);
                    (expected[i], expected[j]) = (expected[j], expected[i]);
                }
                var g = new Generator(seed, 3) { Offset = start };
                Assert.Equal(expected, g.Permutation(n));
                Assert.Equal(reference.Offset, g.Offset);
                Assert.Equal(reference.NextDouble(), g.NextDouble());
            }
    }

    [Fact]
    public void The_rejection_test_is_the_largest_multiple_of_the_bound()
    {
        // Generator.Unbiased skips the division for draws that cannot reach the limit: it must agree with
        // v < 2⁶⁴ − 1 − (2⁶⁴ − 1) mod bound everywhere, above all next to the limit and at the top of the range.
        foreach (ulong bound in new[] { 1UL, 2UL, 3UL, 7UL, 6000UL, 1UL << 32, (1UL << 63) + 1, ulong.MaxValue - 1, ulong.MaxValue })
        {
            ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
            foreach (ulong v in new[] { 0UL, 1UL, ulong.MaxValue - bound - 1, ulong.MaxValue - bound, ulong.MaxValue - bound + 1,
                         limit - 1, limit, ulong.MaxValue - 1, ulong.MaxValue })
                Assert.True(Generator.Unbiased(v, bound) == v < limit, $"bound {bound}, v {v}");
        }
    }
}
