using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Direct stride-1 convolution for few channels (LeNet's layers: 1→6 and 6→16 channels, 5×5 kernels), where im2col
/// and a matrix product are thin and most of their time goes into building and scattering the patch matrix.
/// <para>
/// Every input plane is copied once into a zero-padded plane of width Wp = OW + (KW − 1)·DW. On that "wide grid" the
/// output at flat position q = oh·Wp + ow reads the padded input at q + ki·DH·Wp + kj·DW: contiguous in q for every tap
/// (ki, kj), so 512-bit vectors run along q across rows; the Wp − OW columns of each row that are not outputs are
/// computed and dropped.
/// </para>
/// <para>
/// Summation orders, fixed by the shape alone (never by the thread count or the hardware: <see cref="Vector512{T}"/>
/// fused multiply-adds are fused in software too):
/// the convolution is, for each output, one fused multiply-add chain over (channel, ki, kj) in increasing order —
/// the chain of im2col and <see cref="MatMulKernel"/>, zero-padding terms included, so the bits are those of the
/// matrix-product path. The input gradient is the same kernel run on the zero-padded output gradient with the kernel
/// flipped and its channel axes swapped: per input position one chain over (output channel, flipped ki, flipped kj).
/// The weight gradient is, per weight, a sum over (sample, position) as in <see cref="ReductionOrder.Default"/>:
/// the term at wide-grid position q of a sample goes to lane q mod V (V = 64 bytes / element size), each lane a fused
/// multiply-add chain over the samples of a fixed sample partition in order (at most
/// <see cref="WeightGradPartitions"/>, by batch size alone); partitions are added lane-wise in order, then the lanes by
/// the fixed tree (lane j += lane j + V/2, then V/4, …).
/// </para>
/// <para>
/// Non-finite values: the dropped columns multiply a zero output gradient by input values that the column's tap does
/// not hold, and the input gradient multiplies the weights by the output gradient's zero padding, so an infinity or NaN
/// there gives NaN where the exact sum skips the term (the forward already multiplies weights by zero padding, on
/// either path). Finite values are unaffected.
/// </para>
/// </summary>
internal static class DirectConv2d
{
    /// <summary>
    /// Whether shapes that qualify take the direct path on the calling thread (tests turn it off to compare with
    /// im2col). Per thread, because the choice is made on the thread that calls the convolution: a test that turns it
    /// off cannot change the path of convolutions that other threads (other tests, run in parallel) call meanwhile.
    /// </summary>
    internal static bool Enabled
    {
        get => !t_disabled;
        set => t_disabled = !value;
    }

    [ThreadStatic] private static bool t_disabled;

    /// <summary>Sample partitions of the weight gradient: at most this many, each summed on one thread.</summary>
    internal const int WeightGradPartitions = 8;

    /// <summary>The largest channel counts (per group) the direct path takes; beyond them a matrix product is not thin.</summary>
    private const int MaxChannels = 32;

    /// <summary>
    /// Whether the convolution (and its weight gradient) of <paramref name="g"/> runs here: stride 1, few channels, the
    /// default summation order in the element type's own precision.
    /// </summary>
    public static bool AppliesToForward<T>(ConvGeometry g, int n, NumericsPolicy p) =>
        Enabled && g.SH == 1 && g.SW == 1 && g.GroupC <= MaxChannels && g.GroupO <= MaxChannels
        && p.Order == ReductionOrder.Default
        && (p.Accumulation == AccumulationPrecision.Native || typeof(T) == typeof(double))
        && Fits((long)(g.OH + (g.KH - 1) * g.DH) * (g.OW + (g.KW - 1) * g.DW), n, g);

    /// <summary>
    /// Whether the input gradient runs here: as <see cref="AppliesToForward{T}"/>, and padding no wider than the dilated
    /// kernel (the flipped correlation then needs padding, never cropping, of the output gradient).
    /// </summary>
    public static bool AppliesToInputGrad<T>(ConvGeometry g, int n, NumericsPolicy p) =>
        AppliesToForward<T>(g, n, p) && g.PH <= (g.KH - 1) * g.DH && g.PW <= (g.KW - 1) * g.DW
        && Fits((long)(g.H + (g.KH - 1) * g.DH) * (g.W + (g.KW - 1) * g.DW), n, g);

    /// <summary>
    /// Whether the padded copies of the whole batch (and the wide output gradient) stay within 16M elements, like the
    /// im2col path's own bounded blocks; larger batches of large planes take that path.
    /// </summary>
    private static bool Fits(long plane, int n, ConvGeometry g) => plane * n * Math.Max(g.C, g.O) <= 1 << 24;

    private static int V<T>() => Vector512<T>.Count;

    private static int RoundUp(int a, int b) => (a + b - 1) / b * b;

    /// <summary>
    /// Layout of a set of zero-padded planes: Hp × Wp, the data at (top, left), each plane followed by slack so that
    /// vector reads past its last row (for outputs that are dropped) stay inside the buffer.
    /// </summary>
    private readonly record struct Padded(int Hp, int Wp, int Top, int Left, int Stride);

    private static Padded Layout<T>(int outRows, int wp, int kh, int kw, int dh, int dw, int top, int left)
    {
        int v = V<T>();
        int hp = outRows + (kh - 1) * dh;
        int lq = RoundUp(RoundUp(outRows * wp, v) / v, 2) * v; // the q range the kernels compute (whole vector pairs)
        int stride = RoundUp(hp * wp + (lq - outRows * wp) + (kw - 1) * dw + v, v);
        return new Padded(hp, wp, top, left, stride);
    }

    // ---- convolution and input gradient ---------------------------------------------------------------------------

    /// <summary>
    /// y = conv(x, w) for stride 1 (see the class summary): x [n, C, H, W] at xOff, w [O, C/groups, KH, KW]; then, with
    /// <paramref name="bias"/> (O values from <paramref name="biasOff"/>), y + b[o] on each channel's planes, and with
    /// <paramref name="relu"/> max(·, 0), as each plane is copied out of the kernel's buffer (<see cref="Epilogue{T}"/>).
    /// </summary>
    public static void Forward<T>(T[] x, int xOff, T[] w, int wOff, T[] y, int n, ConvGeometry g, T[]? bias = null, int biasOff = 0, bool relu = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var pad = Layout<T>(g.OH, g.OW + (g.KW - 1) * g.DW, g.KH, g.KW, g.DH, g.DW, g.PH, g.PW);
        var src = Scratch<T>.Get(4, (long)n * g.C * pad.Stride);
        PadPlanes(x, xOff, n * g.C, g.H, g.W, pad, src);
        Correlate(src, pad, n, g.C, g.Groups, w, wOff, g.O, g.KH, g.KW, g.DH, g.DW, y, g.OH, g.OW, new Epilogue<T>(bias, biasOff, relu));
    }

    /// <summary>
    /// gx = convᵀ(gy, w) for stride 1: the correlation of gy, padded by (K − 1)·D − P on each side, with the kernel
    /// flipped and transposed to [C, O/groups, KH, KW]. gx is overwritten.
    /// </summary>
    public static void InputGrad<T>(T[] gy, int gyOff, T[] w, int wOff, T[] gx, int n, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int top = (g.KH - 1) * g.DH - g.PH, left = (g.KW - 1) * g.DW - g.PW;
        var pad = Layout<T>(g.H, g.W + (g.KW - 1) * g.DW, g.KH, g.KW, g.DH, g.DW, top, left);
        var src = Scratch<T>.Get(4, (long)n * g.O * pad.Stride);
        PadPlanes(gy, gyOff, n * g.O, g.OH, g.OW, pad, src);
        // wf[c, o, ki, kj] = w[o, c, KH − 1 − ki, KW − 1 − kj] within each group (gc input channels, og output channels).
        int gc = g.GroupC, og = g.GroupO, kk = g.KH * g.KW;
        var wf = Scratch<T>.Get(5, (long)g.O * gc * kk);
        for (int grp = 0; grp < g.Groups; grp++)
            for (int c = 0; c < gc; c++)
                for (int o = 0; o < og; o++)
                    for (int t = 0; t < kk; t++)
                        wf[((grp * gc + c) * og + o) * kk + t] = w[wOff + ((grp * og + o) * gc + c) * kk + kk - 1 - t];
        Correlate(src, pad, n, g.O, g.Groups, wf, 0, g.C, g.KH, g.KW, g.DH, g.DW, gx, g.H, g.W);
    }

    /// <summary>Copies planes [rows, cols] into zero-padded planes of <paramref name="pad"/>'s layout, split over planes.</summary>
    private static void PadPlanes<T>(T[] src, int srcOff, int planes, int rows, int cols, Padded pad, T[] dst) where T : unmanaged, IFloatingPointIeee754<T> =>
        Parallelism.For(planes, pad.Stride, new PadBody<T>(src, srcOff, rows, cols, pad, dst));

    private static void PadRange<T>(T[] src, int srcOff, int rows, int cols, Padded pad, T[] dst, int p0, int p1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Rows and columns that fall outside the padded plane are never read by any output: they are left out.
        int r0 = Math.Max(0, -pad.Top), r1 = Math.Min(rows, pad.Hp - pad.Top);
        int c0 = Math.Max(0, -pad.Left), c1 = Math.Min(cols, pad.Wp - pad.Left);
        for (int p = p0; p < p1; p++)
        {
            dst.AsSpan(p * pad.Stride, pad.Stride).Clear();
            if (c1 <= c0 || r1 <= r0) continue;
            CopyRows(src, srcOff + (p * rows + r0) * cols + c0, cols, dst, p * pad.Stride + (r0 + pad.Top) * pad.Wp + pad.Left + c0, pad.Wp,
                r1 - r0, c1 - c0, (p + 1) * pad.Stride);
        }
    }

    /// <summary>
    /// out[s, o, r, col] = Σ over (channel c of o's group, ki, kj) of wt[o, c, ki, kj] · src[s, c, r + ki·DH, col + kj·DW],
    /// one chain in that order, for outRows × outCols outputs per plane. Split over (sample, group, unit of four or two output channels).
    /// </summary>
    private static void Correlate<T>(T[] src, Padded pad, int n, int cin, int groups, T[] wt, int wOff, int cout, int kh, int kw,
        int dh, int dw, T[] dst, int outRows, int outCols, Epilogue<T> epilogue = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int units = Units(cout / groups);
        long cost = (long)(cin / groups) * kh * kw * 2 * outRows * pad.Wp;
        Parallelism.For(n * groups * units, cost, new CorrelateBody<T>(src, pad, cin, groups, wt, wOff, cout, kh, kw, dh, dw, dst, outRows, outCols, units, epilogue));
    }

    /// <summary>
    /// What the copy out of the kernel's buffer does to each value of output channel o: adds <c>Bias[BiasOff + o]</c>
    /// when there is a bias, then takes max(·, 0) when <c>Relu</c> (the IEEE maximum <see cref="Ops.Relu"/> takes).
    /// One add and one maximum per element, as the separate bias pass and ReLU would do, so the same bits, without
    /// their two passes over the output (a 64-sample LeNet-5's first layer writes 1.2 MB) and their two tensors.
    /// </summary>
    internal readonly record struct Epilogue<T>(T[]? Bias, int BiasOff, bool Relu) where T : unmanaged
    {
        /// <summary>Whether the copy changes any value.</summary>
        public bool Any => Bias is not null || Relu;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CorrelateRange<T>(T[] src, Padded pad, int cin, int groups, T[] wt, int wOff, int cout, int kh, int kw,
        int dh, int dw, T[] dst, int outRows, int outCols, int units, Epilogue<T> epilogue, int i0, int i1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = V<T>(), wp = pad.Wp, cg = cin / groups, og = cout / groups, kk = kh * kw;
        int nvec = RoundUp(outRows * wp, v) / v, lq = RoundUp(nvec, 2) * v;
        var wide = Scratch<T>.Get(6, 4L * lq);
        ref T wide0 = ref MemoryMarshal.GetArrayDataReference(wide);
        ref T wt0 = ref MemoryMarshal.GetArrayDataReference(wt);
        int quads = og / 4, plane = outRows * outCols;
        for (int item = i0; item < i1; item++)
        {
            int s = item / (groups * units), grp = item / units % groups, u = item % units;
            int o0 = u < quads ? 4 * u : 4 * quads + 2 * (u - quads);
            int count = u < quads ? 4 : Math.Min(2, og - o0);
            ref T x = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(src), (nint)(s * cin + grp * cg) * pad.Stride);
            // Channel i of the unit; an odd last channel is computed twice and stored once.
            ref T w0 = ref Unsafe.Add(ref wt0, wOff + (grp * og + o0) * cg * kk);
            ref T w1 = ref Unsafe.Add(ref wt0, wOff + (grp * og + o0 + Math.Min(1, count - 1)) * cg * kk);
            ref T w2 = ref Unsafe.Add(ref wt0, wOff + (grp * og + o0 + Math.Min(2, count - 1)) * cg * kk);
            ref T w3 = ref Unsafe.Add(ref wt0, wOff + (grp * og + o0 + Math.Min(3, count - 1)) * cg * kk);
            ref T out0 = ref wide0;
            ref T out1 = ref Unsafe.Add(ref wide0, lq);
            ref T out2 = ref Unsafe.Add(ref wide0, 2 * lq);
            ref T out3 = ref Unsafe.Add(ref wide0, 3 * lq);
            int q = 0;
            if (count == 4)
                for (; q + 4 * v <= lq; q += 4 * v)
                    Block4x4(ref Unsafe.Add(ref x, q), pad.Stride, wp, cg, kh, kw, dh, dw, ref w0, ref w1, ref w2, ref w3,
                        ref Unsafe.Add(ref out0, q), ref Unsafe.Add(ref out1, q), ref Unsafe.Add(ref out2, q), ref Unsafe.Add(ref out3, q));
            else
                for (; q + 6 * v <= lq; q += 6 * v)
                    Block6(ref Unsafe.Add(ref x, q), pad.Stride, wp, cg, kh, kw, dh, dw, ref w0, ref w1, ref Unsafe.Add(ref out0, q), ref Unsafe.Add(ref out1, q));
            for (; q < lq; q += 2 * v)
            {
                // An odd last vector of the wide plane runs alone: the vector after it (the pair's padding) holds no
                // output (LeNet-5's second layer: 10 rows of 14 are 9 vectors, a tenth of the work).
                if (q + v >= nvec * v)
                {
                    Block1(ref Unsafe.Add(ref x, q), pad.Stride, wp, cg, kh, kw, dh, dw, ref w0, ref w1, ref w2, ref w3,
                        ref Unsafe.Add(ref out0, q), ref Unsafe.Add(ref out1, q), ref Unsafe.Add(ref out2, q), ref Unsafe.Add(ref out3, q));
                    break;
                }
                Block2(ref Unsafe.Add(ref x, q), pad.Stride, wp, cg, kh, kw, dh, dw, ref w0, ref w1, ref Unsafe.Add(ref out0, q), ref Unsafe.Add(ref out1, q));
                if (count == 4)
                    Block2(ref Unsafe.Add(ref x, q), pad.Stride, wp, cg, kh, kw, dh, dw, ref w2, ref w3, ref Unsafe.Add(ref out2, q), ref Unsafe.Add(ref out3, q));
            }
            int at0 = ((s * groups + grp) * og + o0) * plane;
            for (int i = 0; i < count; i++)
            {
                if (epilogue.Any)
                {
                    T b = epilogue.Bias is { } bias ? bias[epilogue.BiasOff + grp * og + o0 + i] : T.Zero;
                    CopyRows(wide, i * lq, wp, dst, at0 + i * plane, outCols, outRows, outCols, at0 + (i + 1) * plane, epilogue.Bias is not null, b, epilogue.Relu);
                }
                else CopyRows(wide, i * lq, wp, dst, at0 + i * plane, outCols, outRows, outCols, at0 + (i + 1) * plane);
            }
        }
    }

    /// <summary>Work units of one group's output channels: quads, then units (the last one perhaps a single channel).</summary>
    private static int Units(int og) => og / 4 + (og % 4 + 1) / 2;

    /// <summary>Four vectors of positions for four output channels: 16 chains, each over (c, ki, kj) in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4x4<T>(ref T x, int stride, int wp, int cg, int kh, int kw, int dh, int dw, ref T w0, ref T w1, ref T w2, ref T w3,
        ref T out0, ref T out1, ref T out2, ref T out3) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count;
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
        int t = 0;
        for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < kh; ki++)
            {
                ref T row = ref Unsafe.Add(ref x, c * stride + ki * dh * wp);
                for (int kj = 0; kj < kw; kj++, t++)
                {
                    ref T p = ref Unsafe.Add(ref row, kj * dw);
                    var x0 = Load(ref p, 0);
                    var x1 = Load(ref p, v);
                    var x2 = Load(ref p, 2 * v);
                    var x3 = Load(ref p, 3 * v);
                    var e = Vector512.Create(Unsafe.Add(ref w0, t));
                    a0 = Fma(e, x0, a0); a1 = Fma(e, x1, a1); a2 = Fma(e, x2, a2); a3 = Fma(e, x3, a3);
                    e = Vector512.Create(Unsafe.Add(ref w1, t));
                    b0 = Fma(e, x0, b0); b1 = Fma(e, x1, b1); b2 = Fma(e, x2, b2); b3 = Fma(e, x3, b3);
                    e = Vector512.Create(Unsafe.Add(ref w2, t));
                    c0 = Fma(e, x0, c0); c1 = Fma(e, x1, c1); c2 = Fma(e, x2, c2); c3 = Fma(e, x3, c3);
                    e = Vector512.Create(Unsafe.Add(ref w3, t));
                    d0 = Fma(e, x0, d0); d1 = Fma(e, x1, d1); d2 = Fma(e, x2, d2); d3 = Fma(e, x3, d3);
                }
            }
        a0.StoreUnsafe(ref out0, 0); a1.StoreUnsafe(ref out0, (nuint)v); a2.StoreUnsafe(ref out0, (nuint)(2 * v)); a3.StoreUnsafe(ref out0, (nuint)(3 * v));
        b0.StoreUnsafe(ref out1, 0); b1.StoreUnsafe(ref out1, (nuint)v); b2.StoreUnsafe(ref out1, (nuint)(2 * v)); b3.StoreUnsafe(ref out1, (nuint)(3 * v));
        c0.StoreUnsafe(ref out2, 0); c1.StoreUnsafe(ref out2, (nuint)v); c2.StoreUnsafe(ref out2, (nuint)(2 * v)); c3.StoreUnsafe(ref out2, (nuint)(3 * v));
        d0.StoreUnsafe(ref out3, 0); d1.StoreUnsafe(ref out3, (nuint)v); d2.StoreUnsafe(ref out3, (nuint)(2 * v)); d3.StoreUnsafe(ref out3, (nuint)(3 * v));
    }

    private static Vector512<T> Fma<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    private static Vector512<T> Load<T>(ref T at, int offset) => Vector512.LoadUnsafe(ref at, (nuint)offset);

    /// <summary>Six vectors of positions for two output channels: 12 chains, each over (c, ki, kj) in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block6<T>(ref T x, int stride, int wp, int cg, int kh, int kw, int dh, int dw, ref T w0, ref T w1, ref T out0, ref T out1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count;
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
        int t = 0;
        for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < kh; ki++)
            {
                ref T row = ref Unsafe.Add(ref x, c * stride + ki * dh * wp);
                for (int kj = 0; kj < kw; kj++, t++)
                {
                    ref T p = ref Unsafe.Add(ref row, kj * dw);
                    var u = Vector512.Create(Unsafe.Add(ref w0, t));
                    var z = Vector512.Create(Unsafe.Add(ref w1, t));
                    var x0 = Load(ref p, 0);
                    a0 = Fma(u, x0, a0); b0 = Fma(z, x0, b0);
                    var x1 = Load(ref p, v);
                    a1 = Fma(u, x1, a1); b1 = Fma(z, x1, b1);
                    var x2 = Load(ref p, 2 * v);
                    a2 = Fma(u, x2, a2); b2 = Fma(z, x2, b2);
                    var x3 = Load(ref p, 3 * v);
                    a3 = Fma(u, x3, a3); b3 = Fma(z, x3, b3);
                    var x4 = Load(ref p, 4 * v);
                    a4 = Fma(u, x4, a4); b4 = Fma(z, x4, b4);
                    var x5 = Load(ref p, 5 * v);
                    a5 = Fma(u, x5, a5); b5 = Fma(z, x5, b5);
                }
            }
        a0.StoreUnsafe(ref out0, 0); a1.StoreUnsafe(ref out0, (nuint)v); a2.StoreUnsafe(ref out0, (nuint)(2 * v));
        a3.StoreUnsafe(ref out0, (nuint)(3 * v)); a4.StoreUnsafe(ref out0, (nuint)(4 * v)); a5.StoreUnsafe(ref out0, (nuint)(5 * v));
        b0.StoreUnsafe(ref out1, 0); b1.StoreUnsafe(ref out1, (nuint)v); b2.StoreUnsafe(ref out1, (nuint)(2 * v));
        b3.StoreUnsafe(ref out1, (nuint)(3 * v)); b4.StoreUnsafe(ref out1, (nuint)(4 * v)); b5.StoreUnsafe(ref out1, (nuint)(5 * v));
    }

    /// <summary>The tail of <see cref="Block6{T}"/>: two vectors of positions, the same chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block2<T>(ref T x, int stride, int wp, int cg, int kh, int kw, int dh, int dw, ref T w0, ref T w1, ref T out0, ref T out1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count;
        Vector512<T> a0 = default, a1 = default, b0 = default, b1 = default;
        int t = 0;
        for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < kh; ki++)
            {
                ref T row = ref Unsafe.Add(ref x, c * stride + ki * dh * wp);
                for (int kj = 0; kj < kw; kj++, t++)
                {
                    ref T p = ref Unsafe.Add(ref row, kj * dw);
                    var u = Vector512.Create(Unsafe.Add(ref w0, t));
                    var z = Vector512.Create(Unsafe.Add(ref w1, t));
                    var x0 = Load(ref p, 0);
                    var x1 = Load(ref p, v);
                    a0 = Fma(u, x0, a0); b0 = Fma(z, x0, b0);
                    a1 = Fma(u, x1, a1); b1 = Fma(z, x1, b1);
                }
            }
        a0.StoreUnsafe(ref out0, 0); a1.StoreUnsafe(ref out0, (nuint)v);
        b0.StoreUnsafe(ref out1, 0); b1.StoreUnsafe(ref out1, (nuint)v);
    }

    /// <summary>
    /// One vector of positions for four output channels (a unit of two repeats its channels: w2, w3 = w0, w1): four
    /// chains, each over (c, ki, kj) in order, as in the wider blocks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block1<T>(ref T x, int stride, int wp, int cg, int kh, int kw, int dh, int dw, ref T w0, ref T w1, ref T w2, ref T w3,
        ref T out0, ref T out1, ref T out2, ref T out3) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
        int t = 0;
        for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < kh; ki++)
            {
                ref T row = ref Unsafe.Add(ref x, c * stride + ki * dh * wp);
                for (int kj = 0; kj < kw; kj++, t++)
                {
                    var x0 = Load(ref Unsafe.Add(ref row, kj * dw), 0);
                    a0 = Fma(Vector512.Create(Unsafe.Add(ref w0, t)), x0, a0);
                    a1 = Fma(Vector512.Create(Unsafe.Add(ref w1, t)), x0, a1);
                    a2 = Fma(Vector512.Create(Unsafe.Add(ref w2, t)), x0, a2);
                    a3 = Fma(Vector512.Create(Unsafe.Add(ref w3, t)), x0, a3);
                }
            }
        a0.StoreUnsafe(ref out0, 0);
        a1.StoreUnsafe(ref out1, 0);
        a2.StoreUnsafe(ref out2, 0);
        a3.StoreUnsafe(ref out3, 0);
    }

    // ---- weight gradient --------------------------------------------------------------------------------------------

    /// <summary>The number of sample partitions of the weight gradient for a batch of <paramref name="n"/>.</summary>
    public static int Partitions(int n) => Math.Clamp(n, 1, WeightGradPartitions);

    /// <summary>gw = Σₙ gy ⋆ x for stride 1 (order in the class summary). gw [O, C/groups, KH, KW] is overwritten.</summary>
    public static void WeightGrad<T>(T[] x, int xOff, T[] gy, int gyOff, T[] gw, int n, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = V<T>();
        int wp = g.OW + (g.KW - 1) * g.DW, lv = RoundUp(g.OH * wp, v);
        var pad = Layout<T>(g.OH, wp, g.KH, g.KW, g.DH, g.DW, g.PH, g.PW);
        var xs = Scratch<T>.Get(4, (long)n * g.C * pad.Stride);
        PadPlanes(x, xOff, n * g.C, g.H, g.W, pad, xs);
        // The output gradient on the wide grid: zero in the dropped columns and past the last row.
        var wideGy = Scratch<T>.Get(5, (long)n * g.O * lv);
        Parallelism.For(n * g.O, lv, new WidenBody<T>(gy, gyOff, g.OH, g.OW, wp, lv, wideGy));
        int parts = Partitions(n), kk = g.KH * g.KW, weights = g.O * g.GroupC * kk;
        var partial = Scratch<T>.Get(6, (long)parts * weights * v);
        long cost = (long)weights * lv * n / parts;
        Parallelism.For(parts, cost, new WeightGradBody<T>(xs, pad, wideGy, lv, n, parts, g, partial));
        // Partitions lane-wise in order, then the lanes by the fixed tree of ReductionOrder.Default.
        Span<T> lanes = stackalloc T[v];
        for (int i = 0; i < weights; i++)
        {
            var s = Vector512.LoadUnsafe(ref partial[i * v]);
            for (int p = 1; p < parts; p++) s += Vector512.LoadUnsafe(ref partial[(p * weights + i) * v]);
            s.CopyTo(lanes);
            for (int half = v / 2; half >= 1; half /= 2)
                for (int j = 0; j < half; j++) lanes[j] += lanes[j + half];
            gw[i] = lanes[0];
        }
    }

    private static void WidenRange<T>(T[] gy, int gyOff, int oh, int ow, int wp, int lv, T[] wide, int p0, int p1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int p = p0; p < p1; p++)
        {
            wide.AsSpan(p * lv, lv).Clear();
            CopyRows(gy, gyOff + p * oh * ow, ow, wide, p * lv, wp, oh, ow, (p + 1) * lv);
        }
    }

    /// <summary>One partition's lane sums: partial[part, o, c, ki, kj, lane].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightGradPartition<T>(T[] xs, Padded pad, T[] wideGy, int lv, int n, int parts, ConvGeometry g, T[] partial, int part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = V<T>(), s0 = (int)((long)n * part / parts), s1 = (int)((long)n * (part + 1) / parts);
        int gc = g.GroupC, og = g.GroupO, kk = g.KH * g.KW, weights = g.O * gc * kk, wp = pad.Wp;
        ref T x0 = ref MemoryMarshal.GetArrayDataReference(xs);
        ref T y0 = ref MemoryMarshal.GetArrayDataReference(wideGy);
        ref T dst0 = ref MemoryMarshal.GetArrayDataReference(partial);
        Span<int> offsets = stackalloc int[5];
        for (int grp = 0; grp < g.Groups; grp++)
            for (int o0 = 0; o0 < og; o0 += o0 + 4 <= og ? 4 : 2)
            {
                if (o0 + 4 <= og)
                {
                    for (int c = 0; c < gc; c++)
                        for (int t0 = 0; t0 < kk; t0 += 5)
                            FourChannels(ref x0, ref y0, ref dst0, pad, lv, s0, s1, g, grp, grp * og + o0, c, t0, part * weights);
                    continue;
                }
                int o1 = Math.Min(o0 + 1, og - 1);
                int oa = grp * og + o0, ob = grp * og + o1;
                for (int c = 0; c < gc; c++)
                    for (int t0 = 0; t0 < kk; t0 += 5)
                    {
                        // Five taps (the last repeated where fewer remain), two output channels: ten lane chains.
                        for (int i = 0; i < 5; i++)
                        {
                            int t = Math.Min(t0 + i, kk - 1);
                            offsets[i] = t / g.KW * g.DH * wp + t % g.KW * g.DW;
                        }
                        int f0 = offsets[0], f1 = offsets[1], f2 = offsets[2], f3 = offsets[3], f4 = offsets[4];
                        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
                        Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default;
                        for (int s = s0; s < s1; s++)
                        {
                            ref T xr = ref Unsafe.Add(ref x0, (nint)(s * g.C + grp * gc + c) * pad.Stride);
                            ref T ya = ref Unsafe.Add(ref y0, (nint)(s * g.O + oa) * lv);
                            ref T yb = ref Unsafe.Add(ref y0, (nint)(s * g.O + ob) * lv);
                            for (int q = 0; q < lv; q += v)
                            {
                                var u = Load(ref ya, q);
                                var z = Load(ref yb, q);
                                ref T xq = ref Unsafe.Add(ref xr, q);
                                var e0 = Load(ref xq, f0); a0 = Fma(u, e0, a0); b0 = Fma(z, e0, b0);
                                var e1 = Load(ref xq, f1); a1 = Fma(u, e1, a1); b1 = Fma(z, e1, b1);
                                var e2 = Load(ref xq, f2); a2 = Fma(u, e2, a2); b2 = Fma(z, e2, b2);
                                var e3 = Load(ref xq, f3); a3 = Fma(u, e3, a3); b3 = Fma(z, e3, b3);
                                var e4 = Load(ref xq, f4); a4 = Fma(u, e4, a4); b4 = Fma(z, e4, b4);
                            }
                        }
                        int ra = part * weights + (oa * gc + c) * kk + t0, rb = part * weights + (ob * gc + c) * kk + t0;
                        int taps = Math.Min(5, kk - t0);
                        Store(ref dst0, ra, v, taps, a0, a1, a2, a3, a4);
                        if (ob != oa) Store(ref dst0, rb, v, taps, b0, b1, b2, b3, b4);
                    }
            }
    }

    /// <summary>
    /// Five taps from <paramref name="t0"/> (the last repeated where fewer remain) of input channel <paramref name="c"/>
    /// for output channels oa..oa+3: twenty lane chains over the partition's samples, as in <see cref="WeightGradPartition{T}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourChannels<T>(ref T x0, ref T y0, ref T dst0, Padded pad, int lv, int s0, int s1, ConvGeometry g, int grp, int oa, int c, int t0, int partAt)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = V<T>(), gc = g.GroupC, kk = g.KH * g.KW, wp = pad.Wp;
        int f0 = TapOffset(g, wp, Math.Min(t0, kk - 1)), f1 = TapOffset(g, wp, Math.Min(t0 + 1, kk - 1)), f2 = TapOffset(g, wp, Math.Min(t0 + 2, kk - 1));
        int f3 = TapOffset(g, wp, Math.Min(t0 + 3, kk - 1)), f4 = TapOffset(g, wp, Math.Min(t0 + 4, kk - 1));
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
        Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default;
        Vector512<T> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default;
        for (int s = s0; s < s1; s++)
        {
            ref T xr = ref Unsafe.Add(ref x0, (nint)(s * g.C + grp * gc + c) * pad.Stride);
            ref T ya = ref Unsafe.Add(ref y0, (nint)(s * g.O + oa) * lv);
            for (int q = 0; q < lv; q += v)
            {
                var u = Load(ref ya, q);
                var z = Load(ref ya, lv + q);
                var w = Load(ref ya, 2 * lv + q);
                var r = Load(ref ya, 3 * lv + q);
                ref T xq = ref Unsafe.Add(ref xr, q);
                var e = Load(ref xq, f0); a0 = Fma(u, e, a0); b0 = Fma(z, e, b0); c0 = Fma(w, e, c0); d0 = Fma(r, e, d0);
                e = Load(ref xq, f1); a1 = Fma(u, e, a1); b1 = Fma(z, e, b1); c1 = Fma(w, e, c1); d1 = Fma(r, e, d1);
                e = Load(ref xq, f2); a2 = Fma(u, e, a2); b2 = Fma(z, e, b2); c2 = Fma(w, e, c2); d2 = Fma(r, e, d2);
                e = Load(ref xq, f3); a3 = Fma(u, e, a3); b3 = Fma(z, e, b3); c3 = Fma(w, e, c3); d3 = Fma(r, e, d3);
                e = Load(ref xq, f4); a4 = Fma(u, e, a4); b4 = Fma(z, e, b4); c4 = Fma(w, e, c4); d4 = Fma(r, e, d4);
            }
        }
        int taps = Math.Min(5, kk - t0), row = partAt + (oa * gc + c) * kk + t0;
        Store(ref dst0, row, v, taps, a0, a1, a2, a3, a4);
        Store(ref dst0, row + gc * kk, v, taps, b0, b1, b2, b3, b4);
        Store(ref dst0, row + 2 * gc * kk, v, taps, c0, c1, c2, c3, c4);
        Store(ref dst0, row + 3 * gc * kk, v, taps, d0, d1, d2, d3, d4);
    }

    private static int TapOffset(ConvGeometry g, int wp, int t) => t / g.KW * g.DH * wp + t % g.KW * g.DW;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // a call would make every accumulator spill inside the loop
    private static void Store<T>(ref T dst, int row, int v, int taps, Vector512<T> e0, Vector512<T> e1, Vector512<T> e2, Vector512<T> e3, Vector512<T> e4)
    {
        ref T at = ref Unsafe.Add(ref dst, (nint)row * v);
        e0.StoreUnsafe(ref at, 0);
        if (taps > 1) e1.StoreUnsafe(ref at, (nuint)v);
        if (taps > 2) e2.StoreUnsafe(ref at, (nuint)(2 * v));
        if (taps > 3) e3.StoreUnsafe(ref at, (nuint)(3 * v));
        if (taps > 4) e4.StoreUnsafe(ref at, (nuint)(4 * v));
    }

    /// <summary>
    /// <see cref="CopyRows{T}(T[], int, int, T[], int, int, int, int, int)"/> with each value v written as v + b (when
    /// <paramref name="add"/>), then max(·, 0) (when <paramref name="relu"/>): a convolution's <see cref="Epilogue{T}"/>
    /// for one output plane.
    /// </summary>
    private static void CopyRows<T>(T[] src, int srcAt, int srcStride, T[] dst, int dstAt, int dstStride, int rows, int cols, int dstLimit,
        bool add, T b, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count, full = cols / v * v, tail = cols - full;
        var keep = Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(tail)));
        var vb = Vector512.Create(b);
        ref T s0 = ref MemoryMarshal.GetArrayDataReference(src);
        ref T d0 = ref MemoryMarshal.GetArrayDataReference(dst);
        for (int r = 0; r < rows; r++)
        {
            int sa = srcAt + r * srcStride, da = dstAt + r * dstStride;
            for (int c = 0; c < full; c += v) Finish(Load(ref s0, sa + c), add, vb, relu).StoreUnsafe(ref d0, (nuint)(da + c));
            if (tail == 0) continue;
            if (sa + full + v <= src.Length && da + full + v <= dstLimit)
                Vector512.ConditionalSelect(keep, Finish(Load(ref s0, sa + full), add, vb, relu), Vector512<T>.Zero).StoreUnsafe(ref d0, (nuint)(da + full));
            else
                for (int c = full; c < cols; c++)
                {
                    T y = add ? src[sa + c] + b : src[sa + c];
                    dst[da + c] = relu ? T.Max(y, T.Zero) : y;
                }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Finish<T>(Vector512<T> x, bool add, Vector512<T> b, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (add) x += b;
        return relu ? Vector512.Max(x, Vector512<T>.Zero) : x;
    }

    /// <summary>
    /// Copies <paramref name="rows"/> rows of <paramref name="cols"/> elements, row by row in increasing order, by whole
    /// vectors: a row's last vector also writes zeros past the row's end, into what later rows overwrite or into
    /// padding that is zero anyway, but never at or past <paramref name="dstLimit"/> (the end of what this call owns),
    /// and never reads past the source array; where a vector would, that tail is copied element by element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRows<T>(T[] src, int srcAt, int srcStride, T[] dst, int dstAt, int dstStride, int rows, int cols, int dstLimit)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count, full = cols / v * v, tail = cols - full;
        var keep = Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(tail)));
        ref T s0 = ref MemoryMarshal.GetArrayDataReference(src);
        ref T d0 = ref MemoryMarshal.GetArrayDataReference(dst);
        for (int r = 0; r < rows; r++)
        {
            int sa = srcAt + r * srcStride, da = dstAt + r * dstStride;
            for (int c = 0; c < full; c += v) Load(ref s0, sa + c).StoreUnsafe(ref d0, (nuint)(da + c));
            if (tail == 0) continue;
            if (sa + full + v <= src.Length && da + full + v <= dstLimit)
                Vector512.ConditionalSelect(keep, Load(ref s0, sa + full), Vector512<T>.Zero).StoreUnsafe(ref d0, (nuint)(da + full));
            else
                for (int c = full; c < cols; c++) dst[da + c] = src[sa + c];
        }
    }

    // Loop bodies as structs: a parallel loop over them allocates no closure.
    private readonly struct PadBody<T>(T[] src, int srcOff, int rows, int cols, Padded pad, T[] dst) : Parallelism.IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) => PadRange(src, srcOff, rows, cols, pad, dst, start, end);
    }

    private readonly struct WidenBody<T>(T[] gy, int gyOff, int oh, int ow, int wp, int lv, T[] wide) : Parallelism.IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) => WidenRange(gy, gyOff, oh, ow, wp, lv, wide, start, end);
    }

    private readonly struct CorrelateBody<T>(T[] src, Padded pad, int cin, int groups, T[] wt, int wOff, int cout, int kh, int kw,
        int dh, int dw, T[] dst, int outRows, int outCols, int units, Epilogue<T> epilogue) : Parallelism.IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) =>
            CorrelateRange(src, pad, cin, groups, wt, wOff, cout, kh, kw, dh, dw, dst, outRows, outCols, units, epilogue, start, end);
    }

    private readonly struct WeightGradBody<T>(T[] xs, Padded pad, T[] wideGy, int lv, int n, int parts, ConvGeometry g, T[] partial)
        : Parallelism.IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int p = start; p < end; p++) WeightGradPartition(xs, pad, wideGy, lv, n, parts, g, partial, p);
        }
    }
}
