using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Lab.Store;

namespace Aperture.Lab.Sweeps;

/// <summary>
/// One grid point of a sweep on one block of seeds: a protocol variant, planned, run and judged as <c>lab run</c>
/// plans, runs and judges one protocol.
/// </summary>
/// <param name="Point">The grid point's index (row-major over the axes, the last axis fastest).</param>
/// <param name="Block">0 for the discovery block, 1 for the replication block (the next seeds).</param>
/// <param name="Settings">The point's settings (fixed ones first), as <c>--set</c> writes them.</param>
/// <param name="Protocol">The protocol: the tier's defaults with the settings applied, validated.</param>
/// <param name="RunIds">The runs it is judged on.</param>
public sealed record SweepPoint(int Point, int Block, IReadOnlyList<KeyValuePair<string, string>> Settings, LabProtocol Protocol, IReadOnlyList<string> RunIds)
{
    /// <summary>"discovery" or "replication".</summary>
    public string BlockName => Block == 0 ? "discovery" : "replication";
}

/// <summary>
/// A sweep expanded: its grid points (each validated against the phenomenon's settings and ranges before anything
/// runs), the distinct runs they need, and those runs grouped into tasks (one task of a Slurm job array, or one unit of
/// work for a worker process). Its id is a hash of the canonical spec and of the runs it plans, so the same spec planned
/// by the same code on the same data is the same sweep, and a rerun resumes it.
/// </summary>
public sealed class SweepPlan
{
    private static readonly JsonSerializerOptions SpecJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    private SweepPlan(string id, SweepSpec spec, Phenomenon phenomenon, IReadOnlyList<SweepPoint> points, IReadOnlyList<RunSpec> runs, int runsPerTask)
    {
        Id = id;
        Spec = spec;
        Phenomenon = phenomenon;
        Points = points;
        Runs = runs;
        RunsPerTask = runsPerTask;
        Tasks = [.. runs.Chunk(runsPerTask).Select(c => (IReadOnlyList<RunSpec>)c)];
    }

    /// <summary>The sweep's id: 16 hex digits of SHA-256 over the canonical spec and the planned run ids.</summary>
    public string Id { get; }

    /// <summary>The spec.</summary>
    public SweepSpec Spec { get; }

    /// <summary>The phenomenon swept.</summary>
    public Phenomenon Phenomenon { get; }

    /// <summary>Every grid point on every block, point-major.</summary>
    public IReadOnlyList<SweepPoint> Points { get; }

    /// <summary>The distinct runs the points need, in plan order (a run two points share, as when a threshold is swept, appears once).</summary>
    public IReadOnlyList<RunSpec> Runs { get; }

    /// <summary>How many runs one task executes (the last task may have fewer).</summary>
    public int RunsPerTask { get; }

    /// <summary>The runs grouped into tasks: task i holds runs i·<see cref="RunsPerTask"/> onwards.</summary>
    public IReadOnlyList<IReadOnlyList<RunSpec>> Tasks { get; }

    /// <summary>The swept settings' keys, in the spec's order.</summary>
    public IReadOnlyList<string> SweptSettings => [.. Spec.Axes.Select(a => a.Setting)];

    /// <summary>
    /// Expands <paramref name="spec"/> into its grid and plans every point with <paramref name="runner"/> (which
    /// resolves the data, so a full tier without the full dataset stops here). Every point is validated first: an
    /// unknown setting, a value of the wrong type or outside its range is a <see cref="LabConfigException"/> naming
    /// the setting and the value, before anything runs.
    /// </summary>
    public static SweepPlan Create(SweepSpec spec, LabRunner runner, int runsPerTask = 1)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(runner);
        if (runsPerTask < 1) throw new LabConfigException($"runs per task must be at least 1, found {runsPerTask}");
        var phenomenon = Catalogue.Get(spec.Phenomenon);
        var known = ProtocolBinding.Settings(phenomenon.Defaults(spec.Tier)).Select(s => s.Key).ToList();
        foreach (var key in spec.Axes.Select(a => a.Setting).Concat(spec.Fixed.Select(f => f.Key)))
        {
            string normal = key.Trim().Replace('-', '_').ToLowerInvariant();
            if (!known.Contains(normal))
                throw new LabConfigException($"sweep: {phenomenon.Id} has no setting '{key}'; its settings are: {string.Join(", ", known)}");
            if (normal is "seeds" or "seed_base" && spec.Axes.Any(a => a.Setting == key))
                throw new LabConfigException($"sweep: '{normal}' cannot be swept (seed blocks are the sweep's own: give 'seeds' and 'seed_base' in the spec)");
        }
        var grid = spec.Grid();
        var points = new List<SweepPoint>();
        var runs = new List<RunSpec>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < grid.Count; i++)
        {
            LabProtocol discovery;
            try
            {
                discovery = LabRunner.Resolve(phenomenon, spec.Tier, grid[i], spec.Seeds, spec.SeedBase);
            }
            catch (LabConfigException e)
            {
                string at = string.Join(", ", grid[i].Where(kv => spec.Axes.Any(a => a.Setting == kv.Key)).Select(kv => $"{kv.Key}={kv.Value}"));
                throw new LabConfigException($"sweep point {i} ({at}): {e.Message}");
            }
            LabProtocol[] blocks = spec.Replicate ? [discovery, LabRunner.ReplicationOf(discovery)] : [discovery];
            for (int b = 0; b < blocks.Length; b++)
            {
                var planned = runner.Plan(phenomenon, spec.Tier, blocks[b]);
                foreach (var r in planned)
                    if (seen.Add(r.RunId)) runs.Add(r);
                points.Add(new SweepPoint(i, b, grid[i], blocks[b], [.. planned.Select(r => r.RunId)]));
            }
        }
        string specJson = spec.ToJson();
        string id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(specJson + "\n" + string.Join("\n", runs.Select(r => r.RunId)))))[..16];
        return new SweepPlan(id, spec, phenomenon, points, runs, runsPerTask);
    }

    /// <summary>A run spec as JSON (how a sweep's tasks are stored for workers on other machines).</summary>
    public static string RunSpecToJson(RunSpec spec) => JsonSerializer.Serialize(spec, SpecJson);

    /// <summary>Reads <see cref="RunSpecToJson"/>'s output; throws <see cref="InvalidDataException"/> for anything else.</summary>
    public static RunSpec RunSpecFromJson(string json)
    {
        try
        {
            var spec = JsonSerializer.Deserialize<RunSpec>(json, SpecJson);
            if (spec is null || spec.RunId is null || spec.Phenomenon is null || spec.ArmJson is null || spec.ConfigJson is null)
                throw new InvalidDataException("a stored run spec lacks a field");
            // The spec's identity must be what its fields hash to: a hand-edited spec is refused, not run under another's id.
            string id = RunStore.RunIdentity(spec.Phenomenon, spec.Tier, spec.ArmJson, spec.Seed, spec.ConfigJson, spec.ProtocolVersion, spec.CodeVersion, spec.DataFingerprint);
            if (id != spec.RunId) throw new InvalidDataException($"a stored run spec's id {spec.RunId} does not match its fields (they hash to {id})");
            return spec;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"a stored run spec is not valid: {e.Message}", e);
        }
    }
}
