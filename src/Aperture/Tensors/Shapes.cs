using System.Text;

namespace Aperture;

/// <summary>Shape arithmetic shared by every op: element counts, strides, broadcasting, axis checks.</summary>
public static class Shapes
{
    /// <summary>The number of elements of a tensor of this shape (1 for a scalar).</summary>
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"shape {Format(shape)} has more than {int.MaxValue} elements");
        }
        return (int)n;
    }

    /// <summary>Row-major (C order) strides for a shape.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    /// <summary>Formats a shape the way error messages show it: <c>[2, 3]</c>.</summary>
    public static string Format(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    /// <summary>True when two shapes are equal element by element.</summary>
    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>
    /// The NumPy broadcast of two shapes: align on the right, each pair of sizes must be equal or one of them 1.
    /// </summary>
    public static int[] Broadcast(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da == db || db == 1) result[i] = da;
            else if (da == 1) result[i] = db;
            else
                throw new ShapeMismatchException(
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together " +
                    $"(dimension {i} of the broadcast shape: {da} vs {db}; sizes must match or be 1)");
        }
        return result;
    }

    /// <summary>Turns a possibly negative axis into 0..rank-1, or throws naming the op.</summary>
    public static int NormalizeAxis(string op, int axis, int rank)
    {
        int r = Math.Max(rank, 1);
        if (axis < -r || axis >= r)
            throw new ArgumentOutOfRangeException(nameof(axis), axis,
                $"{op}: axis {axis} is out of range for a tensor of rank {rank} (expected {-r}..{r - 1})");
        return axis < 0 ? axis + r : axis;
    }

    /// <summary>Normalizes a list of axes (null or empty = all axes) into a sorted, duplicate-free array.</summary>
    public static int[] NormalizeAxes(string op, int[]? axes, int rank)
    {
        if (axes is null || axes.Length == 0)
        {
            var all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        var result = new int[axes.Length];
        for (int i = 0; i < axes.Length; i++) result[i] = NormalizeAxis(op, axes[i], rank);
        Array.Sort(result);
        for (int i = 1; i < result.Length; i++)
            if (result[i] == result[i - 1])
                throw new ArgumentException($"{op}: axis {result[i]} appears more than once in [{string.Join(", ", axes)}]", nameof(axes));
        return result;
    }

    /// <summary>
    /// The axes 0 … <paramref name="rank"/> − 1, shared (callers must not write into it): a reduction over every axis
    /// allocates no list of them.
    /// </summary>
    public static int[] AllAxes(int rank) => rank < s_allAxes.Length ? s_allAxes[rank] : [.. Enumerable.Range(0, rank)];

    private static readonly int[][] s_allAxes = [.. Enumerable.Range(0, 17).Select(r => Enumerable.Range(0, r).ToArray())];

    /// <summary>
    /// <see cref="Reduced(ReadOnlySpan{int}, ReadOnlySpan{int}, bool)"/> written into <paramref name="result"/> (at least
    /// the input's rank long); returns the reduced shape's rank.
    /// </summary>
    public static int Reduced(ReadOnlySpan<int> shape, ReadOnlySpan<int> axes, bool keepDim, Span<int> result)
    {
        int n = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            bool reduced = axes.Contains(i);
            if (!reduced) result[n++] = shape[i];
            else if (keepDim) result[n++] = 1;
        }
        return n;
    }

    /// <summary>The shape left after reducing <paramref name="axes"/> (kept as size-1 dims when <paramref name="keepDim"/>).</summary>
    public static int[] Reduced(ReadOnlySpan<int> shape, ReadOnlySpan<int> axes, bool keepDim)
    {
        var result = new List<int>(shape.Length);
        for (int i = 0; i < shape.Length; i++)
        {
            bool reduced = axes.Contains(i);
            if (!reduced) result.Add(shape[i]);
            else if (keepDim) result.Add(1);
        }
        return result.ToArray();
    }
}

/// <summary>Thrown when an op's operands have incompatible shapes; the message names the op and the shapes.</summary>
public sealed class ShapeMismatchException(string message) : ArgumentException(message);

/// <summary>Thrown when an op gets operands of different dtypes or a dtype it does not support.</summary>
public sealed class DTypeMismatchException(string message) : ArgumentException(message);
