namespace Aperture.Tests.Numerics;

public class TranscendentalTests
{
    // Magnitudes from subnormal to saturation, both signs, on a length that is not a multiple of any vector width
    // and crosses the kernels' 256-element chunks.
    private static double[] Grid()
    {
        var r = new Random(7);
        var x = new List<double>();
        for (int i = 0; i < 1031; i++)
        {
            double e = -320 + 322 * r.NextDouble();
            x.Add((r.Next(2) == 0 ? -1 : 1) * Math.Pow(10, e < -300 ? e : Math.Min(e, 1.7)));
        }
        for (int i = 0; i < 1031; i++) x.Add(-3 + 6 * r.NextDouble()); // the bulk of real activations
        x.AddRange([0.55, -0.55, Math.BitDecrement(0.55), Math.BitIncrement(0.55), 1e-300, double.Epsilon, -double.Epsilon]);
        return [.. x];
    }

    private static double Ulps(double got, double want)
    {
        if (got == want) return 0;
        double ulp = Math.BitIncrement(Math.Abs(want)) - Math.Abs(want);
        return Math.Abs(got - want) / ulp;
    }

    private static double[] Apply(Func<Tensor, Tensor> op, double[] x) => op(Tensor.FromArray(x, [x.Length])).ToDoubleArray();

    private static float[] Apply(Func<Tensor, Tensor> op, float[] x) => op(Tensor.FromArray(x, [x.Length])).ToArray<float>();

    [Fact]
    public void Tanh_is_within_two_ulps_of_the_platform_tanh_everywhere_including_tiny_arguments()
    {
        var x = Grid();
        var y = Apply(Ops.Tanh, x);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Ulps(y[i], Math.Tanh(x[i])) <= 2, $"tanh({x[i]:R}) = {y[i]:R}, expected {Math.Tanh(x[i]):R}");
        // The regression that mattered: a deep tanh net's small signal was rounded to −0.
        Assert.Equal(1e-20, Apply(Ops.Tanh, [1e-20])[0]);
        Assert.Equal(-1e-20, Apply(Ops.Tanh, [-1e-20])[0]);
    }

    [Fact]
    public void Float32_tanh_expm1_and_log1p_are_rounded_once_from_float64()
    {
        var x = Grid().Select(v => (float)v).Where(v => float.IsFinite(v)).ToArray();
        var tanh = Apply(Ops.Tanh, x);
        var expm1 = Apply(Ops.Expm1, x);
        var log1p = Apply(Ops.Log1p, x.Select(MathF.Abs).ToArray());
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal((float)Math.Tanh(x[i]), tanh[i]);
            if (Math.Abs(x[i]) < 80) Assert.True(Math.Abs(expm1[i] - ReferenceExpm1(x[i])) <= 1.01 * (MathF.BitIncrement(MathF.Abs(expm1[i])) - MathF.Abs(expm1[i])), $"expm1({x[i]:R}) = {expm1[i]:R}");
        }
        Assert.Equal(1e-10f, Apply(Ops.Tanh, [1e-10f])[0]);
        Assert.Equal(1e-30f, Apply(Ops.Expm1, [1e-30f])[0]);
        Assert.Equal(1e-30f, Apply(Ops.Log1p, [1e-30f])[0]);
        Assert.True(log1p.All(v => v >= 0));
    }

    [Fact]
    public void Tanh_keeps_signed_zeros_and_special_values()
    {
        var y = Apply(Ops.Tanh, [0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 40, -40, 710]);
        Assert.True(double.IsPositive(y[0]) && y[0] == 0);
        Assert.True(double.IsNegative(y[1]) && y[1] == 0);
        Assert.Equal([1.0, -1.0], y[2..4]);
        Assert.True(double.IsNaN(y[4]));
        Assert.Equal([1.0, -1.0, 1.0], y[5..8]);
    }

    [Fact]
    public void Tanh_series_coefficients_are_the_exact_rationals_rounded()
    {
        var c = Transcendental.TanhSeries;
        Assert.Equal(-1.0 / 3, c[0]);
        Assert.Equal(2.0 / 15, c[1]);
        Assert.Equal(-17.0 / 315, c[2]);
        Assert.Equal(62.0 / 2835, c[3]);
        Assert.Equal(-1382.0 / 155925, c[4]);
        Assert.Equal(19, c.Length);
    }

    // e^x − 1 to better than an ulp: a Taylor series summed smallest term first near 0, exp − 1 where it cannot cancel.
    private static double ReferenceExpm1(double x)
    {
        if (Math.Abs(x) > 0.7) return Math.Exp(x) - 1;
        double term = 1, sum = 0;
        var terms = new List<double>();
        for (int n = 1; n < 40; n++) { term *= x / n; terms.Add(term); }
        for (int n = terms.Count - 1; n >= 0; n--) sum += terms[n];
        return sum;
    }

    // log(1 + x): the alternating series near 0; elsewhere x is chosen so that 1 + x is exact and log is accurate.
    private static double ReferenceLog1p(double x)
    {
        if (Math.Abs(x) > 0.2) return Math.Log(1 + x);
        double sum = 0;
        for (int n = 80; n >= 1; n--) sum += (n % 2 == 1 ? 1 : -1) * Math.Pow(x, n) / n;
        return sum;
    }

    [Fact]
    public void Expm1_is_accurate_near_zero_and_saturates_cleanly()
    {
        var x = Grid().Where(v => Math.Abs(v) < 700).ToArray();
        var y = Apply(Ops.Expm1, x);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Ulps(y[i], ReferenceExpm1(x[i])) <= 4, $"expm1({x[i]:R}) = {y[i]:R}, expected {ReferenceExpm1(x[i]):R}");
        var s = Apply(Ops.Expm1, [double.NegativeInfinity, double.PositiveInfinity, double.NaN, -0.0, 709.5, 710, -800]);
        Assert.Equal(-1.0, s[0]);
        Assert.Equal(double.PositiveInfinity, s[1]);
        Assert.True(double.IsNaN(s[2]));
        Assert.True(s[3] == 0 && double.IsNegative(s[3]));
        Assert.True(double.IsFinite(s[4]) && s[4] > 1e308);
        Assert.Equal(double.PositiveInfinity, s[5]);
        Assert.Equal(-1.0, s[6]);
    }

    [Fact]
    public void Log1p_is_accurate_near_zero_and_keeps_its_domain()
    {
        var r = new Random(3);
        var x = Grid().Where(v => Math.Abs(v) <= 0.2)
            .Concat(Enumerable.Range(0, 400).Select(_ => (r.Next(-1000, 100_000) + 1) / 1024.0)) // 1 + x exact
            .Where(v => v > -1).ToArray();
        var y = Apply(Ops.Log1p, x);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Ulps(y[i], ReferenceLog1p(x[i])) <= 4, $"log1p({x[i]:R}) = {y[i]:R}, expected {ReferenceLog1p(x[i]):R}");
        var s = Apply(Ops.Log1p, [-1, -2, double.PositiveInfinity, double.NaN, -0.0, 1e308]);
        Assert.Equal(double.NegativeInfinity, s[0]);
        Assert.True(double.IsNaN(s[1]));
        Assert.Equal(double.PositiveInfinity, s[2]);
        Assert.True(double.IsNaN(s[3]));
        Assert.True(s[4] == 0 && double.IsNegative(s[4]));
        Assert.Equal(Math.Log(1e308), s[5], 14);
    }

    [Fact]
    public void Softplus_keeps_its_tiny_values()
    {
        var y = Apply(Ops.Softplus, [-40.0, -700.0, 0.0, 40.0]);
        Assert.True(Ulps(y[0], Math.Exp(-40)) <= 2, $"softplus(−40) = {y[0]:R}");
        Assert.True(Ulps(y[1], Math.Exp(-700)) <= 2, $"softplus(−700) = {y[1]:R}");
        Assert.Equal(Math.Log(2), y[2], 15);
        Assert.Equal(40.0, y[3]);
    }

    [Fact]
    public void Scalar_and_vector_paths_give_the_same_bits()
    {
        var x = Grid();
        var vector = (Apply(Ops.Tanh, x), Apply(Ops.Expm1, x), Apply(Ops.Log1p, x.Select(Math.Abs).ToArray()));
        bool saved = KernelPaths.ForceScalar;
        KernelPaths.ForceScalar = true;
        try
        {
            Assert.Equal(vector.Item1, Apply(Ops.Tanh, x));
            Assert.Equal(vector.Item2, Apply(Ops.Expm1, x));
            Assert.Equal(vector.Item3, Apply(Ops.Log1p, x.Select(Math.Abs).ToArray()));
        }
        finally { KernelPaths.ForceScalar = saved; }
    }

    [Fact]
    public void An_element_does_not_depend_on_its_position_or_the_lengths_around_it()
    {
        var x = Grid();
        var whole = Apply(Ops.Tanh, x);
        foreach (int len in new[] { 1, 3, 7, 8, 9, 255, 256, 257 })
            for (int start = 0; start + len <= x.Length; start += 613)
                Assert.Equal(whole[start..(start + len)], Apply(Ops.Tanh, x[start..(start + len)]));
    }
}
