using Aperture.Data;
using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// Whether the hidden units of a layer are still identical: the largest difference between any unit and the first
/// one, in incoming weights and bias and in activations over a dataset, and how many distinct units a layer has.
/// Identical units receive identical updates, so a constant initialization never breaks the symmetry; these are exact
/// (no tolerance): two units differ as soon as one bit does.
/// </summary>
public static class UnitSymmetry
{
    /// <summary>The hidden layers of <paramref name="net"/>: its Linear layers (depth-first order) but the last, the output layer.</summary>
    public static IReadOnlyList<Linear> HiddenLayers(Module net)
    {
        ArgumentNullException.ThrowIfNull(net);
        return net.NamedModules().Select(m => m.Module).OfType<Linear>().SkipLast(1).ToList();
    }

    /// <summary>The largest difference between any unit of <paramref name="layer"/> and its first unit: max |W[i, j] − W[0, j]| and |b[i] − b[0]|.</summary>
    public static double UnitDifference(Linear layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var w = layer.GetParameter("weight");
        int units = w.Size(0), inputs = w.Size(1);
        double d = RowSpread(w.ToDoubleArray(), units, inputs);
        if (layer.NamedParameters().Any(np => np.Name == "bias"))
            d = Math.Max(d, RowSpread(layer.GetParameter("bias").ToDoubleArray(), units, 1));
        return d;
    }

    /// <summary>How many different incoming weight rows (with biases, compared bit for bit) the layer's units have.</summary>
    public static int DistinctUnits(Linear layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var w = layer.GetParameter("weight");
        int units = w.Size(0), inputs = w.Size(1);
        var flat = w.ToDoubleArray();
        var bias = layer.NamedParameters().Any(np => np.Name == "bias") ? layer.GetParameter("bias").ToDoubleArray() : new double[units];
        return Enumerable.Range(0, units)
            .Select(i => string.Join(",", flat.Skip(i * inputs).Take(inputs).Append(bias[i]).Select(BitConverter.DoubleToInt64Bits)))
            .Distinct().Count();
    }

    /// <summary>
    /// The outputs of the module right after each hidden Linear layer of <paramref name="net"/> (its activation),
    /// [examples, units] each, first hidden layer first, from one forward pass over <paramref name="inputs"/>
    /// without recording a graph. The net's mode is left as it is.
    /// </summary>
    public static IReadOnlyList<Tensor> HiddenActivations(Sequential net, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(inputs);
        var hidden = HiddenLayers(net);
        var outputs = new List<Tensor>();
        using (Autodiff.NoGrad())
        {
            var modules = net.NamedModules().Skip(1).Select(m => m.Module).ToList();
            var handles = new List<HookHandle>();
            try
            {
                foreach (var l in hidden)
                {
                    int next = modules.IndexOf(l) + 1;
                    if (next >= modules.Count) throw new ArgumentException("UnitSymmetry: a hidden Linear layer is not followed by an activation", nameof(net));
                    handles.Add(modules[next].RegisterForwardHook((_, _, o) => { outputs.Add(o); return null; }));
                }
                net.Forward(inputs);
            }
            finally
            {
                foreach (var h in handles) h.Dispose();
            }
        }
        return outputs;
    }

    /// <summary>
    /// The largest difference, over every example of <paramref name="data"/> and every hidden layer, between a unit's
    /// activation and the first unit's: max over layers of <see cref="ColumnSpread"/> of <see cref="HiddenActivations"/>.
    /// </summary>
    public static double ActivationDifference(Sequential net, TensorDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        double d = 0;
        foreach (var o in HiddenActivations(net, data.Inputs)) d = Math.Max(d, ColumnSpread(o.ToDoubleArray(), o.Shape[1]));
        return d;
    }

    /// <summary>max over rows i and columns j of |m[i, j] − m[0, j]| for a row-major [rows, cols] matrix (0 for one row).</summary>
    public static double RowSpread(ReadOnlySpan<double> m, int rows, int cols)
    {
        double d = 0;
        for (int i = 1; i < rows; i++)
            for (int j = 0; j < cols; j++) d = Math.Max(d, Math.Abs(m[i * cols + j] - m[j]));
        return d;
    }

    /// <summary>max over rows n and columns j of |a[n, j] − a[n, 0]| for a row-major [a.Length / cols, cols] matrix (0 for one column).</summary>
    public static double ColumnSpread(ReadOnlySpan<double> a, int cols)
    {
        double d = 0;
        for (int n = 0; n < a.Length / cols; n++)
            for (int j = 1; j < cols; j++) d = Math.Max(d, Math.Abs(a[n * cols + j] - a[n * cols]));
        return d;
    }
}
