using System.Text;
using Aperture.IO;

namespace Aperture.Tests.IO;

public class NpyTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "IO", "Fixtures", "numpy", name + ".npy");

    [Fact]
    public void ReadsArraysWrittenByNumPy()
    {
        var f4 = Npy.Read(Fixture("f4"));
        Assert.Equal(DType.Float32, f4.DType);
        Assert.Equal([2, 3], f4.ShapeArray());
        Assert.Equal(Enumerable.Range(0, 6).Select(i => i / 7f), f4.ToArray<float>());

        var f8 = Npy.Read(Fixture("f8"));
        Assert.Equal([2, 2], f8.ShapeArray());
        Assert.Equal(new[] { 0.1, -2.5, double.PositiveInfinity, -0.0 }, f8.ToArray<double>());
        Assert.True(double.IsNegative(f8.ToArray<double>()[3]));

        Assert.Equal(new[] { 1L << 62, long.MinValue, long.MaxValue }, Npy.Read(Fixture("i8")).ToArray<long>());
        Assert.Equal(new[] { (long)int.MinValue, int.MaxValue, 5 }, Npy.Read(Fixture("i4")).ToArray<long>());
        Assert.Equal(new[] { true, false, true, true }, Npy.Read(Fixture("b1")).ToArray<bool>());
        var u1 = Npy.Read(Fixture("u1"));
        Assert.Equal([2, 3], u1.ShapeArray());
        Assert.Equal(new long[] { 250, 251, 252, 253, 254, 255 }, u1.ToArray<long>());
        var scalar = Npy.Read(Fixture("scalar"));
        Assert.Equal(0, scalar.Rank);
        Assert.Equal(1.5, scalar.Item());
        Assert.Equal([0, 3], Npy.Read(Fixture("empty")).ShapeArray());
        Assert.Equal(new long[] { 0, 1, 2, 3 }, Npy.Read(Fixture("v2")).ToArray<long>());
    }

    [Fact]
    public void WritesTheSameBytesAsNumPy()
    {
        var t = Tensor.Wrap(Enumerable.Range(0, 6).Select(i => i / 7f).ToArray(), [2, 3]);
        var ms = new MemoryStream();
        Npy.Write(ms, t);
        Assert.Equal(File.ReadAllBytes(Fixture("f4")), ms.ToArray());
        ms = new MemoryStream();
        Npy.Write(ms, Tensor.Scalar(1.5, DType.Float64));
        Assert.Equal(File.ReadAllBytes(Fixture("scalar")), ms.ToArray());
    }

    [Fact]
    public void ReadsFortranOrderIntoACOrderTensor()
    {
        // np.save(f, np.array([[0, 3], [1, 4], [2, 5]], dtype='<f4').T): NumPy writes the [2, 3] transpose in Fortran order.
        var a = Npy.Read(Fixture("fortran"));
        Assert.Equal([2, 3], a.ShapeArray());
        Assert.True(a.IsContiguous);
        Assert.Equal(new[] { 0f, 1f, 2f, 3f, 4f, 5f }, a.ToArray<float>());

        // Rank 3: element (i, j, k) of a Fortran-order [2, 3, 4] array is stored at i + 2·(j + 3·k).
        var values = new double[24];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    values[i + 2 * (j + 3 * k)] = 100 * i + 10 * j + k;
        var header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 4), }";
        header = header.PadRight(128 - 10 - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0 };
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        foreach (var v in values) bytes.AddRange(BitConverter.GetBytes(v));
        var t = Npy.Read(new MemoryStream(bytes.ToArray()), "fortran3.npy");
        Assert.Equal([2, 3, 4], t.ShapeArray());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    Assert.Equal(100 * i + 10 * j + k, t.At(i, j, k));
    }

    [Fact]
    public void RejectsBigEndianWithAClearMessage()
    {
        var big = Assert.Throws<NpyFormatException>(() => Npy.Read(Fixture("bigendian")));
        Assert.Contains("'>f4' is big-endian", big.Message);
    }

    [Fact]
    public void EveryDTypeAndShapeRoundTrips()
    {
        using var dir = new TempDirectory();
        Tensor[] tensors =
        [
            Tensor.Wrap(new[] { float.NaN, -0f, float.Epsilon, 3f, float.MaxValue, -1f }, [3, 2]),
            Tensor.Wrap(new[] { double.NegativeInfinity, 1e-310, Math.E }, [3]),
            Tensor.Wrap(new[] { long.MinValue, 0, long.MaxValue, 5 }, [2, 1, 2]),
            Tensor.Wrap(new[] { true, false, false }, [3]),
            Tensor.Scalar(7, DType.Int64),
            Tensor.Zeros([0, 4]),
            Tensor.Wrap(Enumerable.Range(0, 6).Select(i => (double)i).ToArray(), [2, 3]).T, // a non-contiguous view
        ];
        for (int i = 0; i < tensors.Length; i++)
        {
            string path = dir.File($"t{i}.npy");
            Npy.Write(path, tensors[i]);
            var back = Npy.Read(path);
            Assert.Equal(tensors[i].DType, back.DType);
            Assert.Equal(tensors[i].ShapeArray(), back.ShapeArray());
            Assert.Equal(tensors[i].ToDoubleArray(), back.ToDoubleArray());
            Assert.Equal(0, (new FileInfo(path).Length - tensors[i].Numel * tensors[i].DType.SizeOf()) % 64);
        }
    }

    private static byte[] File1(string header, int dataBytes, int major = 1)
    {
        var h = Encoding.Latin1.GetBytes(header);
        var prefix = major == 1
            ? new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)h.Length, (byte)(h.Length >> 8) }
            : [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0, (byte)h.Length, (byte)(h.Length >> 8), 0, 0];
        return [.. prefix, .. h, .. new byte[dataBytes]];
    }

    public static TheoryData<string, byte[], string> Malformed() => new()
    {
        { "not npy", "PK\x03\x04 not numpy"u8.ToArray(), "magic" },
        { "version", [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 4, 0, 0, 0], "version 4.0" },
        { "short length", [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 1], "header length" },
        { "header too long", [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0xFF, 0xFF, (byte)'{'], "truncated" },
        { "not a dict", File1("['descr']\n", 0), "expected '{'" },
        { "unterminated", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8), "expected a non-negative integer" },
        { "missing shape", File1("{'descr': '<f4', 'fortran_order': False}\n", 0), "lacks 'shape'" },
        { "extra key", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}\n", 4), "unexpected key 'x'" },
        { "twice", File1("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}\n", 4), "appears twice" },
        { "structured", File1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}\n", 4), "structured" },
        { "complex", File1("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}\n", 8), "'<c8' is not supported" },
        { "negative dim", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}\n", 0), "non-negative integer" },
        { "huge dim", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,)}\n", 0), "larger than" },
        { "too many elements", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536)}\n", 0), "elements" },
        { "truncated data", File1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2)}\n", 31), "truncated" },
        { "trailing data", File1("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n", 17), "trailing" },
        { "bad bool", File1("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}\n", 4), "True or False" },
        { "non-ascii v1", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\xe9\n", 4), "non-ASCII" },
        { "v3 bad utf8", File1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\xff\n", 4, major: 3), "UTF-8" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesAreRejectedWithTheFileNameAndTheReason(string what, byte[] bytes, string reason)
    {
        using var dir = new TempDirectory();
        string path = dir.File(what.Replace(' ', '-') + ".npy");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.Contains(reason, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void FuzzedFilesGiveFormatErrorsOnly()
    {
        var ms = new MemoryStream();
        Npy.Write(ms, Tensor.Wrap(new[] { 1.0, 2, 3, 4, 5, 6 }, [2, 3]));
        var valid = ms.ToArray();
        var g = new Generator(17);
        int rejected = 0, trials = Fuzz.Trials(3000);
        for (int trial = 0; trial < trials; trial++)
        {
            try { Npy.Read(new MemoryStream(Fuzz.Mutate(valid, g)), "fuzz.npy"); }
            catch (NpyFormatException) { rejected++; }
        }
        Assert.True(rejected > trials / 3, $"only {rejected} of {trials} mutations were rejected");
    }
}
