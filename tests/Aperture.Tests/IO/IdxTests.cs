using System.Buffers.Binary;
using System.IO.Compression;
using Aperture.IO;

namespace Aperture.Tests.IO;

public class IdxTests
{
    private static byte[] Header(byte type, params int[] dims)
    {
        var h = new byte[4 + 4 * dims.Length];
        h[2] = type;
        h[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), dims[i]);
        return h;
    }

    private static IdxArray Parse(byte[] bytes) => Idx.Read(new MemoryStream(bytes), "test.idx");

    [Fact]
    public void ReadsTheLayoutByHand()
    {
        // A 2×3 array of unsigned bytes and a big-endian int32 vector, assembled byte by byte.
        var bytes = Header(0x08, 2, 3).Concat(new byte[] { 0, 1, 2, 253, 254, 255 }).ToArray();
        var a = Parse(bytes);
        Assert.Equal(IdxElementType.UInt8, a.ElementType);
        Assert.Equal([2, 3], a.Shape.ToArray());
        Assert.Equal(new byte[] { 0, 1, 2, 253, 254, 255 }, (byte[])a.Data);
        Assert.Equal([0L, 1, 2, 253, 254, 255], a.ToTensor().ToArray<long>());

        var ints = Header(0x0C, 2).Concat(new byte[] { 0x80, 0, 0, 0, 0, 0, 0x01, 0x02 }).ToArray();
        Assert.Equal(new[] { int.MinValue, 258 }, (int[])Parse(ints).Data);
    }

    [Fact]
    public void EveryElementTypeRoundTripsPlainAndGzipped()
    {
        using var dir = new TempDirectory();
        Array[] arrays =
        [
            new byte[] { 0, 7, 255, 1, 2, 3 },
            new sbyte[] { -128, 127, 0, -1, 5, 6 },
            new short[] { short.MinValue, short.MaxValue, -2, 3, 0, 1 },
            new[] { int.MinValue, int.MaxValue, -2, 3, 0, 1 },
            new[] { float.NaN, -0f, float.Epsilon, float.MaxValue, 1.5f, -2f },
            new[] { double.NegativeInfinity, 1e-310, Math.PI, -1, 0, 2 },
        ];
        foreach (var data in arrays)
            foreach (bool gzip in new[] { false, true })
            {
                string path = dir.File($"{data.GetType().Name}-{gzip}.idx");
                Idx.Write(path, new IdxArray(data, [3, 2]), gzip);
                var back = Idx.Read(path);
                Assert.Equal([3, 2], back.Shape.ToArray());
                Assert.Equal(data, back.Data);
                Assert.Equal(gzip, File.ReadAllBytes(path)[0] == 0x1F);
            }
    }

    [Fact]
    public void ToTensorKeepsFloatPrecision()
    {
        Assert.Equal(DType.Float32, new IdxArray(new[] { 1.5f, 2f }, [2]).ToTensor().DType);
        Assert.Equal(DType.Float64, new IdxArray(new[] { 1.5, 2 }, [1, 2]).ToTensor().DType);
        Assert.Equal([-3L, 4], new IdxArray(new sbyte[] { -3, 4 }, [2]).ToTensor().ToArray<long>());
    }

    public static TheoryData<string, byte[], string> Malformed() => new()
    {
        { "empty", [], "before the 4-byte magic" },
        { "short magic", [0, 0, 8], "before the 4-byte magic" },
        { "not idx", [0x50, 0x4B, 3, 4, 0, 0, 0, 0], "not 0x0000" },
        { "bad type", Header(0x0A, 1).Concat(new byte[] { 0 }).ToArray(), "unknown element type code 0x0A" },
        { "no dims", [0, 0, 8, 0], "0 dimensions" },
        { "short dims", [0, 0, 8, 2, 0, 0, 0, 1, 0, 0], "ends inside the header" },
        { "negative dim", Header(0x08, -1), "more than Aperture can index" },
        { "huge shape", Header(0x0E, 65536, 65536, 65536), "more elements than fit in memory" },
        { "truncated", Header(0x08, 2, 3).Concat(new byte[5]).ToArray(), "truncated" },
        { "trailing", Header(0x08, 2).Concat(new byte[3]).ToArray(), "trailing" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesAreRejectedWithTheFileNameAndTheReason(string what, byte[] bytes, string reason)
    {
        using var dir = new TempDirectory();
        string path = dir.File(what.Replace(' ', '-') + ".idx");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(path));
        Assert.Contains(reason, e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.Path);
        // The same bytes through a stream that cannot tell its length are rejected too.
        Assert.Throws<IdxFormatException>(() => Idx.Read(new GZipLessStream(bytes), "stream"));
    }

    [Fact]
    public void AGzipFileWhoseHeaderClaimsGigabytesFailsWithoutAllocatingThem()
    {
        var bytes = Header(0x0E, 1 << 14, 1 << 13).Concat(new byte[64]).ToArray(); // claims 1 GiB, holds 64 bytes
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(bytes);
        long before = GC.GetTotalAllocatedBytes();
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(ms.ToArray()), "bomb.gz"));
        Assert.Contains("decompressed file ends after 64", e.Message);
        Assert.True(GC.GetTotalAllocatedBytes() - before < 64L << 20);
    }

    [Fact]
    public void ACorruptGzipStreamIsAFormatError()
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(Header(0x08, 100).Concat(new byte[100]).ToArray());
        var bytes = ms.ToArray();
        for (int i = 10; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A;
        var e = Assert.ThrowsAny<DataFormatException>(() => Idx.Read(new MemoryStream(bytes), "corrupt.gz"));
        Assert.Contains("corrupt.gz", e.Message);
    }

    [Fact]
    public void FuzzedFilesGiveFormatErrorsOnly()
    {
        var valid = Header(0x0C, 3, 4).Concat(Enumerable.Range(0, 48).Select(i => (byte)i)).ToArray();
        var g = new Generator(99);
        for (int trial = 0, trials = Fuzz.Trials(2000); trial < trials; trial++)
        {
            var bytes = Fuzz.Mutate(valid, g);
            try { Parse(bytes); }
            catch (IdxFormatException) { }
        }
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(bytes);
        return ms.ToArray();
    }

    private static byte[] SomeFloats(int n)
    {
        var values = Enumerable.Range(0, n).Select(i => (double)i * 0.25 - 3).ToArray();
        var bytes = new byte[8 * n];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteDoubleBigEndian(bytes.AsSpan(8 * i), values[i]);
        return Header(0x0E, n).Concat(bytes).ToArray();
    }

    [Fact]
    public void AGzipFileWithoutItsTrailerIsRefusedAsTruncated()
    {
        var gz = Gzip(SomeFloats(1000));
        Assert.Equal(1000, Idx.Read(new MemoryStream(gz), "whole.gz").Data.Length);
        foreach (int cut in new[] { 8, 4, 1 })
        {
            var e = Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(gz[..^cut]), "cut.gz"));
            Assert.Contains("cut.gz", e.Message);
            Assert.Contains("truncated", e.Message);
            Assert.Contains(cut == 8 ? "trailer" : "", e.Message);
        }
    }

    [Fact]
    public void ACorruptCrcIsReportedAsACrcError()
    {
        var gz = Gzip(SomeFloats(1000));
        var badCrc = (byte[])gz.Clone();
        badCrc[^6] ^= 0x40;
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(badCrc), "crc.gz"));
        Assert.Contains("CRC error", e.Message);
        Assert.DoesNotContain("compression method", e.Message);

        var badSize = (byte[])gz.Clone();
        badSize[^3] ^= 0x01;
        Assert.Contains("the gzip trailer records", Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(badSize), "size.gz")).Message);

        var badMethod = (byte[])gz.Clone();
        badMethod[2] = 7;
        Assert.Contains("compression method 7", Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(badMethod), "method.gz")).Message);
    }

    [Fact]
    public void TheDataIsCappedAndTheCapIsStated()
    {
        // 4 MiB of zeros, declared honestly, compress to a few kilobytes: refused under a 1 MiB cap before inflating.
        var big = Header(0x08, 4 << 20).Concat(new byte[4 << 20]).ToArray();
        var gz = Gzip(big);
        Assert.True(gz.Length < 64 << 10);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(gz), "zeros.gz", maxBytes: 1 << 20));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal allocated the data");
        Assert.Contains("declares 4194304 data bytes, more than the cap of 1048576", e.Message);
        Assert.Contains("maxBytes", e.Message);
        Assert.Throws<IdxFormatException>(() => Idx.Read(new MemoryStream(big), "zeros.idx", maxBytes: 1 << 20));
        Assert.Equal(4 << 20, Idx.Read(new MemoryStream(gz), "zeros.gz", maxBytes: 4 << 20).Data.Length);
        Assert.Equal(1L << 30, Idx.DefaultMaxBytes);
    }

    [Fact]
    public void ReadingCopiesTheDataOnceAndReadTensorNotAgain()
    {
        using var dir = new TempDirectory();
        const int n = 1 << 20;                                     // 8 MiB of float64
        var plain = SomeFloats(n);
        File.WriteAllBytes(dir.File("f.idx"), plain);
        File.WriteAllBytes(dir.File("f.idx.gz"), Gzip(plain));
        long payload = 8L * n;

        long Allocated(Action read)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            read();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Idx.Read(dir.File("f.idx"));                               // warm up
        Assert.InRange(Allocated(() => Idx.Read(dir.File("f.idx"))), payload, payload + (1 << 20));
        Assert.InRange(Allocated(() => Idx.ReadTensor(dir.File("f.idx"))), payload, payload + (1 << 20));
        long gz = new FileInfo(dir.File("f.idx.gz")).Length;
        // Gzipped: the compressed bytes, the inflated chunks and the array: no further copies.
        Assert.InRange(Allocated(() => Idx.Read(dir.File("f.idx.gz"))), payload, 2 * payload + 2 * gz + (2 << 20));
        var t = Idx.ReadTensor(dir.File("f.idx.gz"));
        Assert.Equal(DType.Float64, t.DType);
        Assert.Equal(-3.0, t[0].Item());
        Assert.Equal(0.25 * (n - 1) - 3, t[n - 1].Item());
        Assert.Equal([0L, 1, 2], Idx.ReadTensor(WriteBytes(dir, "u8.idx", Header(0x08, 3).Concat(new byte[] { 0, 1, 2 }).ToArray())).ToArray<long>());
    }

    private static string WriteBytes(TempDirectory dir, string name, byte[] bytes)
    {
        File.WriteAllBytes(dir.File(name), bytes);
        return dir.File(name);
    }

    /// <summary>A non-seekable stream, so the reader cannot compare sizes with the length up front.</summary>
    private sealed class GZipLessStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
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
