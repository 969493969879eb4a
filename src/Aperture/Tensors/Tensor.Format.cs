using System.Globalization;
using System.Text;

namespace Aperture;

public sealed partial class Tensor
{
    private const int SummarizeAbove = 1000, EdgeItems = 3;

    /// <summary>
    /// A readable rendering in PyTorch's style, e.g. <c>tensor([[1.0000, 2.0000], [3.0000, 4.0000]])</c> over
    /// several lines; large tensors show their first and last 3 entries per dimension.
    /// </summary>
    public override string ToString()
    {
        var c = _contiguous ? this : StridedCopy.ToContiguous(this);
        bool summarize = Numel > SummarizeAbove;
        var values = new List<string>();
        if (Rank > 0) Collect(c, 0, c._offset, summarize, values);
        int width = values.Count == 0 ? 1 : values.Max(v => v.Length);
        var sb = new StringBuilder("tensor(");
        if (Rank == 0) sb.Append(FormatValue(c.GetRaw(c._offset)));
        else
        {
            int index = 0;
            Render(c, 0, c._offset, summarize, width, sb, values, ref index, indent: 7);
        }
        if (_dtype != DType.Float32) sb.Append(", dtype=").Append(_dtype.Name());
        if (_gradFn is not null) sb.Append(", grad_fn=").Append(_gradFn.Name);
        else if (RequiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    private string FormatValue(double v) => _dtype switch
    {
        DType.Bool => v != 0 ? "True" : "False",
        DType.Int64 => ((long)v).ToString(CultureInfo.InvariantCulture),
        _ => double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
            : Math.Abs(v) >= 1e5 || (v != 0 && Math.Abs(v) < 1e-4) ? v.ToString("0.0000e+00", CultureInfo.InvariantCulture)
            : v.ToString("0.0000", CultureInfo.InvariantCulture),
    };

    private static IEnumerable<int> Indices(int n, bool summarize) =>
        summarize && n > 2 * EdgeItems ? Enumerable.Range(0, EdgeItems).Append(-1).Concat(Enumerable.Range(n - EdgeItems, EdgeItems)) : Enumerable.Range(0, n);

    private void Collect(Tensor c, int dim, int offset, bool summarize, List<string> values)
    {
        foreach (int i in Indices(c._shape[dim], summarize))
        {
            if (i < 0) continue;
            int off = offset + i * c._strides[dim];
            if (dim == c.Rank - 1) values.Add(FormatValue(c.GetRaw(off)));
            else Collect(c, dim + 1, off, summarize, values);
        }
    }

    private void Render(Tensor c, int dim, int offset, bool summarize, int width, StringBuilder sb, List<string> values, ref int index, int indent)
    {
        sb.Append('[');
        bool first = true;
        foreach (int i in Indices(c._shape[dim], summarize))
        {
            if (!first)
            {
                sb.Append(',');
                if (dim == c.Rank - 1) sb.Append(' ');
                else sb.Append('\n', c.Rank - 1 - dim).Append(' ', indent + dim + 1);
            }
            first = false;
            if (i < 0) { sb.Append("..."); continue; }
            int off = offset + i * c._strides[dim];
            if (dim == c.Rank - 1) sb.Append(values[index++].PadLeft(width));
            else Render(c, dim + 1, off, summarize, width, sb, values, ref index, indent);
        }
        sb.Append(']');
    }
}
