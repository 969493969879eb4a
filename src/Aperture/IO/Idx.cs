using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace Aperture.IO;

/// <summary>The element types of the IDX format, by their type codes.</summary>
public enum IdxElementType : byte
{
    /// <summary>Unsigned bytes (code 0x08): MNIST's pixels and labels.</summary>
    UInt8 = 0x08,
    /// <summary>Signed bytes (code 0x09).</summary>
    Int8 = 0x09,
    /// <summary>Big-endian 16-bit integers (code 0x0B).</summary>
    Int16 = 0x0B,
    /// <summary>Big-endian 32-bit integers (code 0x0C).</summary>
    Int32 = 0x0C,
    /// <summary>Big-endian IEEE single precision (code 0x0D).</summary>
    Float32 = 0x0D,
    /// <summary>Big-endian IEEE double precision (code 0x0E).</summary>
    Float64 = 0x0E,
}

/// <summary>
/// The contents of an IDX file: a shape and the elements in row-major order, held in the array type of the
/// element type (<c>byte[]</c>, <c>sbyte[]</c>, <c>short[]</c>, <c>int[]</c>, <c>float[]</c> or <c>double[]</c>).
/// </summary>
public sealed class IdxArray
{
    private readonly int[] _shape;

    /// <summary>Wraps <paramref name="data"/> (one of the six element arrays) with <paramref name="shape"/>.</summary>
    public IdxArray(Array data, ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        // Compare exact types: the runtime lets a sbyte[] pass as a byte[] (and int[] as uint[]) in type tests.
        var type = data.GetType();
        ElementType = type == typeof(byte[]) ? IdxElementType.UInt8
            : type == typeof(sbyte[]) ? IdxElementType.Int8
            : type == typeof(short[]) ? IdxElementType.Int16
            : type == typeof(int[]) ? IdxElementType.Int32
            : type == typeof(float[]) ? IdxElementType.Float32
            : type == typeof(double[]) ? IdxElementType.Float64
            : throw new ArgumentException($"IdxArray: IDX holds byte, sbyte, short, int, float or double elements, not {data.GetType().Name}", nameof(data));
        if (shape.Length is < 1 or > 255)
            throw new ArgumentException($"IdxArray: an IDX array has 1 to 255 dimensions, got {shape.Length}", nameof(shape));
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"IdxArray: shape {Shapes.Format(shape)} has a negative dimension", nameof(shape));
            n *= d;
            if (n > Array.MaxLength) throw new ArgumentException($"IdxArray: shape {Shapes.Format(shape)} is too large", nameof(shape));
        }
        if (n != data.Length)
            throw new ArgumentException($"IdxArray: shape {Shapes.Format(shape)} holds {n} elements but the array has {data.Length}", nameof(data));
        Data = data;
        _shape = shape.ToArray();
    }

    /// <summary>The element type.</summary>
    public IdxElementType ElementType { get; }

    /// <summary>The size of each dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The elements in row-major order (a <c>byte[]</c> for <see cref="IdxElementType.UInt8"/>, and so on).</summary>
    public Array Data { get; }

    /// <summary>
    /// The elements as a tensor of the same shape: integers become int64, floats keep their precision
    /// (float32 or float64).
    /// </summary>
    public Tensor ToTensor()
    {
        if (ElementType == IdxElementType.Float32) return Tensor.FromArray((float[])Data, _shape);
        if (ElementType == IdxElementType.Float64) return Tensor.FromArray((double[])Data, _shape);
        var longs = new long[Data.Length];
        switch (ElementType)
        {
            case IdxElementType.UInt8: { var a = (byte[])Data; for (int i = 0; i < a.Length; i++) longs[i] = a[i]; break; }
            case IdxElementType.Int8: { var a = (sbyte[])Data; for (int i = 0; i < a.Length; i++) longs[i] = a[i]; break; }
            case IdxElementType.Int16: { var a = (short[])Data; for (int i = 0; i < a.Length; i++) longs[i] = a[i]; break; }
            default: { var a = (int[])Data; for (int i = 0; i < a.Length; i++) longs[i] = a[i]; break; }
        }
        return Tensor.Wrap(longs, _shape);
    }
}

/// <summary>
/// Reads and writes IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic number
/// (two zero bytes, a type code, the number of dimensions), each dimension as a big-endian 32-bit integer, then
/// the elements in row-major order, big-endian. Files compressed with gzip are recognized by their first bytes.
/// Every byte is treated as hostile: each fault is an <see cref="IdxFormatException"/> naming the file.
/// </summary>
public static class Idx
{
    /// <summary>Reads an IDX file, plain or gzipped.</summary>
    public static IdxArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path);
    }

    /// <summary>
    /// Reads an IDX array from <paramref name="stream"/> (plain or gzipped; read to its end), naming it
    /// <paramref name="name"/> in errors.
    /// </summary>
    public static IdxArray Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var first = new byte[2];
        int got = StreamBytes.ReadFully(stream, first);
        bool gzip = got == 2 && first[0] == 0x1F && first[1] == 0x8B;
        Stream body = new PrefixedStream(first.AsMemory(0, got), stream);
        if (gzip) body = new GZipStream(body, CompressionMode.Decompress);
        try
        {
            long? length = !gzip && stream.CanSeek ? stream.Length - stream.Position + got : null;
            return Parse(body, name, length, gzip);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(name, $"the gzip stream is corrupt ({e.Message})", e);
        }
        finally
        {
            if (gzip) body.Dispose();
        }
    }

    private static IdxArray Parse(Stream s, string name, long? length, bool gzip)
    {
        var magic = new byte[4];
        int got = StreamBytes.ReadFully(s, magic);
        if (got < 4) throw new IdxFormatException(name, $"the file ends after {got} bytes, before the 4-byte magic number");
        if (magic[0] != 0 || magic[1] != 0)
            throw new IdxFormatException(name, $"the magic number starts with 0x{magic[0]:X2}{magic[1]:X2}, not 0x0000 (is this an IDX file?)");
        var type = (IdxElementType)magic[2];
        int size = type switch
        {
            IdxElementType.UInt8 or IdxElementType.Int8 => 1,
            IdxElementType.Int16 => 2,
            IdxElementType.Int32 or IdxElementType.Float32 => 4,
            IdxElementType.Float64 => 8,
            _ => throw new IdxFormatException(name, $"unknown element type code 0x{magic[2]:X2} (IDX defines 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)"),
        };
        int rank = magic[3];
        if (rank == 0) throw new IdxFormatException(name, "the header declares 0 dimensions");
        var dims = new byte[4 * rank];
        got = StreamBytes.ReadFully(s, dims);
        if (got < dims.Length)
            throw new IdxFormatException(name, $"the file ends inside the header: {rank} dimensions need {dims.Length} bytes, found {got}");
        var shape = new int[rank];
        long count = 1;
        for (int d = 0; d < rank; d++)
        {
            uint dim = BinaryPrimitives.ReadUInt32BigEndian(dims.AsSpan(4 * d));
            if (dim > int.MaxValue) throw new IdxFormatException(name, $"dimension {d} has size {dim}, more than Aperture can index");
            shape[d] = (int)dim;
            count *= dim;
            if (count > Array.MaxLength / size)
                throw new IdxFormatException(name, $"the shape {Shapes.Format(shape.AsSpan(0, d + 1))}... holds more elements than fit in memory");
        }
        long payload = count * size;
        long header = 4 + dims.Length;
        if (length is { } total && total != header + payload)
            throw new IdxFormatException(name,
                $"shape {Shapes.Format(shape)} of {type} needs {header + payload} bytes but the file has {total}" +
                (total < header + payload ? " (truncated?)" : " (trailing bytes)"));

        // Read in chunks so that a hostile header (a huge shape in a tiny gzip file) cannot make us allocate
        // more than the data that is actually there.
        var bytes = ReadPayload(s, payload, name, shape, type, gzip);
        Array data = type switch
        {
            IdxElementType.UInt8 => bytes,
            IdxElementType.Int8 => MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray(),
            IdxElementType.Int16 => FromBigEndian<short>(bytes, (int)count),
            IdxElementType.Int32 => FromBigEndian<int>(bytes, (int)count),
            IdxElementType.Float32 => FromBigEndian<float>(bytes, (int)count),
            _ => FromBigEndian<double>(bytes, (int)count),
        };
        return new IdxArray(data, shape);
    }

    private static byte[] ReadPayload(Stream s, long payload, string name, int[] shape, IdxElementType type, bool gzip)
    {
        var bytes = StreamBytes.ReadExactly(s, payload, out long read)
            ?? throw new IdxFormatException(name,
                $"shape {Shapes.Format(shape)} of {type} needs {payload} data bytes but the {(gzip ? "decompressed " : "")}file ends after {read} (truncated?)");
        if (StreamBytes.HasMore(s))
            throw new IdxFormatException(name, $"there are bytes after the {payload} data bytes that shape {Shapes.Format(shape)} of {type} needs");
        return bytes;
    }

    private static T[] FromBigEndian<T>(byte[] bytes, int count) where T : unmanaged
    {
        var result = new T[count];
        var raw = MemoryMarshal.AsBytes(result.AsSpan());
        bytes.CopyTo(raw);
        int size = raw.Length / Math.Max(count, 1);
        for (int i = 0; i < raw.Length; i += size) raw.Slice(i, size).Reverse();
        return result;
    }

    /// <summary>Writes <paramref name="array"/> as an IDX file (gzipped when <paramref name="gzip"/>), atomically.</summary>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        AtomicFile.Write(path, file =>
        {
            if (gzip)
            {
                using var z = new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true);
                Write(z, array);
            }
            else Write(file, array);
        });
    }

    /// <summary>Writes <paramref name="array"/> in IDX layout to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IdxArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        var header = new byte[4 + 4 * array.Shape.Length];
        header[2] = (byte)array.ElementType;
        header[3] = (byte)array.Shape.Length;
        for (int d = 0; d < array.Shape.Length; d++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * d), array.Shape[d]);
        stream.Write(header);
        switch (array.ElementType)
        {
            case IdxElementType.UInt8: stream.Write((byte[])array.Data); break;
            case IdxElementType.Int8: stream.Write(MemoryMarshal.AsBytes(((sbyte[])array.Data).AsSpan())); break;
            case IdxElementType.Int16: WriteBigEndian(stream, (short[])array.Data); break;
            case IdxElementType.Int32: WriteBigEndian(stream, (int[])array.Data); break;
            case IdxElementType.Float32: WriteBigEndian(stream, (float[])array.Data); break;
            default: WriteBigEndian(stream, (double[])array.Data); break;
        }
    }

    private static void WriteBigEndian<T>(Stream stream, T[] values) where T : unmanaged
    {
        var raw = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        int size = raw.Length / Math.Max(values.Length, 1);
        for (int i = 0; i < raw.Length; i += size) raw.AsSpan(i, size).Reverse();
        stream.Write(raw);
    }

    /// <summary>A stream that replays a few bytes already read before continuing with the rest of another stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty) return rest.Read(buffer);
            int n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
