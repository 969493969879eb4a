namespace Aperture.Tests.Numerics;

public class ReductionOrderTests
{
    private static float[] Data(int n, ulong seed)
    {
        var x = Tensor.Randn([n], new Generator(seed)).ToArray<float>();
        for (int i = 0; i < n; i++) x[i] *= MathF.Pow(10, (i * 7) % 9 - 4);   // mixed magnitudes make the order visible
        return x;
    }

    private static float SumWith(float[] x, NumericsPolicy p)
    {
        using var _ = NumericsPolicy.Use(p);
        return Tensor.FromArray(x).Sum().ToArray<float>()[0];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(4099)]
    public void Each_order_matches_its_definition(int n)
    {
        var x = Data(n, (ulong)n);
        float seq = 0; foreach (var v in x) seq += v;
        float rev = 0; for (int i = n - 1; i >= 0; i--) rev += x[i];
        float Pairwise(int lo, int len) => len == 1 ? x[lo] : Pairwise(lo, len / 2) + Pairwise(lo + len / 2, len - len / 2);
        float blocked = 0;
        for (int s = 0; s < n; s += 5) { float b = 0; for (int i = s; i < Math.Min(n, s + 5); i++) b += x[i]; blocked += b; }
        var lanes = new float[16];
        for (int i = 0; i < n; i++) lanes[i % 16] += x[i];
        for (int w = 8; w >= 1; w /= 2) for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
        double wide = 0; foreach (var v in x) wide += v;   // float64 accumulation, default (interleaved) order differs only in rounding

        Assert.Equal(seq, SumWith(x, new NumericsPolicy { Order = ReductionOrder.Sequential }));
        Assert.Equal(rev, SumWith(x, new NumericsPolicy { Order = ReductionOrder.Reversed }));
        Assert.Equal(Pairwise(0, n), SumWith(x, new NumericsPolicy { Order = ReductionOrder.Pairwise }));
        Assert.Equal(blocked, SumWith(x, new NumericsPolicy { Order = ReductionOrder.Blocked, BlockSize = 5 }));
        Assert.Equal(lanes[0], SumWith(x, NumericsPolicy.Default));
        Assert.Equal((float)wide, SumWith(x, new NumericsPolicy { Order = ReductionOrder.Sequential, Accumulation = AccumulationPrecision.Float64 }));
    }

    [Fact]
    public void The_default_order_gives_the_same_bits_on_the_scalar_and_vector_paths()
    {
        var x = Data(10_007, 1);
        float vector = SumWith(x, NumericsPolicy.Default);
        bool saved = KernelPaths.ForceScalar;
        KernelPaths.ForceScalar = true;
        try { Assert.Equal(vector, SumWith(x, NumericsPolicy.Default)); }
        finally { KernelPaths.ForceScalar = saved; }
    }

    [Fact]
    public void Orders_differ_in_the_last_bits()
    {
        var x = Data(4099, 3);
        var sums = new[] { ReductionOrder.Default, ReductionOrder.Sequential, ReductionOrder.Reversed, ReductionOrder.Pairwise }
            .Select(o => SumWith(x, new NumericsPolicy { Order = o })).Distinct().Count();
        Assert.True(sums >= 3, $"only {sums} distinct results from four orders");
    }
}
