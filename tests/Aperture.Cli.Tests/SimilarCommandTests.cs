using System.Text.Json;

namespace Aperture.Cli.Tests;

/// <summary>`aperture similar`: neighbours of an item in a layer of a loaded or freshly trained model, and its errors.</summary>
public sealed class SimilarCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aperture-similar-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Subset
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Aperture.slnx"))) return Path.Combine(d.FullName, "data", "fashion-mnist-subset");
            throw new InvalidOperationException("no repository root");
        }
    }

    private static JsonElement Json(CliResult r)
    {
        Assert.True(r.ExitCode == 0, r.All);
        return JsonDocument.Parse(r.Out).RootElement;
    }

    [Fact]
    public void BondsTrainSaveAndReloadGiveTheSameNeighbours()
    {
        string net = Path.Combine(_dir, "bond.safetensors");
        var run = CliHarness.Run("similar", "--dataset", "bonds", "--train", "--epochs", "2", "--save", net, "--item", "7", "--k", "4", "--json", "-");
        var trained = Json(run);
        var doc = OutputFixture.Validate(run.Out, "similar");
        Assert.True((bool)doc["trained"]!);
        Assert.Equal(2, (int)doc["epochs"]!);
        Assert.Equal(Path.GetFullPath(net), (string?)doc["saved_to"]);
        Assert.Equal([1, 2, 3, 4], doc["neighbours"]!.AsArray().Select(n => (int)n!["rank"]!));
        Assert.Contains("| rank | item | distance |", run.Err);   // the human table went to standard error, as Markdown
        Assert.Equal(7, trained.GetProperty("query").GetInt64());
        Assert.Equal(4, trained.GetProperty("neighbours").GetArrayLength());
        Assert.Equal("yield_pct", trained.GetProperty("attribute_names")[2].GetString());
        var first = trained.GetProperty("neighbours")[0];
        Assert.NotEqual(7, first.GetProperty("index").GetInt64());
        Assert.Equal(trained.GetProperty("attribute_names").GetArrayLength(), first.GetProperty("attributes").GetArrayLength());
        string file = Path.Combine(_dir, "loaded.json");
        var load = CliHarness.Run("similar", "--dataset", "bonds", "--model", net, "--item", "7", "--k", "4", "--json", file);
        Assert.True(load.ExitCode == 0, load.All);
        var loaded = JsonDocument.Parse(File.ReadAllText(file)).RootElement;
        var loadedDoc = OutputFixture.Validate(File.ReadAllText(file), "similar");
        Assert.False((bool)loadedDoc["trained"]!);
        Assert.Null(loadedDoc["seed"]);
        Assert.Equal(Path.GetFullPath(net), (string?)loadedDoc["model_file"]);
        Assert.Equal(trained.GetProperty("neighbours").ToString(), loaded.GetProperty("neighbours").ToString());
        // Another layer and the cosine distance answer too; the human table names the layer.
        var human = CliHarness.Run("similar", "--dataset", "bonds", "--model", net, "--item", "7", "--k", "3", "--layer", "1", "--metric", "cosine");
        Assert.True(human.ExitCode == 0, human.All);
        Assert.Contains("in layer 1 (cosine distance)", human.Out);
        // `--layer input` searches the features the net reads: the raw-feature neighbours, computed here independently.
        var raw = Json(CliHarness.Run("similar", "--dataset", "bonds", "--model", net, "--item", "7", "--k", "5", "--layer", "input", "--json", "-"));
        var held = Aperture.Lab.Recipes.BondSimilarity.Split(Aperture.Data.Synthetic.BondMarket(5000, new Aperture.Generator(0)), 4000).Others;
        var features = Aperture.Lab.Recipes.BondSimilarity.Represent(Aperture.Lab.Recipes.BondRepresentation.RawFeatures,
            Aperture.Lab.Recipes.BondPriceNet.Load(net), held.Data.Inputs);
        var expected = new Aperture.Latent.NearestNeighbourIndex(features).SearchSelf(5).Indices.ToArray<long>().Skip(7 * 5).Take(5);
        Assert.Equal(expected, raw.GetProperty("neighbours").EnumerateArray().Select(n => n.GetProperty("index").GetInt64()));
        Assert.Equal("input", raw.GetProperty("layer").GetString());
        Assert.Contains("or input (the features the model reads)",
            CliHarness.Run("similar", "--dataset", "bonds", "--model", net, "--item", "7", "--layer", "9").Err);
    }

    [Fact]
    public void FashionMnistFromATrainCheckpointListsImagesAndDrawsThem()
    {
        string ckpt = Path.Combine(_dir, "mlp.ckpt");
        var train = CliHarness.Run("train", "--epochs", "1", "--data-dir", Subset, "--save", ckpt);
        Assert.True(train.ExitCode == 0, train.All);
        string png = Path.Combine(_dir, "n.png");
        var images = CliHarness.Run("similar", "--dataset", "fashion-mnist", "--model", ckpt, "--data-dir", Subset, "--item", "3", "--k", "5", "--png", png, "--json", "-");
        var r = Json(images);
        var imagesDoc = OutputFixture.Validate(images.Out, "similar");
        Assert.Equal((string?)imagesDoc["class_names"]![(int)imagesDoc["query_label"]!], (string?)imagesDoc["query_class"]);
        Assert.All(imagesDoc["neighbours"]!.AsArray(), n => Assert.Equal(784, Convert.FromBase64String((string)n!["image"]!).Length));
        // TSV: the neighbours only on standard output, one row per line; the notes on standard error.
        var tsv = CliHarness.Run("similar", "--dataset", "fashion-mnist", "--model", ckpt, "--data-dir", Subset, "--item", "3", "--k", "5", "--format", "tsv");
        Assert.True(tsv.ExitCode == 0, tsv.All);
        var rows = tsv.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, rows.Length);   // the header, the query, five neighbours
        Assert.Equal("rank\titem\tdistance\tlabel", rows[0]);
        Assert.Contains("model: ", tsv.Err);
        Assert.Equal(5, r.GetProperty("neighbours").GetArrayLength());
        Assert.Equal(28, r.GetProperty("image_side").GetInt32());
        Assert.Equal(784, Convert.FromBase64String(r.GetProperty("query_image").GetString()!).Length);
        Assert.Equal("layer 3", r.GetProperty("space").GetString());
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);

        var bad = CliHarness.Run("similar", "--dataset", "fashion-mnist", "--model", ckpt, "--data-dir", Subset, "--item", "3", "--layer", "9");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--layer '9': the model has no module of that name; its modules are 0 (", bad.Err);
        var item = CliHarness.Run("similar", "--dataset", "fashion-mnist", "--model", ckpt, "--data-dir", Subset, "--item", "1000");
        Assert.Equal(2, item.ExitCode);
        Assert.Contains("--item 1000 is outside the 1000 items", item.Err);
    }

    [Fact]
    public void BadRequestsAreNamed()
    {
        CliResult Run(params string[] a) => CliHarness.Run(["similar", .. a]);
        Assert.Contains("exactly one of --model FILE and --train", Run("--dataset", "bonds", "--item", "0").Err);
        Assert.Contains("exactly one of --model FILE and --train", Run("--dataset", "bonds", "--item", "0", "--train", "--model", "x").Err);
        Assert.Contains("--png draws images", Run("--dataset", "bonds", "--item", "0", "--train", "--png", Path.Combine(_dir, "x.png")).Err);
        Assert.Contains("--k 0", Run("--dataset", "bonds", "--item", "0", "--train", "--k", "0").Err.Replace("--k must be at least 1, got 0", "--k 0"));
        var missing = Run("--dataset", "bonds", "--item", "0", "--model", Path.Combine(_dir, "none.safetensors"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.safetensors", missing.Err);
        File.WriteAllText(Path.Combine(_dir, "junk.ckpt"), "junk");
        var junk = Run("--dataset", "fashion-mnist", "--item", "0", "--model", Path.Combine(_dir, "junk.ckpt"), "--data-dir", Subset);
        Assert.Equal(2, junk.ExitCode);
        Assert.Contains("junk.ckpt", junk.Err);
        Assert.DoesNotContain("   at ", junk.All);
        Assert.Contains("--item 1000 is outside the 1000 items", Run("--dataset", "bonds", "--train", "--epochs", "1", "--item", "1000").Err);
    }
}
