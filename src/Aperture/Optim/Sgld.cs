using System.Globalization;
using System.Numerics;

namespace Aperture.Optim;

/// <summary>
/// Stochastic-gradient Langevin dynamics (Welling and Teh 2011) localized at the parameters' values when the sampler is
/// built, w* — the sampler of the local learning coefficient estimator (Lau et al. 2023, arXiv 2308.12108). With
/// <see cref="Tensor.Grad"/> = ∇L_B(w), the gradient of a minibatch's mean loss, each step is
/// <code>
/// Δw = −(ε/2)·[nβ·∇L_B(w) + γ·(w − w*) + λ_wd·w] + √ε·ξ,     ξ ~ N(0, I)
/// </code>
/// whose stationary law (as ε → 0, with exact gradients) is the tempered, localized posterior
/// ∝ exp(−nβ·L(w) − γ/2·‖w − w*‖² − λ_wd/2·‖w‖²). With the RMSprop-style preconditioner (Li et al. 2016, pSGLD) a
/// diagonal G = 1/(√V + δ), V ← α·V + (1 − α)·(nβ·∇L_B)², scales both terms: Δw = −(ε/2)·G·[…] + √(εG)·ξ (the Γ(w)
/// correction term, O(1 − α), is dropped as in pSGLD's practical form).
/// Options: <c>lr</c> (ε), <c>nbeta</c> (nβ), <c>localization</c> (γ), <c>weight_decay</c> (λ_wd), <c>alpha</c>,
/// <c>eps</c> (δ). State: <c>anchor</c> (w*), <c>square_avg</c> (V, preconditioned only).
/// </summary>
/// <remarks>
/// The noise comes from the <see cref="Generator"/> given at construction, drawn parameter by parameter in group
/// order, so a chain is a function of its generator's seed and stream: the same seed gives the same bits whatever the
/// thread count. For float32 parameters it is single-precision Box–Muller (as PyTorch draws a float tensor's normals;
/// |ξ| ≤ 5.77), for float64 ones the double-precision draws of <see cref="Tensor.Randn"/>. The update is an elementwise loop with no fused multiply-add, like the other optimizers.
/// </remarks>
public sealed class Sgld : GradientOptimizer
{
    private readonly Generator _noise;
    // One scratch tensor per parameter for the step's Gaussian draw, reused from step to step (not state: it holds
    // nothing between steps), so a step allocates nothing.
    private readonly Dictionary<Tensor, Tensor> _draws = new(ReferenceEqualityComparer.Instance);

    /// <summary>SGLD over one group of parameters, localized at their current values.</summary>
    /// <param name="parameters">The parameters; their values now are the anchor w*.</param>
    /// <param name="noise">The source of the Langevin noise (one generator per chain).</param>
    /// <param name="lr">The step size ε.</param>
    /// <param name="nBeta">The inverse temperature times the sample size, nβ.</param>
    /// <param name="localization">The strength γ of the pull towards w*.</param>
    /// <param name="weightDecay">λ_wd, a Gaussian prior centred at 0.</param>
    /// <param name="preconditioned">Whether to use the RMSprop-style preconditioner.</param>
    /// <param name="alpha">The preconditioner's smoothing constant α.</param>
    /// <param name="eps">The preconditioner's δ.</param>
    public Sgld(IEnumerable<Tensor> parameters, Generator noise, double lr, double nBeta, double localization = 0, double weightDecay = 0,
        bool preconditioned = false, double alpha = 0.99, double eps = 1e-8)
        : this(OneGroup(parameters), noise, lr, nBeta, localization, weightDecay, preconditioned, alpha, eps) { }

    /// <summary>SGLD over parameter groups; options a group does not set take these values.</summary>
    public Sgld(IEnumerable<ParamGroup> groups, Generator noise, double lr, double nBeta, double localization = 0, double weightDecay = 0,
        bool preconditioned = false, double alpha = 0.99, double eps = 1e-8)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["nbeta"] = nBeta,
            ["localization"] = localization,
            ["weight_decay"] = weightDecay,
            ["alpha"] = alpha,
            ["eps"] = eps,
        })
    {
        ArgumentNullException.ThrowIfNull(noise);
        _noise = noise;
        Preconditioned = preconditioned;
        ValidateGroups();
        // The anchor is a copy taken now: later changes to the parameters (the chain itself) do not move it.
        using var _ = TensorScope.Suspend();
        foreach (var p in Parameters())
            StateOf(p).Buffers["anchor"] = StridedCopy.ToContiguous(p.Detach()).Clone();
    }

    /// <summary>Whether the RMSprop-style preconditioner is on.</summary>
    public bool Preconditioned { get; }

    /// <summary>The noise generator (its <see cref="Generator.Offset"/> advances with every step).</summary>
    public Generator Noise => _noise;

    /// <summary>The anchor w* of <paramref name="parameter"/> (a copy taken when the sampler was built).</summary>
    public Tensor Anchor(Tensor parameter) =>
        State(parameter)?.Buffers["anchor"] ?? throw new ArgumentException($"{Name}: the tensor of shape {Shapes.Format(parameter.Shape)} is not one of this sampler's parameters", nameof(parameter));

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v > 0 && double.IsFinite(v), "a finite number > 0");
        Require(group, index, "nbeta", v => v > 0 && double.IsFinite(v), "a finite number > 0");
        Require(group, index, "localization", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "alpha", v => v >= 0 && v < 1, "in [0, 1)");
        Require(group, index, "eps", v => v > 0 && double.IsFinite(v), "a finite number > 0");
    }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var anchor = state.Buffers["anchor"];
        var square = Preconditioned ? BufferOf(state, "square_avg", parameter) : null;
        if (!_draws.TryGetValue(parameter, out var xi))
            using (TensorScope.Suspend())
                _draws[parameter] = xi = Tensor.Uninitialized(parameter.Shape, parameter.DType);
        // float32: single-precision Box–Muller, eight lanes at a time (NormalSingles); float64: the double-precision fill.
        if (xi.DType == DType.Float32) NormalSingles.Fill(xi.Buffer<float>(), xi._offset, xi.Numel, _noise);
        else RandomFill.Normal(xi, 0, 1, _noise);
        var h = (Lr: group["lr"], NBeta: group["nbeta"], Gamma: group["localization"], Wd: group["weight_decay"],
                 Alpha: group["alpha"], Eps: group["eps"], First: state.Step == 1);
        if (parameter.DType == DType.Float32)
            Kernel(Data<float>(parameter), Data<float>(grad), Data<float>(anchor), Data<float>(xi), square is null ? default : Data<float>(square), h);
        else
            Kernel(Data<double>(parameter), Data<double>(grad), Data<double>(anchor), Data<double>(xi), square is null ? default : Data<double>(square), h);
    }

    /// <summary>The update, one element at a time in index order (no vectorization, so no width-dependent bits).</summary>
    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, ReadOnlySpan<T> anchor, ReadOnlySpan<T> xi, Span<T> square,
        (double Lr, double NBeta, double Gamma, double Wd, double Alpha, double Eps, bool First) h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T halfLr = T.CreateTruncating(h.Lr / 2), sqrtLr = T.CreateTruncating(Math.Sqrt(h.Lr)), nBeta = T.CreateTruncating(h.NBeta),
          gamma = T.CreateTruncating(h.Gamma), wd = T.CreateTruncating(h.Wd), alpha = T.CreateTruncating(h.Alpha),
          oneMinusAlpha = T.CreateTruncating(1 - h.Alpha), eps = T.CreateTruncating(h.Eps), lr = T.CreateTruncating(h.Lr);
        bool precondition = !square.IsEmpty;
        for (int i = 0; i < p.Length; i++)
        {
            T likelihood = nBeta * g[i];
            T drift = likelihood + gamma * (p[i] - anchor[i]) + wd * p[i];
            if (precondition)
            {
                // The first step seeds V with the squared gradient itself, so G does not start at 1/δ.
                T v = h.First ? likelihood * likelihood : alpha * square[i] + oneMinusAlpha * likelihood * likelihood;
                square[i] = v;
                T pre = T.One / (T.Sqrt(v) + eps);
                p[i] = p[i] - halfLr * pre * drift + T.Sqrt(lr * pre) * xi[i];
            }
            else
            {
                p[i] = p[i] - halfLr * drift + sqrtLr * xi[i];
            }
        }
    }

    /// <inheritdoc/>
    protected override void SaveExtra(StateSnapshot state)
    {
        state.Scalars["noise.offset"] = _noise.Offset;
        state.Scalars["preconditioned"] = Preconditioned ? 1 : 0;
    }

    /// <inheritdoc/>
    protected override void CheckExtra(StateSnapshot state, List<string> errors)
    {
        if (!state.Scalars.TryGetValue("noise.offset", out var offset) || offset < 0 || offset != Math.Floor(offset))
            errors.Add("'noise.offset' is missing or not a whole number ≥ 0");
        if (!state.Scalars.TryGetValue("preconditioned", out var pre) || pre != (Preconditioned ? 1 : 0))
            errors.Add($"'preconditioned' is {(state.Scalars.TryGetValue("preconditioned", out var v) ? v.ToString(CultureInfo.InvariantCulture) : "missing")}; this sampler has preconditioned = {Preconditioned}");
    }

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => ["anchor", "square_avg"];

    /// <inheritdoc/>
    protected override bool IsExtraScalar(string key) => key is "noise.offset" or "preconditioned";

    /// <inheritdoc/>
    protected override void LoadExtra(StateSnapshot state) => _noise.Offset = (ulong)state.Scalars["noise.offset"];
}
