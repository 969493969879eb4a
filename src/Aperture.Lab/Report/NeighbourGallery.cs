using System.Globalization;
using System.Text;
using Aperture.Lab.Recipes;
using SkiaSharp;
using static System.Net.WebUtility;

namespace Aperture.Lab.Report;

/// <summary>
/// Draws a <see cref="NeighbourListing"/>: for images, a strip with the query and its neighbours as thumbnails, each
/// captioned with its index, label and distance (a neighbour of another class framed in red); for items with
/// attributes (bonds), an HTML table with the query's row first.
/// </summary>
public static class NeighbourGallery
{
    private const int Scale = 3, Pad = 8, Caption = 30;

    /// <summary>Device pixels per CSS pixel: the strip is drawn at 2×, as the figures are.</summary>
    public const int Density = 2;

    /// <summary>
    /// The captions' face: the figures' sans-serif face where one was found (Skia's default is a serif on Linux without
    /// fontconfig), else Skia's default.
    /// </summary>
    internal static SKTypeface CaptionFace() =>
        (PlotRenderer.SansFontFile is { } file ? SKTypeface.FromFile(file) : null) ?? SKTypeface.Default;

    /// <summary>The thumbnails a row of the phone's rendering holds: four of 28 × 28 images fit 420 px at their own size.</summary>
    public const int NarrowColumns = 4;

    /// <summary>
    /// Writes the strip of <paramref name="listing"/>'s images as a PNG at <paramref name="path"/> (atomically), at
    /// <see cref="Density"/> device pixels per CSS pixel; returns its size in CSS pixels. With <paramref name="columns"/>
    /// above 0 the thumbnails wrap into rows of that many (a phone's rendering), else they stand in one row with a gap
    /// after the query.
    /// </summary>
    public static (int Width, int Height) RenderImages(NeighbourListing listing, string path, int columns = 0)
    {
        ArgumentNullException.ThrowIfNull(listing);
        int side = listing.ImageSide;
        if (side < 1 || listing.QueryImage is null) throw new ArgumentException("NeighbourGallery: the listing has no images", nameof(listing));
        int cell = side * Scale, count = listing.Neighbours.Count + 1;
        bool wrap = columns > 0 && columns < count;
        int perRow = wrap ? columns : count, rows = (count + perRow - 1) / perRow;
        int width = Pad + perRow * (cell + Pad) + (wrap ? 0 : Pad), height = rows * (Pad + cell + Caption);
        using var bitmap = new SKBitmap(width * Density, height * Density);
        using var canvas = new SKCanvas(bitmap);
        canvas.Scale(Density);
        canvas.Clear(SKColors.White);
        using var face = CaptionFace();
        using var font = new SKFont(face, 11);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var frame = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = 3 };
        void Draw(int slot, string? image, long index, long? label, double? distance, bool query)
        {
            int x0 = Pad + slot % perRow * (cell + Pad) + (!wrap && slot > 0 ? Pad : 0), y0 = slot / perRow * (Pad + cell + Caption);
            var pixels = image is null ? [] : Convert.FromBase64String(image);
            for (int r = 0; r < side; r++)
                for (int c = 0; c < side; c++)
                {
                    byte v = r * side + c < pixels.Length ? pixels[r * side + c] : (byte)0;
                    using var p = new SKPaint { Color = new SKColor(v, v, v) };
                    canvas.DrawRect(x0 + c * Scale, y0 + Pad + r * Scale, Scale, Scale, p);
                }
            bool other = !query && label is not null && label != listing.QueryLabel;
            frame.Color = query ? new SKColor(0x1f, 0x77, 0xb4) : other ? new SKColor(0xd6, 0x27, 0x28) : new SKColor(0xcc, 0xcc, 0xcc);
            canvas.DrawRect(x0 - 2, y0 + Pad - 2, cell + 4, cell + 4, frame);
            string name = label is { } l ? ClassName(listing, l) : "";
            Label(query ? $"query #{index}" : $"#{index} d={distance!.Value.ToString("G3", CultureInfo.InvariantCulture)}", x0, y0 + Pad + cell + 13);
            Label(name, x0, y0 + Pad + cell + 26);
        }
        // A caption wider than its thumbnail (a five-digit index, "Ankle boot") is set smaller, not run into the next one.
        void Label(string s, float x, float y)
        {
            float wide = font.MeasureText(s);
            using var fitted = new SKFont(face, wide > cell ? 11f * cell / wide : 11f);
            canvas.DrawText(s, x, y, fitted, text);
        }
        Draw(0, listing.QueryImage, listing.Query, listing.QueryLabel, null, query: true);
        for (int i = 0; i < listing.Neighbours.Count; i++)
        {
            var n = listing.Neighbours[i];
            Draw(i + 1, n.Image, n.Index, n.Label, n.Distance, query: false);
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        Aperture.IO.AtomicFile.WriteAllBytes(path, data.ToArray());
        return (width, height);
    }

    /// <summary>An HTML table of the query and its neighbours: index, distance, label and every attribute.</summary>
    public static string HtmlTable(NeighbourListing listing)
    {
        ArgumentNullException.ThrowIfNull(listing);
        var names = listing.AttributeNames ?? [];
        var h = new StringBuilder("<table class=\"neighbours\"><thead><tr><th></th><th>item</th><th>distance</th>");
        if (listing.QueryLabel is not null) h.Append("<th>label</th>");
        foreach (var a in names) h.Append($"<th>{HtmlEncode(a)}</th>");
        h.Append("</tr></thead><tbody>\n");
        void Row(string rank, long index, double? distance, long? label, IReadOnlyList<double>? values)
        {
            h.Append($"<tr><td>{rank}</td><td>{index}</td><td>{(distance is { } d ? d.ToString("G4", CultureInfo.InvariantCulture) : "")}</td>");
            if (listing.QueryLabel is not null) h.Append($"<td>{(label is { } l ? HtmlEncode(ClassName(listing, l)) : "")}</td>");
            for (int i = 0; i < names.Count; i++)
                h.Append($"<td>{(values is not null && i < values.Count ? values[i].ToString("G4", CultureInfo.InvariantCulture) : "")}</td>");
            h.Append("</tr>\n");
        }
        Row("query", listing.Query, null, listing.QueryLabel, listing.QueryAttributes);
        for (int i = 0; i < listing.Neighbours.Count; i++)
        {
            var n = listing.Neighbours[i];
            Row((i + 1).ToString(CultureInfo.InvariantCulture), n.Index, n.Distance, n.Label, n.Attributes);
        }
        return h.Append("</tbody></table>\n").ToString();
    }

    /// <summary>The artifact name under which a run stores a listing for the report.</summary>
    public const string ArtifactName = "neighbours.json";

    /// <summary>
    /// Appends to a phenomenon page the listings that the runs of the first seed stored as <see cref="ArtifactName"/>:
    /// image strips (written under img/ and added to <paramref name="images"/>) and attribute tables.
    /// </summary>
    internal static void Append(StringBuilder h, string outDir, List<string> images, string id, RunSet runs)
    {
        var first = runs.Runs.Where(r => r.Artifacts.ContainsKey(ArtifactName)).OrderBy(r => r.Seed).FirstOrDefault();
        if (first is null) return;
        h.Append($"<h2>Neighbours</h2>\n<p>A query and its nearest items in each space (seed {first.Seed}, the artifact <code>{ArtifactName}</code> of each run).</p>\n");
        foreach (var r in runs.Runs.Where(r => r.Seed == first.Seed && r.Artifacts.ContainsKey(ArtifactName)))
        {
            // An artifact missing from the store's folder (a store copied without it) is said on the page; the rest of
            // the report is still written.
            string json;
            try { json = r.ReadArtifact(ArtifactName); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                h.Append($"<h3>{HtmlEncode(r.Arm)}</h3>\n<p class=\"warn\">The artifact <code>{ArtifactName}</code> of run <code>{HtmlEncode(r.RunId[..8])}</code> is missing from the store's artifact folder ({HtmlEncode(e.Message)}).</p>\n");
                continue;
            }
            var listing = NeighbourListing.FromJson(json);
            if (listing is null) continue;
            h.Append($"<h3>{HtmlEncode(r.Arm)}</h3>\n");
            if (listing.ImageSide > 0 && listing.QueryImage is not null)
            {
                string rel = $"img/{id}-neighbours-{Slug(r.Arm)}.png";
                var (w, ht) = RenderImages(listing, Path.Combine(outDir, rel));
                images.Add(Path.Combine(outDir, rel));
                // A phone gets the thumbnails in rows of four at their own size; the one long strip would shrink its captions to specks.
                string narrowRel = rel[..^4] + "-narrow.png";
                var (nw, nh) = RenderImages(listing, Path.Combine(outDir, narrowRel), NarrowColumns);
                images.Add(Path.Combine(outDir, narrowRel));
                h.Append($"<figure><picture><source media=\"{ReportWriter.NarrowMedia}\" srcset=\"{HtmlEncode(narrowRel)}\" width=\"{nw}\" height=\"{nh}\">")
                 .Append($"<img src=\"{HtmlEncode(rel)}\" width=\"{w}\" height=\"{ht}\" alt=\"{HtmlEncode(r.Arm)}: query and neighbours\"></picture><figcaption>Query (blue) and its {listing.Neighbours.Count} nearest ")
                 .Append($"items by {HtmlEncode(listing.Metric)} distance; red frames mark another class.</figcaption></figure>\n");
            }
            else h.Append(HtmlTable(listing));
        }
    }

    private static string Slug(string s) => new([.. s.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-')]);

    /// <summary>A label's class name where the listing has names, else the number.</summary>
    public static string ClassName(NeighbourListing listing, long label) =>
        listing.ClassNames is { } names && label >= 0 && label < names.Count ? names[(int)label] : label.ToString(CultureInfo.InvariantCulture);
}
