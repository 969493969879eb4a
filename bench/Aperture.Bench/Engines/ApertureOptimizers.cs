namespace Aperture.Bench.Engines;

/// <summary>An optimizer step over a fixed list of parameters whose gradients are already in <c>Grad</c>.</summary>
internal interface IOptimizerStep
{
    void Step();
}

/// <summary>
/// SGD with momentum as PyTorch defines it (buf = μ·buf + g; p −= lr·buf), written with the engine's in-place ops
/// under NoGrad. Kept behind <see cref="IOptimizerStep"/> so the engine's own optimizer can replace it in one place.
/// </summary>
internal sealed class SgdMomentum(IReadOnlyList<Tensor> parameters, double lr, double momentum) : IOptimizerStep
{
    private readonly Tensor[] _buffers = [.. parameters.Select(Tensor.ZerosLike)];
    private readonly Tensor _momentum = Tensor.Scalar(momentum);

    public void Step()
    {
        using var _ = Autodiff.NoGrad();
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (p.Grad is not { } g) continue;
            Ops.MulInPlace(_buffers[i], _momentum);
            Ops.AddInPlace(_buffers[i], g);
            Ops.SubInPlace(p, Ops.Mul(_buffers[i], lr));
        }
    }
}

/// <summary>
/// Adam as PyTorch defines it (no weight decay): m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g²,
/// p −= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε), written with the engine's ops under NoGrad.
/// </summary>
internal sealed class AdamStep(IReadOnlyList<Tensor> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    : IOptimizerStep
{
    private readonly Tensor[] _m = [.. parameters.Select(Tensor.ZerosLike)];
    private readonly Tensor[] _v = [.. parameters.Select(Tensor.ZerosLike)];
    private readonly Tensor _beta1 = Tensor.Scalar(beta1), _beta2 = Tensor.Scalar(beta2);
    private int _t;

    public void Step()
    {
        using var _ = Autodiff.NoGrad();
        _t++;
        double bc1 = 1 - Math.Pow(beta1, _t), bc2 = 1 - Math.Pow(beta2, _t);
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (p.Grad is not { } g) continue;
            Ops.MulInPlace(_m[i], _beta1);
            Ops.AddInPlace(_m[i], Ops.Mul(g, 1 - beta1));
            Ops.MulInPlace(_v[i], _beta2);
            Ops.AddInPlace(_v[i], Ops.Mul(Ops.Square(g), 1 - beta2));
            var denom = Ops.Add(Ops.Div(Ops.Sqrt(_v[i]), Math.Sqrt(bc2)), eps);
            Ops.SubInPlace(p, Ops.Mul(Ops.Div(_m[i], denom), lr / bc1));
        }
    }
}
