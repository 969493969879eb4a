using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Aperture.IO;

/// <summary>
/// Writes a file so that a reader sees either the old contents or the complete new ones, never a half-written
/// file: the bytes go to a temporary file with a unique name in the same directory (same file system, so the rename
/// is atomic), are flushed to disk, and the temporary file is renamed over the target. If anything fails the temporary
/// file is deleted and the target is left as it was. Missing parent directories are created.
/// </summary>
/// <remarks>
/// A process killed while writing cannot delete its temporary file. So that such orphans do not pile up, every write
/// (and every checkpoint load) first removes the stale temporary files of the same directory; see
/// <see cref="RemoveStaleTemporaries"/> for what counts as stale.
/// </remarks>
public static partial class AtomicFile
{
    /// <summary>
    /// How long a temporary file whose owner cannot be checked (another machine, a reused process id, or a name from an
    /// older version without an owner) must have gone unwritten before it counts as stale: one hour. A live writer
    /// touches its file with every buffer it writes, so only an abandoned file sits that long.
    /// </summary>
    public static readonly TimeSpan StaleAge = TimeSpan.FromHours(1);

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
        RemoveStaleTemporaries(directory);
        string temp = System.IO.Path.Combine(directory, TemporaryName(System.IO.Path.GetFileName(full)));
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

    // ---- temporary files and their clean-up -----------------------------------------------------------------

    /// <summary>
    /// The temporary name for a target named <paramref name="fileName"/>:
    /// <c>.{fileName}.aperture-{host}-{pid}-{guid}.tmp</c>, where host is 8 hex digits identifying this machine and pid
    /// this process, so that a later clean-up can tell whether the writer is still alive.
    /// </summary>
    internal static string TemporaryName(string fileName) =>
        string.Create(CultureInfo.InvariantCulture, $".{fileName}.aperture-{HostTag}-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");

    /// <summary>
    /// Deletes the temporary files that an <see cref="AtomicFile"/> write in <paramref name="directory"/> left behind
    /// when its process was killed, and returns how many it deleted. Only files named by Aperture's own pattern
    /// (<c>.{name}.aperture-{host}-{pid}-{guid}.tmp</c>, and the older <c>.{name}.{guid}.tmp</c>) are considered; one is
    /// stale when it was written on this machine by a process that no longer exists (or by an earlier holder of a
    /// process id that has since been reused: the process started after the file was last written), or when it has
    /// not been written for <see cref="StaleAge"/>. A write in progress, in this or another live process, is never
    /// touched. Files that cannot be inspected or deleted (permissions, a missing directory) are skipped silently:
    /// clean-up never makes a save or a load fail.
    /// </summary>
    public static int RemoveStaleTemporaries(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        int removed = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory, ".*.tmp"))
            {
                try
                {
                    if (!IsStale(file, DateTime.UtcNow)) continue;
                    File.Delete(file);
                    removed++;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return removed;
    }

    private static bool IsStale(string file, DateTime now)
    {
        string name = System.IO.Path.GetFileName(file);
        var owned = OwnedTemporary().Match(name);
        if (!owned.Success && !LegacyTemporary().IsMatch(name)) return false;   // not ours: never touched
        var info = new FileInfo(file);
        if (!info.Exists) return false;
        DateTime lastWrite = info.LastWriteTimeUtc;
        if (now - lastWrite >= StaleAge) return true;
        if (!owned.Success || owned.Groups["host"].Value != HostTag) return false;
        if (!int.TryParse(owned.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return false;
        return !IsAliveSince(pid, lastWrite);
    }

    /// <summary>True when process <paramref name="pid"/> runs and started before <paramref name="lastWrite"/> (so it may own the file).</summary>
    private static bool IsAliveSince(int pid, DateTime lastWrite)
    {
        if (pid == Environment.ProcessId) return true;
        Process process;
        try { process = Process.GetProcessById(pid); }
        catch (ArgumentException) { return false; }           // no such process
        catch (InvalidOperationException) { return false; }
        using (process)
        {
            try
            {
                if (process.HasExited) return false;
                // A process that started after the file's last write cannot have written it: the id was reused.
                // A second of slack absorbs the coarse clocks of some file systems.
                return process.StartTime.ToUniversalTime() <= lastWrite.AddSeconds(1);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
            {
                return true;                                   // cannot tell: leave it to the age rule
            }
        }
    }

    /// <summary>This machine as 8 hex digits (FNV-1a of its name): a process id means nothing on another machine sharing the folder.</summary>
    private static readonly string HostTag = ComputeHostTag();

    private static string ComputeHostTag()
    {
        uint h = 2166136261;
        foreach (char c in Environment.MachineName)
        {
            h ^= c;
            h *= 16777619;
        }
        return h.ToString("x8", CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^\..+\.aperture-(?<host>[0-9a-f]{8})-(?<pid>[0-9]{1,10})-[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex OwnedTemporary();

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex LegacyTemporary();
}
