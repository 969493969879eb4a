using System.Text;
using Aperture.IO;

namespace Aperture.Tests.IO;

public class AtomicFileTests
{
    [Fact]
    public void WritesWholeFilesAndLeavesNoTemporaryFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("sub/dir/a.txt");
        AtomicFile.WriteAllText(path, "héllo");
        Assert.Equal(Encoding.UTF8.GetBytes("héllo"), File.ReadAllBytes(path)); // UTF-8, no byte-order mark
        AtomicFile.WriteAllText(path, "x");
        Assert.Equal("x", File.ReadAllText(path));
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        AtomicFile.WriteAllText(path, "y", new UTF8Encoding(true));
        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF, (byte)'y' }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void AFailedWriteLeavesTheTargetAndNoTemporaryFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.bin");
        AtomicFile.WriteAllBytes(path, [9, 9]);
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[4096]);
            throw new IOException("disk full");
        }));
        Assert.Equal(new byte[] { 9, 9 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ARenameThatFailsDeletesTheTemporaryFile()
    {
        using var dir = new TempDirectory();
        // The target is a directory: the bytes are written, the rename over it fails.
        string target = dir.File("taken");
        Directory.CreateDirectory(target);
        File.WriteAllText(System.IO.Path.Combine(target, "inside.txt"), "kept");
        var e = Record.Exception(() => AtomicFile.WriteAllText(target, "new"));
        Assert.True(e is IOException or UnauthorizedAccessException, e?.GetType().Name);
        Assert.True(Directory.Exists(target));
        Assert.Equal("kept", File.ReadAllText(System.IO.Path.Combine(target, "inside.txt")));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void RejectsBadArguments()
    {
        Assert.Throws<ArgumentException>(() => AtomicFile.WriteAllText("", "x"));
        Assert.Throws<ArgumentNullException>(() => AtomicFile.WriteAllBytes("a", null!));
        Assert.Throws<ArgumentNullException>(() => AtomicFile.Write("a", null!));
    }

    /// <summary>A temporary name as <paramref name="pid"/> on host <paramref name="host"/> would choose it (this machine's host tag by default).</summary>
    private static string Temporary(string file, int pid, string? host = null)
    {
        string own = AtomicFile.TemporaryName(file);                     // .{file}.aperture-{host}-{pid}-{guid}.tmp
        host ??= own[(file.Length + 2)..].Split('-')[1];
        return $".{file}.aperture-{host}-{pid}-{Guid.NewGuid():N}.tmp";
    }

    [Fact]
    public void AKilledWritersTemporaryFileIsRemovedByTheNextWriteOrCheckpointLoad()
    {
        using var dir = new TempDirectory();
        var old = DateTime.UtcNow - TimeSpan.FromHours(2);
        string Make(string name, DateTime? lastWrite = null)
        {
            string path = dir.File(name);
            File.WriteAllBytes(path, new byte[100]);
            if (lastWrite is { } t) File.SetLastWriteTimeUtc(path, t);
            return name;
        }

        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            var stale = new[]
            {
                Make(Temporary("a.bin", 999999999)),                                     // its process is gone
                Make(Temporary("a.bin", sleeper.Id), DateTime.UtcNow - TimeSpan.FromMinutes(10)),   // the id was reused since
                Make(Temporary("a.bin", 1, host: "0badf00d"), old),                      // another machine's, unwritten for 2 h
                Make($".a.bin.{Guid.NewGuid():N}.tmp", old),                              // an older version's name, 2 h old
            };
            var kept = new[]
            {
                Make(Temporary("a.bin", Environment.ProcessId)),                         // a write in progress here
                Make(Temporary("a.bin", sleeper.Id)),                                    // a write in progress in a live process
                Make(Temporary("a.bin", 1, host: "0badf00d")),                           // another machine's, recent
                Make($".a.bin.{Guid.NewGuid():N}.tmp"),                                   // an older version's name, recent
                Make(".notes.tmp", old),                                                 // not Aperture's pattern at all
                Make("a.bin.tmp", old),
            };
            AtomicFile.WriteAllText(dir.File("a.bin"), "new");
            var left = Directory.GetFiles(dir.Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(kept.Append("a.bin").Order(StringComparer.Ordinal), left);

            // A checkpoint load cleans up too.
            Checkpoint.Save(dir.File("c.ckpt"), new Dictionary<string, Tensor> { ["w"] = Tensor.Ones([2]) });
            string orphan = Make(Temporary("c.ckpt", 999999998));
            Checkpoint.Load(dir.File("c.ckpt"));
            Assert.False(File.Exists(dir.File(orphan)));
            Assert.Equal(0, AtomicFile.RemoveStaleTemporaries(dir.Path));
            Assert.Equal(0, AtomicFile.RemoveStaleTemporaries(dir.File("no-such-folder")));
        }
        finally
        {
            sleeper.Kill();
        }
    }
}
