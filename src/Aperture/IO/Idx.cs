using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
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
/// <remarks>
/// Memory is bounded by what the file declares and by a cap: a header whose data would exceed <c>maxBytes</c>
/// (<see cref="DefaultMaxBytes"/>, 1 GiB, unless given) is refused before anything is read, and the data is read in
/// chunks that grow with the bytes actually there, so a small file that claims a huge shape cannot make the reader
/// allocate it. A plain file of known length is read straight into the element array (one copy); a gzipped one is
/// inflated in chunks and copied once into it. A gzip file is read as one member (what gzip(1), Python's gzip module
/// and .NET write) and checked as RFC 1952 says: its header, its deflate data, and its 8-byte trailer, whose CRC-32
/// and size must match the inflated data, so a truncated file (a trailer missing or cut) or a corrupt one is refused
/// with a message saying which.
/// </remarks>
public static class Idx
{
    /// <summary>The default cap on an IDX file's data, in bytes (1 GiB): the largest array <see cref="Read(string, long)"/> reads unless told otherwise.</summary>
    public const long DefaultMaxBytes = 1L << 30;

    /// <summary>Reads an IDX file, plain or gzipped, whose data is at most <paramref name="maxBytes"/> bytes.</summary>
    public static IdxArray Read(string path, long maxBytes = DefaultMaxBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path, maxBytes);
    }

    /// <summary>
    /// Reads an IDX array from <paramref name="stream"/> (plain or gzipped; read to its end), naming it
    /// <paramref name="name"/> in errors. Its data may be at most <paramref name="maxBytes"/> bytes.
    /// </summary>
    public static IdxArray Read(Stream stream, string name, long maxBytes = DefaultMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (maxBytes < 0) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "Idx.Read: maxBytes must be ≥ 0");
        var first = new byte[2];
        int got = StreamBytes.ReadFully(stream, first);
        bool gzip = got == 2 && first[0] == 0x1F && first[1] == 0x8B;
        if (!gzip)
        {
            long? length = stream.CanSeek ? stream.Length - stream.Position + got : null;
            return Parse(new PrefixedStream(first.AsMemory(0, got), stream), name, length, gzip: false, maxBytes);
        }
        return ReadGzip(first, stream, name, maxBytes);
    }

    /// <summary>
    /// Reads an IDX file straight into a tensor (<see cref="IdxArray.ToTensor"/>'s dtypes) without the intermediate
    /// copy of <c>Read(path).ToTensor()</c>: float data becomes the tensor's storage as it is, and integers are widened
    /// to int64 once. <paramref name="maxBytes"/> caps the file's data as in <see cref="Read(string, long)"/>.
    /// </summary>
    public static Tensor ReadTensor(string path, long maxBytes = DefaultMaxBytes)
    {
        var array = Read(path, maxBytes);
        return array.Data switch
        {
            float[] f => Tensor.Wrap(f, array.Shape),     // the array is ours alone: no copy needed
            double[] d => Tensor.Wrap(d, array.Shape),
            _ => array.ToTensor(),
        };
    }

    // ---- gzip (RFC 1952) ---------------------------------------------------------------------------------

    private static IdxArray ReadGzip(byte[] first, Stream stream, string name, long maxBytes)
    {
        // The compressed bytes, whole: the trailer is their last 8 bytes (DeflateStream reads ahead, so where the
        // deflate data ends cannot be learnt from it). Compressed data is at most a little larger than its inflated
        // size, so the cap bounds it too.
        long compressedCap = maxBytes + maxBytes / 256 + (1 << 20);
        var compressed = ReadAll(new PrefixedStream(first, stream), compressedCap)
            ?? throw new IdxFormatException(name, $"the gzip file is larger than {compressedCap} bytes, more than data of at most {maxBytes} bytes (Idx.Read's maxBytes) can compress to");
        int bodyStart = GzipHeaderLength(compressed, name);
        if (compressed.Length - bodyStart < 8)
            throw new IdxFormatException(name, $"the gzip file ends after {compressed.Length} bytes, before its deflate data and 8-byte trailer (truncated?)");
        int bodyEnd = compressed.Length - 8;
        uint expectedCrc = BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(bodyEnd));
        uint expectedSize = BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(bodyEnd + 4));

        using var deflate = new DeflateStream(new MemoryStream(compressed, bodyStart, bodyEnd - bodyStart, writable: false), CompressionMode.Decompress);
        var inflated = new CheckedStream(deflate);
        IdxArray result;
        try
        {
            result = Parse(inflated, name, length: null, gzip: true, maxBytes);
        }
        catch (IdxFormatException)
        {
            // The contents look wrong; but if the gzip layer is broken (a cut file, a bad CRC), that is the real fault.
            CheckTrailer(inflated, expectedCrc, expectedSize, name, maxBytes, afterFailure: true);
            throw;
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(name, $"the gzip file's deflate data is corrupt after {inflated.Count} inflated bytes ({e.Message})", e);
        }
        CheckTrailer(inflated, expectedCrc, expectedSize, name, maxBytes, afterFailure: false);
        return result;
    }

    /// <summary>The length of the gzip member header at the start of <paramref name="b"/> (RFC 1952, section 2.3).</summary>
    private static int GzipHeaderLength(byte[] b, string name)
    {
        if (b.Length < 10) throw new IdxFormatException(name, $"the gzip file ends after {b.Length} bytes, inside its 10-byte header (truncated?)");
        if (b[2] != 8) throw new IdxFormatException(name, $"the gzip header names compression method {b[2]}; gzip defines only 8 (deflate)");
        byte flags = b[3];
        if ((flags & 0xE0) != 0) throw new IdxFormatException(name, $"the gzip header sets reserved flag bits (flags 0x{flags:X2})");
        long at = 10;
        if ((flags & 0x04) != 0)                           // FEXTRA: a length, then that many bytes
        {
            if (at + 2 > b.Length) throw new IdxFormatException(name, "the gzip header's extra field is cut off (truncated?)");
            at += 2 + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan((int)at));
        }
        foreach (int flag in new[] { 0x08, 0x10 })       // FNAME, FCOMMENT: zero-terminated strings
        {
            if ((flags & flag) == 0) continue;
            if (at >= b.Length) throw new IdxFormatException(name, "the gzip header is cut off inside its file name or comment (truncated?)");
            int end = Array.IndexOf(b, (byte)0, (int)at);
            if (end < 0) throw new IdxFormatException(name, "the gzip header's file name or comment has no terminating zero byte (truncated?)");
            at = end + 1;
        }
        if ((flags & 0x02) != 0) at += 2;                  // FHCRC
        if (at > b.Length) throw new IdxFormatException(name, "the gzip header is cut off (truncated?)");
        return (int)at;
    }

    /// <summary>
    /// Reads what is left of the inflated data (at most past the cap) and compares its size and CRC-32 with the
    /// gzip trailer, throwing the gzip-level error when they differ.
    /// </summary>
    // afterFailure: the contents were already refused; then data past the cap (not read, so its trailer cannot be
    // checked) leaves the contents' error standing.
    private static void CheckTrailer(CheckedStream inflated, uint expectedCrc, uint expectedSize, string name, long maxBytes, bool afterFailure)
    {
        var scratch = new byte[1 << 16];
        try
        {
            while (inflated.Count <= maxBytes + 16 && inflated.Read(scratch) > 0) { }
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(name, $"the gzip file's deflate data is corrupt after {inflated.Count} inflated bytes ({e.Message})", e);
        }
        if (inflated.Count > maxBytes + 16)
        {
            if (afterFailure) return;
            throw new IdxFormatException(name, $"the gzip data inflates to more than the {maxBytes}-byte cap (Idx.Read's maxBytes)");
        }
        if ((uint)inflated.Count != expectedSize)
            throw new IdxFormatException(name,
                $"the gzip data inflates to {inflated.Count} bytes but the gzip trailer records {expectedSize}: the file is truncated (its 8-byte trailer missing or cut short) or corrupt");
        if (inflated.Crc != expectedCrc)
            throw new IdxFormatException(name,
                $"CRC error: the inflated data's CRC-32 is 0x{inflated.Crc:X8} but the gzip trailer records 0x{expectedCrc:X8}; the file is corrupt");
    }

    /// <summary>The whole stream, or null when it holds more than <paramref name="cap"/> bytes (read in chunks: memory follows the bytes there).</summary>
    private static byte[]? ReadAll(Stream s, long cap)
    {
        var chunks = new List<byte[]>();
        long total = 0;
        int size = 1 << 16;
        while (true)
        {
            // Chunks double up to 1 MiB: a small file costs little, a large one few chunks.
            var chunk = new byte[size];
            size = Math.Min(size * 2, 1 << 20);
            int got = StreamBytes.ReadFully(s, chunk);
            if (got == 0) break;
            total += got;
            if (total > cap || total > Array.MaxLength) return null;
            chunks.Add(got == chunk.Length ? chunk : chunk[..got]);
            if (got < chunk.Length) break;
        }
        var all = new byte[total];
        int at = 0;
        foreach (var c in chunks)
        {
            c.CopyTo(all, at);
            at += c.Length;
        }
        return all;
    }

    // ---- the IDX layout ----------------------------------------------------------------------------------

    private static IdxArray Parse(Stream s, string name, long? length, bool gzip, long maxBytes)
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
        if (payload > maxBytes)
            throw new IdxFormatException(name,
                $"shape {Shapes.Format(shape)} of {type} declares {payload} data bytes, more than the cap of {maxBytes} (pass a larger maxBytes to Idx.Read to read it)");
        if (length is { } total && total != header + payload)
            throw new IdxFormatException(name,
                $"shape {Shapes.Format(shape)} of {type} needs {header + payload} bytes but the file has {total}" +
                (total < header + payload ? " (truncated?)" : " (trailing bytes)"));

        // A plain file whose length matches the header is read straight into the element array. Otherwise (gzip, or a
        // stream of unknown length) the bytes are read in chunks, so that a hostile header cannot make us allocate
        // more than the data that is actually there, and copied once into the array.
        Array data = type switch
        {
            IdxElementType.UInt8 => ReadElements<byte>(s, (int)count, length is not null, name, shape, type, gzip),
            IdxElementType.Int8 => ReadElements<sbyte>(s, (int)count, length is not null, name, shape, type, gzip),
            IdxElementType.Int16 => ReadElements<short>(s, (int)count, length is not null, name, shape, type, gzip),
            IdxElementType.Int32 => ReadElements<int>(s, (int)count, length is not null, name, shape, type, gzip),
            IdxElementType.Float32 => ReadElements<float>(s, (int)count, length is not null, name, shape, type, gzip),
            _ => ReadElements<double>(s, (int)count, length is not null, name, shape, type, gzip),
        };
        if (StreamBytes.HasMore(s))
            throw new IdxFormatException(name, $"there are bytes after the {payload} data bytes that shape {Shapes.Format(shape)} of {type} needs");
        return new IdxArray(data, shape);
    }

    private static T[] ReadElements<T>(Stream s, int count, bool lengthChecked, string name, int[] shape, IdxElementType type, bool gzip) where T : unmanaged
    {
        long payload = (long)count * Unsafe.SizeOf<T>();
        T[] result;
        long read;
        if (lengthChecked)
        {
            result = GC.AllocateUninitializedArray<T>(count);
            read = StreamBytes.ReadFully(s, MemoryMarshal.AsBytes(result.AsSpan()));
        }
        else
        {
            var chunks = StreamBytes.ReadChunks(s, payload, out read);
            result = chunks is null ? [] : GC.AllocateUninitializedArray<T>(count);
            if (chunks is not null)
            {
                var into = MemoryMarshal.AsBytes(result.AsSpan());
                for (int c = 0, at = 0; c < chunks.Count; c++)
                {
                    chunks[c].CopyTo(into[at..]);
                    at += chunks[c].Length;
                    chunks[c] = [];                        // let the chunk go as soon as it is copied
                }
            }
        }
        if (read < payload)
            throw new IdxFormatException(name,
                $"shape {Shapes.Format(shape)} of {type} needs {payload} data bytes but the {(gzip ? "decompressed " : "")}file ends after {read} (truncated?)");
        // IDX is big-endian: swap each element in place.
        if (BitConverter.IsLittleEndian && Unsafe.SizeOf<T>() > 1)
        {
            var span = result.AsSpan();
            switch (Unsafe.SizeOf<T>())
            {
                case 2: { var v = MemoryMarshal.Cast<T, short>(span); BinaryPrimitives.ReverseEndianness(v, v); break; }
                case 4: { var v = MemoryMarshal.Cast<T, int>(span); BinaryPrimitives.ReverseEndianness(v, v); break; }
                default: { var v = MemoryMarshal.Cast<T, long>(span); BinaryPrimitives.ReverseEndianness(v, v); break; }
            }
        }
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

    /// <summary>Passes reads through, counting the bytes and computing their CRC-32 (the gzip trailer's checksum).</summary>
    private sealed class CheckedStream(Stream inner) : Stream
    {
        private uint _crc = 0xFFFFFFFFu;

        public long Count { get; private set; }

        public uint Crc => ~_crc;

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _crc = Crc32.Update(_crc, buffer[..n]);
            Count += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int ReadByte()
        {
            Span<byte> one = stackalloc byte[1];
            return Read(one) == 1 ? one[0] : -1;
        }
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
