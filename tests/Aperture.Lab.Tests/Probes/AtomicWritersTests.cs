using System.Buffers.Binary;
using Aperture.Lab.Report;

namespace Aperture.Lab.Tests.Probes;

// The lab's file writers go through Aperture.IO.AtomicFile: whole files, no temporary file left beside them.
public class AtomicWritersTests
{
    [Fact]
    public void PlotRendererWritesAWholeSvgAndPngAtTwiceTheDensityAndNothingElse()
    {
        using var dir = new TempDir();
        string stem = dir.File("figs/curve");
        var figure = new Figure("curve", "A curve", "x", "y", [new Series("a", [1.0, 2, 3], [1.0, 4, 9])]);
        PlotRenderer.Render(figure, stem);
        var o = PlotRenderer.Render(figure, stem); // replaces them
        var png = File.ReadAllBytes(o.Png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(2 * o.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
        Assert.Equal(2 * o.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
        string svg = File.ReadAllText(o.Svg);
        Assert.Contains("<svg", svg);
        Assert.EndsWith("</svg>", svg.TrimEnd());
        Assert.Contains("A curve", svg);
        // The wide rendering and the narrow one for phones, and no temporary file of either.
        Assert.Equal(new[] { "curve-narrow.png", "curve-narrow.svg", "curve.png", "curve.svg" }, Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var narrow = File.ReadAllBytes(o.Narrow!.Png);
        Assert.Equal(2 * o.Narrow.Width, BinaryPrimitives.ReadInt32BigEndian(narrow.AsSpan(16, 4)));
    }
}
