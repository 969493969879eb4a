using Xunit.Abstractions;

namespace Aperture.Tests.Kernels;

/// <summary>
/// exp, expm1, log, tanh and sigmoid: accuracy against Math/MathF in ulp over many values and every special
/// value, and the same bits on every code path and at every position in a span.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class VecMathTests(ITestOutputHelper output)
{
    public enum Fn { Exp, ExpM1, Log, Tanh, Sigmoid, Log1p, Softplus }

    private static void ApplyF(Fn fn, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (fn)
        {
            case Fn.Exp: UnaryMath.Apply<ExpFn>(x, y); break;
            case Fn.ExpM1: UnaryMath.Apply<ExpM1Fn>(x, y); break;
            case Fn.Log: UnaryMath.Apply<LogFn>(x, y); break;
            case Fn.Tanh: UnaryMath.Apply<TanhFn>(x, y); break;
            case Fn.Log1p: UnaryMath.Apply<Log1pFn>(x, y); break;
            case Fn.Softplus: UnaryMath.Apply<SoftplusFn>(x, y); break;
            default: UnaryMath.Apply<SigmoidFn>(x, y); break;
        }
    }

    private static void ApplyD(Fn fn, ReadOnlySpan<double> x, Span<double> y)
    {
        switch (fn)
        {
            case Fn.Exp: UnaryMath.Apply<ExpFn>(x, y); break;
            case Fn.ExpM1: UnaryMath.Apply<ExpM1Fn>(x, y); break;
            case Fn.Log: UnaryMath.Apply<LogFn>(x, y); break;
            case Fn.Tanh: UnaryMath.Apply<TanhFn>(x, y); break;
            case Fn.Log1p: UnaryMath.Apply<Log1pFn>(x, y); break;
            case Fn.Softplus: UnaryMath.Apply<SoftplusFn>(x, y); break;
            default: UnaryMath.Apply<SigmoidFn>(x, y); break;
        }
    }

    /// <summary>e^x − 1 in double without cancellation near zero (a float reference needs no more).</summary>
    private static double ExpM1Ref(double x) => Math.Abs(x) < 1e-5 ? x + x * x / 2 + x * x * x / 6 + x * x * x * x / 24 : Math.Exp(x) - 1;

    /// <summary>log(1 + x) with 1 + x held exactly as hi + lo (TwoSum): log(hi) + lo/hi, error O(lo²).</summary>
    private static double Log1pRef(double x)
    {
        if (double.IsNaN(x) || x < -1) return double.NaN;
        if (double.IsPositiveInfinity(x)) return x;
        if (x == 0) return x;
        double hi = 1 + x, bb = hi - 1, lo = (1 - (hi - bb)) + (x - bb);
        return hi == 0 ? double.NegativeInfinity : Math.Log(hi) + lo / hi;
    }

    private static double SigmoidRef(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    private static double Reference(Fn fn, double x) => fn switch
    {
        Fn.Exp => Math.Exp(x),
        Fn.ExpM1 => ExpM1Ref(x),
        Fn.Log => Math.Log(x),
        Fn.Tanh => Math.Tanh(x),
        Fn.Log1p => Log1pRef(x),
        Fn.Softplus => Math.Max(x, 0) + Log1pRef(Math.Exp(-Math.Abs(x))),
        _ => SigmoidRef(x),
    };

    /// <summary>A double reference for float64 results: the BCL where it is accurate, series where it cancels.</summary>
    private static double ReferenceD(Fn fn, double x)
    {
        if (fn == Fn.ExpM1)
        {
            if (Math.Abs(x) > 0.7) return Math.Exp(x) - 1;
            // Taylor series summed smallest term first: accurate to about an ulp for |x| ≤ 0.7.
            var terms = new double[30];
            double t = x;
            for (int i = 0; i < terms.Length; i++) { terms[i] = t; t *= x / (i + 2); }
            double s = 0;
            for (int i = terms.Length - 1; i >= 0; i--) s += terms[i];
            return s;
        }
        return Reference(fn, x);
    }

    private static double Domain(Fn fn) => fn switch { Fn.Exp or Fn.ExpM1 => 110, Fn.Log => 0, Fn.Log1p => 3, Fn.Tanh => 12, _ => 110 };

    private static float[] SamplesF(Fn fn, int count)
    {
        var rng = new Random(1234 + (int)fn);
        var list = new List<float>
        {
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon,
            1e-40f, -1e-40f, 1.1754944e-38f, float.MaxValue, -float.MaxValue, 1f, -1f, 0.5f, 2f, 88.72f, 88.73f, 89f,
            -87.3f, -103.9f, -104f, -150f, 9.0f, 9.1f, 8.7f, -9.2f, 1e-7f, -1e-7f, 0.34657359f, -0.34657359f,
            0.9999999f, 1.0000001f, 0.70710677f, 1.4142135f,
        };
        double range = Domain(fn);
        for (int i = 0; i < count; i++)
        {
            double v = i % 3 == 0
                ? (rng.NextDouble() * 2 - 1) * range
                : Math.Pow(2, rng.NextDouble() * 80 - 60) * (rng.Next(2) == 0 ? -1 : 1);
            if (fn == Fn.Log) v = i % 3 == 0 ? Math.Pow(2, rng.NextDouble() * 280 - 150) : Math.Abs(v) * (i % 7 == 0 ? 1e-30 : 1);
            list.Add((float)v);
        }
        if (fn == Fn.Log) for (int i = 0; i < 2000; i++) list.Add(1f + (i - 1000) * 1e-6f);
        return [.. list];
    }

    private static double[] SamplesD(Fn fn, int count)
    {
        var rng = new Random(4321 + (int)fn);
        var list = new List<double>
        {
            0d, -0d, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, -double.Epsilon,
            1e-310, -1e-310, 2.2250738585072014e-308, double.MaxValue, -double.MaxValue, 1, -1, 0.5, 2, 709.78, 709.79,
            710, -708.4, -745.1, -745.2, -746, -1000, 19.0, 19.1, 19.2, -19.05, 1e-17, -1e-17, 0.34657359027997264,
            0.9999999999999999, 1.0000000000000002, 0.7071067811865476, 1.4142135623730951,
        };
        double range = fn switch { Fn.Exp or Fn.ExpM1 or Fn.Sigmoid => 750, Fn.Tanh => 25, _ => 0 };
        for (int i = 0; i < count; i++)
        {
            double v = i % 3 == 0
                ? (rng.NextDouble() * 2 - 1) * range
                : Math.Pow(2, rng.NextDouble() * 100 - 80) * (rng.Next(2) == 0 ? -1 : 1);
            if (fn == Fn.Log) v = i % 3 == 0 ? Math.Pow(2, rng.NextDouble() * 2100 - 1075) : Math.Abs(v);
            list.Add(v);
        }
        if (fn == Fn.Log) for (int i = 0; i < 2000; i++) list.Add(1 + (i - 1000) * 1e-13);
        return [.. list];
    }

    /// <summary>|y − ref| in units of the float spacing at ref (subnormal spacing below the normal range).</summary>
    private static double UlpErrorF(float y, double reference)
    {
        if (double.IsNaN(reference)) return float.IsNaN(y) ? 0 : double.PositiveInfinity;
        float rf = (float)reference;
        if (float.IsInfinity(rf) || float.IsInfinity(y)) return y == rf ? 0 : double.PositiveInfinity;
        double a = Math.Abs(rf);
        double ulp = a < 1.1754943508222875e-38 ? Math.Pow(2, -149) : MathF.BitIncrement((float)a) - a;
        return Math.Abs(y - reference) / ulp;
    }

    private static double UlpErrorD(double y, double reference)
    {
        if (double.IsNaN(reference)) return double.IsNaN(y) ? 0 : double.PositiveInfinity;
        if (double.IsInfinity(reference) || double.IsInfinity(y)) return y == reference ? 0 : double.PositiveInfinity;
        double a = Math.Abs(reference);
        double ulp = a < 2.2250738585072014e-308 ? double.Epsilon : Math.BitIncrement(a) - a;
        return Math.Abs(y - reference) / ulp;
    }

    // Measured maxima on about 20 000 values each (float against a double reference, double against the BCL),
    // with a little room: float ≤ 1–2 ulp, double ≤ 1–3 ulp.
    private static double BoundF(Fn fn) => fn switch { Fn.Exp => 1.5, Fn.Log => 1.5, _ => 2.5 };
    private static double BoundD(Fn fn) => fn switch { Fn.Exp => 1.5, Fn.Log => 1.5, _ => 3.5 };

    [Theory]
    [InlineData(Fn.Exp)]
    [InlineData(Fn.ExpM1)]
    [InlineData(Fn.Log)]
    [InlineData(Fn.Tanh)]
    [InlineData(Fn.Sigmoid)]
    [InlineData(Fn.Log1p)]
    [InlineData(Fn.Softplus)]
    public void Float32_is_within_a_few_ulp_of_the_exact_value(Fn fn)
    {
        var x = SamplesF(fn, 20_000);
        var y = new float[x.Length];
        ApplyF(fn, x, y);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double e = UlpErrorF(y[i], Reference(fn, x[i]));
            if (e > worst) { worst = e; at = x[i]; }
        }
        output.WriteLine($"{fn} float32: max error {worst:F3} ulp at x = {at:R}");
        Assert.True(worst <= BoundF(fn), $"{fn}: {worst} ulp at x = {at:R}");
    }

    [Theory]
    [InlineData(Fn.Exp)]
    [InlineData(Fn.ExpM1)]
    [InlineData(Fn.Log)]
    [InlineData(Fn.Tanh)]
    [InlineData(Fn.Sigmoid)]
    [InlineData(Fn.Log1p)]
    [InlineData(Fn.Softplus)]
    public void Float64_is_within_a_few_ulp_of_the_reference(Fn fn)
    {
        var x = SamplesD(fn, 20_000);
        var y = new double[x.Length];
        ApplyD(fn, x, y);
        double worst = 0, at = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double e = UlpErrorD(y[i], ReferenceD(fn, x[i]));
            if (e > worst) { worst = e; at = x[i]; }
        }
        output.WriteLine($"{fn} float64: max error {worst:F3} ulp at x = {at:R}");
        Assert.True(worst <= BoundD(fn), $"{fn}: {worst} ulp at x = {at:R}");
    }

    [Fact]
    public void Special_values_follow_ieee()
    {
        float F(Fn fn, float v) { var y = new float[1]; ApplyF(fn, [v], y); return y[0]; }
        double D(Fn fn, double v) { var y = new double[1]; ApplyD(fn, [v], y); return y[0]; }
        KernelSettings.ForEachPath(_ =>
        {
            Assert.Equal(1f, F(Fn.Exp, -0f));
            Assert.Equal(float.PositiveInfinity, F(Fn.Exp, 89f));
            Assert.Equal(0f, F(Fn.Exp, float.NegativeInfinity));
            Assert.True(float.IsNaN(F(Fn.Exp, float.NaN)));
            Assert.Equal(double.PositiveInfinity, D(Fn.Exp, 710));
            Assert.Equal(double.Epsilon, D(Fn.Exp, -745.1));
            Assert.True(float.IsNegative(F(Fn.ExpM1, -0f)) && F(Fn.ExpM1, -0f) == 0);
            Assert.Equal(-1f, F(Fn.ExpM1, float.NegativeInfinity));
            Assert.Equal(1e-40f, F(Fn.ExpM1, 1e-40f));
            Assert.Equal(float.NegativeInfinity, F(Fn.Log, 0f));
            Assert.Equal(float.NegativeInfinity, F(Fn.Log, -0f));
            Assert.True(float.IsNaN(F(Fn.Log, -1f)));
            Assert.True(float.IsNaN(F(Fn.Log, float.NegativeInfinity)));
            Assert.Equal(float.PositiveInfinity, F(Fn.Log, float.PositiveInfinity));
            Assert.Equal(0f, F(Fn.Log, 1f));
            Assert.Equal(-744.4400719213812, D(Fn.Log, double.Epsilon), 12);
            Assert.True(double.IsNegative(D(Fn.Tanh, -0d)));
            Assert.Equal(-1d, D(Fn.Tanh, double.NegativeInfinity));
            Assert.Equal(1f, F(Fn.Tanh, 30f));
            Assert.Equal(-1e-40f, F(Fn.Tanh, -1e-40f));
            Assert.Equal(0.5f, F(Fn.Sigmoid, 0f));
            Assert.Equal(1d, D(Fn.Sigmoid, double.PositiveInfinity));
            Assert.Equal(0d, D(Fn.Sigmoid, double.NegativeInfinity));
            Assert.True(double.IsNaN(D(Fn.Sigmoid, double.NaN)));
        });
    }

    [Theory]
    [InlineData(Fn.Exp)]
    [InlineData(Fn.ExpM1)]
    [InlineData(Fn.Log)]
    [InlineData(Fn.Tanh)]
    [InlineData(Fn.Sigmoid)]
    [InlineData(Fn.Log1p)]
    [InlineData(Fn.Softplus)]
    public void Every_path_and_every_position_gives_the_same_bits(Fn fn)
    {
        var xf = SamplesF(fn, 3001);
        var xd = SamplesD(fn, 3001);
        float[]? refF = null;
        double[]? refD = null;
        KernelSettings.ForEachPath(path =>
        {
            var yf = new float[xf.Length];
            var yd = new double[xd.Length];
            ApplyF(fn, xf, yf);
            ApplyD(fn, xd, yd);
            // Shifted by one element: each value meets a different lane (or the scalar tail).
            var yf1 = new float[xf.Length - 1];
            ApplyF(fn, xf.AsSpan(1), yf1);
            for (int i = 1; i < xf.Length; i++) Assert.Equal(BitConverter.SingleToInt32Bits(yf[i]), BitConverter.SingleToInt32Bits(yf1[i - 1]));
            refF ??= yf;
            refD ??= yd;
            for (int i = 0; i < xf.Length; i++)
                if (BitConverter.SingleToInt32Bits(refF[i]) != BitConverter.SingleToInt32Bits(yf[i]))
                    Assert.Fail($"{fn} float32 on {path}: x = {xf[i]:R} gives {yf[i]:R}, the first path gave {refF[i]:R}");
            for (int i = 0; i < xd.Length; i++)
                if (BitConverter.DoubleToInt64Bits(refD[i]) != BitConverter.DoubleToInt64Bits(yd[i]))
                    Assert.Fail($"{fn} float64 on {path}: x = {xd[i]:R} gives {yd[i]:R}, the first path gave {refD[i]:R}");
        });
    }
}
