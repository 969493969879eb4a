using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Aperture.IO;

/// <summary>
/// Reads and writes NumPy's <c>.npy</c> format (versions 1.0, 2.0 and 3.0): the magic <c>\x93NUMPY</c>, a version,
/// a little-endian header length, a Python dict literal <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 4), }</c>,
/// then the elements. Reads little-endian arrays in C or Fortran order (into a C-order tensor) of float32, float64, int64 and bool into tensors of the
/// same dtype, and the narrower types (<c>&lt;f2</c>, <c>&lt;i4</c>, <c>&lt;i2</c>, <c>|i1</c>, <c>|u1</c>,
/// <c>&lt;u2</c>, <c>&lt;u4</c>) widened without loss into float32 or int64. Every fault is an
/// <see cref="NpyFormatException"/> naming the file.
/// </summary>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The largest header Aperture reads; NumPy writes a few hundred bytes.</summary>
    public const int MaxHeaderLength = 1 << 20;

    /// <summary>The descriptors Aperture reads, for error messages.</summary>
    public const string SupportedDescriptors = "'<f4', '<f8', '<i8', '|b1' (kept), '<f2' (read as float32), '<i4', '<i2', '|i1', '|u1', '<u2', '<u4' (read as int64)";

    /// <summary>Reads an array from a <c>.npy</c> file.</summary>
    public static Tensor Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path);
    }

    /// <summary>Reads an array from <paramref name="stream"/> (to its end), naming it <paramref name="name"/> in errors.</summary>
    public static Tensor Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long? available = stream.CanSeek ? stream.Length - stream.Position : null;
        var prelude = new byte[8];
        int got = StreamBytes.ReadFully(stream, prelude);
        if (got < 8 || !prelude.AsSpan(0, 6).SequenceEqual(Magic))
            throw new NpyFormatException(name, "the file does not start with the NumPy magic \\x93NUMPY (is this a .npy file?)");
        int major = prelude[6], minor = prelude[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new NpyFormatException(name, $"format version {major}.{minor} is not one of 1.0, 2.0, 3.0");
        long headerLength;
        int lengthBytes = major == 1 ? 2 : 4;
        var lengthField = new byte[lengthBytes];
        if (StreamBytes.ReadFully(stream, lengthField) < lengthBytes)
            throw new NpyFormatException(name, "the file ends inside the header length");
        headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthField) : BinaryPrimitives.ReadUInt32LittleEndian(lengthField);
        long prefix = 8 + lengthBytes;
        if (headerLength > MaxHeaderLength)
            throw new NpyFormatException(name, $"the header claims {headerLength} bytes, more than the {MaxHeaderLength} Aperture accepts");
        if (available is { } a && prefix + headerLength > a)
            throw new NpyFormatException(name, $"the header claims {headerLength} bytes but the file has only {a - prefix} after the header length (truncated?)");
        var headerBytes = new byte[headerLength];
        if (StreamBytes.ReadFully(stream, headerBytes) < headerLength)
            throw new NpyFormatException(name, $"the file ends inside the {headerLength}-byte header (truncated?)");

        string header;
        try
        {
            header = (major == 3 ? new UTF8Encoding(false, true) : Encoding.Latin1).GetString(headerBytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new NpyFormatException(name, "the version 3.0 header is not valid UTF-8", e);
        }
        if (major < 3 && headerBytes.Any(b => b > 0x7F))
            throw new NpyFormatException(name, $"the version {major}.0 header has non-ASCII bytes");
        var (descr, fortran, shape) = ParseHeader(header, name);

        int itemSize = descr switch
        {
            "<f8" or "<i8" => 8,
            "<f4" or "<i4" or "<u4" => 4,
            "<f2" or "<i2" or "<u2" => 2,
            "|b1" or "|i1" or "|u1" => 1,
            _ when descr.StartsWith('>') => throw new NpyFormatException(name,
                $"dtype '{descr}' is big-endian; Aperture reads little-endian arrays (in NumPy: a.astype(a.dtype.newbyteorder('<')))"),
            _ => throw new NpyFormatException(name, $"dtype '{descr}' is not supported; Aperture reads {SupportedDescriptors}"),
        };
        long count = 1;
        foreach (int d in shape)
        {
            count *= d;
            if (count > int.MaxValue) throw new NpyFormatException(name, $"shape {Shapes.Format(shape)} has more than {int.MaxValue} elements");
        }
        long payload = count * itemSize;
        if (available is { } total && prefix + headerLength + payload != total)
            throw new NpyFormatException(name,
                $"shape {Shapes.Format(shape)} of '{descr}' needs {payload} data bytes but the file has {total - prefix - headerLength}" +
                (total - prefix - headerLength < payload ? " (truncated?)" : " (trailing bytes)"));
        var bytes = StreamBytes.ReadExactly(stream, payload, out long read)
            ?? throw new NpyFormatException(name, $"shape {Shapes.Format(shape)} of '{descr}' needs {payload} data bytes but the file ends after {read} (truncated?)");
        if (StreamBytes.HasMore(stream))
            throw new NpyFormatException(name, $"there are bytes after the {payload} data bytes of shape {Shapes.Format(shape)} of '{descr}'");
        if (!fortran || shape.Length < 2) return ToTensor(bytes, descr, (int)count, shape);
        // Fortran (column-major) order, as NumPy writes np.save(a.T) or an array from Fortran code: the elements are
        // the C-order elements of the reversed shape, so read that and reverse the dimensions back into C order.
        var reversed = shape.Reverse().ToArray();
        return StridedCopy.ToContiguous(ToTensor(bytes, descr, (int)count, reversed).T);
    }

    private static Tensor ToTensor(byte[] bytes, string descr, int n, int[] shape)
    {
        switch (descr)
        {
            case "<f4": return Tensor.Wrap(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), shape);
            case "<f8": return Tensor.Wrap(MemoryMarshal.Cast<byte, double>(bytes).ToArray(), shape);
            case "<i8": return Tensor.Wrap(MemoryMarshal.Cast<byte, long>(bytes).ToArray(), shape);
            case "|b1":
            {
                var b = new bool[n];
                for (int i = 0; i < n; i++) b[i] = bytes[i] != 0;
                return Tensor.Wrap(b, shape);
            }
            case "<f2":
            {
                var f = new float[n];
                var h = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < n; i++) f[i] = (float)h[i];
                return Tensor.Wrap(f, shape);
            }
        }
        var longs = new long[n];
        switch (descr)
        {
            case "<i4": { var v = MemoryMarshal.Cast<byte, int>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "<u4": { var v = MemoryMarshal.Cast<byte, uint>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "<i2": { var v = MemoryMarshal.Cast<byte, short>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "<u2": { var v = MemoryMarshal.Cast<byte, ushort>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "|i1": for (int i = 0; i < n; i++) longs[i] = (sbyte)bytes[i]; break;
            default: for (int i = 0; i < n; i++) longs[i] = bytes[i]; break;
        }
        return Tensor.Wrap(longs, shape);
    }

    /// <summary>Writes <paramref name="tensor"/> as a version 1.0 <c>.npy</c> file (2.0 when the header needs it), atomically.</summary>
    public static void Write(string path, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        AtomicFile.Write(path, s => Write(s, tensor));
    }

    /// <summary>Writes <paramref name="tensor"/> in <c>.npy</c> layout to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        string descr = tensor.DType switch
        {
            DType.Float32 => "<f4",
            DType.Float64 => "<f8",
            DType.Int64 => "<i8",
            _ => "|b1",
        };
        var dims = new StringBuilder();
        foreach (int d in tensor.Shape) dims.Append(d.ToString(CultureInfo.InvariantCulture)).Append(", ");
        string shape = tensor.Rank switch { 0 => "()", 1 => $"({dims.ToString().TrimEnd()})", _ => $"({dims.ToString().TrimEnd(',', ' ')})" };
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        // NumPy pads with spaces and ends with a newline so that the data starts at a multiple of 64 bytes.
        int major = dict.Length + 1 + 10 < 65536 ? 1 : 2;
        int prefix = major == 1 ? 10 : 12;
        int padded = (prefix + dict.Length + 1 + 63) / 64 * 64 - prefix;
        string header = dict.PadRight(padded - 1) + "\n";
        var head = new byte[prefix];
        Magic.CopyTo(head);
        head[6] = (byte)major;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(8), (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), (uint)header.Length);
        stream.Write(head);
        stream.Write(Encoding.ASCII.GetBytes(header));
        switch (tensor.DType)
        {
            case DType.Float32: stream.Write(MemoryMarshal.AsBytes(tensor.ToArray<float>().AsSpan())); break;
            case DType.Float64: stream.Write(MemoryMarshal.AsBytes(tensor.ToArray<double>().AsSpan())); break;
            case DType.Int64: stream.Write(MemoryMarshal.AsBytes(tensor.ToArray<long>().AsSpan())); break;
            default:
            {
                var b = tensor.ToArray<bool>();
                var bytes = new byte[b.Length];
                for (int i = 0; i < b.Length; i++) bytes[i] = b[i] ? (byte)1 : (byte)0;
                stream.Write(bytes);
                break;
            }
        }
    }

    // ---- the header: a Python dict literal ---------------------------------------------------------

    private static (string Descr, bool Fortran, int[] Shape) ParseHeader(string header, string name)
    {
        var p = new LiteralParser(header, name);
        p.Skip();
        p.Expect('{');
        string? descr = null;
        bool? fortran = null;
        int[]? shape = null;
        while (true)
        {
            p.Skip();
            if (p.TryConsume('}')) break;
            string key = p.String();
            p.Skip();
            p.Expect(':');
            p.Skip();
            switch (key)
            {
                case "descr" when descr is null:
                    if (p.Peek() is '[' or '{') throw p.Error("'descr' is a structured dtype; Aperture reads plain arrays only");
                    descr = p.String();
                    break;
                case "fortran_order" when fortran is null: fortran = p.Bool(); break;
                case "shape" when shape is null: shape = p.IntTuple(); break;
                case "descr" or "fortran_order" or "shape": throw p.Error($"the key '{key}' appears twice");
                default: throw p.Error($"unexpected key '{key}' (a .npy header has 'descr', 'fortran_order' and 'shape')");
            }
            p.Skip();
            if (p.TryConsume(',')) continue;
            p.Skip();
            p.Expect('}');
            break;
        }
        p.Skip();
        if (!p.AtEnd) throw p.Error("unexpected text after the header dict");
        if (descr is null || fortran is null || shape is null)
            throw new NpyFormatException(name, "the header lacks " + string.Join(", ",
                new[] { descr is null ? "'descr'" : null, fortran is null ? "'fortran_order'" : null, shape is null ? "'shape'" : null }.Where(s => s is not null)));
        return (descr, fortran.Value, shape);
    }

    private sealed class LiteralParser(string text, string name)
    {
        private int _pos;

        public bool AtEnd => _pos >= text.Length;

        public char Peek() => _pos < text.Length ? text[_pos] : '\0';

        public NpyFormatException Error(string what) => new(name, $"header: {what} (at character {_pos} of \"{Shorten(text)}\")");

        private static string Shorten(string s) => s.Length <= 120 ? s.TrimEnd() : s[..120] + "...";

        public void Skip()
        {
            while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r') _pos++;
        }

        public bool TryConsume(char c)
        {
            if (Peek() != c || AtEnd) return false;
            _pos++;
            return true;
        }

        public void Expect(char c)
        {
            if (!TryConsume(c)) throw Error(AtEnd ? $"expected '{c}', found the end" : $"expected '{c}', found '{text[_pos]}'");
        }

        public string String()
        {
            char quote = Peek();
            if (quote is not ('\'' or '"')) throw Error("expected a quoted string");
            int start = ++_pos;
            while (_pos < text.Length && text[_pos] != quote)
            {
                if (text[_pos] == '\\') throw Error("escapes in strings are not supported");
                _pos++;
            }
            if (AtEnd) throw Error("unterminated string");
            return text[start.._pos++];
        }

        public bool Bool()
        {
            if (Match("True")) return true;
            if (Match("False")) return false;
            throw Error("expected True or False");
        }

        private bool Match(string word)
        {
            if (string.CompareOrdinal(text, _pos, word, 0, word.Length) != 0) return false;
            _pos += word.Length;
            return true;
        }

        public int[] IntTuple()
        {
            Expect('(');
            var dims = new List<int>();
            while (true)
            {
                Skip();
                if (TryConsume(')')) break;
                int start = _pos;
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
                if (_pos == start) throw Error("expected a non-negative integer dimension");
                if (!int.TryParse(text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int d))
                    throw Error($"dimension {text[start.._pos]} is larger than {int.MaxValue}");
                TryConsume('L'); // Python 2 wrote long integers as 3L
                dims.Add(d);
                Skip();
                if (TryConsume(',')) continue;
                Skip();
                Expect(')');
                break;
            }
            if (dims.Count > 64) throw Error($"{dims.Count} dimensions is more than 64");
            return [.. dims];
        }
    }
}
