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
}
