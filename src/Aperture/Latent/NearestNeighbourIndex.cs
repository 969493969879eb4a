using System.Numerics;

namespace Aperture.Latent;

/// <summary>The distance a <see cref="NearestNeighbourIndex"/> ranks by.</summary>
public enum Distance
{
    /// <summary>Euclidean distance ‖q − x‖ (ranked by its square, reported as the root).</summary>
    L2,

    /// <summary>
    /// Cosine distance 1 − q·x / (‖q‖ ‖x‖), in [0, 2]. A zero vector has no direction: its cosine similarity with
    /// every vector (a zero vector included) is defined as 0, so its distance is exactly 1 (scikit-learn's
    /// <c>cosine_distances</c> convention). Nothing is NaN and the ranking stays total.
    /// </summary>
    Cosine,
}

/// <summary>
/// The k nearest items of each query: <see cref="Indices"/> int64 [queries, k] and <see cref="Distances"/>
/// [queries, k] in the items' dtype, nearest first; equal distances are ordered by increasing item index.
/// </summary>
public sealed record Neighbours(Tensor Indices, Tensor Distances)
{
    /// <summary>The number of queries.</summary>
    public int Queries => Indices.Shape[0];

    /// <summary>The number of neighbours per query.</summary>
    public int K => Indices.Shape[1];
}

/// <summary>
/// An exact nearest-neighbour index over the rows of an [n, d] float32 or float64 matrix (latent codes, raw
/// features). A search computes the query–item distance matrix a block at a time with the engine's GEMM and keeps
/// the k best of each query, so memory is O(block² + n·d) whatever the number of queries.
/// </summary>
/// <remarks>
/// <para>L2 uses ‖q − x‖² = ‖q‖² + ‖x‖² − 2 q·x (clamped at 0, as rounding may leave a tiny negative value);
/// cosine normalizes every row once and uses 1 − q̂·x̂ (clamped to [0, 2]). Every dot product and squared norm is
/// the fused multiply-add chain over the d coordinates in increasing order, the bits of the engine's matmul on every
/// kernel path, so the result is the same for every thread count and vector width.</para>
/// <para>Ties: the ranking is by (distance, item index), so equal distances come out in increasing index order and
/// a search is a pure function of its inputs.</para>
/// <para>Cost: q·n·d fused multiply-adds for the distances, plus q·n comparisons and at most q·n·k moves for the
/// top-k lists (few moves in practice, since a candidate is dropped after one comparison with the current k-th).</para>
/// </remarks>
public sealed class NearestNeighbourIndex
{
    // Blocks of the distance matrix: QueryBlock × ItemBlock products per GEMM call. Tests shrink them to put block
    // edges inside small problems.
    internal static int QueryBlock = 256;
    internal static int ItemBlock = 1024;

    // The documented bits: matmul's default order (FMA chain over increasing k) in the storage precision, whatever
    // policy the caller has set.
    private static readonly NumericsPolicy s_policy = NumericsPolicy.Default;

    private readonly float[]? _f;
    private readonly double[]? _d;
    private readonly float[]? _fNorms;
    private readonly double[]? _dNorms;

    /// <summary>Builds the index over the rows of <paramref name="items"/> ([n, d], float32 or float64, finite). The rows are copied.</summary>
    public NearestNeighbourIndex(Tensor items, Distance metric = Distance.L2)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (!Enum.IsDefined(metric)) throw new ArgumentOutOfRangeException(nameof(metric), metric, "NearestNeighbourIndex: unknown distance");
        CheckMatrix(items, nameof(items), null);
        Metric = metric;
        Count = items.Shape[0];
        Dim = items.Shape[1];
        DType = items.DType;
        if (DType == DType.Float32) _f = Prepare<float>(items, nameof(items), metric, out _fNorms);
        else _d = Prepare<double>(items, nameof(items), metric, out _dNorms);
    }

    /// <summary>The distance ranked by.</summary>
    public Distance Metric { get; }

    /// <summary>The number of items n.</summary>
    public int Count { get; }

    /// <summary>The dimension d of each item.</summary>
    public int Dim { get; }

    /// <summary>The dtype of the items (and of reported distances).</summary>
    public DType DType { get; }

    /// <summary>The <paramref name="k"/> nearest items of each row of <paramref name="queries"/> ([q, d], the items' dtype).</summary>
    public Neighbours Search(Tensor queries, int k)
    {
        ArgumentNullException.ThrowIfNull(queries);
        CheckMatrix(queries, nameof(queries), this);
        CheckK(k, Count, "items");
        return DType == DType.Float32
            ? Run(Prepare<float>(queries, nameof(queries), Metric, out var qn), qn!, queries.Shape[0], _f!, _fNorms, k, excludeSelf: false)
            : Run(Prepare<double>(queries, nameof(queries), Metric, out var qd), qd!, queries.Shape[0], _d!, _dNorms, k, excludeSelf: false);
    }

    /// <summary>
    /// The <paramref name="k"/> nearest other items of every item (item i never lists itself, though an exact
    /// duplicate at another index is listed): the leave-one-out search that retrieval scores are computed on.
    /// </summary>
    public Neighbours SearchSelf(int k)
    {
        CheckK(k, Count - 1, "other items (the index holds " + Count + " items and an item is not its own neighbour)");
        return DType == DType.Float32
            ? Run(_f!, _fNorms!, Count, _f!, _fNorms, k, excludeSelf: true)
            : Run(_d!, _dNorms!, Count, _d!, _dNorms, k, excludeSelf: true);
    }

    private static void CheckK(int k, int available, string what)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "NearestNeighbourIndex: k must be at least 1");
        if (k > available)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"NearestNeighbourIndex: k = {k} is more than the {available} {what}");
    }

    private static void CheckMatrix(Tensor x, string name, NearestNeighbourIndex? index)
    {
        if (!x.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"NearestNeighbourIndex: {name} must be float32 or float64, got {x.DType.Name()}");
        if (x.Rank != 2)
            throw new ShapeMismatchException($"NearestNeighbourIndex: {name} must be a matrix [n, d], got shape {Shapes.Format(x.Shape)}");
        if (index is null)
        {
            if (x.Shape[0] < 1 || x.Shape[1] < 1)
                throw new ShapeMismatchException($"NearestNeighbourIndex: {name} must have at least one row and one column, got shape {Shapes.Format(x.Shape)}");
            return;
        }
        if (x.DType != index.DType)
            throw new DTypeMismatchException($"NearestNeighbourIndex: {name} are {x.DType.Name()} but the index holds {index.DType.Name()}");
        if (x.Shape[1] != index.Dim)
            throw new ShapeMismatchException($"NearestNeighbourIndex: {name} have {x.Shape[1]} columns (shape {Shapes.Format(x.Shape)}) but the items have {index.Dim}");
    }

    /// <summary>A contiguous copy of the rows (unit rows for cosine) and, for L2, their squared norms.</summary>
    private static T[] Prepare<T>(Tensor x, string name, Distance metric, out T[]? sqNorms) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Shape[0], d = x.Shape[1];
        var rows = x.Contiguous().ToArray<T>();
        for (int i = 0; i < rows.Length; i++)
            if (!T.IsFinite(rows[i]))
                throw new ArgumentException($"NearestNeighbourIndex: {name}[{i / d}, {i % d}] is {rows[i]}; every value must be finite", name);
        var norms = new T[n];
        for (int i = 0; i < n; i++) norms[i] = SquaredNorm<T>(rows.AsSpan(i * d, d));
        if (metric == Distance.L2)
        {
            sqNorms = norms;
            return rows;
        }
        sqNorms = null;
        for (int i = 0; i < n; i++)
        {
            if (norms[i] == T.Zero) continue;   // a zero row stays zero: similarity 0 with everything
            var norm = T.Sqrt(norms[i]);
            var row = rows.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) row[j] /= norm;
        }
        return rows;
    }

    /// <summary>The FMA chain over increasing coordinates, as matmul computes a dot product.</summary>
    internal static T SquaredNorm<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = T.Zero;
        foreach (var v in x) s = T.FusedMultiplyAdd(v, v, s);
        return s;
    }

    private Neighbours Run<T>(T[] q, T[]? qNorms, int nq, T[] x, T[]? xNorms, int k, bool excludeSelf)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = Count, d = Dim;
        int qb = Math.Min(QueryBlock, nq), ib = Math.Min(ItemBlock, n);
        var gram = new T[qb * ib];
        var bestD = new T[nq * k];
        var bestI = new long[nq * k];
        var filled = new int[nq];
        bool l2 = Metric == Distance.L2;
        for (int q0 = 0; q0 < nq; q0 += qb)
        {
            int qm = Math.Min(qb, nq - q0);
            var a = new MatrixView<T>(q, q0 * d, qm, d, d, 1);
            for (int i0 = 0; i0 < n; i0 += ib)
            {
                int im = Math.Min(ib, n - i0);
                // Bᵀ as a stride change: column j of the view is item i0 + j.
                var b = new MatrixView<T>(x, i0 * d, d, im, 1, d);
                MatMulKernel.Run(a, b, gram, 0, s_policy);
                int qmL = qm, i0L = i0, imL = im, q0L = q0;
                Parallelism.For(qm, (long)im * 4, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        int qi = q0L + r;
                        var dRow = bestD.AsSpan(qi * k, k);
                        var iRow = bestI.AsSpan(qi * k, k);
                        ref int count = ref filled[qi];
                        for (int j = 0; j < imL; j++)
                        {
                            int item = i0L + j;
                            if (excludeSelf && item == qi) continue;
                            var g = gram[r * imL + j];
                            T dist;
                            if (l2)
                            {
                                dist = qNorms![qi] + xNorms![item] - (g + g);
                                if (dist < T.Zero) dist = T.Zero;
                            }
                            else
                            {
                                dist = T.One - g;
                                if (dist < T.Zero) dist = T.Zero;
                                else if (dist > T.One + T.One) dist = T.One + T.One;
                            }
                            Insert(dRow, iRow, ref count, k, dist, item);
                        }
                    }
                });
            }
        }
        if (l2)
            for (int i = 0; i < bestD.Length; i++) bestD[i] = T.Sqrt(bestD[i]);
        return new Neighbours(Tensor.FromArray(bestI, [nq, k]), FromArray(bestD, [nq, k]));
    }

    private static Tensor FromArray<T>(T[] data, int[] shape) where T : unmanaged =>
        typeof(T) == typeof(float) ? Tensor.FromArray((float[])(object)data, shape) : Tensor.FromArray((double[])(object)data, shape);

    /// <summary>Inserts (dist, item) into a list sorted by (distance, index), keeping at most k entries.</summary>
    private static void Insert<T>(Span<T> dRow, Span<long> iRow, ref int count, int k, T dist, long item) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (count == k && !Before(dist, item, dRow[k - 1], iRow[k - 1])) return;
        int pos = count < k ? count++ : k - 1;
        while (pos > 0 && Before(dist, item, dRow[pos - 1], iRow[pos - 1]))
        {
            dRow[pos] = dRow[pos - 1];
            iRow[pos] = iRow[pos - 1];
            pos--;
        }
        dRow[pos] = dist;
        iRow[pos] = item;
    }

    private static bool Before<T>(T d1, long i1, T d2, long i2) where T : IFloatingPointIeee754<T> => d1 < d2 || (d1 == d2 && i1 < i2);
}
