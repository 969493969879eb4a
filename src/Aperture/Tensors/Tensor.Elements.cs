namespace Aperture;

public sealed partial class Tensor
{
    /// <summary>The value of a one-element tensor, as a double.</summary>
    public double Item()
    {
        if (Numel != 1)
            throw new InvalidOperationException($"Item: only a one-element tensor has a single value; this one has shape {Shapes.Format(_shape)}");
        return GetRaw(_offset);
    }

    /// <summary>The element at the given index (one index per dimension), as a double.</summary>
    public double At(params ReadOnlySpan<int> index) => GetRaw(OffsetOf(index, "At"));

    /// <summary>Writes one element in place (no autodiff: use on data, not on tensors in a graph).</summary>
    public void SetAt(double value, params ReadOnlySpan<int> index)
    {
        SetRawAt(OffsetOf(index, "SetAt"), value);
        BumpVersion("SetAt");
    }

    private int OffsetOf(ReadOnlySpan<int> index, string op)
    {
        if (index.Length != Rank)
            throw new ArgumentException($"{op}: {index.Length} indices given for a tensor of rank {Rank} (shape {Shapes.Format(_shape)})");
        int off = _offset;
        for (int d = 0; d < index.Length; d++)
        {
            int i = index[d] < 0 ? index[d] + _shape[d] : index[d];
            if ((uint)i >= (uint)_shape[d])
                throw new IndexOutOfRangeException($"{op}: index {index[d]} is out of range for dimension {d} of size {_shape[d]} (shape {Shapes.Format(_shape)})");
            off += i * _strides[d];
        }
        return off;
    }

    /// <summary>The elements in row-major order as a new array of <typeparamref name="T"/> (which must match the dtype).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        CheckElementType<T>();
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        return new ReadOnlySpan<T>(c.Buffer<T>(), c._offset, c.Numel).ToArray();
    }

    /// <summary>
    /// Copies the elements in row-major order into <paramref name="destination"/>, which must hold at least
    /// <see cref="Numel"/> of them (<typeparamref name="T"/> must match the dtype): <see cref="ToArray{T}"/> without
    /// allocating, for reading parameters out at every step.
    /// </summary>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        CheckElementType<T>();
        if (destination.Length < Numel)
            throw new ArgumentException($"CopyTo: the destination holds {destination.Length} elements but the tensor (shape {Shapes.Format(_shape)}) has {Numel}", nameof(destination));
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        new ReadOnlySpan<T>(c.Buffer<T>(), c._offset, c.Numel).CopyTo(destination);
    }

    /// <summary>The elements in row-major order converted to float32.</summary>
    public float[] ToFloatArray()
    {
        if (_dtype == DType.Float32) return ToArray<float>();
        var r = new float[Numel];
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        for (int i = 0; i < r.Length; i++) r[i] = (float)c.GetRaw(c._offset + i);
        return r;
    }

    /// <summary>The elements in row-major order converted to float64.</summary>
    public double[] ToDoubleArray()
    {
        if (_dtype == DType.Float64) return ToArray<double>();
        var r = new double[Numel];
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        for (int i = 0; i < r.Length; i++) r[i] = c.GetRaw(c._offset + i);
        return r;
    }

    /// <summary>The elements in row-major order converted to int64 (floats are truncated toward zero).</summary>
    public long[] ToLongArray()
    {
        if (_dtype == DType.Int64) return ToArray<long>();
        var r = new long[Numel];
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        for (int i = 0; i < r.Length; i++) r[i] = (long)c.GetRaw(c._offset + i);
        return r;
    }

    /// <summary>Reads the element at a buffer position as a double.</summary>
    internal double GetRaw(int position) => _dtype switch
    {
        DType.Float32 => Buffer<float>()[position],
        DType.Float64 => Buffer<double>()[position],
        DType.Int64 => Buffer<long>()[position],
        DType.Bool => Buffer<bool>()[position] ? 1 : 0,
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Writes element <paramref name="i"/> of a fresh contiguous tensor.</summary>
    internal void SetRaw(int i, double value) => SetRawAt(_offset + i, value);

    internal void SetRawAt(int position, double value)
    {
        switch (_dtype)
        {
            case DType.Float32: Buffer<float>()[position] = (float)value; break;
            case DType.Float64: Buffer<double>()[position] = value; break;
            case DType.Int64: Buffer<long>()[position] = (long)value; break;
            case DType.Bool: Buffer<bool>()[position] = value != 0; break;
        }
    }

    /// <summary>Fills a contiguous tensor with one value.</summary>
    internal void FillRaw(double value)
    {
        int n = Numel;
        switch (_dtype)
        {
            case DType.Float32: Buffer<float>().AsSpan(_offset, n).Fill((float)value); break;
            case DType.Float64: Buffer<double>().AsSpan(_offset, n).Fill(value); break;
            case DType.Int64: Buffer<long>().AsSpan(_offset, n).Fill((long)value); break;
            case DType.Bool: Buffer<bool>().AsSpan(_offset, n).Fill(value != 0); break;
        }
    }
}
