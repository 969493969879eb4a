using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture.Bench.Harness;

/// <summary>
/// The machine's float32 fused-multiply-add peak: each thread runs 12 independent chains of vector FMAs (enough to
/// cover the FMA latency on two ports) with nothing else in the loop, so the figure is what the cores can do, the
/// ceiling a GEMM is measured against.
/// </summary>
public static class FmaPeak
{
    /// <summary>The widest vector the FMA loop uses here: 512, 256 or 0 (no FMA).</summary>
    public static int VectorBits => Avx512F.IsSupported ? 512 : Fma.IsSupported ? 256 : 0;

    /// <summary>Peak GFLOP/s on <paramref name="threads"/> threads, the best of <paramref name="repeats"/> runs.</summary>
    public static double Measure(int threads, double seconds = 0.25, int repeats = 5)
    {
        if (VectorBits == 0) return double.NaN;
        long n = 1 << 16;
        // Calibrate on one thread: double n until one run takes a fair slice of the time asked for.
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            Kernel(n);
            if (Stopwatch.GetElapsedTime(t0).TotalSeconds > seconds / 4) break;
            n *= 2;
        }
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            var waited = Stopwatch.StartNew();
            while (CpuMonitor.IdleLoad([], 40) > Math.Max(0, Environment.ProcessorCount - threads) + 0.2 && waited.Elapsed.TotalSeconds < 2) { }
            using var start = new Barrier(threads + 1);
            var workers = new Thread[threads];
            for (int i = 0; i < threads; i++)
            {
                workers[i] = new Thread(() => { start.SignalAndWait(); Kernel(n); }) { IsBackground = true };
                workers[i].Start();
            }
            start.SignalAndWait();
            long t0 = Stopwatch.GetTimestamp();
            foreach (var w in workers) w.Join();
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, threads * n * FlopsPerIteration / s / 1e9);
        }
        return best;
    }

    /// <summary>Floating-point operations in one iteration of <see cref="Kernel"/>: 12 vector FMAs of two each per lane.</summary>
    public static long FlopsPerIteration => 12L * (VectorBits / 32) * 2;

    /// <summary><paramref name="n"/> iterations of the 12-chain FMA loop on this thread (the widest vector there is).</summary>
    public static float Kernel(long n) => Avx512F.IsSupported ? Kernel512(n) : Kernel256(n);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Kernel512(long n)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(1e-7f);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (long i = 0; i < n; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, x, y); a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
            a2 = Avx512F.FusedMultiplyAdd(a2, x, y); a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
            a4 = Avx512F.FusedMultiplyAdd(a4, x, y); a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
            a6 = Avx512F.FusedMultiplyAdd(a6, x, y); a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
            a8 = Avx512F.FusedMultiplyAdd(a8, x, y); a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
            a10 = Avx512F.FusedMultiplyAdd(a10, x, y); a11 = Avx512F.FusedMultiplyAdd(a11, x, y);
        }
        var s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return Vector512.Sum(s);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Kernel256(long n)
    {
        var x = Vector256.Create(1.0000001f);
        var y = Vector256.Create(1e-7f);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (long i = 0; i < n; i++)
        {
            a0 = Fma.MultiplyAdd(a0, x, y); a1 = Fma.MultiplyAdd(a1, x, y);
            a2 = Fma.MultiplyAdd(a2, x, y); a3 = Fma.MultiplyAdd(a3, x, y);
            a4 = Fma.MultiplyAdd(a4, x, y); a5 = Fma.MultiplyAdd(a5, x, y);
            a6 = Fma.MultiplyAdd(a6, x, y); a7 = Fma.MultiplyAdd(a7, x, y);
            a8 = Fma.MultiplyAdd(a8, x, y); a9 = Fma.MultiplyAdd(a9, x, y);
            a10 = Fma.MultiplyAdd(a10, x, y); a11 = Fma.MultiplyAdd(a11, x, y);
        }
        var s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return Vector256.Sum(s);
    }
}
