using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// Where every op hands its result: records the node for reverse mode, runs the JVP rules for forward mode,
/// applies the numerics policy's storage rounding and, under <see cref="Anomaly"/>, checks for NaN and Inf.
/// </summary>
internal static class Graph
{
    [ThreadStatic] internal static bool t_inBackward;

    /// <summary>True when an op on these inputs needs a node (for the tape or for tangents).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedsNode(Tensor a) =>
        (a.RequiresGrad && GradMode.Enabled) || a._tangents is not null || Anomaly.Enabled;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedsNode(Tensor a, Tensor b) =>
        ((a.RequiresGrad || b.RequiresGrad) && GradMode.Enabled) || a._tangents is not null || b._tangents is not null || Anomaly.Enabled;

    public static bool NeedsNode(ReadOnlySpan<Tensor> xs)
    {
        if (Anomaly.Enabled) return true;
        bool grad = GradMode.Enabled;
        foreach (var x in xs)
            if ((grad && x.RequiresGrad) || x._tangents is not null) return true;
        return false;
    }

    /// <summary>
    /// True when a VJP rule may compute with raw kernels: the backward pass is not itself recorded (no
    /// <c>createGraph</c>) and no forward-mode tangent rides on the tensors involved, so nothing needs the ops' own rules.
    /// </summary>
    public static bool IsPlainBackward(Tensor a, Tensor b, Tensor? c = null) =>
        !GradMode.Enabled && a._tangents is null && b._tangents is null && c?._tangents is null;

    /// <summary>
    /// Finishes an op's result. <paramref name="node"/> is null when <see cref="NeedsNode(Tensor)"/> said no.
    /// <paramref name="fresh"/> says the output owns a new buffer (not a view of an input), so storage rounding
    /// may write to it.
    /// </summary>
    public static Tensor Record(Node? node, Tensor output, bool fresh = true)
    {
        if (fresh && output.DType.IsFloatingPoint()) NumericsPolicy.ApplyStorageRounding(output, t_inBackward);
        if (node is not null)
        {
            node.NoteRecorded();
            node.Output = output;
            node.SaveVersions();
            if (GradMode.Enabled)
            {
                foreach (var x in node.Inputs)
                    if (x.RequiresGrad)
                    {
                        output.SetRequiresGradFromOp(node);
                        break;
                    }
            }
            ForwardMode.Propagate(node, output);
        }
        if (Anomaly.Enabled && !t_inBackward) Anomaly.CheckForward(node, output); // backward results are checked per node by the engine
        return output;
    }
}
