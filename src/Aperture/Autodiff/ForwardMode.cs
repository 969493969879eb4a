namespace Aperture;

/// <summary>A tangent attached to a tensor for one forward-mode level (a singly linked list per tensor).</summary>
internal sealed class Tangent(int level, Tensor value, Tangent? next)
{
    public readonly int Level = level;
    public readonly Tensor Value = value;
    public readonly Tangent? Next = next;
}

/// <summary>
/// Forward-mode autodiff (dual numbers), the counterpart of PyTorch's <c>torch.autograd.forward_ad</c>.
/// Each <see cref="Enter"/> opens a new level with a unique tag; a tensor carries at most one tangent per level,
/// and an op's JVP rule runs once per level present on its inputs. The tags keep nested derivatives apart
/// (the "perturbation confusion" of naive dual numbers).
/// </summary>
/// <remarks>
/// Levels are ordered by creation (an inner level has a larger tag). As in JAX, the rule for level L runs with
/// only the levels below L visible, and the levels of an op are processed in increasing order: so the tangent
/// at an inner level carries the outer levels' tangents (the mixed derivatives), the rule may use the op's
/// output (whose outer tangents are already attached), and an inner tangent never leaks into an outer rule.
/// </remarks>
public static class ForwardMode
{
    private static int s_nextLevel;

    [ThreadStatic] private static List<int>? t_active;
    [ThreadStatic] private static int t_ceiling; // 0 means no rule is running: every active level is visible

    /// <summary>Opens a forward-mode level; dispose the returned scope to close it.</summary>
    public static ForwardLevel Enter()
    {
        int level = Interlocked.Increment(ref s_nextLevel);
        (t_active ??= new List<int>(4)).Add(level);
        return new ForwardLevel(level);
    }

    internal static void Exit(int level)
    {
        var active = t_active;
        if (active is null || active.Count == 0 || active[^1] != level)
            throw new InvalidOperationException($"forward-mode level {level} closed out of order (levels must nest)");
        active.RemoveAt(active.Count - 1);
    }

    internal static bool IsActive(int level) =>
        (t_ceiling == 0 || level < t_ceiling) && t_active is { } a && a.Contains(level);

    /// <summary>Returns a tensor equal to <paramref name="primal"/> whose tangent at <paramref name="level"/> is <paramref name="tangent"/>.</summary>
    public static Tensor MakeDual(Tensor primal, Tensor tangent, ForwardLevel level)
    {
        CheckTangent("MakeDual", primal, tangent);
        var dual = Ops.Identity(primal);
        if (ReferenceEquals(dual, primal)) dual = primal.Detach();
        dual._tangents = new Tangent(level.Id, tangent, dual._tangents);
        return dual;
    }

    /// <summary>Attaches a tangent to a tensor in place (used to perturb parameters without copying them).</summary>
    internal static void Attach(Tensor t, int level, Tensor tangent)
    {
        CheckTangent("tangent", t, tangent);
        Detach(t, level);
        t._tangents = new Tangent(level, tangent, t._tangents);
    }

    /// <summary>Removes a tensor's tangent for one level.</summary>
    internal static void Detach(Tensor t, int level)
    {
        Tangent? kept = null;
        for (var n = t._tangents; n is not null; n = n.Next)
            if (n.Level != level) kept = new Tangent(n.Level, n.Value, kept);
        t._tangents = kept;
    }

    /// <summary>The tangent of <paramref name="t"/> at <paramref name="level"/>, or zeros if it has none.</summary>
    public static Tensor TangentOf(Tensor t, ForwardLevel level) =>
        TangentAt(t, level.Id) ?? Tensor.ZerosInternal(t.Shape, t.DType);

    internal static Tensor? TangentAt(Tensor t, int level)
    {
        for (var n = t._tangents; n is not null; n = n.Next)
            if (n.Level == level) return n.Value;
        return null;
    }

    internal static bool HasActiveTangent(Tensor t)
    {
        for (var n = t._tangents; n is not null; n = n.Next)
            if (IsActive(n.Level)) return true;
        return false;
    }

    private static void CheckTangent(string op, Tensor primal, Tensor tangent)
    {
        if (!Shapes.Equal(primal.Shape, tangent.Shape))
            throw new ShapeMismatchException($"{op}: tangent shape {Shapes.Format(tangent.Shape)} differs from primal shape {Shapes.Format(primal.Shape)}");
        if (primal.DType != tangent.DType)
            throw new DTypeMismatchException($"{op}: tangent dtype {tangent.DType.Name()} differs from primal dtype {primal.DType.Name()}");
        if (!primal.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"{op}: only floating-point tensors carry tangents, got {primal.DType.Name()}");
    }

    /// <summary>Runs <paramref name="node"/>'s JVP rule once per active level present on its inputs.</summary>
    internal static void Propagate(Node node, Tensor output)
    {
        var inputs = node.Inputs;
        Span<int> levels = stackalloc int[8];
        int count = 0;
        foreach (var x in inputs)
            for (var n = x._tangents; n is not null; n = n.Next)
                if (IsActive(n.Level) && levels[..count].IndexOf(n.Level) < 0)
                {
                    if (count == levels.Length) throw new InvalidOperationException("more than 8 nested forward-mode levels");
                    levels[count++] = n.Level;
                }
        if (count == 0) return;
        levels[..count].Sort();

        var tangents = new Tensor?[inputs.Length];
        int savedCeiling = t_ceiling;
        try
        {
            for (int l = 0; l < count; l++)
            {
                for (int i = 0; i < inputs.Length; i++) tangents[i] = TangentAt(inputs[i], levels[l]);
                t_ceiling = levels[l];
                var t = node.Jvp(tangents);
                if (t is null) continue;
                if (!Shapes.Equal(t.Shape, output.Shape))
                    throw new InvalidOperationException(
                        $"internal: JVP of '{node.Name}' returned shape {Shapes.Format(t.Shape)} for an output of shape {Shapes.Format(output.Shape)}");
                output._tangents = new Tangent(levels[l], t, output._tangents);
            }
        }
        finally
        {
            t_ceiling = savedCeiling;
        }
    }
}

/// <summary>An open forward-mode level; dispose to close it.</summary>
public readonly struct ForwardLevel : IDisposable
{
    internal ForwardLevel(int id) => Id = id;

    /// <summary>The level's unique tag.</summary>
    public int Id { get; }

    /// <summary>Closes the level.</summary>
    public void Dispose() => ForwardMode.Exit(Id);
}
