using System.Text;

namespace Aperture;

/// <summary>
/// Anomaly detection, like PyTorch's <c>detect_anomaly</c>: inside <see cref="Detect"/>, the first op whose
/// forward result or backward gradient contains NaN or Inf throws an <see cref="AnomalyException"/> naming the op
/// and its input shapes. It checks every element of every result, so it is for debugging, not for speed.
/// </summary>
public static class Anomaly
{
    [ThreadStatic] private static int t_depth;

    /// <summary>True inside a <see cref="Detect"/> scope on this thread.</summary>
    public static bool Enabled => t_depth > 0;

    /// <summary>Turns anomaly detection on until the returned scope is disposed.</summary>
    public static AnomalyScope Detect()
    {
        t_depth++;
        return new AnomalyScope();
    }

    internal static void Exit() => t_depth--;

    internal static void CheckForward(Node? node, Tensor output)
    {
        if (!output.DType.IsFloatingPoint()) return;
        var (index, value) = FirstNonFinite(output);
        if (index < 0) return;
        string name = node?.Name ?? "an op";
        throw new AnomalyException(
            $"anomaly: the forward of '{name}' produced {Describe(value)} (first at flat index {index} of its output of shape {Shapes.Format(output.Shape)}); inputs: {DescribeInputs(node)}",
            name, isBackward: false);
    }

    internal static void CheckBackward(Node node, ReadOnlySpan<Tensor?> grads)
    {
        for (int i = 0; i < grads.Length; i++)
        {
            if (grads[i] is not { } g) continue;
            var (index, value) = FirstNonFinite(g);
            if (index < 0) continue;
            throw new AnomalyException(
                $"anomaly: the backward of '{node.Name}' produced {Describe(value)} in the gradient of input {i} (first at flat index {index}); inputs: {DescribeInputs(node)}",
                node.Name, isBackward: true);
        }
    }

    private static string Describe(double v) => double.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";

    private static string DescribeInputs(Node? node)
    {
        if (node?.InputsOrNull is not { } inputs) return "(unknown)";
        var sb = new StringBuilder();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            var x = inputs[i];
            sb.Append(x.Name is null ? "" : x.Name + " ").Append(Shapes.Format(x.Shape)).Append(' ').Append(x.DType.Name());
        }
        return sb.ToString();
    }

    private static (int Index, double Value) FirstNonFinite(Tensor t)
    {
        var c = t.IsContiguous ? t : StridedCopy.ToContiguous(t);
        if (c.DType == DType.Float32)
        {
            var s = c.ContiguousSpan<float>();
            for (int i = 0; i < s.Length; i++) if (!float.IsFinite(s[i])) return (i, s[i]);
        }
        else if (c.DType == DType.Float64)
        {
            var s = c.ContiguousSpan<double>();
            for (int i = 0; i < s.Length; i++) if (!double.IsFinite(s[i])) return (i, s[i]);
        }
        return (-1, 0);
    }
}

/// <summary>Closes an <see cref="Anomaly.Detect"/> scope.</summary>
public readonly struct AnomalyScope : IDisposable
{
    /// <summary>Turns anomaly detection off again (if this was the outermost scope).</summary>
    public void Dispose() => Anomaly.Exit();
}

/// <summary>The first op that produced NaN or Inf under <see cref="Anomaly.Detect"/>.</summary>
public sealed class AnomalyException(string message, string op, bool isBackward) : ArithmeticException(message)
{
    /// <summary>The name of the op that produced the non-finite value.</summary>
    public string Op { get; } = op;

    /// <summary>True when it happened in the backward pass (the op's VJP), false in the forward.</summary>
    public bool IsBackward { get; } = isBackward;
}
