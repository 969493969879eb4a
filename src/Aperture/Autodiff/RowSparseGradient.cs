namespace Aperture;

/// <summary>
/// The gradient of a table (a 2-d or higher tensor read row by row, such as an <see cref="NN.Embedding"/>'s weight)
/// that touches only a few rows: the sorted, unique indices of the touched rows and, for each, the summed gradient of
/// that row. It is what <c>nn.Embedding(sparse=True)</c> gives in PyTorch as a coalesced sparse COO tensor, kept as
/// two flat arrays so a training step allocates nothing once the buffers have grown to the largest batch.
/// </summary>
/// <remarks>
/// Contributions are summed per row in the order they arrive (the order of the lookups, then of successive backward
/// passes), starting from zero: exactly the additions the dense gradient performs, so <see cref="ToDense"/> equals the
/// dense path bit for bit. A leaf holds either a dense <see cref="Tensor.Grad"/> or this; when a dense gradient
/// arrives at a leaf that holds a row-sparse one (tied weights), the leaf's gradient becomes dense.
/// </remarks>
public sealed class RowSparseGradient
{
    private readonly int[] _slot;          // row → position in the value buffer, −1 when untouched
    private long[] _rows = new long[16];   // touched rows, in arrival order until Coalesce sorts them
    private int[] _order = new int[16];    // sort permutation scratch
    private Array _values;                 // float[] or double[], row k at [k·RowLength, (k+1)·RowLength)
    private Array _scratch;
    private bool _sorted = true;

    internal RowSparseGradient(int numRows, int rowLength, DType dtype)
    {
        NumRows = numRows;
        RowLength = rowLength;
        DType = dtype;
        _slot = new int[numRows];
        Array.Fill(_slot, -1);
        _values = dtype == DType.Float32 ? new float[16 * rowLength] : new double[16 * rowLength];
        _scratch = dtype == DType.Float32 ? new float[16 * rowLength] : new double[16 * rowLength];
    }

    /// <summary>The number of rows of the table (its first dimension).</summary>
    public int NumRows { get; }

    /// <summary>The number of elements in one row (the product of the table's other dimensions).</summary>
    public int RowLength { get; }

    /// <summary>The element type, the table's.</summary>
    public DType DType { get; }

    /// <summary>How many distinct rows were touched.</summary>
    public int Count { get; private set; }

    /// <summary>The touched rows in increasing order.</summary>
    public ReadOnlySpan<long> Indices
    {
        get
        {
            Coalesce();
            return _rows.AsSpan(0, Count);
        }
    }

    /// <summary>The summed gradient rows, [Count·RowLength]: row k is the gradient of table row <see cref="Indices"/>[k].</summary>
    public Span<T> Values<T>() where T : unmanaged
    {
        if (typeof(T) != (DType == DType.Float32 ? typeof(float) : typeof(double)))
            throw new DTypeMismatchException($"RowSparseGradient: the values are {DType.Name()}, not {typeof(T).Name}");
        Coalesce();
        return ((T[])_values).AsSpan(0, Count * RowLength);
    }

    /// <summary>A dense tensor of the table's shape holding this gradient (zero on untouched rows).</summary>
    public Tensor ToDense(ReadOnlySpan<int> shape)
    {
        var dense = Tensor.Zeros(shape, DType);
        AddInto(dense);
        return dense;
    }

    /// <summary>Adds this gradient into a contiguous dense tensor of the table's shape.</summary>
    internal void AddInto(Tensor dense)
    {
        Coalesce();
        int d = RowLength;
        if (DType == DType.Float32)
        {
            var y = dense.ContiguousSpan<float>();
            var v = (float[])_values;
            for (int k = 0; k < Count; k++)
            {
                var to = y.Slice((int)_rows[k] * d, d);
                System.Numerics.Tensors.TensorPrimitives.Add(to, v.AsSpan(k * d, d), to);
            }
        }
        else
        {
            var y = dense.ContiguousSpan<double>();
            var v = (double[])_values;
            for (int k = 0; k < Count; k++)
            {
                var to = y.Slice((int)_rows[k] * d, d);
                System.Numerics.Tensors.TensorPrimitives.Add(to, v.AsSpan(k * d, d), to);
            }
        }
    }

    /// <summary>Forgets every row, keeping the buffers for the next step.</summary>
    internal void Clear()
    {
        for (int k = 0; k < Count; k++) _slot[_rows[k]] = -1;
        Count = 0;
        _sorted = true;
    }

    /// <summary>
    /// Adds row i of <paramref name="src"/> (contiguous, [idx.Length·RowLength]) into the gradient of table row
    /// idx[i], in increasing i. The indices were validated by the lookup that recorded them.
    /// </summary>
    internal void Accumulate<T>(ReadOnlySpan<long> idx, ReadOnlySpan<T> src) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int d = RowLength;
        for (int i = 0; i < idx.Length; i++)
        {
            long row = idx[i];
            int k = _slot[row];
            if (k < 0)
            {
                k = Count++;
                if (k == _rows.Length) Grow();
                _rows[k] = row;
                _slot[row] = k;
                if (k > 0 && _rows[k - 1] > row) _sorted = false;
                ((T[])_values).AsSpan(k * d, d).Clear();
            }
            var to = ((T[])_values).AsSpan(k * d, d);
            System.Numerics.Tensors.TensorPrimitives.Add(to, src.Slice(i * d, d), to);
        }
    }

    private void Grow()
    {
        int cap = Math.Min(Math.Max(2 * _rows.Length, 16), NumRows);
        Array.Resize(ref _rows, cap);
        _order = new int[cap];
        if (DType == DType.Float32)
        {
            var v = (float[])_values;
            Array.Resize(ref v, cap * RowLength);
            _values = v;
            _scratch = new float[cap * RowLength];
        }
        else
        {
            var v = (double[])_values;
            Array.Resize(ref v, cap * RowLength);
            _values = v;
            _scratch = new double[cap * RowLength];
        }
    }

    /// <summary>Puts the rows in increasing order (moving their values with them), as PyTorch's <c>coalesce()</c>.</summary>
    private void Coalesce()
    {
        if (_sorted) return;
        int n = Count, d = RowLength;
        for (int k = 0; k < n; k++) _order[k] = k;
        // Rows are unique, so the order is total and the unstable sort gives one answer.
        Array.Sort(_rows, _order, 0, n);
        if (DType == DType.Float32) Permute((float[])_values, (float[])_scratch, n, d);
        else Permute((double[])_values, (double[])_scratch, n, d);
        (_values, _scratch) = (_scratch, _values);
        for (int k = 0; k < n; k++) _slot[_rows[k]] = k;
        _sorted = true;
    }

    private void Permute<T>(T[] from, T[] to, int n, int d)
    {
        for (int k = 0; k < n; k++) from.AsSpan(_order[k] * d, d).CopyTo(to.AsSpan(k * d, d));
    }
}
