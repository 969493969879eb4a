using Aperture.Fuzz;

namespace Aperture.Tests.IO;

/// <summary>
/// The fuzz harness's seed corpus (fuzz/corpus): every file reads through its target with at most a documented
/// error, and the corpus is what the seed writer makes, so it cannot drift from the formats.
/// </summary>
public class FuzzCorpusTests
{
    private static string CorpusRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Aperture.slnx"))) return Path.Combine(d.FullName, "fuzz", "corpus");
            throw new InvalidOperationException($"no Aperture.slnx above {AppContext.BaseDirectory}");
        }
    }

    public static TheoryData<string> Targets() => [.. FuzzTargets.Names];

    [Theory]
    [MemberData(nameof(Targets))]
    public void EverySeedReadsWithinItsDocumentedErrors(string target)
    {
        using var dir = new TempDirectory();
        var files = Directory.GetFiles(Path.Combine(CorpusRoot, target));
        Assert.NotEmpty(files);
        int read = 0;
        foreach (var file in files)
        {
            try
            {
                FuzzTargets.Run(target, File.ReadAllBytes(file), dir.File("scratch.bin"));
                read++;
            }
            catch (Exception e) when (FuzzTargets.IsDocumented(target, e))
            {
            }
        }
        // Seeds exist to reach the parser's success path: most must read.
        Assert.True(read * 2 > files.Length, $"{target}: only {read} of {files.Length} seeds read");
    }

    [Fact]
    public void TheCommittedCorpusIsWhatTheSeedWriterMakes()
    {
        using var dir = new TempDirectory();
        SeedCorpus.Write(dir.Path);
        foreach (var made in Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(dir.Path, made);
            string committed = Path.Combine(CorpusRoot, rel);
            Assert.True(File.Exists(committed), $"fuzz/corpus/{rel} is missing: regenerate the corpus (fuzz/corpus/README.txt)");
            Assert.True(File.ReadAllBytes(made).AsSpan().SequenceEqual(File.ReadAllBytes(committed)), $"fuzz/corpus/{rel} differs from what the seed writer makes");
        }
    }

    [Fact]
    public void AnUndocumentedExceptionIsAFinding()
    {
        Assert.False(FuzzTargets.IsDocumented("state", new ArgumentOutOfRangeException("x")));
        Assert.True(FuzzTargets.IsDocumented("state", new ArgumentException("x")));
        Assert.False(FuzzTargets.IsDocumented("idx", new ArgumentException("x")));
        Assert.False(FuzzTargets.IsDocumented("npy", new IndexOutOfRangeException()));
        Assert.False(FuzzTargets.IsDocumented("csv", new OutOfMemoryException()));
        Assert.Throws<ArgumentException>(() => FuzzTargets.Run("nope", [], "x"));
    }
}
