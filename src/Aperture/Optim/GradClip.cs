namespace Aperture.Optim;

/// <summary>
/// Gradient clipping between <c>Backward()</c> and <c>Step()</c>, like <c>torch.nn.utils.clip_grad_norm_</c> and
/// <c>clip_grad_value_</c>. Parameters without a gradient are skipped. Norms are accumulated in float64 in a fixed
/// order (parameter by parameter, element by element), so the result does not depend on the thread count.
/// </summary>
public static class GradClip
{
    /// <summary>
    /// Scales the gradients so that their joint p-norm (the norm of the vector of every gradient element) is at most
    /// <paramref name="maxNorm"/>: each is multiplied by min(1, maxNorm/(norm + 1e-6)). Returns the norm before
    /// clipping. With <paramref name="errorIfNonfinite"/> a NaN or infinite norm is an error instead.
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm, double normType = 2, bool errorIfNonfinite = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "ClipGradNorm: maxNorm must be ≥ 0");
        if (!(normType > 0)) throw new ArgumentOutOfRangeException(nameof(normType), normType, "ClipGradNorm: normType must be positive (or infinity)");
        var list = parameters.ToList();
        var grads = list.Select(p => p.Grad).Where(g => g is not null).Select(g => g!).ToList();
        // Row-sparse gradients (Embedding with sparse: true) count their stored rows; the others are zero.
        var sparse = list.Select(p => p.RowSparseGrad).Where(g => g is not null).Select(g => g!).ToList();
        double total = 0;
        bool inf = double.IsPositiveInfinity(normType);
        void Add(double x)
        {
            double a = Math.Abs(x);
            if (inf) total = double.IsNaN(a) || a > total ? a : total;
            else total += normType == 2 ? a * a : normType == 1 ? a : Math.Pow(a, normType);
        }
        foreach (var g in grads)
            foreach (double x in g.ToDoubleArray()) Add(x);
        foreach (var g in sparse)
        {
            if (g.DType == DType.Float32) foreach (float x in g.Values<float>()) Add(x);
            else foreach (double x in g.Values<double>()) Add(x);
        }
        if (!inf) total = normType == 2 ? Math.Sqrt(total) : normType == 1 ? total : Math.Pow(total, 1 / normType);
        if (errorIfNonfinite && !double.IsFinite(total))
            throw new ArithmeticException($"ClipGradNorm: the total {normType}-norm of the gradients is {total}; the gradients hold NaN or infinity");
        double coef = Math.Min(maxNorm / (total + 1e-6), 1.0);
        if (coef < 1)
            using (Autodiff.NoGrad())
            {
                foreach (var g in grads) Scale(g, coef);
                foreach (var g in sparse)
                {
                    if (g.DType == DType.Float32)
                    {
                        float c = (float)coef;
                        foreach (ref float x in g.Values<float>()) x *= c;
                    }
                    else foreach (ref double x in g.Values<double>()) x *= coef;
                }
            }
        return total;
    }

    /// <summary>Clamps every gradient element into [−<paramref name="clipValue"/>, <paramref name="clipValue"/>].</summary>
    public static void ClipGradValue(IEnumerable<Tensor> parameters, double clipValue)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(clipValue >= 0)) throw new ArgumentOutOfRangeException(nameof(clipValue), clipValue, "ClipGradValue: clipValue must be ≥ 0");
        using (Autodiff.NoGrad())
            foreach (var p in parameters)
            {
                if (p.Grad is { } g) Ops.CopyInPlace(g, Ops.Clamp(g.Detach(), -clipValue, clipValue));
                else if (p.RowSparseGrad is { } rows)
                {
                    if (rows.DType == DType.Float32)
                    {
                        float c = (float)clipValue;
                        foreach (ref float x in rows.Values<float>()) x = Math.Clamp(x, -c, c);
                    }
                    else foreach (ref double x in rows.Values<double>()) x = Math.Clamp(x, -clipValue, clipValue);
                }
            }
    }

    private static void Scale(Tensor g, double coef)
    {
        if (g.IsContiguous && g.DType == DType.Float32)
        {
            var s = g.ContiguousSpan<float>();
            float c = (float)coef;
            for (int i = 0; i < s.Length; i++) s[i] *= c;
        }
        else if (g.IsContiguous && g.DType == DType.Float64)
        {
            var s = g.ContiguousSpan<double>();
            for (int i = 0; i < s.Length; i++) s[i] *= coef;
        }
        else
        {
            Ops.CopyInPlace(g, Ops.Mul(g.Detach(), coef));
            return;
        }
        g.BumpVersion("ClipGradNorm");
    }
}
