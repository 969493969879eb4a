using System.Runtime.Intrinsics;
using Aperture.Tests.Kernels;

namespace Aperture.Tests.Tensors;

/// <summary>The single-precision Box–Muller draws of the Langevin noise: accuracy against double precision, determinism, distribution.</summary>
[Collection(ThreadCountCollection.Name)]
public class NormalSinglesTests
{
    private static float[] Fill(int n, Generator g)
    {
        var d = new float[n + 2];
        NormalSingles.Fill(d, 1, n, g);
        Assert.Equal(0f, d[0]);
        Assert.Equal(0f, d[n + 1]);
        return d[1..(n + 1)];
    }

    [Fact]
    public void Log_is_within_two_ulps_of_double_precision()
    {
        var rng = new Random(3);
        var v = new float[8];
        for (int trial = 0; trial < 20_000; trial++)
        {
            for (int i = 0; i < 8; i++)
                v[i] = trial == 0 ? new[] { 1f, 1f - 1f / (1 << 24), 1f / (1 << 24), 0.70710677f, 0.70710683f, 0.5f, 0.25f, 0.999f }[i]
                                  : (rng.Next(1, 1 << 24)) / (float)(1 << 24);
            var got = NormalSingles.Log(Vector256.Create<float>(v));
            for (int i = 0; i < 8; i++)
            {
                double want = Math.Log(v[i]);
                double ulp = Math.Max(Math.Abs(want) * Math.Pow(2, -23), 1.5e-45);
                Assert.True(Math.Abs(got.GetElement(i) - want) <= 2 * ulp + 1e-9 * (want == 0 ? 0 : 1),
                    $"log({v[i]:R}) = {got.GetElement(i):R}, double precision gives {want:R}");
            }
        }
    }

    [Fact]
    public void Box_Muller_pairs_match_double_precision()
    {
        var rng = new Random(4);
        float[] edges = [0f, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 0.75f, 1f - 1f / (1 << 24)];
        var u1 = new float[8];
        var u2 = new float[8];
        for (int trial = 0; trial < 20_000; trial++)
        {
            for (int i = 0; i < 8; i++)
            {
                u1[i] = trial == 0 ? edges[i] : rng.Next(0, 1 << 24) / (float)(1 << 24);
                u2[i] = trial == 1 ? edges[i] : rng.Next(0, 1 << 24) / (float)(1 << 24);
            }
            var (c, s) = NormalSingles.BoxMuller(Vector256.Create<float>(u1), Vector256.Create<float>(u2));
            for (int i = 0; i < 8; i++)
            {
                double r = Math.Sqrt(-2 * Math.Log(1 - (double)u1[i])), theta = 2 * Math.PI * u2[i];
                double tol = 1e-6 * Math.Max(1, r);
                Assert.True(Math.Abs(c.GetElement(i) - r * Math.Cos(theta)) <= tol, $"u = ({u1[i]:R}, {u2[i]:R}): r·cos θ = {c.GetElement(i):R}, double gives {r * Math.Cos(theta):R}");
                Assert.True(Math.Abs(s.GetElement(i) - r * Math.Sin(theta)) <= tol, $"u = ({u1[i]:R}, {u2[i]:R}): r·sin θ = {s.GetElement(i):R}, double gives {r * Math.Sin(theta):R}");
            }
        }
    }

    [Fact]
    public void Same_bits_at_every_thread_count_and_code_path_and_element_i_from_block_i_over_4()
    {
        var reference = Fill(20_011, new Generator(8, stream: 2));
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () => KernelSettings.ForEachPath(path =>
            {
                Assert.Equal(reference, Fill(20_011, new Generator(8, stream: 2)));
                foreach (int n in new[] { 1, 3, 4, 31, 33, 257, NormalSingles.ParallelMin - 1, NormalSingles.ParallelMin, NormalSingles.ParallelMin + 17 })
                {
                    var g = new Generator(8, stream: 2);
                    Assert.Equal(reference[..n], Fill(n, g));
                    Assert.Equal((ulong)NormalSingles.Blocks(n), g.Offset);
                }
                // A generator part-way along its stream starts at its own block: element 4·b of a fill from offset b.
                var later = new Generator(8, stream: 2) { Offset = 5 };
                Assert.Equal(reference[20..60], Fill(40, later));
            }));
    }

    [Fact]
    public void Draws_are_standard_normal()
    {
        var z = Fill(1_000_000, new Generator(21));
        double mean = z.Average(v => (double)v);
        double var = z.Average(v => ((double)v - mean) * ((double)v - mean));
        Assert.InRange(mean, -0.005, 0.005);
        Assert.InRange(var, 0.99, 1.01);
        Assert.True(z.All(v => float.IsFinite(v) && Math.Abs(v) <= 5.8f));
        // Kolmogorov–Smirnov against Φ: the 0.1% critical value for n = 10⁶ is about 1.95/√n.
        var sorted = z.Select(v => (double)v).Order().ToArray();
        double d = 0;
        for (int i = 0; i < sorted.Length; i++)
        {
            double phi = 0.5 * (1 + Erf(sorted[i] / Math.Sqrt(2)));
            d = Math.Max(d, Math.Max(Math.Abs(phi - (double)i / sorted.Length), Math.Abs(phi - (i + 1.0) / sorted.Length)));
        }
        Assert.True(d < 1.95 / Math.Sqrt(sorted.Length), $"KS distance {d}");
    }

    /// <summary>
    /// erf: its Taylor series below 3 and the asymptotic series of erfc above, both far more accurate than the KS
    /// tolerance (about 2·10⁻³); Abramowitz–Stegun 7.1.26 (1.5·10⁻⁷) would also do, but this has no table to check.
    /// </summary>
    private static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 3)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17) break;
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double x2 = ax * ax, t = 1, s = 1;
            for (int n = 1; n < 6; n++) { t *= -(2 * n - 1) / (2 * x2); s += t; }
            r = 1 - Math.Exp(-x2) / (ax * Math.Sqrt(Math.PI)) * s;
        }
        return x < 0 ? -r : r;
    }
}
