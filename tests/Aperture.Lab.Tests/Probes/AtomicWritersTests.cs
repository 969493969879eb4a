using Aperture.Lab.Report;

namespace Aperture.Lab.Tests.Probes;

// The lab's file writers go through Aperture.IO.AtomicFile: whole files, no temporary file left beside them.
public class AtomicWritersTests
{
    [Fact]
    public void PlotRendererWritesAWholePngAndNothingElse()
    {
        using var dir = new TempDir();
        string path = dir.File("figs/curve.png");
        var figure = new Figure("curve", "A curve", "x", "y", [new Series("a", [1.0, 2, 3], [1.0, 4, 9])]);
        PlotRenderer.Render(figure, path);
        PlotRenderer.Render(figure, path); // replaces it
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.Single(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
    }
}
