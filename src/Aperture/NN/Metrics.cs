namespace Aperture.NN;

/// <summary>
/// Classification metrics computed straight from a tensor's buffer, without recording a graph. The prediction for a
/// row of logits is its arg-max, the first maximum winning ties (as in <c>Ops.ArgMax</c>); a row holding a NaN has
/// no meaningful arg-max and always counts as wrong. Infinities are ordinary values (a −∞ logit is a masked class).
/// </summary>
public static class Metrics
{
    /// <summary>
    /// How many rows of <paramref name="logits"/> [n, classes] (float32 or float64) have their arg-max equal to
    /// <paramref name="labels"/> [n] (int64 class indices); rows holding a NaN count as wrong.
    /// </summary>
    public static long CountCorrect(Tensor logits, Tensor labels)
    {
        Check(logits, labels);
        return CountCorrect(logits, labels, null, null);
    }

    /// <summary>
    /// The fraction of rows of <paramref name="logits"/> [n, classes] whose arg-max equals <paramref name="labels"/> [n]
    /// (int64); rows holding a NaN count as wrong. <c>CountCorrect / n</c> in float64; NaN when n is 0.
    /// </summary>
    public static double Accuracy(Tensor logits, Tensor labels)
    {
        Check(logits, labels);
        int n = logits.Shape[0];
        return n == 0 ? double.NaN : (double)CountCorrect(logits, labels, null, null) / n;
    }

    private static void Check(Tensor logits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.Rank != 2) throw new ShapeMismatchException($"Metrics: logits must be [n, classes], got shape {Shapes.Format(logits.Shape)}");
        if (!logits.DType.IsFloatingPoint()) throw new DTypeMismatchException($"Metrics: logits must be float32 or float64, got {logits.DType.Name()}");
        if (labels.DType != DType.Int64) throw new DTypeMismatchException($"Metrics: labels must be int64 class indices, got {labels.DType.Name()}");
        if (labels.Rank != 1 || labels.Shape[0] != logits.Shape[0])
            throw new ShapeMismatchException($"Metrics: labels must be [{logits.Shape[0]}] for logits of shape {Shapes.Format(logits.Shape)}, got {Shapes.Format(labels.Shape)}");
    }

    /// <summary>As <see cref="CountCorrect(Tensor, Tensor)"/> (shapes already checked), also counting per class when the arrays are given.</summary>
    internal static long CountCorrect(Tensor output, Tensor target, long[]? perClassCorrect, long[]? perClassCount) =>
        output.DType == DType.Float32
            ? CountCorrect<float>(output, target, perClassCorrect, perClassCount)
            : CountCorrect<double>(output, target, perClassCorrect, perClassCount);

    // Arg-max per row against the labels, read straight from the buffers (nothing allocated).
    private static long CountCorrect<T>(Tensor output, Tensor target, long[]? perClassCorrect, long[]? perClassCount)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int n = output.Shape[0], classes = output.Shape[1];
        T[] o = output.Buffer<T>();
        long[] t = target.Buffer<long>();
        int rs = output.Strides[0], cs = output.Strides[1], ts = target.Strides[0];
        long correct = 0;
        for (int i = 0; i < n; i++)
        {
            // The first maximum wins; a NaN anywhere in the row makes it wrong.
            int best = 0, row = output._offset + i * rs;
            T bv = o[row];
            bool nan = T.IsNaN(bv);
            for (int j = 1; j < classes && !nan; j++)
            {
                T v = o[row + j * cs];
                if (T.IsNaN(v)) nan = true;
                else if (v > bv) { best = j; bv = v; }
            }
            long truth = t[target._offset + i * ts];
            bool ok = !nan && best == truth;
            if (ok) correct++;
            if (perClassCount is not null && (ulong)truth < (ulong)perClassCount.Length)
            {
                perClassCount[truth]++;
                if (ok) perClassCorrect![truth]++;
            }
        }
        return correct;
    }
}
