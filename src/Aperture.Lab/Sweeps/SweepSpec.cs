using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aperture.Lab.Sweeps;

/// <summary>
/// A grid sweep over one phenomenon's protocol settings, shaped like a W&amp;B sweep configuration:
/// <code>
/// { "method": "grid", "phenomenon": "momentum-acceleration", "tier": "quick", "seeds": 5, "seed_base": 0, "replicate": true,
///   "parameters": {
///     "dimension":     { "value": 64 },
///     "learning_rate": { "values": [0.01, 0.1] },
///     "momentum":      { "distribution": "uniform", "min": 0.5, "max": 0.9, "count": 5 },
///     "kappas":        { "values": [[10, 100], [10, 1000]] } } }
/// </code>
/// Every combination of the swept settings' values is a grid point, a protocol variant planned, run and judged as
/// <c>aperture lab run</c> does one protocol (discovery block, and the replication block when <see cref="Replicate"/>).
/// </summary>
/// <param name="Phenomenon">The phenomenon's id.</param>
/// <param name="Tier">The tier whose defaults the settings start from.</param>
/// <param name="Axes">The swept settings, in order: the last varies fastest from point to point.</param>
public sealed record SweepSpec(string Phenomenon, Tier Tier, IReadOnlyList<SweepAxis> Axes)
{
    /// <summary>Settings every point shares (a W&amp;B <c>value:</c> parameter, or <c>--set key=value</c> with one value).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fixed { get; init; } = [];

    /// <summary>Seeds per arm in each block (null: the tier's default).</summary>
    public int? Seeds { get; init; }

    /// <summary>The discovery block's first seed (null: the tier's default, 0).</summary>
    public int? SeedBase { get; init; }

    /// <summary>Whether every point is also judged on an independent replication block (the next seeds), as <c>lab run</c> does by default.</summary>
    public bool Replicate { get; init; } = true;

    /// <summary>The most grid points a sweep may have.</summary>
    public const int MaxPoints = 100_000;

    private static string[] Keys => ["method", "name", "description", "phenomenon", "tier", "seeds", "seed_base", "replicate", "parameters"];

    /// <summary>
    /// The grid: every combination of the axes' values (the Cartesian product, the last axis fastest), each as the
    /// settings of that point (the fixed settings first). Throws <see cref="LabConfigException"/> for a grid larger
    /// than <see cref="MaxPoints"/>, or a setting swept twice or both swept and fixed.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<KeyValuePair<string, string>>> Grid()
    {
        var names = Axes.Select(a => Normal(a.Setting)).ToList();
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new LabConfigException($"sweep: the setting '{twice.Key}' is swept twice");
        if (Fixed.Select(f => Normal(f.Key)).FirstOrDefault(names.Contains) is { } both)
            throw new LabConfigException($"sweep: the setting '{both}' is given both a single value and several");
        var values = Axes.Select(a => a.Expand()).ToList();
        double size = values.Aggregate(1.0, (n, v) => n * v.Count);
        if (size > MaxPoints)
            throw new LabConfigException($"sweep: the grid has {size:0} points ({string.Join(" × ", values.Select(v => v.Count))}), more than the {MaxPoints} a sweep may have");
        IEnumerable<IReadOnlyList<KeyValuePair<string, string>>> points = [[.. Fixed]];
        for (int i = 0; i < Axes.Count; i++)
        {
            string key = Axes[i].Setting;
            var axis = values[i];
            points = points.SelectMany(p => axis.Select(v => (IReadOnlyList<KeyValuePair<string, string>>)[.. p, KeyValuePair.Create(key, v)]));
        }
        return [.. points];
    }

    /// <summary>The spec as canonical JSON (what is stored and hashed): W&amp;B's shape, values written as <c>--set</c> text.</summary>
    public string ToJson()
    {
        var parameters = new JsonObject();
        foreach (var (k, v) in Fixed) parameters[k] = new JsonObject { ["value"] = v };
        foreach (var a in Axes)
            parameters[a.Setting] = a.Kind switch
            {
                SweepAxisKind.Values => new JsonObject { ["values"] = new JsonArray([.. a.Listed.Select(v => (JsonNode)JsonValue.Create(v)!)]) },
                SweepAxisKind.IntUniform => new JsonObject
                {
                    ["distribution"] = "int_uniform", ["min"] = (long)a.Min, ["max"] = (long)a.Max,
                    ["count"] = a.Count == 0 ? null : a.Count,
                },
                _ => new JsonObject
                {
                    ["distribution"] = a.Kind == SweepAxisKind.LogUniform ? "log_uniform_values" : "uniform", ["min"] = a.Min, ["max"] = a.Max, ["count"] = a.Count,
                },
            };
        var root = new JsonObject
        {
            ["method"] = "grid",
            ["phenomenon"] = Phenomenon,
            ["tier"] = Tier == Tier.Full ? "full" : "quick",
            ["seeds"] = Seeds,
            ["seed_base"] = SeedBase,
            ["replicate"] = Replicate,
            ["parameters"] = parameters,
        };
        return root.ToJsonString();
    }

    /// <summary>
    /// Reads a W&amp;B-shaped sweep spec (see the type's summary). <paramref name="origin"/> names where it came from in
    /// errors (a file path). <paramref name="defaults"/> supplies the phenomenon, tier, seeds, seed base and replication
    /// when the file leaves them out (its axes are not used). Throws <see cref="LabConfigException"/> naming the key, what was expected and what was found.
    /// </summary>
    public static SweepSpec FromJson(JsonNode? node, string origin, SweepSpec? defaults = null)
    {
        string Where(string key) => $"{origin}: '{key}'";
        if (node is not JsonObject root) throw new LabConfigException($"{origin}: a sweep spec is an object with 'parameters', found {Kind(node)}");
        foreach (var (k, _) in root)
            if (!Keys.Contains(k))
                throw new LabConfigException($"{origin}: unknown key '{k}' (a sweep spec has: {string.Join(", ", Keys)}; each point is judged by its phenomenon's own rule, so there is no metric to give)");
        if (root["method"] is { } m && Text(m, Where("method")) is var method && method != "grid")
            throw new LabConfigException($"{Where("method")} must be grid (every combination, each judged by the phenomenon's rule), found '{method}'");
        string phenomenon = root["phenomenon"] is { } p ? Text(p, Where("phenomenon")) : defaults?.Phenomenon
            ?? throw new LabConfigException($"{origin}: name the phenomenon ('phenomenon': ID, see `aperture lab list`)");
        var tier = defaults?.Tier ?? Tier.Quick;
        if (root["tier"] is { } t)
            tier = Text(t, Where("tier")) switch
            {
                "quick" => Tier.Quick,
                "full" => Tier.Full,
                var other => throw new LabConfigException($"{Where("tier")} must be quick or full, found '{other}'"),
            };
        int? seeds = root["seeds"] is { } s ? Integer(s, Where("seeds")) : defaults?.Seeds;
        int? seedBase = root["seed_base"] is { } b ? Integer(b, Where("seed_base")) : defaults?.SeedBase;
        bool replicate = defaults?.Replicate ?? true;
        if (root["replicate"] is { } r)
            replicate = r is JsonValue rv && rv.TryGetValue<bool>(out var flag) ? flag
                : throw new LabConfigException($"{Where("replicate")} must be true or false, found {Kind(r)}");
        if (root["parameters"] is not JsonObject parameters)
            throw new LabConfigException($"{origin}: 'parameters' must be an object of settings ({{\"learning_rate\": {{\"values\": [0.01, 0.1]}}}}), found {Kind(root["parameters"])}");
        var axes = new List<SweepAxis>();
        var fixedSettings = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in parameters)
        {
            string at = $"{origin}: parameter '{name}'";
            if (value is not JsonObject spec)
                throw new LabConfigException($"{at} must be an object with 'value', 'values', or 'distribution' with 'min', 'max' and 'count', found {Kind(value)}");
            string[] allowed = spec.ContainsKey("distribution") ? ["distribution", "min", "max", "count"] : spec.ContainsKey("values") ? ["values"] : ["value"];
            foreach (var (k, _) in spec)
                if (!allowed.Contains(k))
                    throw new LabConfigException($"{at}: unexpected key '{k}' (expected {string.Join(", ", allowed)})");
            if (spec["value"] is { } single) { fixedSettings.Add(KeyValuePair.Create(name, ValueText(single, at))); continue; }
            if (spec.ContainsKey("values"))
            {
                if (spec["values"] is not JsonArray list) throw new LabConfigException($"{at}: 'values' must be a list, found {Kind(spec["values"])}");
                axes.Add(SweepAxis.Values(name, [.. list.Select(v => ValueText(v, at))]));
                continue;
            }
            if (!spec.ContainsKey("distribution"))
                throw new LabConfigException($"{at} must have 'value', 'values', or 'distribution' with 'min', 'max' and 'count'");
            string distribution = Text(spec["distribution"]!, at + ": 'distribution'");
            double Number(string key) => spec[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d
                : throw new LabConfigException($"{at}: '{key}' must be a number, found {Kind(spec[key])}");
            int Count(bool required) => spec["count"] is { } c ? Integer(c, at + ": 'count'")
                : required ? throw new LabConfigException($"{at}: a grid over {distribution} needs a 'count' (how many values from min to max)") : 0;
            axes.Add(distribution switch
            {
                "log_uniform_values" => SweepAxis.LogUniform(name, Number("min"), Number("max"), Count(true)),
                "uniform" => SweepAxis.Uniform(name, Number("min"), Number("max"), Count(true)),
                "int_uniform" => SweepAxis.IntUniform(name, WholeNumber(spec["min"], at + ": 'min'"), WholeNumber(spec["max"], at + ": 'max'"), Count(false)),
                _ => throw new LabConfigException($"{at}: distribution must be log_uniform_values, uniform or int_uniform, found '{distribution}'"),
            });
        }
        var result = new SweepSpec(phenomenon, tier, axes) { Fixed = fixedSettings, Seeds = seeds, SeedBase = seedBase, Replicate = replicate };
        result.Grid();   // a setting swept twice, or a grid too large, is found here
        return result;
    }

    /// <summary>Reads <see cref="ToJson"/>'s output (or any W&amp;B-shaped spec text).</summary>
    public static SweepSpec FromJson(string json, string origin)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new LabConfigException($"{origin}: not valid JSON ({e.Message.Split(". ")[0]})");
        }
        return FromJson(node, origin);
    }

    private static string Normal(string key) => key.Trim().Replace('-', '_').ToLowerInvariant();

    private static string Kind(JsonNode? n) => n switch
    {
        null => "nothing",
        JsonObject => "an object",
        JsonArray => "a list",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => $"the text \"{v.GetValue<string>()}\"",
            JsonValueKind.Number => $"the number {v.ToJsonString()}",
            JsonValueKind.True or JsonValueKind.False => v.ToJsonString(),
            _ => v.ToJsonString(),
        },
        _ => "something else",
    };

    private static string Text(JsonNode n, string at) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
            : throw new LabConfigException($"{at} must be text, found {Kind(n)}");

    private static int Integer(JsonNode n, string at) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && int.TryParse(v.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) ? i
            : throw new LabConfigException($"{at} must be an integer, found {Kind(n)}");

    private static long WholeNumber(JsonNode? n, string at) =>
        n is JsonValue v && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 ? (long)d
            : throw new LabConfigException($"{at} must be an integer, found {Kind(n)}");

    // A value as --set writes it: numbers in their shortest round-trip form, a list comma-separated.
    private static string ValueText(JsonNode? n, string at) => n switch
    {
        JsonArray list => list.Count == 0 ? throw new LabConfigException($"{at}: an empty list as a value")
            : string.Join(",", list.Select(x => x is JsonArray ? throw new LabConfigException($"{at}: a value may be a list, not a list of lists") : ValueText(x, at))),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number =>
            long.TryParse(v.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) ? l.ToString(CultureInfo.InvariantCulture)
                : SweepAxis.Format(v.GetValue<double>()),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValueKind() == JsonValueKind.True ? "true" : "false",
        _ => throw new LabConfigException($"{at}: a value must be a number, text, true/false or a list of numbers, found {Kind(n)}"),
    };
}
