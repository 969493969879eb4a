using System.Runtime.Intrinsics;

namespace Aperture;

public static partial class Ops
{
    /// <summary>
    /// The batched inference form of <see cref="Linear"/> over a layer's cached packed weight: when nothing needs a
    /// graph node, the input is float32 with several rows, the policy is the default fused order, the AVX-512 path is
    /// active and the product would run packed on the calling thread, y = x·Wᵀ + b with Wᵀ taken from
    /// <paramref name="cache"/>'s copy of W already packed into the GEMM's panels (built on the second such call at one
    /// version of the weight, so a loop that changes the weight between every two calls never pays for the copy).
    /// Returns false, leaving the work to <see cref="Linear"/>, otherwise. Same kernel calls, chains and bits as
    /// <see cref="Linear"/>, less the packing of the weight.
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
