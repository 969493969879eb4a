using System.Runtime.InteropServices;
using Aperture.Data;
using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// A model's float32 parameters flattened and concatenated, in order, into one buffer reused from call to call (so a
/// training loop can compare weights every step without allocating).
/// </summary>
public sealed class ParameterSnapshot
{
    private readonly float[] _buffer;

    /// <summary>A snapshot of <paramref name="model"/>'s parameters (<see cref="Module.Parameters"/>, in that order).</summary>
    public ParameterSnapshot(Module model) : this(Check(model).Parameters()) { }

    /// <summary>A snapshot of <paramref name="parameters"/> (float32 tensors), in the order given.</summary>
    public ParameterSnapshot(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = [.. parameters];
        _buffer = new float[Parameters.Sum(t => t.Numel)];
    }

    /// <summary>The tensors read, in order.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>How many values a snapshot holds (the total number of parameter elements).</summary>
    public int Length => _buffer.Length;

    /// <summary>
    /// Reads the parameters' current values into the buffer and returns it: the same array every call, overwritten,
    /// so copy it (<c>.ToArray()</c>) to keep a value.
    /// </summary>
    public float[] Take() => Flatten(Parameters, _buffer);

    /// <summary>
    /// Copies every (float32) tensor of <paramref name="parameters"/>, flattened and concatenated, into
    /// <paramref name="into"/> (a new array when null) and returns it.
    /// </summary>
    public static float[] Flatten(IReadOnlyList<Tensor> parameters, float[]? into = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        into ??= new float[parameters.Sum(t => t.Numel)];
        int offset = 0;
        foreach (var t in parameters)
        {
            t.CopyTo<float>(into.AsSpan(offset));
            offset += t.Numel;
        }
        return into;
    }

    private static Module Check(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model;
    }
}

/// <summary>
/// Comparisons of two runs that should agree (the same training with one thing changed): their weights bit for bit,
/// their distance, and how often their predictions differ.
/// </summary>
public static class RunComparison
{
    /// <summary>
    /// Whether <paramref name="a"/> and <paramref name="b"/> hold the same bits: unlike <c>==</c>, tells −0 from +0,
    /// and a NaN equals a NaN only with the same payload. Arrays of different lengths are not equal.
    /// </summary>
    public static bool BitwiseEqual(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        MemoryMarshal.Cast<float, int>(a).SequenceEqual(MemoryMarshal.Cast<float, int>(b));

    /// <summary>The Euclidean distance ‖a − b‖₂, each difference and the sum in float64 (in index order).</summary>
    public static double Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"RunComparison.Distance: lengths differ ({a.Length} and {b.Length})");
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            s += d * d;
        }
        return Math.Sqrt(s);
    }

    /// <summary>Whether every value is finite (no NaN, no ±∞).</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>The fraction of positions at which two prediction arrays differ (NaN when both are empty).</summary>
    public static double Disagreement(ReadOnlySpan<long> a, ReadOnlySpan<long> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"RunComparison.Disagreement: lengths differ ({a.Length} and {b.Length})");
        int differ = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) differ++;
        return differ / (double)a.Length;
    }

    /// <summary>
    /// The fraction of <paramref name="data"/>'s examples on which <paramref name="a"/> and <paramref name="b"/>
    /// predict different classes (<see cref="Classification.Predictions"/> of each).
    /// </summary>
    public static double Disagreement(Module a, Module b, TensorDataset data) =>
        Disagreement(Classification.Predictions(a, data), Classification.Predictions(b, data));
}
