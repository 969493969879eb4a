using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Aperture.IO;

namespace Aperture.Tests.IO;

public class SafeTensorsTests
{
    internal static Dictionary<string, Tensor> Zoo() => new()
    {
        ["layers.0.weight"] = Tensor.Wrap(new[] { 1.5f, -0f, float.NaN, float.Epsilon, float.MaxValue, -3f }, [2, 3]),
        ["layers.0.bias"] = Tensor.Wrap(new[] { Math.PI, double.NegativeInfinity, 1e-310 }, [3]),
        ["step"] = Tensor.Scalar(12, DType.Int64),
        ["counts"] = Tensor.Wrap(new[] { long.MinValue, 0, long.MaxValue }, [3, 1]),
        ["mask"] = Tensor.Wrap(new[] { true, false, true, true, false }, [5]),
        ["empty"] = Tensor.Zeros([0, 4]),
        ["transposed"] = Tensor.Wrap(new[] { 1f, 2, 3, 4, 5, 6 }, [2, 3]).T,
    };

    internal static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.DType, actual.DType);
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        switch (expected.DType)
        {
            case DType.Float32:
                Assert.Equal(expected.ToArray<float>().Select(BitConverter.SingleToInt32Bits), actual.ToArray<float>().Select(BitConverter.SingleToInt32Bits));
                break;
            case DType.Float64:
                Assert.Equal(expected.ToArray<double>().Select(BitConverter.DoubleToInt64Bits), actual.ToArray<double>().Select(BitConverter.DoubleToInt64Bits));
                break;
            case DType.Int64: Assert.Equal(expected.ToArray<long>(), actual.ToArray<long>()); break;
            default: Assert.Equal(expected.ToArray<bool>(), actual.ToArray<bool>()); break;
        }
    }

    [Fact]
    public void SaveThenLoadGivesIdenticalTensorsAndMetadata()
    {
        using var dir = new TempDirectory();
        var tensors = Zoo();
        var metadata = new Dictionary<string, string> { ["epoch"] = "3", ["config"] = "{\"lr\": 0.1, \"ünïcode\": true}" };
        SafeTensors.Save(dir.File("model.safetensors"), tensors, metadata);
        var file = SafeTensors.Load(dir.File("model.safetensors"));
        Assert.Equal(tensors.Keys.Order(), file.Tensors.Keys.Order());
        foreach (var (name, t) in tensors) AssertSame(t, file.Tensors[name]);
        Assert.Equal(metadata, file.Metadata);
        Assert.Equal("I64", file.StoredDTypes["step"]);
        Assert.Equal("BOOL", file.StoredDTypes["mask"]);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void TheLayoutFollowsTheFormat()
    {
        var bytes = SafeTensors.Serialize(Zoo(), new Dictionary<string, string> { ["a"] = "b" });
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, (8 + n) % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{\"__metadata__\":{\"a\":\"b\"},", header);
        using var doc = JsonDocument.Parse(header);
        long end = 0;
        // Widest element types first, so each tensor is aligned to its element size.
        foreach (var p in doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(end, offsets[0]);
            int size = p.Value.GetProperty("dtype").GetString() switch { "F64" or "I64" => 8, "F32" => 4, _ => 1 };
            Assert.Equal(0, offsets[0] % size);
            end = offsets[1];
        }
        Assert.Equal(bytes.Length - 8 - (long)n, end);
    }

    [Fact]
    public void SaveRejectsTheReservedNameAndNullMetadata()
    {
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(new Dictionary<string, Tensor> { ["__metadata__"] = Tensor.Zeros([1]) }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(new Dictionary<string, Tensor>(), new Dictionary<string, string> { ["k"] = null! }));
    }

    [Fact]
    public void WritesAreAtomic()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Ones([2]) });
        var before = File.ReadAllBytes(path);
        // A write that fails half-way leaves the previous file as it was, and no temporary file behind.
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[1000]);
            throw new IOException("disk full");
        }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
        // A successful write replaces it whole.
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Full([3], 2) });
        Assert.Equal(new[] { 2f, 2, 2 }, SafeTensors.Load(path).Tensors["w"].ToArray<float>());
    }

    [Fact]
    public void CheckpointsKeepModelAndOptimizerStateApart()
    {
        using var dir = new TempDirectory();
        var model = new Dictionary<string, Tensor> { ["fc.weight"] = Tensor.Wrap(new[] { 1f, 2 }, [1, 2]), ["fc.bias"] = Tensor.Zeros([1]) };
        var optimizer = new Dictionary<string, Tensor> { ["fc.weight.exp_avg"] = Tensor.Wrap(new[] { 0.5f, -0.5f }, [1, 2]), ["step"] = Tensor.Scalar(10, DType.Int64) };
        Checkpoint.Save(dir.File("c.safetensors"), model, optimizer, new Dictionary<string, string> { ["epoch"] = "4" });
        var state = Checkpoint.Load(dir.File("c.safetensors"));
        Assert.Equal(model.Keys.Order(), state.Model.Keys.Order());
        Assert.Equal(optimizer.Keys.Order(), state.Optimizer.Keys.Order());
        foreach (var (k, v) in model) AssertSame(v, state.Model[k]);
        foreach (var (k, v) in optimizer) AssertSame(v, state.Optimizer[k]);
        Assert.Equal("4", state.Metadata["epoch"]);

        SafeTensors.Save(dir.File("plain.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([1]) });
        var e = Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Load(dir.File("plain.safetensors")));
        Assert.Contains("not an Aperture checkpoint", e.Message);
    }

    // ---- hostile files ------------------------------------------------------------------------------

    private static byte[] Build(string header, int dataBytes, long? claimedSize = null, byte fill = 0)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(claimedSize ?? h.Length));
        h.CopyTo(bytes, 8);
        bytes.AsSpan(8 + h.Length).Fill(fill);
        return bytes;
    }

    public static TheoryData<string, byte[], string> Hostile() => new()
    {
        { "too short", [1, 0, 0], "fewer than the 8" },
        { "huge header size", Build("{}", 0, claimedSize: long.MaxValue), "more than the 100000000 allowed" },
        { "header past the end", Build("{}", 0, claimedSize: 50), "only 2 bytes follow" },
        { "empty header", Build("", 0), "too small" },
        { "not an object", Build("[1, 2]", 0), "not '{'" },
        { "invalid json", Build("{\"a\": }", 0), "not valid JSON" },
        { "invalid utf-8", [.. Build("{\"a\u00e9\":1}", 0).AsSpan(0, 13), 0xFF, .. "\":1}"u8], "not valid UTF-8" },
        { "too deep", Build("{\"__metadata__\":" + new string('[', 40) + new string(']', 40) + "}", 0), "not valid JSON" },
        { "duplicate name", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8), "names 'a' twice" },
        { "metadata not object", Build("{\"__metadata__\":[\"x\"]}", 0), "not an object of strings" },
        { "metadata value", Build("{\"__metadata__\":{\"k\":1}}", 0), "metadata 'k' is a JSON Number" },
        { "entry not object", Build("{\"a\":3}", 0), "tensor 'a' is a JSON Number" },
        { "missing dtype", Build("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4), "lacks dtype" },
        { "missing offsets", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 4), "lacks data_offsets" },
        { "extra key", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":0}}", 4), "unexpected key 'x'" },
        { "repeated key", Build("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4), "has 'dtype' twice" },
        { "dtype not string", Build("{\"a\":{\"dtype\":4,\"shape\":[],\"data_offsets\":[0,4]}}", 4), "dtype is a JSON Number" },
        { "unknown dtype", Build("{\"a\":{\"dtype\":\"Q7\",\"shape\":[],\"data_offsets\":[0,4]}}", 4), "dtype 'Q7', which Aperture does not read; supported: F32, F64, I64, BOOL" },
        { "unsupported dtype", Build("{\"a\":{\"dtype\":\"U64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8), "dtype 'U64'" },
        { "shape not array", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16), "shape is a JSON Number" },
        { "negative dim", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "shape[0] is -1" },
        { "fractional dim", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4), "shape[0] is 1.5" },
        { "string dim", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8), "not a non-negative integer" },
        { "huge dim", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}}", 4), "is too large" },
        { "element overflow", Build("{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8), "more than 2147483647 elements" },
        { "three offsets", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,8]}}", 8), "has 3 numbers" },
        { "huge offset", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,18446744073709551615]}}", 4), "not a non-negative integer" },
        { "reversed offsets", Build("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4), "ends before it begins" },
        { "size mismatch", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "needs 12 bytes but data_offsets [0, 8] span 8" },
        { "past the buffer", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 8), "reach past the 8-byte data buffer" },
        { "overlap", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "overlaps tensor 'a'" },
        { "gap", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "bytes [4, 8) between tensors 'a' and 'b'" },
        { "hole at start", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "starts with 4 bytes that no tensor covers" },
        { "trailing bytes", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6), "cover only 4 (trailing bytes)" },
        { "bad bool", Build("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, fill: 2), "holds byte 0x02 at element 0" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostileFilesAreRejectedWithTheFileNameAndTheReason(string what, byte[] bytes, string reason)
    {
        using var dir = new TempDirectory();
        string path = dir.File(what.Replace(' ', '-') + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(path));
        Assert.Contains(reason, e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void ValidEdgeCasesAreAccepted()
    {
        // An empty file of tensors, a header padded with spaces, zero-size tensors sharing an offset.
        Assert.Empty(SafeTensors.Load(Build("{}", 0), "empty").Tensors);
        Assert.Empty(SafeTensors.Load(Build("{\"__metadata__\":{}}      ", 0), "padded").Tensors);
        var f = SafeTensors.Load(Build("{\"b\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},\"c\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8, fill: 1), "zero");
        Assert.Equal([0, 3], f.Tensors["b"].ShapeArray());
        Assert.Equal(0x0101010101010101L, f.Tensors["a"].Item());
    }

    [Fact]
    public void WidensNarrowTypesExactly()
    {
        var data = new byte[2 + 2 + 4 + 1];
        BinaryPrimitives.WriteHalfLittleEndian(data, (Half)0.333f);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2), 0xC040); // bfloat16 -3.0
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4), int.MinValue);
        data[8] = 0xFF;
        var header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}," +
                     "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]},\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}";
        var bytes = Build(header, 0).Concat(data).ToArray();
        var f = SafeTensors.Load(bytes, "narrow");
        Assert.Equal((float)(Half)0.333f, f.Tensors["h"].ToArray<float>()[0]);
        Assert.Equal(-3f, f.Tensors["b"].ToArray<float>()[0]);
        Assert.Equal(int.MinValue, f.Tensors["i"].ToArray<long>()[0]);
        Assert.Equal(255L, f.Tensors["u"].ToArray<long>()[0]);
        Assert.Equal("BF16", f.StoredDTypes["b"]);
    }

    public static TheoryData<string, string> LoneSurrogates => new()
    {
        { "tensor name", """{"w\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" },
        { "low surrogate in a name", """{"\udc00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" },
        { "metadata key", """{"__metadata__":{"\ud800":"x"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" },
        { "metadata value", """{"__metadata__":{"k":"a\ud800b"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" },
        { "dtype", """{"w":{"dtype":"F3\ud8002","shape":[1],"data_offsets":[0,4]}}""" },
        { "field name", """{"w":{"\ud800":"F32","shape":[1],"data_offsets":[0,4]}}""" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public void AnEscapedLoneSurrogateIsAFormatError(string where, string header)
    {
        var bytes = Build(header, 4);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(bytes, where));
        Assert.Contains("lone UTF-16 surrogate", e.Message);
        Assert.Contains(where, e.Message);
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("x.safetensors"), bytes);
        Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Load(dir.File("x.safetensors")));
        Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.LoadState(dir.File("x.safetensors")));
        // A surrogate pair is text, and loads.
        var pair = Build("""{"w\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4);
        Assert.Equal(["w\U0001F600"], SafeTensors.Load(pair, "pair").Tensors.Keys);
    }
}
