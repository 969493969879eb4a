namespace Aperture.IO;

/// <summary>Reading exact byte counts from streams whose headers may lie about their length.</summary>
internal static class StreamBytes
{
    private const int ChunkSize = 1 << 20;

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    public static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, or returns null with <paramref name="read"/> set to what the
    /// stream held. Memory grows chunk by chunk with the bytes actually there, so a header that claims gigabytes
    /// in a tiny (or compressed) file cannot make us allocate them.
    /// </summary>
    public static byte[]? ReadExactly(Stream s, long count, out long read)
    {
        if (count <= ChunkSize)
        {
            var small = new byte[count];
            read = ReadFully(s, small);
            return read == count ? small : null;
        }
        var chunks = new List<byte[]>();
        read = 0;
        while (read < count)
        {
            var chunk = new byte[(int)Math.Min(ChunkSize, count - read)];
            int got = ReadFully(s, chunk);
            read += got;
            if (got < chunk.Length) return null;
            chunks.Add(chunk);
        }
        var all = new byte[count];
        long at = 0;
        foreach (var c in chunks)
        {
            c.CopyTo(all, at);
            at += c.Length;
        }
        return all;
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes as a list of chunks (no final concatenation, so the caller can copy
    /// them once into their destination), or returns null with <paramref name="read"/> set to what the stream held.
    /// </summary>
    public static List<byte[]>? ReadChunks(Stream s, long count, out long read)
    {
        var chunks = new List<byte[]>();
        read = 0;
        while (read < count)
        {
            var chunk = new byte[(int)Math.Min(ChunkSize, count - read)];
            int got = ReadFully(s, chunk);
            read += got;
            if (got < chunk.Length) return null;
            chunks.Add(chunk);
        }
        return chunks;
    }

    /// <summary>True when the stream has at least one more byte.</summary>
    public static bool HasMore(Stream s) => s.ReadByte() >= 0;
}
