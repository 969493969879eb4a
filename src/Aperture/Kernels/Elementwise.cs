using System.Numerics;
using System.Numerics.Tensors;

namespace Aperture;

/// <summary>A binary elementwise kernel: the vector-vector, vector-scalar and scalar-vector forms and a scalar fallback.</summary>
internal interface IBinaryKernel<T>
{
    static abstract void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y);
    static abstract void VS(ReadOnlySpan<T> a, T b, Span<T> y);
    static abstract void SV(T a, ReadOnlySpan<T> b, Span<T> y);
    static abstract T S(T a, T b);
}

/// <summary>int64 a + b (wraps on overflow).</summary>
internal readonly struct IntAddKernel : IBinaryKernel<long>
{
    public static void VV(ReadOnlySpan<long> a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Add(a, b, y);
    public static void VS(ReadOnlySpan<long> a, long b, Span<long> y) => TensorPrimitives.Add(a, b, y);
    public static void SV(long a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Add(b, a, y);
    public static long S(long a, long b) => unchecked(a + b);
}

/// <summary>int64 a − b (wraps on overflow).</summary>
internal readonly struct IntSubKernel : IBinaryKernel<long>
{
    public static void VV(ReadOnlySpan<long> a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Subtract(a, b, y);
    public static void VS(ReadOnlySpan<long> a, long b, Span<long> y) => TensorPrimitives.Subtract(a, b, y);
    public static void SV(long a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Subtract(a, b, y);
    public static long S(long a, long b) => unchecked(a - b);
}

/// <summary>int64 a · b (wraps on overflow).</summary>
internal readonly struct IntMulKernel : IBinaryKernel<long>
{
    public static void VV(ReadOnlySpan<long> a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Multiply(a, b, y);
    public static void VS(ReadOnlySpan<long> a, long b, Span<long> y) => TensorPrimitives.Multiply(a, b, y);
    public static void SV(long a, ReadOnlySpan<long> b, Span<long> y) => TensorPrimitives.Multiply(b, a, y);
    public static long S(long a, long b) => unchecked(a * b);
}

internal readonly struct AddKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Add(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(b, a, y);
    public static T S(T a, T b) => a + b;
}

internal readonly struct SubKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    public static T S(T a, T b) => a - b;
}

internal readonly struct MulKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(b, a, y);
    public static T S(T a, T b) => a * b;
}

internal readonly struct DivKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    public static T S(T a, T b) => a / b;
}

internal readonly struct PowKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    public static T S(T a, T b) => T.Pow(a, b);
}

/// <summary>Drives elementwise kernels over broadcast, strided operands, one coalesced row at a time.</summary>
internal static class Elementwise
{
    /// <summary>Strides that read <paramref name="t"/> as if broadcast to <paramref name="shape"/> (0 on broadcast dimensions).</summary>
    public static int[] BroadcastStrides(Tensor t, ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int lead = shape.Length - t.Rank;
        for (int i = 0; i < t.Rank; i++)
            s[lead + i] = t.Shape[i] == 1 && shape[lead + i] != 1 ? 0 : t.Strides[i];
        return s;
    }

    public static Tensor Binary<T, K>(Tensor a, Tensor b, int[] shape)
        where T : unmanaged
        where K : IBinaryKernel<T>
    {
        var y = Tensor.Empty(shape, a.DType);
        int n = y.Numel;
        if (n == 0) return y;
        T[] da = a.Buffer<T>(), db = b.Buffer<T>(), dy = y.Buffer<T>();
        if (a.IsContiguous && b.IsContiguous && a.Numel == n && b.Numel == n)
        {
            K.VV(new ReadOnlySpan<T>(da, a._offset, n), new ReadOnlySpan<T>(db, b._offset, n), dy);
            return y;
        }
        Strided<T, K>(a, b, y, shape);
        return y;
    }

    // Apart from Binary, so that the contiguous case does not pay for the lambda's closure.
    private static void Strided<T, K>(Tensor a, Tensor b, Tensor y, int[] shape)
        where T : unmanaged
        where K : IBinaryKernel<T>
    {
        T[] da = a.Buffer<T>(), db = b.Buffer<T>(), dy = y.Buffer<T>();
        var loop = new StridedLoop(shape, BroadcastStrides(a, shape), BroadcastStrides(b, shape), y.Strides);
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sb = loop.InnerStride(1);
        Parallelism.For(loop.Rows, inner, new StridedRows<T, K>(loop, da, a._offset, db, b._offset, dy, inner, sa, sb));
    }

    private readonly struct StridedRows<T, K>(StridedLoop loop, T[] da, int offA, T[] db, int offB, T[] dy, int inner, int sa, int sb)
        : Parallelism.IRangeBody
        where T : unmanaged
        where K : IBinaryKernel<T>
    {
        public void Run(int r0, int r1)
        {
            for (int row = r0; row < r1; row++)
            {
                loop.Offsets(row, out int oa, out int ob, out int oy);
                oa += offA;
                ob += offB;
                var dst = new Span<T>(dy, oy, inner);
                if (sa == 1 && sb == 1) K.VV(new ReadOnlySpan<T>(da, oa, inner), new ReadOnlySpan<T>(db, ob, inner), dst);
                else if (sa == 1 && sb == 0) K.VS(new ReadOnlySpan<T>(da, oa, inner), db[ob], dst);
                else if (sa == 0 && sb == 1) K.SV(da[oa], new ReadOnlySpan<T>(db, ob, inner), dst);
                else for (int i = 0; i < inner; i++) dst[i] = K.S(da[oa + i * sa], db[ob + i * sb]);
            }
        }
    }

    /// <summary>y = a ⊕ b written into <paramref name="a"/> itself (a must not be a broadcast view; b broadcasts to a's shape).</summary>
    public static void BinaryInPlace<T, K>(Tensor a, Tensor b)
        where T : unmanaged
        where K : IBinaryKernel<T>
    {
        int n = a.Numel;
        if (n == 0) return;
        T[] da = a.Buffer<T>(), db = b.Buffer<T>();
        if (a.IsContiguous && b.IsContiguous && b.Numel == n)
        {
            var span = new Span<T>(da, a._offset, n);
            K.VV(span, new ReadOnlySpan<T>(db, b._offset, n), span);
            return;
        }
        var shape = a.Shape;
        var loop = new StridedLoop(shape, a.Strides, BroadcastStrides(b, shape));
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sb = loop.InnerStride(1);
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, out int oa, out int ob);
            oa += a._offset;
            ob += b._offset;
            for (int i = 0; i < inner; i++) da[oa + i * sa] = K.S(da[oa + i * sa], db[ob + i * sb]);
        }
    }
}

/// <summary>IEEE maximum (NaN wins), as <c>torch.maximum</c>.</summary>
internal readonly struct MaxKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Max(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Max(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Max(b, a, y);
    public static T S(T a, T b) => T.Max(a, b);
}

/// <summary>IEEE minimum (NaN wins), as <c>torch.minimum</c>.</summary>
internal readonly struct MinKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Min(a, b, y);
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Min(a, b, y);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Min(b, a, y);
    public static T S(T a, T b) => T.Min(a, b);
}
