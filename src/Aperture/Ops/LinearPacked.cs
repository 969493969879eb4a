using System.Runtime.Intrinsics;

namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// The batched inference form of <see cref="Linear"/> for the products the thin kernels take
    /// (<see cref="ThinGemm.TakesPackedB"/>: the batch or k short, the weight's panels within L2), over a layer's cached
    /// copy of W packed into those kernels' panels (<see cref="ThinPackedWeight"/>, built on the second no-grad call at
    /// one version of the weight): the input's rows are read where they lie, so nothing is packed or transposed per
    /// call, where <see cref="Linear"/> transposes the input (or the weight) every time. Same conditions otherwise as
    /// <see cref="TryLinearPacked"/>; returns false, leaving the work to the next path, when they do not hold. Each
    /// output is the same k-ordered chain, so the bits of <see cref="Linear"/>.
    /// </summary>
    /// <remarks>
    /// The 784-256-256-10 MLP's two wide layers at batch 128 reached 98–99% of the FMA peak at one thread and 97–98%
    /// at two with their weights' panels read in place, against 94–95% and 88–91% for the same products with the
    /// transposition each call (harness, medians of 21 windows of 200 products; a row-major Wᵀ read in place as the
    /// stand-in for the panels). The batch-128 pass of the MLP (inference, alternating processes against the code
    /// before this path, three runs): 629.8–632.1 → 604.6–606.3 µs at one thread, 339.4–365.3 → 312.1–339.8 at two.
    /// </remarks>
    internal static unsafe bool TryLinearThinPacked(Tensor x, Tensor weight, Tensor? bias, ref WeightCacheSlot<ThinPackedWeight> cache, out Tensor? y, bool relu = false)
    {
        y = null;
        if (x.DType != DType.Float32 || weight.DType != DType.Float32 || weight.Rank != 2) return false;
        int n = weight.Shape[0], k = weight.Shape[1];
        if (x.Rank < 2 || x.Shape[^1] != k || n == 0 || k == 0 || !x.IsContiguous || !weight.IsContiguous) return false;
        int m = x.Numel / k;
        if (!ThinGemm.TakesPackedB(m, n, k)) return false;
        if (bias is not null && (bias.DType != DType.Float32 || bias.Rank != 1 || bias.Shape[0] != n || !bias.IsContiguous)) return false;
        if (bias is null ? Graph.NeedsNode(x, weight) : Graph.NeedsNode(x, weight) || Graph.NeedsNode(bias)) return false;
        var p = NumericsPolicy.Current;
        if (p.Order != ReductionOrder.Default || p.Accumulation != AccumulationPrecision.Native) return false;
        if (cache.Current(weight) is not { } c) return false;
        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = n;
        var output = Tensor.Empty(shape, DType.Float32);
        var (packed, start) = c.Packed();
        fixed (float* xs = x.Buffer<float>(), ps = packed, ys = output.Buffer<float>())
        {
            var g = new GemmProblem<float>(xs + x._offset, k, 1, null, 1, k, ys + output._offset, n, 1, m, n, k);
            ThinGemm.RunPackedB(g, ps + start);
        }
        var yb = output.Buffer<float>();
        // The bias and the ReLU in one pass: the same adds and the same maximum as the bias pass followed by Relu.
        if (bias is not null) BiasPass(yb, output._offset, m, n, bias.Buffer<float>(), bias._offset, relu);
        else if (relu) UnarySplit.Apply(UnaryOps.Relu, output, output, m * n);
        y = Graph.Record(null, output);
        return true;
    }

    /// <summary>
    /// The batched inference form of <see cref="Linear"/> over a layer's cached packed weight: when nothing needs a
    /// graph node, the input is float32 with several rows, the policy is the default fused order, the AVX-512 path is
    /// active and the product would run packed on the calling thread, y = x·Wᵀ + b with Wᵀ taken from
    /// <paramref name="cache"/>'s copy of W already packed into the GEMM's panels (built on the second such call at one
    /// version of the weight, so a loop that changes the weight between every two calls never pays for the copy).
    /// Returns false, leaving the work to <see cref="Linear"/>, otherwise. Same kernel calls, chains and bits as
    /// <see cref="Linear"/>, less the packing of the weight. A product the thin kernels take goes to
    /// <see cref="TryLinearThinPacked"/> first.
    /// </summary>
    internal static unsafe bool TryLinearPacked(Tensor x, Tensor weight, Tensor? bias, ref WeightCacheSlot<PackedWeight> cache, out Tensor? y, bool relu = false)
    {
        y = null;
        if (x.DType != DType.Float32 || weight.DType != DType.Float32 || weight.Rank != 2 || !PackedWeight.Supported) return false;
        int n = weight.Shape[0], k = weight.Shape[1];
        if (x.Rank < 2 || x.Shape[^1] != k || n == 0 || k == 0 || !x.IsContiguous || !weight.IsContiguous) return false;
        int m = x.Numel / k;
        if (m < 2) return false;
        if (bias is not null && (bias.DType != DType.Float32 || bias.Rank != 1 || bias.Shape[0] != n || !bias.IsContiguous)) return false;
        if (bias is null ? Graph.NeedsNode(x, weight) : Graph.NeedsNode(x, weight) || Graph.NeedsNode(bias)) return false;
        var p = NumericsPolicy.Current;
        if (p.Order != ReductionOrder.Default || p.Accumulation != AccumulationPrecision.Native) return false;
        // The problem as Linear hands it to the GEMM (B = Wᵀ, a column-major view of W); the pointers come later.
        var shapeOnly = new GemmProblem<float>(null, k, 1, null, 1, k, null, n, 1, m, n, k);
        if (!PackedWeight.Packs(shapeOnly)) return false;
        if (cache.Current(weight) is not { } c) return false;
        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = n;
        var output = Tensor.Empty(shape, DType.Float32);
        var (packed, start) = c.Packed();
        fixed (float* xs = x.Buffer<float>(), ps = packed, ys = output.Buffer<float>())
        {
            var g = new GemmProblem<float>(xs + x._offset, k, 1, null, 1, k, ys + output._offset, n, 1, m, n, k);
            PackedWeight.Tile.RunPackedB(g, ps + start);
        }
        var yb = output.Buffer<float>();
        // The bias and the ReLU in one pass: the same adds and the same maximum as the bias pass followed by Relu.
        if (bias is not null) BiasPass(yb, output._offset, m, n, bias.Buffer<float>(), bias._offset, relu);
        else if (relu) UnarySplit.Apply(UnaryOps.Relu, output, output, m * n);
        y = Graph.Record(null, output);
        return true;
    }
}

/// <summary>
/// A float32 weight W [n, k] packed as the GEMM packs B = Wᵀ (kc×NR panels, k-block after k-block), at one version
/// of the weight, so a batched no-grad product of a layer with an unchanged weight skips packing it: a layer keeps
/// one, and it is used only while it provably holds the weight's values (the rules of <see cref="TransposedWeight"/>)
/// and the GEMM's k-block depth is the one it was packed at.
/// </summary>
internal sealed class PackedWeight : IWeightCopy<PackedWeight>
{
    /// <summary>The GEMM the copy is packed for (the AVX-512 float32 kernel).</summary>
    internal static class Tile
    {
        public static unsafe void RunPackedB(in GemmProblem<float> g, float* packed) =>
            Gemm<float, MidTile<F32x16, Vector512<float>, float>>.RunPackedB(g, packed);
    }

    /// <summary>Whether packed copies can be used on the active code path.</summary>
    public static bool Supported => KernelPaths.Active == KernelPath.Avx512;

    /// <summary>Whether the GEMM would pack this product's B as given and run it on the calling thread.</summary>
    public static bool Packs(in GemmProblem<float> g) =>
        GemmDriver<float, F32x16, Vector512<float>, MidTile<F32x16, Vector512<float>, float>>.PacksAsGiven(g)
        && Gemm<float, MidTile<F32x16, Vector512<float>, float>>.RunsOnOneThread(g);

    private readonly Tensor _source;
    private readonly WeightVersion _key;
    private readonly Array _data;
    private readonly int _offset, _n, _k, _depth;
    private Copy? _copy;

    private sealed record Copy(float[] Data, int Start);

    /// <summary>The key of <paramref name="weight"/> as it is now (a contiguous float32 [n, k]); the copy is made on first use.</summary>
    public static PackedWeight Of(Tensor weight) => new(weight);

    private PackedWeight(Tensor weight)
    {
        _source = weight;
        _data = weight._data;
        _offset = weight._offset;
        _n = weight.Shape[0];
        _k = weight.Shape[1];
        _key = WeightVersion.Of(weight);
        _depth = Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedDepth(_k);
    }

    /// <summary>Whether this copy holds <paramref name="weight"/>'s current values, packed at the GEMM's current depth.</summary>
    public bool Matches(Tensor weight) =>
        ReferenceEquals(weight, _source) && _key.IsCurrent(weight)
        && weight.Rank == 2 && weight.Shape[0] == _n && weight.Shape[1] == _k && weight.IsContiguous
        && Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedDepth(_k) == _depth;

    /// <summary>The packed copy (built now if not yet), starting at <c>Data[Start]</c>, 64-byte aligned.</summary>
    public unsafe (float[] Data, int Start) Packed()
    {
        if (Volatile.Read(ref _copy) is { } ready) return (ready.Data, ready.Start);
        nint length = Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedBLength(_k, _n);
        // Pinned, so the aligned start found now stays aligned; the slack covers the packing's overrun.
        var data = GC.AllocateUninitializedArray<float>(checked((int)length + 32), pinned: true);
        fixed (float* d = data, w = (float[])_data)
        {
            int start = (int)((64 - ((nint)d & 63)) & 63) / sizeof(float);
            var g = new GemmProblem<float>(null, _k, 1, w + _offset, 1, _k, null, _n, 1, 1, _n, _k);
            Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackWholeB(g, d + start);
            var copy = new Copy(data, start);
            Volatile.Write(ref _copy, copy);
            return (copy.Data, copy.Start);
        }
    }
}

/// <summary>
/// A float32 weight W [n, k] packed as the thin products pack B = Wᵀ (<see cref="ThinGemm.PackWeight"/>:
/// whole-depth panels of 32 outputs), at one version of the weight, for <see cref="Ops.TryLinearThinPacked"/>: a layer
/// keeps one, and it is used only while it provably holds the weight's values (the rules of
/// <see cref="TransposedWeight"/>).
/// </summary>
internal sealed class ThinPackedWeight : IWeightCopy<ThinPackedWeight>
{
    private readonly Tensor _source;
    private readonly WeightVersion _key;
    private readonly Array _data;
    private readonly int _offset, _n, _k;
    private Copy? _copy;

    private sealed record Copy(float[] Data, int Start);

    /// <summary>The key of <paramref name="weight"/> as it is now (a contiguous float32 [n, k]); the copy is made on first use.</summary>
    public static ThinPackedWeight Of(Tensor weight) => new(weight);

    private ThinPackedWeight(Tensor weight)
    {
        _source = weight;
        _data = weight._data;
        _offset = weight._offset;
        _n = weight.Shape[0];
        _k = weight.Shape[1];
        _key = WeightVersion.Of(weight);
    }

    /// <summary>Whether this copy holds <paramref name="weight"/>'s current values.</summary>
    public bool Matches(Tensor weight) =>
        ReferenceEquals(weight, _source) && _key.IsCurrent(weight)
        && weight.Rank == 2 && weight.Shape[0] == _n && weight.Shape[1] == _k && weight.IsContiguous;

    /// <summary>The packed panels (built now if not yet), starting at <c>Data[Start]</c>, 64-byte aligned.</summary>
    public unsafe (float[] Data, int Start) Packed()
    {
        if (Volatile.Read(ref _copy) is { } ready) return (ready.Data, ready.Start);
        // Pinned, so the aligned start found now stays aligned.
        var data = GC.AllocateUninitializedArray<float>(checked((int)ThinGemm.PackedBLength(_n, _k) + 16), pinned: true);
        fixed (float* d = data, w = (float[])_data)
        {
            int start = (int)((64 - ((nint)d & 63)) & 63) / sizeof(float);
            ThinGemm.PackWeight(w + _offset, _k, _n, _k, d + start);
            var copy = new Copy(data, start);
            Volatile.Write(ref _copy, copy);
            return (copy.Data, copy.Start);
        }
    }
}
