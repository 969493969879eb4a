using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// Per-layer log10 norms of one forward and backward pass of a <see cref="Sequential"/> MLP (Linear layers, each
/// hidden one followed by its activation), all computed in float64 so that they neither under- nor overflow at depth.
/// </summary>
/// <param name="PreActivationGradient">log10 ‖∂L/∂z_l‖ for each hidden layer's pre-activation z_l (the back-propagated signal), first hidden layer first.</param>
/// <param name="ActivationStd">log10 of the (population) standard deviation of each hidden layer's output, over the batch and units.</param>
/// <param name="WeightGradient">log10 ‖∂L/∂W_l‖ for every Linear layer, the output layer last.</param>
/// <param name="Loss">The loss of the batch.</param>
public sealed record LayerSignalProfile(double[] PreActivationGradient, double[] ActivationStd, double[] WeightGradient, double Loss)
{
    /// <summary>
    /// Runs <paramref name="net"/> once on the batch <paramref name="x"/> with targets <paramref name="labels"/> and
    /// measures the profile. Forward hooks capture each Linear layer's output (a pre-activation) and the output of the
    /// module right after each hidden Linear (its activation); <c>Autodiff.Grad</c> gives the gradients of the
    /// loss with respect to the hidden pre-activations and every weight. The hooks are removed afterwards; the
    /// parameters' <c>.Grad</c> are not touched.
    /// </summary>
    /// <param name="net">A Sequential of Linear layers and activations; the last Linear is the output layer.</param>
    /// <param name="x">The batch of inputs.</param>
    /// <param name="labels">The batch's targets.</param>
    /// <param name="loss">The loss of (output, targets), a scalar; cross-entropy when null.</param>
    public static LayerSignalProfile Measure(Sequential net, Tensor x, Tensor labels, Func<Tensor, Tensor, Tensor>? loss = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(labels);
        loss ??= (o, t) => Losses.CrossEntropy(o, t);
        var modules = net.NamedModules().Skip(1).Select(m => m.Module).ToList();
        var linears = modules.OfType<Linear>().ToList();
        if (linears.Count < 2) throw new ArgumentException($"LayerSignalProfile: the net needs at least one hidden Linear layer and an output layer, found {linears.Count} Linear layers", nameof(net));
        int hidden = linears.Count - 1;
        var pre = new Tensor?[linears.Count];
        var post = new Tensor?[hidden];
        var handles = new List<HookHandle>();
        for (int i = 0; i < linears.Count; i++)
        {
            int at = i;
            handles.Add(linears[i].RegisterForwardHook((_, _, output) => { pre[at] = output; return null; }));
            // The module right after a hidden Linear is its activation.
            if (i < hidden)
            {
                int next = modules.IndexOf(linears[i]) + 1;
                if (next >= modules.Count) throw new ArgumentException($"LayerSignalProfile: hidden Linear layer {i + 1} is not followed by an activation", nameof(net));
                handles.Add(modules[next].RegisterForwardHook((_, _, output) => { post[at] = output; return null; }));
            }
        }
        try
        {
            var value = loss(net.Forward(x), labels);
            var weights = linears.Select(l => l.GetParameter("weight")).ToList();
            var grads = Autodiff.Grad([value], [.. pre.Take(hidden).Select(t => t!), .. weights]);
            return new LayerSignalProfile(
                [.. grads.Take(hidden).Select(t => Log10Norm(t!.ToDoubleArray()))],
                [.. post.Select(t => Log10Std(t!.ToDoubleArray()))],
                [.. grads.Skip(hidden).Select(t => Log10Norm(t!.ToDoubleArray()))],
                value.Item());
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
        }
    }

    /// <summary>log10 of the Euclidean norm, scaled by the largest magnitude first so that no square under- or overflows (−∞ for all zeros, NaN when a value is not finite).</summary>
    public static double Log10Norm(ReadOnlySpan<double> v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        if (m == 0 || !double.IsFinite(m)) return m == 0 ? double.NegativeInfinity : double.NaN;
        double s = 0;
        foreach (double e in v) s += (e / m) * (e / m);
        return Math.Log10(m) + 0.5 * Math.Log10(s);
    }

    /// <summary>log10 of the population standard deviation, scaled like <see cref="Log10Norm"/> (−∞ when constant, NaN when a value is not finite).</summary>
    public static double Log10Std(ReadOnlySpan<double> v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        if (m == 0 || !double.IsFinite(m)) return m == 0 ? double.NegativeInfinity : double.NaN;
        double mean = 0;
        foreach (double e in v) mean += e / m;
        mean /= v.Length;
        double s = 0;
        foreach (double e in v) s += (e / m - mean) * (e / m - mean);
        return s == 0 ? double.NegativeInfinity : Math.Log10(m) + 0.5 * Math.Log10(s / v.Length);
    }
}
