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
}
