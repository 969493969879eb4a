using System.Text;

namespace Aperture.IO;

/// <summary>
/// Writes a file so that a reader sees either the old contents or the complete new ones, never a half-written
/// file: the bytes go to a temporary file with a unique name in the same directory (same file system, so the rename
/// is atomic), are flushed to disk, and the temporary file is renamed over the target. If anything fails the temporary
/// file is deleted and the target is left as it was. Missing parent directories are created.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with whatever <paramref name="write"/> puts in the stream it is given.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="write">Writes the whole contents; an exception from it leaves the target untouched and is rethrown.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = System.IO.Path.GetFullPath(path);
        string directory = System.IO.Path.GetDirectoryName(full)
            ?? throw new ArgumentException($"'{path}' names no file", nameof(path));
        Directory.CreateDirectory(directory);
        string temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, s => s.Write(bytes));
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically, as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) => WriteAllText(path, text, Utf8);

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically in <paramref name="encoding"/> (its preamble, if any, first).</summary>
    public static void WriteAllText(string path, string text, Encoding encoding)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(encoding);
        byte[] preamble = encoding.GetPreamble();
        byte[] bytes = encoding.GetBytes(text);
        Write(path, s =>
        {
            s.Write(preamble);
            s.Write(bytes);
        });
    }

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
}
