namespace Aperture.NN;

/// <summary>max(x, 0).</summary>
public sealed class ReLU : Module
{
    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => Ops.Relu(input);
}

/// <summary>x for x &gt; 0 and <see cref="NegativeSlope"/>·x otherwise.</summary>
public sealed class LeakyReLU(double negativeSlope = 0.01) : Module
{
    /// <summary>The slope for negative inputs.</summary>
    public double NegativeSlope { get; } = negativeSlope;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"negativeSlope: {NegativeSlope}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => Ops.LeakyRelu(input, NegativeSlope);
}

/// <summary>The logistic function 1/(1 + e^−x).</summary>
public sealed class Sigmoid : Module
{
    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => Ops.Sigmoid(input);
}

/// <summary>The hyperbolic tangent.</summary>
public sealed class Tanh : Module
{
    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => Ops.Tanh(input);
}

/// <summary>x·Φ(x), exact (with erf) or with the tanh approximation (<c>approximate: "tanh"</c>), like <c>nn.GELU</c>.</summary>
public sealed class GELU : Module
{
    /// <summary>Creates the activation; <paramref name="approximate"/> is "none" or "tanh".</summary>
    public GELU(string approximate = "none")
    {
        if (approximate is not ("none" or "tanh"))
            throw new ArgumentException($"GELU: approximate must be \"none\" or \"tanh\", got \"{approximate}\"", nameof(approximate));
        Approximate = approximate;
    }

    /// <summary>"none" or "tanh".</summary>
    public string Approximate { get; }

    /// <inheritdoc/>
    protected override string ExtraRepr => Approximate == "none" ? "" : "approximate: tanh";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => Ops.Gelu(input, Approximate == "tanh");
}

/// <summary>(1/β)·log(1 + e^(β·x)), a smooth ReLU, computed without overflow.</summary>
public sealed class Softplus : Module
{
    /// <summary>Creates the activation with sharpness <paramref name="beta"/> &gt; 0.</summary>
    public Softplus(double beta = 1)
    {
        if (!(beta > 0) || !double.IsFinite(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "Softplus: beta must be positive and finite");
        Beta = beta;
    }

    /// <summary>The sharpness.</summary>
    public double Beta { get; }

    /// <inheritdoc/>
    protected override string ExtraRepr => Beta == 1 ? "" : $"beta: {Beta}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) =>
        Beta == 1 ? Ops.Softplus(input) : Ops.Div(Ops.Softplus(Ops.Mul(input, Beta)), Beta);
}

/// <summary>Returns its input unchanged (an activation for deep linear networks, or a placeholder).</summary>
public sealed class Identity : Module
{
    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => input;
}

/// <summary>Activations by name, for compact architecture descriptions.</summary>
public static class Activations
{
    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softplus", "identity"];

    /// <summary>
    /// A new activation module: relu, leaky_relu, sigmoid, tanh, gelu, softplus or identity (also "linear" or
    /// "none"). Case-insensitive.
    /// </summary>
    public static Module Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            "relu" => new ReLU(),
            "leaky_relu" or "leakyrelu" => new LeakyReLU(),
            "sigmoid" => new Sigmoid(),
            "tanh" => new Tanh(),
            "gelu" => new GELU(),
            "softplus" => new Softplus(),
            "identity" or "linear" or "none" => new Identity(),
            _ => throw new ArgumentException($"unknown activation '{name}'; expected one of {string.Join(", ", Names)}", nameof(name)),
        };
    }

    /// <summary>The name <see cref="Init.Gain"/> uses for an activation name (leaky_relu, tanh, …; linear for identity and gelu).</summary>
    internal static string GainName(string name) => name.ToLowerInvariant() switch
    {
        "relu" => "relu",
        "leaky_relu" or "leakyrelu" => "leaky_relu",
        "tanh" => "tanh",
        "sigmoid" => "sigmoid",
        _ => "linear",
    };
}
