using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// The non-negative homogeneity rescaling of Dinh, Pascanu, Bengio and Bengio ("Sharp minima can generalize for deep
/// nets", ICML 2017, arXiv 1703.04933): in a network whose nonlinearities are positively homogeneous (ReLU, leaky
/// ReLU, max and average pooling), multiplying layer k's weights by α_k &gt; 0 and its bias by the cumulative product
/// α_1·…·α_k multiplies its pre-activation by that product; with ∏α_k = 1 the network computes the same function.
/// The parameters become θ' = D·θ for a diagonal D, so the loss's Hessian becomes D⁻¹·H·D⁻¹: its eigenvalues, trace
/// and ε-sharpness change while the function does not — flatness measures are not invariant to reparametrization.
/// </summary>
public static class Reparametrization
{
    /// <summary>
    /// Rescales the weight layers (Linear, Conv2d) of <paramref name="net"/> in place, layer k's weight by
    /// <paramref name="alphas"/>[k] and its bias by α_1·…·α_k. Throws (changing nothing) unless every α is positive and
    /// finite, their product is 1 to 1e-12, there is one per weight layer, and every other layer is positively homogeneous.
    /// </summary>
    public static void ScaleLayers(Sequential net, IReadOnlyList<double> alphas)
    {
        var scales = ParameterScales(net, alphas);
        using var _ = Autodiff.NoGrad();
        foreach (var (name, p) in net.NamedParameters())
            if (scales.TryGetValue(name, out double s)) Ops.CopyInPlace(p, p * s);
    }

    /// <summary>
    /// The factor each parameter of <paramref name="net"/> is multiplied by under <see cref="ScaleLayers"/> (the diagonal
    /// of D, by dotted parameter name), after the same checks. The predicted Hessian after the rescaling is D⁻¹·H·D⁻¹.
    /// </summary>
    public static IReadOnlyDictionary<string, double> ParameterScales(Sequential net, IReadOnlyList<double> alphas)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(alphas);
        var layers = new List<(string Name, Module Module)>();
        foreach (var (name, m) in net.NamedChildren())
        {
            switch (m)
            {
                case Linear or Conv2d:
                    layers.Add((name, m));
                    break;
                case ReLU or LeakyReLU or Identity or Flatten or MaxPool2d or AvgPool2d or AdaptiveAvgPool2d or Dropout:
                    break;
                default:
                    throw new ArgumentException($"Reparametrization: layer {name} ({m.Describe()}) is not positively homogeneous (allowed between weight layers: ReLU, LeakyReLU, Identity, Flatten, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout), so rescaling would change the function", nameof(net));
            }
        }
        if (alphas.Count != layers.Count)
            throw new ArgumentException($"Reparametrization: {alphas.Count} scale factors for {layers.Count} weight layers ({string.Join(", ", layers.Select(l => l.Name))})", nameof(alphas));
        double product = 1;
        for (int k = 0; k < alphas.Count; k++)
        {
            if (!(alphas[k] > 0) || !double.IsFinite(alphas[k]))
                throw new ArgumentOutOfRangeException(nameof(alphas), alphas[k], $"Reparametrization: α for layer {layers[k].Name} must be positive and finite");
            product *= alphas[k];
        }
        if (Math.Abs(product - 1) > 1e-12)
            throw new ArgumentException($"Reparametrization: the scale factors multiply to {product:R}, not 1, so the network's output would be scaled", nameof(alphas));
        var scales = new Dictionary<string, double>();
        double cumulative = 1;
        for (int k = 0; k < layers.Count; k++)
        {
            cumulative *= alphas[k];
            foreach (var (pname, _) in layers[k].Module.NamedParameters(layers[k].Name + "."))
                scales[pname] = pname.EndsWith(".bias", StringComparison.Ordinal) ? cumulative : alphas[k];
        }
        return scales;
    }
}
