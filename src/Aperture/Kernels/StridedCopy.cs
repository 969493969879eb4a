using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>Copies between strided views and contiguous buffers, for any dtype.</summary>
internal static class StridedCopy
{
    /// <summary>A contiguous copy of any tensor (no autodiff: callers that need it go through <see cref="Ops.Contiguous"/>).</summary>
    public static Tensor ToContiguous(Tensor src)
    {
        var dst = Tensor.Empty(src.Shape, src.DType);
        CopyInto(src, dst);
        return dst;
    }

    /// <summary>Copies <paramref name="src"/> into <paramref name="dst"/> elementwise (same shape; any strides on both sides).</summary>
    public static void CopyInto(Tensor src, Tensor dst)
    {
        if (!Shapes.Equal(src.Shape, dst.Shape))
            throw new ShapeMismatchException($"copy: source shape {Shapes.Format(src.Shape)} differs from destination shape {Shapes.Format(dst.Shape)}");
        if (src.DType != dst.DType)
            throw new DTypeMismatchException($"copy: source is {src.DType.Name()}, destination is {dst.DType.Name()}");
        switch (src.DType)
        {
            case DType.Float32: Copy<float>(src, dst); break;
            case DType.Float64: Copy<double>(src, dst); break;
            case DType.Int64: Copy<long>(src, dst); break;
            case DType.Bool: Copy<bool>(src, dst); break;
        }
    }

    private static void Copy<T>(Tensor src, Tensor dst) where T : unmanaged
    {
        var s = src.Buffer<T>();
        var d = dst.Buffer<T>();
        int n = src.Numel;
        if (n == 0) return;
        if (src.IsContiguous && dst.IsContiguous)
        {
            Array.Copy(s, src._offset, d, dst._offset, n);
            return;
        }
        if (dst.IsContiguous && CopyWithoutLoop(src, s, d, dst._offset, n)) return;
        var loop = new StridedLoop(src.Shape, src.Strides, dst.Strides);
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sd = loop.InnerStride(1);
        if (TryTransposed(loop, s, src._offset, d, dst._offset)) return;
        for (int row = 0; row < loop.Rows; row++)
        {
            loop.Offsets(row, out int oa, out int od);
            oa += src._offset;
            od += dst._offset;
            if (sa == 1 && sd == 1) Array.Copy(s, oa, d, od, inner);
            else for (int i = 0; i < inner; i++) d[od + i * sd] = s[oa + i * sa];
        }
    }

    /// <summary>
    /// The two layouts a recycled backward pass copies into contiguous buffers, done without building a
    /// <see cref="StridedLoop"/> (which allocates): one element broadcast everywhere (the gradient of a sum, every stride
    /// 0) and the transpose of a contiguous matrix (the gradient of a weight used as <c>w.Transpose(0, 1)</c>).
    /// False for any other layout.
    /// </summary>
    private static bool CopyWithoutLoop<T>(Tensor src, T[] s, T[] d, int dOff, int n) where T : unmanaged
    {
        var strides = src.Strides;
        bool broadcast = true;
        foreach (int st in strides) broadcast &= st == 0;
        if (broadcast)
        {
            Array.Fill(d, s[src._offset], dOff, n);
            return true;
        }
        if (src.Rank != 2) return false;
        int rows = src.Shape[0], cols = src.Shape[1];
        if (strides[0] != 1 || strides[1] != rows || rows < 2 || cols < 2) return false;
        // Element (i, j) is s[off + j·rows + i]: row j of the source is column j of the destination.
        Transpose2D(s, src._offset, rows, d, dOff, cols, cols, rows);
        return true;
    }

    /// <summary>
    /// A copy whose innermost dimension is contiguous on one side only, with the other side contiguous along the next
    /// dimension out (making a transposed view contiguous, or the reverse): done as tiled transposes, so both sides
    /// are read and written a cache line at a time instead of one strided element at a time.
    /// </summary>
    private static bool TryTransposed<T>(StridedLoop loop, T[] s, int sOff, T[] d, int dOff) where T : unmanaged
    {
        int inner = loop.InnerSize, sa = loop.InnerStride(0), sd = loop.InnerStride(1);
        if (loop.OuterRank == 0 || inner < 8) return false;
        int last = loop.OuterRank - 1, rows = loop.OuterSize(last);
        int so = loop.OuterStride(0, last), dO = loop.OuterStride(1, last);
        bool srcTransposed = sd == 1 && so == 1 && sa != 1, dstTransposed = sa == 1 && dO == 1 && sd != 1;
        if (!(srcTransposed || dstTransposed) || rows < 8) return false;
        for (int block = 0; block < loop.Rows; block += rows)
        {
            loop.Offsets(block, out int oa, out int od);
            oa += sOff;
            od += dOff;
            // Transpose2D: d[c·dLd + r] = s[r·sLd + c].
            if (srcTransposed) Transpose2D(s, oa, sa, d, od, dO, inner, rows);
            else Transpose2D(s, oa, so, d, od, sd, rows, inner);
        }
        return true;
    }

    /// <summary>d[dOff + c·dLd + r] = s[sOff + r·sLd + c] for r &lt; rows, c &lt; cols, in 8×8 (float) or 4×4 (double) register blocks where it can.</summary>
    private static unsafe void Transpose2D<T>(T[] s, int sOff, int sLd, T[] d, int dOff, int dLd, int rows, int cols) where T : unmanaged
    {
        int block = !Packing.Transposes<T>() ? 0 : typeof(T) == typeof(float) ? 8 : 4;
        const int Tile = 32;
        fixed (T* ps = s, pd = d)
        {
            T* src = ps + sOff, dst = pd + dOff;
            for (int r0 = 0; r0 < rows; r0 += Tile)
                for (int c0 = 0; c0 < cols; c0 += Tile)
                {
                    int r1 = Math.Min(rows, r0 + Tile), c1 = Math.Min(cols, c0 + Tile);
                    int r = r0;
                    if (block > 0)
                        for (; r + block <= r1; r += block)
                        {
                            int c = c0;
                            for (; c + block <= c1; c += block) Packing.Block(src + r * sLd + c, sLd, dst + c * dLd + r, dLd);
                            for (; c < c1; c++)
                                for (int q = r; q < r + block; q++) dst[c * dLd + q] = src[q * sLd + c];
                        }
                    for (; r < r1; r++)
                        for (int c = c0; c < c1; c++) dst[c * dLd + r] = src[r * sLd + c];
                }
        }
    }
}

/// <summary>
/// Iterates an n-d index space as rows of its last (coalesced) dimension for up to three operands with their
/// own strides (a stride of 0 broadcasts). Dimensions that are contiguous in every operand are merged first, so
/// a contiguous or simply broadcast case becomes a few long rows.
/// </summary>
internal readonly struct StridedLoop
{
    private readonly int[] _shape;     // outer dims (all but the last), coalesced
    private readonly int[] _strides;   // [operand * rank + dim]
    private readonly int _operands;
    public readonly int InnerSize;
    public readonly int Rows;
    private readonly int[] _innerStrides;

    public StridedLoop(ReadOnlySpan<int> shape, ReadOnlySpan<int> s0, ReadOnlySpan<int> s1)
        : this(shape, [s0.ToArray(), s1.ToArray()]) { }

    public StridedLoop(ReadOnlySpan<int> shape, ReadOnlySpan<int> s0, ReadOnlySpan<int> s1, ReadOnlySpan<int> s2)
        : this(shape, [s0.ToArray(), s1.ToArray(), s2.ToArray()]) { }

    public StridedLoop(ReadOnlySpan<int> shape, int[][] strides)
    {
        _operands = strides.Length;
        // Drop size-1 dimensions, then merge dim i into i+1 when every operand steps through them as one.
        var dims = new List<int>(shape.Length);
        var st = new List<int[]>(shape.Length);
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            var col = new int[_operands];
            for (int k = 0; k < _operands; k++) col[k] = strides[k][d];
            if (dims.Count > 0)
            {
                var prev = st[^1];
                bool merge = true;
                for (int k = 0; k < _operands; k++)
                    if (prev[k] != col[k] * shape[d]) { merge = false; break; }
                if (merge)
                {
                    dims[^1] *= shape[d];
                    st[^1] = col;
                    continue;
                }
            }
            dims.Add(shape[d]);
            st.Add(col);
        }
        if (dims.Count == 0)
        {
            dims.Add(1);
            st.Add(new int[_operands]);
        }
        int rank = dims.Count;
        InnerSize = dims[^1];
        _innerStrides = st[^1];
        _shape = new int[rank - 1];
        _strides = new int[_operands * Math.Max(rank - 1, 1)];
        int rows = 1;
        for (int d = 0; d < rank - 1; d++)
        {
            _shape[d] = dims[d];
            rows *= dims[d];
            for (int k = 0; k < _operands; k++) _strides[k * (rank - 1) + d] = st[d][k];
        }
        Rows = shape.Length > 0 && Shapes.Numel(shape) == 0 ? 0 : rows;
        if (Shapes.Numel(shape) == 0) InnerSize = 0;
    }

    public int InnerStride(int operand) => _innerStrides[operand];

    /// <summary>The number of outer (coalesced) dimensions.</summary>
    public int OuterRank => _shape.Length;

    /// <summary>The size of outer dimension <paramref name="dim"/>.</summary>
    public int OuterSize(int dim) => _shape[dim];

    /// <summary>The stride of <paramref name="operand"/> along outer dimension <paramref name="dim"/>.</summary>
    public int OuterStride(int operand, int dim) => _strides[operand * _shape.Length + dim];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Offsets(int row, out int o0, out int o1)
    {
        o0 = o1 = 0;
        int r = _shape.Length;
        for (int d = r - 1; d >= 0; d--)
        {
            int n = _shape[d];
            int i = row % n;
            row /= n;
            o0 += i * _strides[d];
            o1 += i * _strides[r + d];
        }
    }

    /// <summary>Offsets of every operand at the start of <paramref name="row"/>.</summary>
    public void Offsets(int row, Span<int> offsets)
    {
        offsets.Clear();
        int r = _shape.Length;
        for (int d = r - 1; d >= 0; d--)
        {
            int n = _shape[d];
            int i = row % n;
            row /= n;
            for (int k = 0; k < _operands; k++) offsets[k] += i * _strides[k * r + d];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Offsets(int row, out int o0, out int o1, out int o2)
    {
        o0 = o1 = o2 = 0;
        int r = _shape.Length;
        for (int d = r - 1; d >= 0; d--)
        {
            int n = _shape[d];
            int i = row % n;
            row /= n;
            o0 += i * _strides[d];
            o1 += i * _strides[r + d];
            o2 += i * _strides[2 * r + d];
        }
    }
}
