using System.Runtime.InteropServices;

namespace Aperture.Tests.Kernels;

/// <summary>
/// The thin product's kernels read A and B in place where they can. A read past either operand changes no value (the
/// lanes it fills are thrown away), so the bit-for-bit tests cannot see it; it faults only where the operand ends at
/// the end of a page, as it happened in a lab run. Here each operand ends exactly where an unreadable page begins, so
/// any such read stops the test process.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public unsafe class ThinGemmBoundsTests
{
    [DllImport("libc", SetLastError = true)] private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc", SetLastError = true)] private static extern int mprotect(nint addr, nuint length, int prot);
    [DllImport("libc", SetLastError = true)] private static extern int munmap(nint addr, nuint length);

    private const int ProtNone = 0, ProtReadWrite = 3, MapPrivateAnonymous = 0x22;

    /// <summary><paramref name="count"/> floats whose last one ends where an unreadable page begins.</summary>
    private sealed class Guarded : IDisposable
    {
        private readonly nint _base;
        private readonly nuint _length;
        public readonly float* At;

        public Guarded(float[] values)
        {
            long page = Environment.SystemPageSize, bytes = (long)values.Length * sizeof(float);
            long body = (bytes + page - 1) / page * page;
            _length = (nuint)(body + page);
            _base = mmap(0, _length, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            Assert.True(_base != -1, $"mmap failed: {Marshal.GetLastPInvokeError()}");
            Assert.Equal(0, mprotect(_base + (nint)body, (nuint)page, ProtNone));
            At = (float*)(_base + (nint)(body - bytes));
            values.AsSpan().CopyTo(new Span<float>(At, values.Length));
        }

        public void Dispose() => munmap(_base, _length);
    }

    [Fact]
    public void Thin_products_read_nothing_past_their_operands()
    {
        // mmap is Linux's, and the thin path runs only on the AVX-512 kernels (elsewhere TryRun takes nothing).
        if (!OperatingSystem.IsLinux() || KernelPaths.Active != KernelPath.Avx512) return;
        var rng = new Random(41);
        // dY·W and dYᵀ·X shapes and their edges: partial row blocks, a last half panel, narrower last panels, k of 1.
        foreach (var (m, n, k, ta) in new[] { (5, 16, 7, true), (250, 784, 32, true), (29, 48, 9, false), (32, 784, 40, false),
                     (31, 784, 40, false), (13, 33, 5, true), (8, 32, 1, false), (61, 64, 9, true), (3, 300, 17, false) })
            foreach (int threads in new[] { 1, 2 })
            {
                // No margin: each operand's last element is the last of its memory.
                var a = GemmTests.Matrix<float>(rng, m, k, ta, margin: 0);
                var b = GemmTests.Matrix<float>(rng, k, n, false, margin: 0);
                var naive = GemmTests.Naive(a, b);
                var c = new float[m * n];
                using var ga = new Guarded(a.Data);
                using var gb = new Guarded(b.Data);
                fixed (float* pc = c)
                {
                    var g = new GemmProblem<float>(ga.At + a.Offset, a.RowStride, a.ColStride, gb.At + b.Offset, b.RowStride, b.ColStride,
                        pc, n, 1, m, n, k);
                    bool ran = false;
                    KernelSettings.WithThreads(threads, () => ran = ThinGemm.TryRun(g));
                    Assert.True(ran, $"{m}×{k}·{k}×{n} did not take the thin path");
                }
                for (int i = 0; i < c.Length; i++)
                    if (BitConverter.SingleToInt32Bits(c[i]) != BitConverter.SingleToInt32Bits(naive[i]))
                        Assert.Fail($"{m}×{k}·{k}×{n} (A {(ta ? "column" : "row")}-major), {threads} thread(s): element {i} is {c[i]}, expected {naive[i]}");
            }
    }
}
