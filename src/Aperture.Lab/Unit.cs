using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aperture.Lab;

/// <summary>
/// The unit an <see cref="Estimate"/> is stated in: what a reader needs beside a number to know what it counts
/// ("steps", "accuracy (fraction)", "ratio", "nats"). Every estimate factory takes one (or fixes it, as a share of seeds
/// does), so a phenomenon cannot state an effect without its unit; the CLI's table, its JSON and the report print it.
/// </summary>
[JsonConverter(typeof(UnitJsonConverter))]
public readonly record struct Unit
{
    private readonly string? name;

    /// <summary>A unit named in words (<see cref="Name"/>); prefer the shared ones below.</summary>
    /// <exception cref="ArgumentException">The name is empty or blank.</exception>
    public Unit(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a unit needs a name (\"steps\", \"ratio\", \"dimensionless\")", nameof(name));
        this.name = name.Trim();
    }

    /// <summary>The unit in words; "" for an estimate stored before units were stated.</summary>
    public string Name => name ?? "";

    /// <summary>Whether a unit was stated (false only for an estimate read back from a store written before units were).</summary>
    public bool IsStated => name is not null;

    /// <summary>Optimizer steps (iterations of a training loop).</summary>
    public static Unit Steps { get; } = new("steps");

    /// <summary>Iterations of a solver (Levenberg–Marquardt, power iteration).</summary>
    public static Unit Iterations { get; } = new("iterations");

    /// <summary>Passes over the training set.</summary>
    public static Unit Epochs { get; } = new("epochs");

    /// <summary>Wall-clock seconds.</summary>
    public static Unit Seconds { get; } = new("s");

    /// <summary>A classification accuracy, or a difference of two, as a fraction of the test set (0.01 is one point).</summary>
    public static Unit Accuracy { get; } = new("accuracy (fraction)");

    /// <summary>The share of seeds (or seed pairs) on which an event happened, 0 to 1.</summary>
    public static Unit ShareOfSeeds { get; } = new("share of seeds");

    /// <summary>A share of elements, images or questions, 0 to 1.</summary>
    public static Unit Share { get; } = new("share (fraction)");

    /// <summary>A ratio of two like quantities (a speed-up, a relative error).</summary>
    public static Unit Ratio { get; } = new("ratio");

    /// <summary>Base-10 logarithm of a dimensionless quantity; a difference of two is in orders of magnitude.</summary>
    public static Unit Log10 { get; } = new("log10");

    /// <summary>A difference of base-10 logarithms.</summary>
    public static Unit OrdersOfMagnitude { get; } = new("orders of magnitude");

    /// <summary>Natural-log units of information or loss (cross-entropy, the learning coefficient's λ).</summary>
    public static Unit Nats { get; } = new("nats");

    /// <summary>A count (pieces, hinges, questions).</summary>
    public static Unit Count { get; } = new("count");

    /// <summary>A pure number that is none of the above (a learning rate, an exponent, a momentum).</summary>
    public static Unit Dimensionless { get; } = new("dimensionless");

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>Writes a <see cref="Unit"/> as its name; reads a name, or null/absent as "not stated".</summary>
internal sealed class UnitJsonConverter : JsonConverter<Unit>
{
    public override Unit Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Null => default,
            JsonTokenType.String => reader.GetString() is { } s && !string.IsNullOrWhiteSpace(s) ? new Unit(s) : default,
            var t => throw new JsonException($"an estimate's unit must be a string or null, found {t}"),
        };

    public override void Write(Utf8JsonWriter writer, Unit value, JsonSerializerOptions options)
    {
        if (value.IsStated) writer.WriteStringValue(value.Name);
        else writer.WriteNullValue();
    }
}
