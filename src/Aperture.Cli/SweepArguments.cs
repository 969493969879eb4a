using System.Globalization;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Sweeps;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Aperture.Cli;

/// <summary>
/// Reads a sweep from the command line and from a spec file: <c>--set key=v1,v2,v3</c> and the ranges
/// <c>key=log:1e-3..1e-1:5</c>, <c>key=lin:0..1:5</c>, <c>key=int:1..8</c> (every integer) or <c>key=int:16..256:5</c>;
/// for a list-valued setting a comma belongs to the list, and <c>;</c> separates the sweep's values
/// (<c>hidden=16,16;32,32</c>). <c>--sweep PATH</c> reads a W&amp;B-shaped spec in JSON or YAML.
/// </summary>
internal static class SweepArguments
{
    /// <summary>The largest spec file read (a sweep spec is a few hundred bytes; anything this big is not one).</summary>
    public const long MaxSpecBytes = 1 << 20;

    /// <summary>
    /// Splits one phenomenon's <c>--set</c> overrides into settings every point shares and swept axes, by the syntax of
    /// each value (see the type's summary). <paramref name="settings"/> are the phenomenon's settings (for list types).
    /// </summary>
    public static (List<KeyValuePair<string, string>> Fixed, List<SweepAxis> Axes) Split(IEnumerable<KeyValuePair<string, string>> overrides,
        IReadOnlyList<ProtocolSetting> settings)
    {
        var fixedSettings = new List<KeyValuePair<string, string>>();
        var axes = new List<SweepAxis>();
        foreach (var (rawKey, rawValue) in overrides)
        {
            string key = rawKey.Trim().Replace('-', '_').ToLowerInvariant();
            string value = rawValue.Trim();
            bool isList = settings.FirstOrDefault(s => s.Key == key)?.IsList ?? false;
            if (TryRange(key, value, out var range))
            {
                if (isList) throw new CommandLineException($"--set {rawKey}={rawValue}: '{key}' is a list; sweep it with whole lists separated by ';' (for example {key}=16,16;32,32)");
                axes.Add(range);
                continue;
            }
            char separator = isList ? ';' : ',';
            if (!value.Contains(separator)) { fixedSettings.Add(KeyValuePair.Create(key, value)); continue; }
            var values = value.Split(separator, StringSplitOptions.TrimEntries);
            if (values.Any(v => v.Length == 0))
                throw new CommandLineException($"--set {rawKey}={rawValue}: an empty value between '{separator}' separators");
            axes.Add(SweepAxis.Values(key, values));
        }
        return (fixedSettings, axes);
    }

    // log:MIN..MAX:COUNT, lin:MIN..MAX:COUNT, int:MIN..MAX[:COUNT]
    private static bool TryRange(string key, string text, out SweepAxis axis)
    {
        axis = null!;
        int colon = text.IndexOf(':');
        if (colon < 0) return false;
        string kind = text[..colon].ToLowerInvariant();
        if (kind is not ("log" or "lin" or "int")) return false;
        string Bad(string why) => $"--set {key}={text}: {why}; a range is log:MIN..MAX:COUNT, lin:MIN..MAX:COUNT, int:MIN..MAX or int:MIN..MAX:COUNT";
        var parts = text[(colon + 1)..].Split(':');
        var ends = parts[0].Split("..");
        if (ends.Length != 2) throw new CommandLineException(Bad($"expected MIN..MAX, found '{parts[0]}'"));
        if (parts.Length > 2) throw new CommandLineException(Bad("too many ':'"));
        int count = 0;
        if (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out count))
            throw new CommandLineException(Bad($"the count must be an integer, found '{parts[1]}'"));
        if (parts.Length == 1 && kind != "int") throw new CommandLineException(Bad("give how many values (…:COUNT)"));
        if (kind == "int")
        {
            if (!long.TryParse(ends[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long lo) || !long.TryParse(ends[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long hi))
                throw new CommandLineException(Bad($"int ranges need integer ends, found '{ends[0]}' and '{ends[1]}'"));
            axis = SweepAxis.IntUniform(key, lo, hi, count);
            return true;
        }
        if (!double.TryParse(ends[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double min) || !double.TryParse(ends[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double max))
            throw new CommandLineException(Bad($"expected numbers, found '{ends[0]}' and '{ends[1]}'"));
        axis = kind == "log" ? SweepAxis.LogUniform(key, min, max, count) : SweepAxis.Uniform(key, min, max, count);
        return true;
    }

    /// <summary>
    /// Reads a spec file: JSON (<c>.json</c>) or YAML (anything else, and JSON is YAML too). Errors name the file and,
    /// for a syntax error, the line and column.
    /// </summary>
    public static SweepSpec ReadSpecFile(string path, SweepSpec defaults)
    {
        var info = new FileInfo(path);
        if (Directory.Exists(path)) throw new CommandLineException($"--sweep {path}: is a directory, not a spec file");
        if (!info.Exists) throw new CommandLineException($"--sweep {path}: no such file");
        if (info.Length > MaxSpecBytes) throw new CommandLineException($"--sweep {path}: {info.Length} bytes, more than the {MaxSpecBytes} a sweep spec may have");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandLineException($"--sweep {path}: cannot be read ({e.Message})");
        }
        JsonNode? node;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                node = JsonNode.Parse(text, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 32 });
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new CommandLineException($"--sweep {path}: not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1})");
            }
        }
        else
        {
            node = FromYaml(text, path);
        }
        try
        {
            return SweepSpec.FromJson(node, path, defaults);
        }
        catch (LabConfigException e)
        {
            throw new CommandLineException($"--sweep {e.Message}");
        }
    }

    // YAML to the JSON model: plain scalars that read as numbers or booleans become those (as YAML 1.2's core schema
    // says); quoted scalars stay text. The parser resolves anchors and aliases and refuses duplicate keys.
    private static JsonNode? FromYaml(string text, string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new CommandLineException($"--sweep {path}: not valid YAML at line {e.Start.Line}, column {e.Start.Column} ({e.Message.Split('\n')[0].TrimEnd('.')})");
        }
        if (stream.Documents.Count != 1) throw new CommandLineException($"--sweep {path}: expected one YAML document, found {stream.Documents.Count}");
        return Convert(stream.Documents[0].RootNode, path, 0);
    }

    private static JsonNode? Convert(YamlNode node, string path, int depth)
    {
        if (depth > 32) throw new CommandLineException($"--sweep {path}: nested more than 32 levels deep");
        switch (node)
        {
            case YamlMappingNode map:
            {
                var o = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    if (k is not YamlScalarNode { Value: { } name })
                        throw new CommandLineException($"--sweep {path}: line {k.Start.Line}: a key must be plain text");
                    if (o.ContainsKey(name)) throw new CommandLineException($"--sweep {path}: line {k.Start.Line}: the key '{name}' appears twice");
                    o[name] = Convert(v, path, depth + 1);
                }
                return o;
            }
            case YamlSequenceNode seq:
                return new JsonArray([.. seq.Children.Select(c => Convert(c, path, depth + 1))]);
            case YamlScalarNode scalar:
            {
                string v = scalar.Value ?? "";
                if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded) return JsonValue.Create(v);
                if (v is "" or "~" or "null" or "Null" or "NULL") return null;
                if (v is "true" or "True" or "TRUE") return JsonValue.Create(true);
                if (v is "false" or "False" or "FALSE") return JsonValue.Create(false);
                if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return JsonValue.Create(l);
                if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)) return JsonValue.Create(d);
                return JsonValue.Create(v);
            }
            default:
                throw new CommandLineException($"--sweep {path}: line {node.Start.Line}: expected a mapping, a list or a value");
        }
    }
}
