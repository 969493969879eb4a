using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// Packing helpers: <c>dst[p*width + r] = src[r*ld + p]</c> for r &lt; rows, p &lt; len, zero for rows ≤ r &lt; width.
/// Packing only moves values, so how it is done never changes a result; the transposes use 8×8 (float) and
/// 4×4 (double) register blocks, about four times faster than element by element.
/// </summary>
internal static unsafe class Packing
{
    public static bool Transposes<T>() where T : unmanaged =>
        KernelPaths.Active != KernelPath.Scalar && Avx.IsSupported && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>The general case: any strides, element by element (<paramref name="ld"/> steps r, <paramref name="step"/> steps p).</summary>
    public static void Strided<T>(T* src, nint ld, nint step, int rows, int len, T* dst, int width) where T : unmanaged
    {
        for (int p = 0; p < len; p++)
        {
            T* d = dst + p * width;
            T* s = src + p * step;
            int r = 0;
            for (; r < rows; r++) d[r] = s[r * ld];
            for (; r < width; r++) d[r] = default;
        }
    }

    /// <summary>
    /// Rows of <paramref name="cols"/> contiguous elements (<paramref name="step"/> apart) into rows of
    /// <paramref name="width"/> (zero past <paramref name="cols"/>): a partial panel of a row-major B. With AVX-512 and
    /// rows of whole 64-byte registers, each row is a few byte-masked loads (no byte past the row's columns is read)
    /// and full stores, whatever the element type; else a block copy and a clear per row. Element by element, a
    /// product whose B is a single such panel (6 × 10192 · 10192 × 25) spent 72% of its time here.
    /// </summary>
    public static void ContiguousRows<T>(T* src, nint step, int cols, int len, T* dst, int width) where T : unmanaged
    {
        int rowBytes = width * sizeof(T);
        if (Avx512BW.IsSupported && KernelPaths.Active == KernelPath.Avx512 && rowBytes % 64 == 0 && rowBytes <= 256)
        {
            MaskedRows((byte*)src, step * sizeof(T), cols * sizeof(T), len, (byte*)dst, rowBytes);
            return;
        }
        for (int p = 0; p < len; p++)
        {
            T* d = dst + p * width;
            Unsafe.CopyBlockUnaligned(d, src + p * step, (uint)(cols * sizeof(T)));
            new Span<T>(d + cols, width - cols).Clear();
        }
    }

    /// <summary>Rows of <paramref name="colBytes"/> bytes into rows of <paramref name="rowBytes"/> (1–4 registers), zero past them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaskedRows(byte* src, nint step, int colBytes, int len, byte* dst, int rowBytes)
    {
        var lane = Vector512<byte>.Indices;
        Vector512<byte> Mask(int v) => Vector512.LessThan(lane, Vector512.Create((byte)Math.Clamp(colBytes - 64 * v, 0, 64)));
        Vector512<byte> m0 = Mask(0), m1 = Mask(1), m2 = Mask(2), m3 = Mask(3);
        int vectors = rowBytes / 64;
        for (int p = 0; p < len; p++)
        {
            byte* s = src + p * step, d = dst + p * rowBytes;
            Avx512BW.MaskLoad(s, m0, Vector512<byte>.Zero).Store(d);
            if (vectors > 1) Avx512BW.MaskLoad(s + 64, m1, Vector512<byte>.Zero).Store(d + 64);
            if (vectors > 2) Avx512BW.MaskLoad(s + 128, m2, Vector512<byte>.Zero).Store(d + 128);
            if (vectors > 3) Avx512BW.MaskLoad(s + 192, m3, Vector512<byte>.Zero).Store(d + 192);
        }
    }

    /// <summary>
    /// The transpose of rows that are contiguous in p. When <paramref name="width"/> is not a multiple of the block
    /// height, stores run up to 7 elements into the next p (rewritten after) or past the end of the panel.
    /// </summary>
    public static void Transpose<T>(T* src, nint ld, int rows, int len, T* dst, int width) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) TransposeFloat((float*)src, ld, rows, len, (float*)dst, width);
        else TransposeDouble((double*)src, ld, rows, len, (double*)dst, width);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeFloat(float* src, nint ld, int rows, int len, float* dst, int width)
    {
        int full = len / 8 * 8;
        // Row blocks outside, so each pass streams eight source rows front to back. The last (partial) row block
        // goes first: its stores run over into the next p's first slots, which the full blocks then rewrite.
        for (int r0 = (width - 1) / 8 * 8; r0 >= 0; r0 -= 8)
        {
            for (int p = 0; p < full; p += 8)
            {
                var v0 = Row(src, ld, r0 + 0, rows, p); var v1 = Row(src, ld, r0 + 1, rows, p);
                var v2 = Row(src, ld, r0 + 2, rows, p); var v3 = Row(src, ld, r0 + 3, rows, p);
                var v4 = Row(src, ld, r0 + 4, rows, p); var v5 = Row(src, ld, r0 + 5, rows, p);
                var v6 = Row(src, ld, r0 + 6, rows, p); var v7 = Row(src, ld, r0 + 7, rows, p);
                var t0 = Avx.UnpackLow(v0, v1); var t1 = Avx.UnpackHigh(v0, v1);
                var t2 = Avx.UnpackLow(v2, v3); var t3 = Avx.UnpackHigh(v2, v3);
                var t4 = Avx.UnpackLow(v4, v5); var t5 = Avx.UnpackHigh(v4, v5);
                var t6 = Avx.UnpackLow(v6, v7); var t7 = Avx.UnpackHigh(v6, v7);
                var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = dst + p * width + r0;
                Avx.Permute2x128(u0, u4, 0x20).Store(d);
                Avx.Permute2x128(u1, u5, 0x20).Store(d + width);
                Avx.Permute2x128(u2, u6, 0x20).Store(d + 2 * width);
                Avx.Permute2x128(u3, u7, 0x20).Store(d + 3 * width);
                Avx.Permute2x128(u0, u4, 0x31).Store(d + 4 * width);
                Avx.Permute2x128(u1, u5, 0x31).Store(d + 5 * width);
                Avx.Permute2x128(u2, u6, 0x31).Store(d + 6 * width);
                Avx.Permute2x128(u3, u7, 0x31).Store(d + 7 * width);
            }
        }
        if (full < len) Strided(src + full, ld, 1, rows, len - full, dst + full * width, width);
    }

    /// <summary>One exact register block: dst[c·ldd + r] = src[r·lds + c] for an 8×8 (float) or 4×4 (double) block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block<T>(T* src, nint lds, T* dst, nint ldd) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float* s = (float*)src, d = (float*)dst;
            var v0 = Vector256.Load(s); var v1 = Vector256.Load(s + lds);
            var v2 = Vector256.Load(s + 2 * lds); var v3 = Vector256.Load(s + 3 * lds);
            var v4 = Vector256.Load(s + 4 * lds); var v5 = Vector256.Load(s + 5 * lds);
            var v6 = Vector256.Load(s + 6 * lds); var v7 = Vector256.Load(s + 7 * lds);
            var t0 = Avx.UnpackLow(v0, v1); var t1 = Avx.UnpackHigh(v0, v1);
            var t2 = Avx.UnpackLow(v2, v3); var t3 = Avx.UnpackHigh(v2, v3);
            var t4 = Avx.UnpackLow(v4, v5); var t5 = Avx.UnpackHigh(v4, v5);
            var t6 = Avx.UnpackLow(v6, v7); var t7 = Avx.UnpackHigh(v6, v7);
            var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Permute2x128(u0, u4, 0x20).Store(d);
            Avx.Permute2x128(u1, u5, 0x20).Store(d + ldd);
            Avx.Permute2x128(u2, u6, 0x20).Store(d + 2 * ldd);
            Avx.Permute2x128(u3, u7, 0x20).Store(d + 3 * ldd);
            Avx.Permute2x128(u0, u4, 0x31).Store(d + 4 * ldd);
            Avx.Permute2x128(u1, u5, 0x31).Store(d + 5 * ldd);
            Avx.Permute2x128(u2, u6, 0x31).Store(d + 6 * ldd);
            Avx.Permute2x128(u3, u7, 0x31).Store(d + 7 * ldd);
        }
        else
        {
            double* s = (double*)src, d = (double*)dst;
            var v0 = Vector256.Load(s); var v1 = Vector256.Load(s + lds);
            var v2 = Vector256.Load(s + 2 * lds); var v3 = Vector256.Load(s + 3 * lds);
            var t0 = Avx.UnpackLow(v0, v1); var t1 = Avx.UnpackHigh(v0, v1);
            var t2 = Avx.UnpackLow(v2, v3); var t3 = Avx.UnpackHigh(v2, v3);
            Avx.Permute2x128(t0, t2, 0x20).Store(d);
            Avx.Permute2x128(t1, t3, 0x20).Store(d + ldd);
            Avx.Permute2x128(t0, t2, 0x31).Store(d + 2 * ldd);
            Avx.Permute2x128(t1, t3, 0x31).Store(d + 3 * ldd);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Row(float* src, nint ld, int r, int rows, int p) =>
        r < rows ? Vector256.Load(src + r * ld + p) : Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeDouble(double* src, nint ld, int rows, int len, double* dst, int width)
    {
        int full = len / 4 * 4;
        for (int r0 = (width - 1) / 4 * 4; r0 >= 0; r0 -= 4)
        {
            for (int p = 0; p < full; p += 4)
            {
                var v0 = Row(src, ld, r0 + 0, rows, p); var v1 = Row(src, ld, r0 + 1, rows, p);
                var v2 = Row(src, ld, r0 + 2, rows, p); var v3 = Row(src, ld, r0 + 3, rows, p);
                var t0 = Avx.UnpackLow(v0, v1); var t1 = Avx.UnpackHigh(v0, v1);
                var t2 = Avx.UnpackLow(v2, v3); var t3 = Avx.UnpackHigh(v2, v3);
                double* d = dst + p * width + r0;
                Avx.Permute2x128(t0, t2, 0x20).Store(d);
                Avx.Permute2x128(t1, t3, 0x20).Store(d + width);
                Avx.Permute2x128(t0, t2, 0x31).Store(d + 2 * width);
                Avx.Permute2x128(t1, t3, 0x31).Store(d + 3 * width);
            }
        }
        if (full < len) Strided(src + full, ld, 1, rows, len - full, dst + full * width, width);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Row(double* src, nint ld, int r, int rows, int p) =>
        r < rows ? Vector256.Load(src + r * ld + p) : Vector256<double>.Zero;
}
