using Aperture.Lab.Recipes;
using Aperture.Lab.Report;

namespace Aperture.Lab.Tests;

/// <summary>The report's drawing of a neighbour listing: an image strip for images, a table for attributes.</summary>
public class NeighbourGalleryTests
{
    private static string Image(byte v) => Convert.ToBase64String(Enumerable.Repeat(v, 16).ToArray());

    [Fact]
    public void ImagesBecomeAStripOfTheQueryAndItsNeighbours()
    {
        using var dir = new TempDir();
        var listing = new NeighbourListing("toy", "pixels", "l2", 3, 1, null, Image(255), 4, null, ["a", "b"],
            [new NeighbourEntry(5, 0.5, 1, Image: Image(128)), new NeighbourEntry(9, 1.25, 0, Image: Image(0))]);
        string path = dir.File("img/strip.png");
        var (cssWidth, cssHeight) = NeighbourGallery.RenderImages(listing, path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        // The strip's width: a pad, three cells of 4 × 3 pixels with their pads, an extra gap after the query, a pad;
        // the PNG has twice as many pixels each way, as the figures do.
        Assert.Equal(8 + 3 * (12 + 8) + 8, cssWidth);
        int width = (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19];
        int height = (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23];
        Assert.Equal((NeighbourGallery.Density * cssWidth, NeighbourGallery.Density * cssHeight), (width, height));
        Assert.Equal(2, NeighbourGallery.Density);
        // A phone's rendering: rows of four, each thumbnail at its own size, and no wider than a phone.
        var many = listing with { Neighbours = [.. Enumerable.Range(0, 10).Select(i => new NeighbourEntry(i, i, 1, Image: Image((byte)(20 * i))))] };
        var (wideWidth, wideHeight) = NeighbourGallery.RenderImages(many, dir.File("img/wide.png"));
        var (narrowWidth, narrowHeight) = NeighbourGallery.RenderImages(many, dir.File("img/narrow.png"), NeighbourGallery.NarrowColumns);
        Assert.Equal(8 + 4 * (12 + 8), narrowWidth);
        Assert.Equal(3 * wideHeight, narrowHeight);   // 11 thumbnails: rows of 4, 4 and 3
        Assert.True(wideWidth > 2 * narrowWidth);
        // Captions in the figures' sans-serif face, not Skia's default serif.
        if (PlotRenderer.SansFontFile is not null)
        {
            using var face = NeighbourGallery.CaptionFace();
            Assert.DoesNotContain("Serif", face.FamilyName, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal("b", NeighbourGallery.ClassName(listing, 1));
        Assert.Equal("7", NeighbourGallery.ClassName(listing, 7));
        Assert.Throws<ArgumentException>(() => NeighbourGallery.RenderImages(listing with { QueryImage = null }, path));
    }

    [Fact]
    public void AttributesBecomeATableWithTheQueryFirst()
    {
        var listing = new NeighbourListing("bonds", "layer 3", "l2", 0, null, [1.5, 2], null, 0, ["rating", "yield<pct>"], null,
            [new NeighbourEntry(4, 0.25, Attributes: [1.5, 2.25])]);
        string html = NeighbourGallery.HtmlTable(listing);
        Assert.Contains("<th>yield&lt;pct&gt;</th>", html);
        Assert.True(html.IndexOf("<td>query</td>", StringComparison.Ordinal) < html.IndexOf("<td>1</td><td>4</td><td>0.25</td>", StringComparison.Ordinal));
        Assert.Contains("<td>2.25</td>", html);
        Assert.DoesNotContain("<th>label</th>", html);
    }

    [Fact]
    public void AnArtifactMissingFromTheStoresFolderIsSaidOnThePageNotThrown()
    {
        using var dir = new TempDir();
        var run = new StoredRun("0123456789abcdef".PadRight(32, '0'), "pixels", 0, 1, new Dictionary<string, double>(),
            new Dictionary<string, IReadOnlyList<(long, double)>>(), new Dictionary<string, string> { [NeighbourGallery.ArtifactName] = dir.File("gone/neighbours.json") });
        var h = new System.Text.StringBuilder();
        NeighbourGallery.Append(h, dir.File("site"), [], "latent-neighbours", new RunSet([run]));
        Assert.Contains("is missing from the store's artifact folder", h.ToString());
        Assert.Contains("01234567", h.ToString());
    }
}
