using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Aperture.Cli.Tests;

/// <summary>
/// One small store made once by a real sweep of two cheap phenomena (both seed blocks, 48 runs, a few seconds), which
/// the output, JSON and query tests read and re-run (re-running reuses every run).
/// </summary>
public sealed class OutputFixture : IDisposable
{
    /// <summary>Two cheap phenomena at tiny settings, two seeds per block.</summary>
    public static readonly string[] Sweep =
    [
        "lab", "run", "momentum-acceleration", "adam-beta2-rounding", "--seeds", "2",
        "--set", "momentum-acceleration.dimension=10", "--set", "momentum-acceleration.kappas=10,100,1000",
        "--set", "adam-beta2-rounding.train_per_class=6", "--set", "adam-beta2-rounding.test_per_class=5",
        "--set", "adam-beta2-rounding.hidden=8", "--set", "adam-beta2-rounding.batch_size=20", "--set", "adam-beta2-rounding.epochs=2",
    ];

    /// <summary>The commands that reproduce each phenomenon's discovery block, as the sweep must print them.</summary>
    public static readonly string[] Reproduce =
    [
        "./aperture lab run momentum-acceleration --tier quick --seeds 2 --set dimension=10 --set kappas=10,100,1000",
        "./aperture lab run adam-beta2-rounding --tier quick --seeds 2 --set train_per_class=6 --set test_per_class=5 --set hidden=8 --set batch_size=20 --set epochs=2",
    ];

    public OutputFixture()
    {
        Dir = Path.Combine(Path.GetTempPath(), "aperture-cli-output-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Dir);
        Store = Path.Combine(Dir, "sweep.db");
        First = CliHarness.Run([.. Sweep, "--store", Store]);
        if (First.ExitCode != 0) throw new InvalidOperationException($"the fixture's sweep failed:\n{First.All}");
        // A copy never tagged, for the tests of stores made before tags and notes existed.
        Untagged = Path.Combine(Dir, "untagged.db");
        File.Copy(Store, Untagged);
    }

    /// <summary>A copy of the sweep's store made before any test tagged or noted a run.</summary>
    public string Untagged { get; }

    public string Dir { get; }

    public string Store { get; }

    /// <summary>What the first sweep printed (redirected, default format).</summary>
    public CliResult First { get; }

    public string At(string name) => Path.Combine(Dir, name);

    /// <summary>The repository root (the folder holding Aperture.slnx).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Aperture.slnx"))) return d.FullName;
            throw new InvalidOperationException($"no Aperture.slnx above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>
    /// Asserts that <paramref name="json"/> validates against docs/schema/<paramref name="schema"/>.schema.json and
    /// names that schema's version; returns the parsed document.
    /// </summary>
    public static JsonNode Validate(string json, string schema)
    {
        var file = Path.Combine(RepoRoot, "docs", "schema", schema + ".schema.json");
        var s = JsonSchema.FromText(File.ReadAllText(file), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        using var doc = JsonDocument.Parse(json);
        var result = s.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
        if (!result.IsValid)
        {
            var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")).Take(20);
            Assert.Fail($"output does not validate against {schema}.schema.json:\n{string.Join("\n", errors)}\n--- output:\n{json[..Math.Min(json.Length, 4000)]}");
        }
        var node = JsonNode.Parse(json)!;
        // The version the schema file states (its "schema" const), so a version bump is made in one place.
        string? version = (string?)JsonNode.Parse(File.ReadAllText(file))!["properties"]!["schema"]!["const"];
        Assert.StartsWith($"aperture.{schema}/", version);
        Assert.Equal(version, (string?)node["schema"]);
        return node;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
