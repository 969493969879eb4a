using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Data;
using Aperture.Latent;
using Aperture.NN;

namespace Aperture.Lab.Recipes;

/// <summary>One neighbour of a query.</summary>
/// <param name="Index">The item's index in the searched set.</param>
/// <param name="Distance">Its distance to the query.</param>
/// <param name="Label">Its class label, where the items have one.</param>
/// <param name="Attributes">Its attribute values (named by <see cref="NeighbourListing.AttributeNames"/>), where the items have them.</param>
/// <param name="Image">Its image as base64 of 8-bit grey pixels, row by row, where the items are images.</param>
public sealed record NeighbourEntry(long Index, double Distance, long? Label = null, IReadOnlyList<double>? Attributes = null, string? Image = null);

/// <summary>
/// A query and its nearest items in one representation: what <c>aperture similar</c> prints and writes, and what a
/// phenomenon stores as an artifact for the report to draw (images as a strip of thumbnails, bonds as a table).
/// </summary>
/// <param name="Dataset">The dataset searched ("bonds", "fashion-mnist").</param>
/// <param name="Space">The representation searched: a layer's name, "raw features", "pixels", ….</param>
/// <param name="Metric">The distance ("l2", "cosine").</param>
/// <param name="Query">The query's index in the searched set.</param>
/// <param name="QueryLabel">The query's class label, where the items have one.</param>
/// <param name="QueryAttributes">The query's attribute values.</param>
/// <param name="QueryImage">The query's image (base64 grey bytes).</param>
/// <param name="ImageSide">The side of the square images, or 0.</param>
/// <param name="AttributeNames">The attributes' names.</param>
/// <param name="ClassNames">Names of the class labels (label i is ClassNames[i]), where known.</param>
/// <param name="Neighbours">The nearest other items, nearest first (ties by index).</param>
public sealed record NeighbourListing(string Dataset, string Space, string Metric, long Query, long? QueryLabel, IReadOnlyList<double>? QueryAttributes,
    string? QueryImage, int ImageSide, IReadOnlyList<string>? AttributeNames, IReadOnlyList<string>? ClassNames, IReadOnlyList<NeighbourEntry> Neighbours)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    /// <summary>The listing as indented JSON with snake_case names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/>'s text back (null for JSON that is not a listing).</summary>
    public static NeighbourListing? FromJson(string json)
    {
        try { return JsonSerializer.Deserialize<NeighbourListing>(json, Json); }
        catch (JsonException) { return null; }
    }
}

/// <summary>The items of a searchable set beside their representation: labels, attributes and images to show with neighbours.</summary>
/// <param name="Labels">int64 class labels [n], or null.</param>
/// <param name="Attributes">float64 attribute values [n, a], or null.</param>
/// <param name="AttributeNames">The a attribute names.</param>
/// <param name="Images">8-bit grey images [n, side²] (row-major bytes), or null.</param>
/// <param name="ImageSide">The image side, or 0.</param>
/// <param name="ClassNames">Names of the labels, or null.</param>
public sealed record ItemDescriptions(long[]? Labels = null, double[]? Attributes = null, IReadOnlyList<string>? AttributeNames = null,
    byte[]? Images = null, int ImageSide = 0, IReadOnlyList<string>? ClassNames = null);

/// <summary>"Which items are closest to this one in this representation": exact search and the listing it gives.</summary>
public static class Similarity
{
    /// <summary>The ten Fashion-MNIST classes, by label.</summary>
    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// The <paramref name="k"/> items nearest to item <paramref name="query"/> of <paramref name="representation"/>
    /// [n, d] (the query itself left out), with what <paramref name="items"/> says about each.
    /// </summary>
    public static NeighbourListing List(string dataset, string space, Tensor representation, int query, int k, Distance metric, ItemDescriptions items)
    {
        ArgumentNullException.ThrowIfNull(representation);
        ArgumentNullException.ThrowIfNull(items);
        int n = representation.Shape[0];
        if (query < 0 || query >= n) throw new LabConfigException($"--item {query} is outside the {n} items of {dataset} (0 … {n - 1})");
        if (k < 1 || k > n - 1) throw new LabConfigException($"--k {k} must lie in [1, {n - 1}]: {dataset} has {n} items and the query is not its own neighbour");
        // k + 1 candidates: the query (distance 0) is among them unless k + 1 exact duplicates of lower index precede it.
        var nb = new NearestNeighbourIndex(representation, metric).Search(Ops.Slice(representation, 0, query, query + 1), k + 1);
        var idx = nb.Indices.ToArray<long>();
        var dist = nb.Distances.ToDoubleArray();
        var list = new List<NeighbourEntry>(k);
        for (int j = 0; j < idx.Length && list.Count < k; j++)
            if (idx[j] != query) list.Add(Describe(items, idx[j], dist[j]));
        return Listing(dataset, space, metric, Describe(items, query, 0), items, list);
    }

    /// <summary>
    /// The <paramref name="k"/> items of <paramref name="items"/> [n, d] nearest to <paramref name="queryCode"/> [1, d], a
    /// query from another set (a test image among training images) described by <paramref name="query"/>.
    /// </summary>
    public static NeighbourListing ListAgainst(string dataset, string space, Tensor items, Tensor queryCode, NeighbourEntry query, int k, Distance metric,
        ItemDescriptions descriptions)
    {
        ArgumentNullException.ThrowIfNull(descriptions);
        var nb = new NearestNeighbourIndex(items, metric).Search(queryCode, k);
        var idx = nb.Indices.ToArray<long>();
        var dist = nb.Distances.ToDoubleArray();
        return Listing(dataset, space, metric, query, descriptions, [.. idx.Select((i, j) => Describe(descriptions, i, dist[j]))]);
    }

    private static NeighbourListing Listing(string dataset, string space, Distance metric, NeighbourEntry q, ItemDescriptions items, List<NeighbourEntry> list) =>
        new(dataset, space, metric == Distance.L2 ? "l2" : "cosine", q.Index, q.Label, q.Attributes, q.Image, items.ImageSide, items.AttributeNames, items.ClassNames, list);

    private static NeighbourEntry Describe(ItemDescriptions items, long i, double distance)
    {
        int a = items.AttributeNames?.Count ?? 0, pixels = items.ImageSide * items.ImageSide;
        return new NeighbourEntry(i, distance, items.Labels?[i],
            items.Attributes is null ? null : items.Attributes.AsSpan((int)i * a, a).ToArray(),
            items.Images is null ? null : Convert.ToBase64String(items.Images, (int)i * pixels, pixels));
    }

    /// <summary>Images [n, …] with values in [0, <paramref name="max"/>] as 8-bit grey bytes [n · pixels], rounded.</summary>
    public static byte[] GreyBytes(Tensor images, double max)
    {
        ArgumentNullException.ThrowIfNull(images);
        var v = images.Contiguous().ToDoubleArray();
        var b = new byte[v.Length];
        for (int i = 0; i < v.Length; i++) b[i] = (byte)Math.Clamp(Math.Round(255 * v[i] / max), 0, 255);
        return b;
    }

    /// <summary>The descriptions of held-out bonds: rating, sector, yield, coupon, maturity, noise-free price and the nuisance columns.</summary>
    public static ItemDescriptions Bonds(BondMarketTask market)
    {
        ArgumentNullException.ThrowIfNull(market);
        int n = market.Data.Count, d = market.FeatureNames.Count, nuisance = market.NuisanceColumns;
        var names = new List<string> { "rating", "sector", "yield_pct", "coupon_pct", "maturity_years", "price" };
        names.AddRange(market.FeatureNames.Skip(d - nuisance));
        var f = market.Factors.ToArray<double>();
        var x = market.Data.Inputs.ToDoubleArray();
        var (ratings, sectors) = (market.Ratings.ToArray<long>(), market.Sectors.ToArray<long>());
        var attributes = new double[n * names.Count];
        for (int i = 0; i < n; i++)
        {
            var row = attributes.AsSpan(i * names.Count, names.Count);
            row[0] = ratings[i];
            row[1] = sectors[i];
            row[2] = 100 * f[i * 3];
            row[3] = 100 * f[i * 3 + 1];
            row[4] = f[i * 3 + 2];
            row[5] = Synthetic.BondPrice(f[i * 3], f[i * 3 + 1], (int)f[i * 3 + 2]);
            for (int j = 0; j < nuisance; j++) row[6 + j] = x[i * d + d - nuisance + j];
        }
        return new ItemDescriptions(Attributes: attributes, AttributeNames: names);
    }

    /// <summary>The module names of <paramref name="model"/>, for an error that lists the layers one may ask for.</summary>
    public static string LayerNames(Module model) =>
        string.Join(", ", model.NamedModules().Where(m => m.Name.Length > 0).Select(m => $"{m.Name} ({m.Module.Describe()})"));
}
