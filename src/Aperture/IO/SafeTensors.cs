using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Aperture.IO;

/// <summary>The tensors and metadata of a safetensors file, as <see cref="SafeTensors.Load(string)"/> returns them.</summary>
public sealed class SafeTensorsFile
{
    internal SafeTensorsFile(Dictionary<string, Tensor> tensors, Dictionary<string, string> storedDTypes, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        StoredDTypes = storedDTypes;
        Metadata = metadata;
    }

    /// <summary>The tensors by name, in the order of their data in the file.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The dtype each tensor had in the file (<c>F32</c>, <c>BF16</c>, ...): it differs from the tensor's when a narrower type was widened.</summary>
    public IReadOnlyDictionary<string, string> StoredDTypes { get; }

    /// <summary>The string-to-string <c>__metadata__</c> of the header (empty when there was none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}

/// <summary>
/// The safetensors format of Hugging Face and PyTorch: an 8-byte little-endian header size N, N bytes of JSON
/// (<c>{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}}</c>, padded
/// with spaces), then the byte buffer that the offsets index. Tensors are little-endian and row-major.
/// </summary>
/// <remarks>
/// The reader treats every byte as hostile and checks what the format promises before it allocates: the header
/// size against the file and a 100 MB limit, the JSON, every entry's keys and types, each dtype, that shape × dtype
/// size equals the byte range, and that the ranges tile the buffer exactly (no gap, overlap or bytes left over).
/// Any fault is a <see cref="SafeTensorsFormatException"/> naming the file. The writer writes to a temporary file
/// and renames it, so a crash never leaves a half-written checkpoint.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderSize = 100_000_000;

    /// <summary>The name of the optional string-to-string metadata entry of the header.</summary>
    public const string MetadataKey = "__metadata__";

    private const string Supported = "F32, F64, I64, BOOL; F16 and BF16 (read as float32); I32, I16, I8, U8, U16, U32 (read as int64)";

    /// <summary>Byte size and the tensor dtype each stored dtype is read into.</summary>
    private static (int Size, DType Into)? Describe(string dtype) => dtype switch
    {
        "F32" => (4, DType.Float32),
        "F64" => (8, DType.Float64),
        "I64" => (8, DType.Int64),
        "BOOL" => (1, DType.Bool),
        "F16" or "BF16" => (2, DType.Float32),
        "I32" or "U32" => (4, DType.Int64),
        "I16" or "U16" => (2, DType.Int64),
        "I8" or "U8" => (1, DType.Int64),
        _ => null,
    };

    private static string StoredName(DType dtype) => dtype switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        _ => "BOOL",
    };

    // ---- writing ----------------------------------------------------------------------------------

    /// <summary>
    /// Writes <paramref name="tensors"/> (and optional <paramref name="metadata"/>) to <paramref name="path"/>,
    /// atomically. Tensors are laid out by element size (largest first) and then by name, so each is aligned to
    /// its element size in the file.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(tensors, metadata);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>The bytes of a safetensors file holding <paramref name="tensors"/> and <paramref name="metadata"/>.</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("SafeTensors: writing needs a little-endian machine");
        var entries = new List<(string Name, Tensor Tensor)>();
        foreach (var (name, tensor) in tensors)
        {
            if (name == MetadataKey) throw new ArgumentException($"SafeTensors.Save: '{MetadataKey}' is reserved for the metadata and cannot name a tensor", nameof(tensors));
            if (tensor is null) throw new ArgumentException($"SafeTensors.Save: tensor '{name}' is null", nameof(tensors));
            entries.Add((name, tensor));
        }
        entries.Sort((a, b) =>
        {
            int bySize = b.Tensor.DType.SizeOf().CompareTo(a.Tensor.DType.SizeOf());
            return bySize != 0 ? bySize : string.CompareOrdinal(a.Name, b.Name);
        });

        using var json = new MemoryStream();
        long offset = 0;
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (value is null) throw new ArgumentException($"SafeTensors.Save: metadata '{key}' is null; metadata values are strings", nameof(metadata));
                    w.WriteString(key, value);
                }
                w.WriteEndObject();
            }
            foreach (var (name, tensor) in entries)
            {
                long length = (long)tensor.Numel * tensor.DType.SizeOf();
                w.WriteStartObject(name);
                w.WriteString("dtype", StoredName(tensor.DType));
                w.WriteStartArray("shape");
                foreach (int d in tensor.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += length;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces so that the data starts at a multiple of 8 bytes, as the reference writer does.
        int headerLength = (int)((8 + json.Length + 7) / 8 * 8 - 8);
        long total = 8 + headerLength + offset;
        if (total > Array.MaxLength) throw new ArgumentException($"SafeTensors.Save: {total} bytes do not fit in one file buffer", nameof(tensors));
        var file = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)headerLength);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(file.AsSpan(8));
        file.AsSpan(8 + (int)json.Length, headerLength - (int)json.Length).Fill((byte)' ');
        var data = file.AsSpan(8 + headerLength);
        int at = 0;
        foreach (var (_, tensor) in entries)
        {
            switch (tensor.DType)
            {
                case DType.Float32: Copy<float>(tensor, data, ref at); break;
                case DType.Float64: Copy<double>(tensor, data, ref at); break;
                case DType.Int64: Copy<long>(tensor, data, ref at); break;
                default:
                    foreach (bool b in tensor.ToArray<bool>()) data[at++] = b ? (byte)1 : (byte)0;
                    break;
            }
        }
        return file;
    }

    private static void Copy<T>(Tensor t, Span<byte> data, ref int at) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(t.ToArray<T>().AsSpan());
        bytes.CopyTo(data[at..]);
        at += bytes.Length;
    }

    // ---- reading ----------------------------------------------------------------------------------

    /// <summary>Reads and validates a safetensors file.</summary>
    public static SafeTensorsFile Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Load(file, path);
    }

    /// <summary>Reads and validates safetensors bytes held in memory, naming them <paramref name="name"/> in errors.</summary>
    public static SafeTensorsFile Load(byte[] bytes, string name)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var s = new MemoryStream(bytes, writable: false);
        return Load(s, name);
    }

    /// <summary>Reads and validates a safetensors file from a seekable <paramref name="stream"/> (from its position to its end).</summary>
    public static SafeTensorsFile Load(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek) throw new ArgumentException("SafeTensors.Load: the stream must be seekable (its length bounds the header)", nameof(stream));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("SafeTensors: reading needs a little-endian machine");
        long length = stream.Length - stream.Position;
        if (length < 8) throw Fail(name, $"the file has {length} bytes, fewer than the 8 of the header size");
        Span<byte> sizeField = stackalloc byte[8];
        StreamBytes.ReadFully(stream, sizeField);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(sizeField);
        if (n > MaxHeaderSize) throw Fail(name, $"the header size is {n} bytes, more than the {MaxHeaderSize} allowed (is this a safetensors file?)");
        if ((long)n > length - 8) throw Fail(name, $"the header size is {n} bytes but only {length - 8} bytes follow (truncated?)");
        if (n < 2) throw Fail(name, $"the header size is {n} bytes, too small for a JSON object");
        var header = new byte[n];
        StreamBytes.ReadFully(stream, header);
        if (header[0] != (byte)'{') throw Fail(name, $"the header starts with byte 0x{header[0]:X2}, not '{{'");
        long bufferLength = length - 8 - (long)n;

        var entries = ParseHeader(header, name, out var metadata);
        CheckLayout(entries, bufferLength, name);

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var bytes = new byte[e.End - e.Begin];
            if (StreamBytes.ReadFully(stream, bytes) < bytes.Length)
                throw Fail(name, $"the file ended while reading tensor '{e.Name}' (it changed while being read?)");
            tensors[e.Name] = Decode(e, bytes, name);
            stored[e.Name] = e.DType;
        }
        return new SafeTensorsFile(tensors, stored, metadata);
    }

    private sealed record Entry(string Name, string DType, int[] Shape, long Begin, long End);

    private static SafeTensorsFormatException Fail(string name, string reason, Exception? inner = null) => new(name, reason, inner);

    private static List<Entry> ParseHeader(byte[] header, string name, out Dictionary<string, string> metadata)
    {
        // The JSON reader checks structure but leaves the bytes inside strings to be decoded on demand, where bad
        // UTF-8 would surface as an InvalidOperationException: check the whole header first.
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw Fail(name, "the header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Fail(name, $"the header is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return ReadHeader(doc, name, out metadata);
            }
            catch (InvalidOperationException e)
            {
                // JSON allows an escaped lone UTF-16 surrogate ("\ud800"), which is valid JSON and valid UTF-8 but no
                // Unicode text; System.Text.Json reports it only when the string is decoded, with this exception.
                throw Fail(name, "the header holds a string that is not valid Unicode (an escaped lone UTF-16 surrogate such as \\ud800) in a tensor name, a dtype or the metadata", e);
            }
        }
    }

    private static List<Entry> ReadHeader(JsonDocument doc, string name, out Dictionary<string, string> metadata)
    {
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Fail(name, $"the header is a JSON {root.ValueKind}, not an object");
        metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        foreach (var property in root.EnumerateObject())
        {
            string key = property.Name;
            if (!seen.Add(key)) throw Fail(name, $"the header names '{key}' twice");
            if (key == MetadataKey)
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw Fail(name, $"'{MetadataKey}' is a JSON {property.Value.ValueKind}, not an object of strings");
                foreach (var m in property.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Fail(name, $"metadata '{m.Name}' is a JSON {m.Value.ValueKind}, not a string");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Fail(name, $"metadata names '{m.Name}' twice");
                }
                continue;
            }
            entries.Add(ParseEntry(key, property.Value, name));
        }
        return entries;
    }

    private static Entry ParseEntry(string tensor, JsonElement value, string name)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Fail(name, $"tensor '{tensor}' is a JSON {value.ValueKind}, not an object");
        string? dtype = null;
        int[]? shape = null;
        long[]? offsets = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtype is null:
                    if (field.Value.ValueKind != JsonValueKind.String) throw Fail(name, $"tensor '{tensor}': dtype is a JSON {field.Value.ValueKind}, not a string");
                    dtype = field.Value.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = Integers(field.Value, tensor, "shape", int.MaxValue, name).Select(v => (int)v).ToArray();
                    break;
                case "data_offsets" when offsets is null:
                    offsets = Integers(field.Value, tensor, "data_offsets", long.MaxValue, name);
                    if (offsets.Length != 2) throw Fail(name, $"tensor '{tensor}': data_offsets has {offsets.Length} numbers, not 2 ([begin, end])");
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw Fail(name, $"tensor '{tensor}' has '{field.Name}' twice");
                default:
                    throw Fail(name, $"tensor '{tensor}' has an unexpected key '{field.Name}' (expected dtype, shape, data_offsets)");
            }
        }
        if (dtype is null || shape is null || offsets is null)
            throw Fail(name, $"tensor '{tensor}' lacks {(dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets")}");
        if (Describe(dtype) is not { } d)
            throw Fail(name, $"tensor '{tensor}' has dtype '{dtype}', which Aperture does not read; supported: {Supported}");
        long begin = offsets[0], end = offsets[1];
        if (end < begin) throw Fail(name, $"tensor '{tensor}': data_offsets [{begin}, {end}] ends before it begins");
        Int128 count = 1;
        foreach (int dim in shape)
        {
            count *= dim;
            if (count > int.MaxValue) throw Fail(name, $"tensor '{tensor}': shape {Shapes.Format(shape)} has more than {int.MaxValue} elements, more than an Aperture tensor holds");
        }
        if (count * d.Size != end - begin)
            throw Fail(name, $"tensor '{tensor}': shape {Shapes.Format(shape)} of {dtype} needs {count * d.Size} bytes but data_offsets [{begin}, {end}] span {end - begin}");
        if (end - begin > Array.MaxLength) throw Fail(name, $"tensor '{tensor}' has {end - begin} bytes, more than one buffer holds");
        return new Entry(tensor, dtype, shape, begin, end);
    }

    private static long[] Integers(JsonElement value, string tensor, string field, long max, string name)
    {
        if (value.ValueKind != JsonValueKind.Array) throw Fail(name, $"tensor '{tensor}': {field} is a JSON {value.ValueKind}, not an array of integers");
        var result = new long[value.GetArrayLength()];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw Fail(name, $"tensor '{tensor}': {field}[{i}] is {Show(item)}, not a non-negative integer");
            if (v > max) throw Fail(name, $"tensor '{tensor}': {field}[{i}] = {v} is too large");
            result[i++] = v;
        }
        return result;
    }

    private static string Show(JsonElement e)
    {
        string raw = e.GetRawText();
        return raw.Length > 40 ? raw[..40] + "..." : raw;
    }

    /// <summary>Checks that the byte ranges tile [0, bufferLength) exactly, then orders the entries by offset.</summary>
    private static void CheckLayout(List<Entry> entries, long bufferLength, string name)
    {
        foreach (var e in entries)
            if (e.End > bufferLength)
                throw Fail(name, $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] reach past the {bufferLength}-byte data buffer (truncated?)");
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        string? previous = null;
        foreach (var e in entries)
        {
            if (e.Begin < expected)
                throw Fail(name, $"tensor '{e.Name}' at [{e.Begin}, {e.End}] overlaps tensor '{previous}', which ends at {expected}");
            if (e.Begin > expected)
                throw Fail(name, previous is null
                    ? $"the data buffer starts with {e.Begin} bytes that no tensor covers (the first, '{e.Name}', begins at {e.Begin})"
                    : $"bytes [{expected}, {e.Begin}) between tensors '{previous}' and '{e.Name}' belong to no tensor");
            expected = e.End;
            previous = e.Name;
        }
        if (expected != bufferLength)
            throw Fail(name, $"the data buffer has {bufferLength} bytes but the tensors cover only {expected} (trailing bytes)");
    }

    private static Tensor Decode(Entry e, byte[] bytes, string name)
    {
        int n = Shapes.Numel(e.Shape);
        switch (e.DType)
        {
            case "F32": return Tensor.Wrap(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), e.Shape);
            case "F64": return Tensor.Wrap(MemoryMarshal.Cast<byte, double>(bytes).ToArray(), e.Shape);
            case "I64": return Tensor.Wrap(MemoryMarshal.Cast<byte, long>(bytes).ToArray(), e.Shape);
            case "BOOL":
            {
                var b = new bool[n];
                for (int i = 0; i < n; i++)
                {
                    if (bytes[i] > 1) throw Fail(name, $"tensor '{e.Name}' (BOOL) holds byte 0x{bytes[i]:X2} at element {i}; a BOOL byte is 0 or 1");
                    b[i] = bytes[i] == 1;
                }
                return Tensor.Wrap(b, e.Shape);
            }
            case "F16":
            {
                var h = MemoryMarshal.Cast<byte, Half>(bytes);
                var f = new float[n];
                for (int i = 0; i < n; i++) f[i] = (float)h[i];
                return Tensor.Wrap(f, e.Shape);
            }
            case "BF16":
            {
                // bfloat16 is the upper half of a float32, so widening is exact: shift the bits into place.
                var u = MemoryMarshal.Cast<byte, ushort>(bytes);
                var f = new float[n];
                for (int i = 0; i < n; i++) f[i] = BitConverter.Int32BitsToSingle(u[i] << 16);
                return Tensor.Wrap(f, e.Shape);
            }
        }
        var longs = new long[n];
        switch (e.DType)
        {
            case "I32": { var v = MemoryMarshal.Cast<byte, int>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "U32": { var v = MemoryMarshal.Cast<byte, uint>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "I16": { var v = MemoryMarshal.Cast<byte, short>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "U16": { var v = MemoryMarshal.Cast<byte, ushort>(bytes); for (int i = 0; i < n; i++) longs[i] = v[i]; break; }
            case "I8": for (int i = 0; i < n; i++) longs[i] = (sbyte)bytes[i]; break;
            default: for (int i = 0; i < n; i++) longs[i] = bytes[i]; break;
        }
        return Tensor.Wrap(longs, e.Shape);
    }
}
