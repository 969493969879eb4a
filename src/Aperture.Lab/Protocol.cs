using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Aperture.Lab;

/// <summary>
/// A phenomenon's protocol: a record of typed settings with defaults per tier. Every public init property is a
/// setting, named on the command line in snake_case (<c>LearningRate</c> → <c>learning_rate</c>) and described by its
/// <see cref="DescriptionAttribute"/>. Settings marked <see cref="ThresholdAttribute"/> belong to the verdict rule, not
/// to the runs: changing one re-judges the stored runs without running anything.
/// </summary>
public abstract record LabProtocol
{
    /// <summary>How many seeds every arm is run with; a run's seeds are SeedBase, …, SeedBase + Seeds − 1.</summary>
    [Description("seeds per arm (independent repetitions)")]
    [Range(2, 10_000)]
    public int Seeds { get; init; } = 5;

    /// <summary>The first seed of the block: an independent replication uses the next block (SeedBase + Seeds).</summary>
    [Description("first seed of the block: runs use seeds seed_base … seed_base + seeds − 1")]
    [Range(0, 1_000_000_000)]
    public int SeedBase { get; init; }

    /// <summary>
    /// What is wrong with these settings, one sentence each (empty when they are valid). Ranges declared with
    /// <see cref="RangeAttribute"/> are checked by <see cref="ProtocolBinding.Validate"/>; override this for rules
    /// that tie several settings together.
    /// </summary>
    public virtual IEnumerable<string> Problems() => [];
}

/// <summary>
/// Settings several protocols share, declared once with their descriptions and ranges. A protocol holds a group as one
/// init property (its defaults set per protocol and tier, <c>Sample = new() { TrainPerClass = 300 }</c>); the binder
/// flattens the group's settings into the protocol's own under their own snake_case keys, with no prefix, so
/// <c>--set train_per_class=300</c>, the settings table and the stored JSON read as if they were declared on the
/// protocol. A <see cref="DescriptionAttribute"/> on the protocol's property is a note that each member's description
/// carries (what the setting means in that phenomenon). A group holds settings only, never thresholds.
/// </summary>
public abstract record SettingGroup;

/// <summary>Marks a protocol setting as a verdict threshold: stated in advance, used by the rule, not part of a run's identity.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ThresholdAttribute : Attribute;

/// <summary>A bad protocol setting, phenomenon id or override: the message says which, what was expected and what was found.</summary>
public class LabConfigException(string message) : Exception(message);

/// <summary>
/// Data a phenomenon reads that this machine does not have: a Debian text corpus whose package is not installed. The
/// message names the package to install. <c>lab run --all</c> skips such a phenomenon and runs the others; a
/// phenomenon named on its own stops with it.
/// </summary>
/// <param name="dataset">The data that could not be read.</param>
/// <param name="message">What is missing and how to install it.</param>
public sealed class LabDataUnavailableException(LabDataset dataset, string message) : LabConfigException(message)
{
    /// <summary>The data that could not be read.</summary>
    public LabDataset Dataset { get; } = dataset;
}

/// <summary>One setting of a protocol as the report and <c>lab list</c> show it.</summary>
/// <param name="Key">The snake_case name used by <c>--set</c>.</param>
/// <param name="Type">The value's type in words: integer, number, list of numbers, …</param>
/// <param name="Description">What the setting means.</param>
/// <param name="IsThreshold">Whether it is a verdict threshold.</param>
/// <param name="Value">The value, formatted as <c>--set</c> accepts it.</param>
public sealed record ProtocolSetting(string Key, string Type, string Description, bool IsThreshold, string Value)
{
    /// <summary>Whether the value is a list (written comma-separated), so a comma does not separate two values of a sweep.</summary>
    public bool IsList { get; init; }
}

/// <summary>Reads, overrides, validates and serializes protocols by reflection over their properties.</summary>
public static class ProtocolBinding
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The settings of <paramref name="protocol"/>, in declaration order (inherited ones last).</summary>
    public static IReadOnlyList<ProtocolSetting> Settings(LabProtocol protocol) =>
        [.. Leaves(protocol.GetType()).Select(l => new ProtocolSetting(
            l.Key, TypeName(l.Property.PropertyType), l.Description, l.IsThreshold, FormatValue(l.Get(protocol))) { IsList = l.Property.PropertyType.IsArray })];

    /// <summary>
    /// <paramref name="protocol"/> with <paramref name="overrides"/> (key → text value) applied and validated.
    /// Throws <see cref="LabConfigException"/> naming the phenomenon, the key, the expected type and the value found.
    /// </summary>
    public static T Apply<T>(T protocol, IEnumerable<KeyValuePair<string, string>> overrides, string phenomenonId) where T : LabProtocol
    {
        var type = protocol.GetType();
        var props = Leaves(type).ToDictionary(l => l.Key, l => l.Property);
        var node = FlatNode(protocol);
        foreach (var (rawKey, text) in overrides)
        {
            string key = rawKey.Trim().Replace('-', '_').ToLowerInvariant();
            if (!props.TryGetValue(key, out var prop))
                throw new LabConfigException($"{phenomenonId}: unknown setting '{rawKey}'; its settings are: {string.Join(", ", props.Keys)}");
            node[key] = JsonSerializer.SerializeToNode(ParseValue(phenomenonId, key, prop.PropertyType, text), prop.PropertyType, Json);
        }
        var result = (T)Nest(node, type).Deserialize(type, Json)!;
        Validate(result, phenomenonId);
        return result;
    }

    /// <summary>
    /// Throws <see cref="LabConfigException"/> listing every problem: each setting outside its declared
    /// <see cref="RangeAttribute"/> (for a list, each element), then what <see cref="LabProtocol.Problems"/> reports.
    /// </summary>
    public static void Validate(LabProtocol protocol, string phenomenonId)
    {
        var problems = RangeProblems(protocol).Concat(protocol.Problems()).ToList();
        if (problems.Count > 0)
            throw new LabConfigException($"{phenomenonId}: invalid protocol: {string.Join("; ", problems)}");
    }

    /// <summary>The settings that define the runs (no thresholds, no seed count or base), as canonical JSON: part of a run's identity.</summary>
    public static string RunConfigJson(LabProtocol protocol)
    {
        var node = FlatNode(protocol);
        foreach (var l in Leaves(protocol.GetType()))
            if (l.IsThreshold || (l.Group is null && l.Property.Name is nameof(LabProtocol.Seeds) or nameof(LabProtocol.SeedBase))) node.Remove(l.Key);
        return node.ToJsonString();
    }

    // Each value against its setting's declared range, in words that name the setting and what was found.
    private static IEnumerable<string> RangeProblems(LabProtocol protocol)
    {
        foreach (var l in Leaves(protocol.GetType()))
        {
            if (l.Property.GetCustomAttribute<RangeAttribute>() is not { } range) continue;
            double min = Convert.ToDouble(range.Minimum, CultureInfo.InvariantCulture), max = Convert.ToDouble(range.Maximum, CultureInfo.InvariantCulture);
            string key = l.Key, bounds = $"[{FormatDouble(min)}, {FormatDouble(max)}]";
            switch (l.Get(protocol))
            {
                case int i when i < min || i > max: yield return $"{key} must lie in {bounds}, found {i}"; break;
                case long n when n < min || n > max: yield return $"{key} must lie in {bounds}, found {n}"; break;
                case double d when !(d >= min && d <= max): yield return $"{key} must lie in {bounds}, found {FormatDouble(d)}"; break;
                case int[] a when a.Any(v => v < min || v > max):
                    yield return $"every value of {key} must lie in {bounds}, found {string.Join(",", a)}"; break;
                case double[] a when a.Any(v => !(v >= min && v <= max)):
                    yield return $"every value of {key} must lie in {bounds}, found {string.Join(",", a.Select(FormatDouble))}"; break;
            }
        }
    }

    /// <summary>Every setting as JSON (what a verdict was judged with).</summary>
    public static string ToJson(LabProtocol protocol) => FlatNode(protocol).ToJsonString();

    /// <summary>Reads <see cref="ToJson"/>'s output back into a protocol of <paramref name="type"/>.</summary>
    public static LabProtocol FromJson(string json, Type type) =>
        JsonNode.Parse(json) is JsonObject flat
            ? (LabProtocol)Nest(flat, type).Deserialize(type, Json)!
            : throw new LabConfigException($"protocol JSON for {type.Name} is not an object");

    /// <summary>The settings of <paramref name="protocol"/> that differ from <paramref name="reference"/> (key → value).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Differences(LabProtocol protocol, LabProtocol reference)
    {
        var mine = Settings(protocol);
        var theirs = Settings(reference).ToDictionary(s => s.Key, s => s.Value);
        return [.. mine.Where(s => !theirs.TryGetValue(s.Key, out var v) || v != s.Value).Select(s => KeyValuePair.Create(s.Key, s.Value))];
    }

    private static IEnumerable<PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
            .OrderBy(p => p.DeclaringType == typeof(LabProtocol) ? 1 : 0)
            .ThenBy(p => p.MetadataToken);

    // One setting as the command line sees it: a property of the protocol, or of a setting group the protocol holds.
    private sealed record Leaf(PropertyInfo Property, PropertyInfo? Group)
    {
        public string Key => KeyOf(Property);
        public bool IsThreshold => Property.IsDefined(typeof(ThresholdAttribute));
        public object? Get(LabProtocol p) => Group is null ? Property.GetValue(p) : Property.GetValue(Group.GetValue(p));
        public string Description
        {
            get
            {
                string own = Property.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";
                return Group?.GetCustomAttribute<DescriptionAttribute>()?.Description is { Length: > 0 } note ? $"{own} ({note})" : own;
            }
        }
    }

    private static bool IsGroup(PropertyInfo p) => typeof(SettingGroup).IsAssignableFrom(p.PropertyType);

    // The settings in declaration order, each group's in place of the group. Two settings with one key would make
    // --set ambiguous: a protocol declared that way is a programming error, reported at once.
    private static List<Leaf> Leaves(Type type)
    {
        var leaves = new List<Leaf>();
        foreach (var p in Properties(type))
        {
            if (!IsGroup(p)) { leaves.Add(new Leaf(p, null)); continue; }
            foreach (var member in Properties(p.PropertyType))
            {
                if (IsGroup(member) || member.IsDefined(typeof(ThresholdAttribute)))
                    throw new InvalidOperationException($"setting group {p.PropertyType.Name}.{member.Name}: a group holds plain settings, not groups or thresholds");
                leaves.Add(new Leaf(member, p));
            }
        }
        if (leaves.GroupBy(l => l.Key).FirstOrDefault(g => g.Count() > 1) is { } clash)
            throw new InvalidOperationException($"protocol {type.Name} declares the setting '{clash.Key}' more than once (a setting group repeats it)");
        return leaves;
    }

    // The protocol as JSON with each group's settings in place of the group: the stored and identity form.
    private static JsonObject FlatNode(LabProtocol protocol)
    {
        var node = JsonSerializer.SerializeToNode(protocol, protocol.GetType(), Json)!.AsObject();
        foreach (var g in Properties(protocol.GetType()).Where(IsGroup))
        {
            string key = KeyOf(g);
            int at = node.IndexOf(key);
            var inner = node[key]!.AsObject();
            node.RemoveAt(at);
            foreach (var (k, v) in inner.ToList())
            {
                inner.Remove(k);
                node.Insert(at++, k, v);
            }
        }
        return node;
    }

    // The inverse of FlatNode: each group's settings gathered back into an object under the group's key.
    private static JsonObject Nest(JsonObject flat, Type type)
    {
        foreach (var g in Properties(type).Where(IsGroup))
        {
            var inner = new JsonObject();
            int at = -1;
            foreach (var member in Properties(g.PropertyType))
            {
                string k = KeyOf(member);
                int i = flat.IndexOf(k);
                if (i < 0) continue;
                if (at < 0) at = i;
                var v = flat[k];
                flat.RemoveAt(i);
                inner[k] = v;
            }
            if (at < 0) at = flat.Count;
            flat.Insert(Math.Min(at, flat.Count), KeyOf(g), inner);
        }
        return flat;
    }

    private static string KeyOf(PropertyInfo p) => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);

    private static object ParseValue(string id, string key, Type type, string text)
    {
        text = text.Trim();
        string Bad(string expected) => $"{id}: setting '{key}' expects {expected}, found '{text}'";
        if (type == typeof(int))
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new LabConfigException(Bad("an integer"));
        if (type == typeof(long))
            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : throw new LabConfigException(Bad("an integer"));
        if (type == typeof(double))
            return TryDouble(text, out var d) ? d : throw new LabConfigException(Bad("a number"));
        if (type == typeof(bool))
            return text.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw new LabConfigException(Bad("true or false")),
            };
        if (type == typeof(string)) return text;
        if (type.IsEnum)
        {
            foreach (var name in Enum.GetNames(type))
                if (string.Equals(JsonNamingPolicy.KebabCaseLower.ConvertName(name), text, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                    return Enum.Parse(type, name);
            throw new LabConfigException(Bad("one of " + string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.KebabCaseLower.ConvertName))));
        }
        if (type == typeof(double[]))
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var values = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!TryDouble(parts[i], out values[i])) throw new LabConfigException(Bad("a comma-separated list of numbers"));
            return values;
        }
        if (type == typeof(int[]))
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var values = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]))
                    throw new LabConfigException(Bad("a comma-separated list of integers"));
            return values;
        }
        throw new LabConfigException($"{id}: setting '{key}' has type {type.Name}, which --set cannot write");
    }

    private static bool TryDouble(string s, out double d)
    {
        switch (s.ToLowerInvariant())
        {
            case "inf" or "+inf" or "infinity": d = double.PositiveInfinity; return true;
            case "-inf" or "-infinity": d = double.NegativeInfinity; return true;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d) && double.IsFinite(d);
    }

    private static string TypeName(Type t) =>
        t == typeof(int) || t == typeof(long) ? "integer"
        : t == typeof(double) ? "number"
        : t == typeof(bool) ? "true/false"
        : t == typeof(string) ? "text"
        : t == typeof(double[]) ? "numbers, comma-separated"
        : t == typeof(int[]) ? "integers, comma-separated"
        : t.IsEnum ? string.Join(" | ", Enum.GetNames(t).Select(JsonNamingPolicy.KebabCaseLower.ConvertName))
        : t.Name;

    private static string FormatValue(object? v) => v switch
    {
        null => "",
        double d => FormatDouble(d),
        double[] a => string.Join(",", a.Select(FormatDouble)),
        int[] a => string.Join(",", a.Select(x => x.ToString(CultureInfo.InvariantCulture))),
        bool b => b ? "true" : "false",
        Enum e => JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString()),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string FormatDouble(double d) =>
        double.IsPositiveInfinity(d) ? "inf" : double.IsNegativeInfinity(d) ? "-inf" : d.ToString("R", CultureInfo.InvariantCulture);
}
