using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// The shape of one 2-d convolution, shared by its three bilinear primitives (the convolution, its input
/// gradient and its weight gradient): input [N, C, H, W], weight [O, C/Groups, KH, KW], output [N, O, OH, OW].
/// OH and OW are explicit rather than derived, so a transposed convolution whose output padding adds rows that
/// no window reaches stays the exact adjoint of the convolution it came from.
/// </summary>
internal readonly record struct ConvGeometry(int C, int H, int W, int O, int KH, int KW, int OH, int OW,
    int SH, int SW, int PH, int PW, int DH, int DW, int Groups)
{
    public int GroupC => C / Groups;
    public int GroupO => O / Groups;
    /// <summary>Rows of the im2col matrix: one per (channel of the group, kernel row, kernel column).</summary>
    public int Patch => GroupC * KH * KW;
    public int OutPlane => OH * OW;
}

/// <summary>
/// Convolution by im2col and matrix multiply, for the shapes that <see cref="DirectConv2d"/> (stride 1, few channels)
/// does not take. Samples are processed in blocks: the patches of a block sit side by
/// side in one column matrix, so each group is one long matrix product. Every product goes through
/// <see cref="Gemm"/>, the one call into <see cref="MatMulKernel"/>, and inherits its per-output summation order.
/// The weight gradient sums over samples inside each block's product, then adds the blocks in order; block sizes
/// depend on shapes only. The gathers (im2col, im2row) and the scatter (col2im) are split over threads by the rows
/// or planes they write, so any thread count gives the same bits.
/// </summary>
internal static class Conv2dKernel
{
    /// <summary>
    /// How many elements a block's column matrix may hold (at least one sample per block): 1 MiB of float32, about
    /// an L2 cache, which is still hundreds of columns for the matrix product.
    /// </summary>
    public const int DefaultColumnBudget = 1 << 18;

    /// <summary>
    /// y = conv(x, w): x [N, C, H, W], w [O, C/groups, KH, KW] → [N, O, OH, OW]; then y + b[o] on each channel's planes
    /// when <paramref name="bias"/> ([O]) is given, and max(·, 0) when <paramref name="relu"/>: one add and one IEEE
    /// maximum per element, the bits of <see cref="Ops.AddChannelBias"/> and <see cref="Ops.Relu"/> after the convolution.
    /// </summary>
    public static Tensor Forward(Tensor x, Tensor w, ConvGeometry g, Tensor? bias = null, bool relu = false, int columnBudget = DefaultColumnBudget)
    {
        int n = x.Shape[0];
        var y = Tensor.Empty([n, g.O, g.OH, g.OW], x.DType);
        var (xc, wc) = (Dense(x), Dense(w));
        var bc = bias is null ? null : Dense(bias);
        var p = NumericsPolicy.Current;
        if (x.DType == DType.Float32)
            Forward(xc.Buffer<float>(), xc._offset, wc.Buffer<float>(), wc._offset, y.Buffer<float>(), n, g, p, columnBudget,
                new DirectConv2d.Epilogue<float>(bc?.Buffer<float>(), bc?._offset ?? 0, relu));
        else
            Forward(xc.Buffer<double>(), xc._offset, wc.Buffer<double>(), wc._offset, y.Buffer<double>(), n, g, p, columnBudget,
                new DirectConv2d.Epilogue<double>(bc?.Buffer<double>(), bc?._offset ?? 0, relu));
        return y;
    }

    /// <summary>The transposed convolution gx = convᵀ(gy, w): gy [N, O, OH, OW], w [O, C/groups, KH, KW] → [N, C, H, W].</summary>
    public static Tensor InputGrad(Tensor gy, Tensor w, ConvGeometry g, int columnBudget = DefaultColumnBudget)
    {
        int n = gy.Shape[0];
        var p = NumericsPolicy.Current;
        // The direct kernel writes every element; col2im adds into zeros.
        bool direct = gy.DType == DType.Float32 ? DirectConv2d.AppliesToInputGrad<float>(g, n, p) : DirectConv2d.AppliesToInputGrad<double>(g, n, p);
        var gx = direct ? Tensor.Empty([n, g.C, g.H, g.W], gy.DType) : Tensor.ZerosInternal([n, g.C, g.H, g.W], gy.DType);
        var (gc, wc) = (Dense(gy), Dense(w));
        if (gy.DType == DType.Float32)
            InputGrad(gc.Buffer<float>(), gc._offset, wc.Buffer<float>(), wc._offset, gx.Buffer<float>(), n, g, p, columnBudget);
        else
            InputGrad(gc.Buffer<double>(), gc._offset, wc.Buffer<double>(), wc._offset, gx.Buffer<double>(), n, g, p, columnBudget);
        return gx;
    }

    /// <summary>The weight gradient gw = Σₙ gy ⋆ x: x [N, C, H, W], gy [N, O, OH, OW] → [O, C/groups, KH, KW].</summary>
    public static Tensor WeightGrad(Tensor x, Tensor gy, ConvGeometry g, int columnBudget = DefaultColumnBudget)
    {
        int n = x.Shape[0];
        var gw = Tensor.ZerosInternal([g.O, g.GroupC, g.KH, g.KW], x.DType);
        var (xc, gc) = (Dense(x), Dense(gy));
        var p = NumericsPolicy.Current;
        if (x.DType == DType.Float32)
            WeightGrad(xc.Buffer<float>(), xc._offset, gc.Buffer<float>(), gc._offset, gw.Buffer<float>(), n, g, p, columnBudget);
        else
            WeightGrad(xc.Buffer<double>(), xc._offset, gc.Buffer<double>(), gc._offset, gw.Buffer<double>(), n, g, p, columnBudget);
        return gw;
    }

    private static Tensor Dense(Tensor t) => t.IsContiguous ? t : StridedCopy.ToContiguous(t);

    /// <summary>Samples per block: as many as fit the budget, at least one.</summary>
    private static int BlockSize(int n, ConvGeometry g, int budget) =>
        (int)Math.Clamp(budget / Math.Max(1L, (long)g.Patch * g.OutPlane), 1, Math.Max(n, 1));

    private static T[] Columns<T>(int patch, int samples, int plane) where T : unmanaged
    {
        long size = (long)patch * samples * plane;
        if (size > Array.MaxLength)
            throw new InvalidOperationException(
                $"conv2d: one sample's patch matrix has {patch} × {plane} = {(long)patch * plane} elements, more than an array can hold; split the input spatially");
        return Scratch<T>.Get(0, size);
    }

    /// <summary>The one place convolution multiplies matrices: c = a·b, c contiguous and overwritten.</summary>
    private static void Gemm<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        MatMulKernel.Run(a, b, c, cOffset, p);

    private static void Forward<T>(T[] x, int xOff, T[] w, int wOff, T[] y, int n, ConvGeometry g, NumericsPolicy p, int budget, DirectConv2d.Epilogue<T> epilogue)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (DirectConv2d.AppliesToForward<T>(g, n, p))
        {
            DirectConv2d.Forward(x, xOff, w, wOff, y, n, g, epilogue.Bias, epilogue.BiasOff, epilogue.Relu);
            return;
        }
        ForwardByColumns(x, xOff, w, wOff, y, n, g, p, budget);
        if (epilogue.Any)
            Parallelism.For(n * g.O, 2L * g.OutPlane, new EpilogueBody<T>(y, g.O, g.OutPlane, epilogue));
    }

    /// <summary>The im2col path's <see cref="DirectConv2d.Epilogue{T}"/>: a pass over whole (sample, channel) planes of y, in place.</summary>
    private readonly struct EpilogueBody<T>(T[] y, int channels, int plane, DirectConv2d.Epilogue<T> e) : Parallelism.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int q = start; q < end; q++)
            {
                var span = new Span<T>(y, q * plane, plane);
                if (e.Bias is { } bias) System.Numerics.Tensors.TensorPrimitives.Add(span, bias[e.BiasOff + q % channels], span);
                if (e.Relu) System.Numerics.Tensors.TensorPrimitives.Max(span, T.Zero, span);
            }
        }
    }

    private static void ForwardByColumns<T>(T[] x, int xOff, T[] w, int wOff, T[] y, int n, ConvGeometry g, NumericsPolicy p, int budget)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int l = g.OutPlane, k = g.Patch, og = g.GroupO, nb = BlockSize(n, g, budget);
        var col = Columns<T>(k, nb, l);
        var block = nb > 1 ? Scratch<T>.Get(1, (long)og * nb * l) : null;
        for (int n0 = 0; n0 < n; n0 += nb)
        {
            int b = Math.Min(nb, n - n0), cols = b * l;
            for (int grp = 0; grp < g.Groups; grp++)
            {
                Im2Col(x, xOff, n0, b, grp, g, col);
                var wg = new MatrixView<T>(w, wOff + grp * og * k, og, k, k, 1);
                var cm = new MatrixView<T>(col, 0, k, cols, cols, 1);
                if (b == 1)
                {
                    Gemm(wg, cm, y, (n0 * g.O + grp * og) * l, p);
                    continue;
                }
                // The block's result is [og, b, l]; each (channel, sample) row goes to its place in y.
                Gemm(wg, cm, block!, 0, p);
                for (int o = 0; o < og; o++)
                    for (int j = 0; j < b; j++)
                        Array.Copy(block!, (o * b + j) * l, y, ((n0 + j) * g.O + grp * og + o) * l, l);
            }
        }
    }

    private static void InputGrad<T>(T[] gy, int gyOff, T[] w, int wOff, T[] gx, int n, ConvGeometry g, NumericsPolicy p, int budget)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (DirectConv2d.AppliesToInputGrad<T>(g, n, p))
        {
            DirectConv2d.InputGrad(gy, gyOff, w, wOff, gx, n, g);
            return;
        }
        int l = g.OutPlane, k = g.Patch, og = g.GroupO, nb = BlockSize(n, g, budget);
        var col = Columns<T>(k, nb, l);
        var block = nb > 1 ? Scratch<T>.Get(1, (long)og * nb * l) : null;
        for (int n0 = 0; n0 < n; n0 += nb)
        {
            int b = Math.Min(nb, n - n0), cols = b * l;
            for (int grp = 0; grp < g.Groups; grp++)
            {
                var wgT = new MatrixView<T>(w, wOff + grp * og * k, k, og, 1, k);
                Gemm(wgT, GradBlock(gy, gyOff, n0, b, grp, g, block), col, 0, p);
                Col2Im(col, n0, b, grp, g, gx);
            }
        }
    }

    private static void WeightGrad<T>(T[] x, int xOff, T[] gy, int gyOff, T[] gw, int n, ConvGeometry g, NumericsPolicy p, int budget)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (DirectConv2d.AppliesToForward<T>(g, n, p))
        {
            DirectConv2d.WeightGrad(x, xOff, gy, gyOff, gw, n, g);
            return;
        }
        int l = g.OutPlane, k = g.Patch, og = g.GroupO, nb = BlockSize(n, g, budget);
        var col = Columns<T>(k, nb, l);
        var block = nb > 1 ? Scratch<T>.Get(1, (long)og * nb * l) : null;
        var partial = n > nb ? Scratch<T>.Get(2, (long)og * k) : null;
        for (int n0 = 0; n0 < n; n0 += nb)
        {
            int b = Math.Min(nb, n - n0), cols = b * l;
            for (int grp = 0; grp < g.Groups; grp++)
            {
                // Patches as rows (Im2Row), so both factors are row-major; or, for short patches, the patch matrix
                // read transposed (a stride swap) and transposed by the GEMM's packing, cheaper than building rows of
                // a few elements one by one (LeNet's first layer, k = 25: about half the time). Each output's k order, and
                // so its bits, is the same either way.
                MatrixView<T> colT;
                if (k <= 32)
                {
                    Im2Col(x, xOff, n0, b, grp, g, col);
                    colT = new MatrixView<T>(col, 0, cols, k, 1, cols);
                }
                else
                {
                    Im2Row(x, xOff, n0, b, grp, g, col);
                    colT = new MatrixView<T>(col, 0, cols, k, k, 1);
                }
                var gyb = GradBlock(gy, gyOff, n0, b, grp, g, block);
                int off = grp * og * k;
                if (n0 == 0)
                {
                    Gemm(gyb, colT, gw, off, p);
                    continue;
                }
                // Later blocks add their products in block order: a fixed order whatever the thread count.
                Gemm(gyb, colT, partial!, 0, p);
                var dst = gw.AsSpan(off, og * k);
                for (int i = 0; i < dst.Length; i++) dst[i] += partial![i];
            }
        }
    }

    /// <summary>The output gradient of one group for samples n0..n0+b as a matrix [og, b·l] (copied into <paramref name="block"/> when b > 1).</summary>
    private static MatrixView<T> GradBlock<T>(T[] gy, int gyOff, int n0, int b, int grp, ConvGeometry g, T[]? block)
    {
        int l = g.OutPlane, og = g.GroupO;
        if (b == 1) return new MatrixView<T>(gy, gyOff + (n0 * g.O + grp * og) * l, og, l, l, 1);
        for (int o = 0; o < og; o++)
            for (int j = 0; j < b; j++)
                Array.Copy(gy, gyOff + ((n0 + j) * g.O + grp * og + o) * l, block!, (o * b + j) * l, l);
        return new MatrixView<T>(block!, 0, og, b * l, b * l, 1);
    }

    /// <summary>
    /// The range [lo, hi) of output columns whose input column o·stride − pad + offset lies inside [0, size).
    /// </summary>
    private static (int Lo, int Hi) Valid(int outputs, int stride, int pad, int offset, int size)
    {
        int shift = offset - pad; // input index = o·stride + shift
        int lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
        int room = size - shift;  // o·stride < room
        int hi = room <= 0 ? 0 : (room + stride - 1) / stride;
        lo = Math.Min(lo, outputs);
        hi = Math.Clamp(hi, lo, outputs);
        return (lo, hi);
    }

    /// <summary>
    /// col[(c, ki, kj), (j, oh, ow)] = x[n0 + j, group channel c, oh·SH − PH + ki·DH, ow·SW − PW + kj·DW], zero
    /// outside the input. Split over rows of col.
    /// </summary>
    private static void Im2Col<T>(T[] x, int xOff, int n0, int b, int grp, ConvGeometry g, T[] col) where T : unmanaged =>
        Parallelism.For(g.Patch, b * g.OutPlane, new Im2ColBody<T>(x, xOff, n0, b, grp, g, col));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2ColRows<T>(T[] x, int xOff, int n0, int b, int grp, ConvGeometry g, T[] col, int r0, int r1) where T : unmanaged
    {
        int l = g.OutPlane, cols = b * l, kk = g.KH * g.KW, plane = g.H * g.W;
        int h = g.H, w = g.W, oh = g.OH, ow = g.OW, sh = g.SH, sw = g.SW, kw = g.KW;
        for (int r = r0; r < r1; r++)
        {
            int c = r / kk, ki = r % kk / kw, kj = r % kw;
            var (lo, hi) = Valid(ow, sw, g.PW, kj * g.DW, w);
            int rowShift = ki * g.DH - g.PH, colShift = kj * g.DW - g.PW;
            for (int j = 0; j < b; j++)
            {
                int src = xOff + ((n0 + j) * g.C + grp * g.GroupC + c) * plane;
                int dst = r * cols + j * l;
                for (int i = 0; i < oh; i++)
                {
                    var row = col.AsSpan(dst + i * ow, ow);
                    int ih = i * sh + rowShift;
                    if ((uint)ih >= (uint)h || lo >= hi)
                    {
                        row.Clear();
                        continue;
                    }
                    row[..lo].Clear();
                    row[hi..].Clear();
                    int at = src + ih * w + colShift; // + ow·SW
                    if (sw == 1) x.AsSpan(at + lo, hi - lo).CopyTo(row[lo..hi]);
                    else for (int q = lo; q < hi; q++) row[q] = x[at + q * sw];
                }
            }
        }
    }

    /// <summary>The transpose of <see cref="Im2Col{T}"/>'s matrix: row (j, oh, ow) holds that output position's patch. Split over rows.</summary>
    private static void Im2Row<T>(T[] x, int xOff, int n0, int b, int grp, ConvGeometry g, T[] rows) where T : unmanaged =>
        Parallelism.For(b * g.OutPlane, g.Patch, new Im2RowBody<T>(x, xOff, n0, grp, g, rows));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2RowRange<T>(T[] x, int xOff, int n0, int grp, ConvGeometry g, T[] rows, int p0, int p1) where T : unmanaged
    {
        int l = g.OutPlane, k = g.Patch, plane = g.H * g.W, h = g.H, w = g.W, kh = g.KH, kw = g.KW;
        for (int pos = p0; pos < p1; pos++)
        {
            int j = pos / l, oh = pos % l / g.OW, ow = pos % g.OW;
            int ih0 = oh * g.SH - g.PH, iw0 = ow * g.SW - g.PW;
            var row = rows.AsSpan(pos * k, k);
            int at = 0;
            for (int c = 0; c < g.GroupC; c++)
            {
                int src = xOff + ((n0 + j) * g.C + grp * g.GroupC + c) * plane;
                for (int ki = 0; ki < kh; ki++)
                {
                    int ih = ih0 + ki * g.DH;
                    if ((uint)ih >= (uint)h)
                    {
                        row.Slice(at, kw).Clear();
                        at += kw;
                        continue;
                    }
                    for (int kj = 0; kj < kw; kj++)
                    {
                        int iw = iw0 + kj * g.DW;
                        row[at++] = (uint)iw < (uint)w ? x[src + ih * w + iw] : default;
                    }
                }
            }
        }
    }

    /// <summary>
    /// The adjoint of <see cref="Im2Col{T}"/>: adds each column entry back to the input position it was read from.
    /// Split over (sample, channel) planes, each summed in a fixed (ki, kj, oh, ow) order.
    /// </summary>
    private static void Col2Im<T>(T[] col, int n0, int b, int grp, ConvGeometry g, T[] gx) where T : unmanaged, INumberBase<T> =>
        Parallelism.For(b * g.GroupC, (long)g.KH * g.KW * g.OutPlane, new Col2ImBody<T>(col, n0, b, grp, g, gx));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2ImPlanes<T>(T[] col, int n0, int b, int grp, ConvGeometry g, T[] gx, int i0, int i1) where T : unmanaged, INumberBase<T>
    {
        int l = g.OutPlane, cols = b * l, kk = g.KH * g.KW, plane = g.H * g.W, gc = g.GroupC;
        int h = g.H, w = g.W, oh = g.OH, ow = g.OW, sh = g.SH, sw = g.SW;
        for (int i = i0; i < i1; i++)
        {
            int j = i / gc, c = i % gc;
            int dstPlane = ((n0 + j) * g.C + grp * gc + c) * plane;
            for (int ki = 0; ki < g.KH; ki++)
                for (int kj = 0; kj < g.KW; kj++)
                {
                    var (lo, hi) = Valid(ow, sw, g.PW, kj * g.DW, w);
                    if (lo >= hi) continue;
                    int src = (c * kk + ki * g.KW + kj) * cols + j * l;
                    int rowShift = ki * g.DH - g.PH, colShift = kj * g.DW - g.PW;
                    for (int r = 0; r < oh; r++)
                    {
                        int ih = r * sh + rowShift;
                        if ((uint)ih >= (uint)h) continue;
                        int at = dstPlane + ih * w + colShift;
                        int from = src + r * ow;
                        if (sw == 1)
                        {
                            var dst = gx.AsSpan(at + lo, hi - lo);
                            TensorPrimitives.Add(dst, col.AsSpan(from + lo, hi - lo), dst);
                        }
                        else for (int q = lo; q < hi; q++) gx[at + q * sw] += col[from + q];
                    }
                }
        }
    }

    // Loop bodies as structs: a parallel loop over them allocates no closure.
    private readonly struct Im2ColBody<T>(T[] x, int xOff, int n0, int b, int grp, ConvGeometry g, T[] col) : Parallelism.IRangeBody where T : unmanaged
    {
        public void Run(int start, int end) => Im2ColRows(x, xOff, n0, b, grp, g, col, start, end);
    }

    private readonly struct Im2RowBody<T>(T[] x, int xOff, int n0, int grp, ConvGeometry g, T[] rows) : Parallelism.IRangeBody where T : unmanaged
    {
        public void Run(int start, int end) => Im2RowRange(x, xOff, n0, grp, g, rows, start, end);
    }

    private readonly struct Col2ImBody<T>(T[] col, int n0, int b, int grp, ConvGeometry g, T[] gx) : Parallelism.IRangeBody where T : unmanaged, INumberBase<T>
    {
        public void Run(int start, int end) => Col2ImPlanes(col, n0, b, grp, g, gx, start, end);
    }
}
