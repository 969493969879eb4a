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
        if (!BatchedInferenceApplies(x, weight, bias, out int m, out int n, out int k) || !ThinGemm.TakesPackedB(m, n, k)) return false;
        if (cache.Current(weight) is not { } c) return false;
        y = BatchedInference(x, bias, relu, m, n, k, c.Packed(), &ThinGemm.RunPackedB);
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
        if (!PackedWeight.Supported || !BatchedInferenceApplies(x, weight, bias, out int m, out int n, out int k)) return false;
        // The problem as Linear hands it to the GEMM (B = Wᵀ, a column-major view of W); the pointers come later.
        var shapeOnly = new GemmProblem<float>(null, k, 1, null, 1, k, null, n, 1, m, n, k);
        if (!PackedWeight.Packs(shapeOnly)) return false;
        if (cache.Current(weight) is not { } c) return false;
        y = BatchedInference(x, bias, relu, m, n, k, c.Packed(), &PackedWeight.Tile.RunPackedB);
        return true;
    }

    /// <summary>
    /// The conditions the batched inference paths over a cached weight share: float32 contiguous input of several rows
    /// and weight (and bias), nothing that needs a graph node, the default fused order. The product is [m, k]·[k, n].
    /// </summary>
    private static bool BatchedInferenceApplies(Tensor x, Tensor weight, Tensor? bias, out int m, out int n, out int k)
    {
        m = n = k = 0;
        if (x.DType != DType.Float32 || weight.DType != DType.Float32 || weight.Rank != 2) return false;
        (n, k) = (weight.Shape[0], weight.Shape[1]);
        if (x.Rank < 2 || x.Shape[^1] != k || n == 0 || k == 0 || !x.IsContiguous || !weight.IsContiguous) return false;
        m = x.Numel / k;
        if (m < 2) return false;
        if (bias is not null && (bias.DType != DType.Float32 || bias.Rank != 1 || bias.Shape[0] != n || !bias.IsContiguous)) return false;
        if (bias is null ? Graph.NeedsNode(x, weight) : Graph.NeedsNode(x, weight) || Graph.NeedsNode(bias)) return false;
        var p = NumericsPolicy.Current;
        return p.Order == ReductionOrder.Default && p.Accumulation == AccumulationPrecision.Native;
    }

    /// <summary>
    /// y = x·Wᵀ (+ b, then max(·, 0) when <paramref name="relu"/>) with Wᵀ from a cached copy, run by
    /// <paramref name="run"/>: the bias and the ReLU in one pass, the same adds and the same maximum as the bias pass
    /// followed by Relu.
    /// </summary>
    private static unsafe Tensor BatchedInference(Tensor x, Tensor? bias, bool relu, int m, int n, int k, (float[] Data, int Start) copy,
        delegate*<in GemmProblem<float>, float*, void> run)
    {
        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = n;
        var output = Tensor.Empty(shape, DType.Float32);
        fixed (float* xs = x.Buffer<float>(), ps = copy.Data, ys = output.Buffer<float>())
            run(new GemmProblem<float>(xs + x._offset, k, 1, null, 1, k, ys + output._offset, n, 1, m, n, k), ps + copy.Start);
        if (bias is not null) BiasPass(output.Buffer<float>(), output._offset, m, n, bias.Buffer<float>(), bias._offset, relu);
        else if (relu) UnarySplit.Apply(UnaryOps.Relu, output, output, m * n);
        return Graph.Record(null, output);
    }
}

/// <summary>
/// A float32 weight W [n, k] packed as the GEMM packs B = Wᵀ (kc×NR panels, k-block after k-block), at one version
/// of the weight, so a batched no-grad product of a layer with an unchanged weight skips packing it: a layer keeps
/// one, and it is used only while it provably holds the weight's values (the rules of <see cref="WeightCopy"/>)
/// and the GEMM's k-block depth is the one it was packed at.
/// </summary>
internal sealed class PackedWeight : WeightCopy, IWeightCopy<PackedWeight>
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

    private readonly int _depth;

    private PackedWeight(Tensor weight) : base(weight) =>
        _depth = Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedDepth(K);

    /// <summary>The key of <paramref name="weight"/> as it is now (a contiguous float32 [n, k]); the copy is made on first use.</summary>
    public static PackedWeight Of(Tensor weight) => new(weight);

    /// <summary>Whether this copy holds <paramref name="weight"/>'s current values, packed at the GEMM's current depth.</summary>
    public override bool Matches(Tensor weight) =>
        base.Matches(weight) && Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedDepth(K) == _depth;

    /// <inheritdoc/>
    protected override long Length => Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackedBLength(K, N);

    /// <inheritdoc/>
    protected override int Slack => 32;

    /// <inheritdoc/>
    protected override unsafe void Fill(float* w, float* dst) =>
        Gemm<float, MidTile<F32x16, Vector512<float>, float>>.PackWholeB(new GemmProblem<float>(null, K, 1, w, 1, K, null, N, 1, 1, N, K), dst);

    /// <summary>The packed copy (built now if not yet), starting at <c>Data[Start]</c>, 64-byte aligned.</summary>
    public (float[] Data, int Start) Packed() => Built();
}

/// <summary>
/// A float32 weight W [n, k] packed as the thin products pack B = Wᵀ (<see cref="ThinGemm.PackWeight"/>:
/// whole-depth panels of 32 outputs), at one version of the weight, for <see cref="Ops.TryLinearThinPacked"/>: a layer
/// keeps one, and it is used only while it provably holds the weight's values (the rules of <see cref="WeightCopy"/>).
/// </summary>
internal sealed class ThinPackedWeight : WeightCopy, IWeightCopy<ThinPackedWeight>
{
    private ThinPackedWeight(Tensor weight) : base(weight) { }

    /// <summary>The key of <paramref name="weight"/> as it is now (a contiguous float32 [n, k]); the copy is made on first use.</summary>
    public static ThinPackedWeight Of(Tensor weight) => new(weight);

    /// <inheritdoc/>
    protected override long Length => ThinGemm.PackedBLength(N, K);

    /// <inheritdoc/>
    protected override unsafe void Fill(float* w, float* dst) => ThinGemm.PackWeight(w, K, N, K, dst);

    /// <summary>The packed panels (built now if not yet), starting at <c>Data[Start]</c>, 64-byte aligned.</summary>
    public (float[] Data, int Start) Packed() => Built();
}
