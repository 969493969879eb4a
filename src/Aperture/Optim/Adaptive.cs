using System.Numerics;

namespace Aperture.Optim;

/// <summary>
/// Adagrad (Duchi et al. 2011), exactly as <c>torch.optim.Adagrad</c>:
/// <code>
/// g = ∇ + weight_decay·θ
/// clr = lr/(1 + (t − 1)·lr_decay)
/// s = s + g²                     (s starts at initial_accumulator_value)
/// θ = θ − clr·g/(√s + ε)
/// </code>
/// Options: <c>lr</c> (1e-2), <c>lr_decay</c> (0), <c>weight_decay</c> (0), <c>initial_accumulator_value</c> (0),
/// <c>eps</c> (1e-10). State: <c>sum</c>.
/// </summary>
public sealed class Adagrad : GradientOptimizer
{
    /// <summary>Adagrad over one group of parameters.</summary>
    public Adagrad(IEnumerable<Tensor> parameters, double lr = 1e-2, double lrDecay = 0, double weightDecay = 0, double initialAccumulatorValue = 0, double eps = 1e-10)
        : this(OneGroup(parameters), lr, lrDecay, weightDecay, initialAccumulatorValue, eps) { }

    /// <summary>Adagrad over parameter groups.</summary>
    public Adagrad(IEnumerable<ParamGroup> groups, double lr = 1e-2, double lrDecay = 0, double weightDecay = 0, double initialAccumulatorValue = 0, double eps = 1e-10)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["lr_decay"] = lrDecay,
            ["weight_decay"] = weightDecay,
            ["initial_accumulator_value"] = initialAccumulatorValue,
            ["eps"] = eps,
        }) => ValidateGroups();

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => ["sum"];

    /// <inheritdoc/>
    protected override IEnumerable<string> RequiredStateBuffers(ParamGroup group) => ["sum"];

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "lr_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "initial_accumulator_value", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "eps", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
    }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var sum = BufferOf(state, "sum", parameter, group["initial_accumulator_value"]);
        double clr = group["lr"] / (1 + (state.Step - 1) * group["lr_decay"]);
        if (parameter.DType == DType.Float32) Kernel(Data<float>(parameter), Data<float>(grad), Data<float>(sum), clr, group["weight_decay"], group["eps"]);
        else Kernel(Data<double>(parameter), Data<double>(grad), Data<double>(sum), clr, group["weight_decay"], group["eps"]);
    }

    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> sum, double clrD, double wdD, double epsD) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T clr = T.CreateTruncating(clrD), wd = T.CreateTruncating(wdD), eps = T.CreateTruncating(epsD);
        bool decay = wdD != 0;
        for (int i = 0; i < p.Length; i++)
        {
            T gi = g[i];
            if (decay) gi += wd * p[i];
            T s = sum[i] + gi * gi;
            sum[i] = s;
            p[i] -= clr * (gi / (T.Sqrt(s) + eps));
        }
    }
}

/// <summary>
/// RMSProp (Tieleman and Hinton 2012), exactly as <c>torch.optim.RMSprop</c>:
/// <code>
/// g = ∇ + weight_decay·θ
/// s = α·s + (1 − α)·g²
/// a = α·a + (1 − α)·g;  d = √(s − a²) + ε        (centered)
/// d = √s + ε                                      (otherwise)
/// b = momentum·b + g/d;  θ = θ − lr·b              (momentum &gt; 0)
/// θ = θ − lr·g/d                                  (otherwise)
/// </code>
/// Options: <c>lr</c> (1e-2), <c>alpha</c> (0.99), <c>eps</c> (1e-8), <c>weight_decay</c> (0), <c>momentum</c> (0).
/// State: <c>square_avg</c>, <c>grad_avg</c> (centered), <c>momentum_buffer</c> (momentum).
/// </summary>
public sealed class RMSprop : GradientOptimizer
{
    /// <summary>RMSProp over one group of parameters.</summary>
    public RMSprop(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : this(OneGroup(parameters), lr, alpha, eps, weightDecay, momentum, centered) { }

    /// <summary>RMSProp over parameter groups.</summary>
    public RMSprop(IEnumerable<ParamGroup> groups, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["alpha"] = alpha,
            ["eps"] = eps,
            ["weight_decay"] = weightDecay,
            ["momentum"] = momentum,
        })
    {
        Centered = centered;
        ValidateGroups();
    }

    /// <summary>Whether the second moment is centered by the running mean of the gradient.</summary>
    public bool Centered { get; }

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => ["square_avg", "grad_avg", "momentum_buffer"];

    /// <inheritdoc/>
    /// <remarks>The momentum buffer starts from zeros when momentum is first used, as in PyTorch, so it is not required.</remarks>
    protected override IEnumerable<string> RequiredStateBuffers(ParamGroup group) => Centered ? ["square_avg", "grad_avg"] : ["square_avg"];

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "alpha", v => v >= 0 && v <= 1, "in [0, 1]");
        Require(group, index, "eps", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "momentum", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
    }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var sq = BufferOf(state, "square_avg", parameter);
        var ga = Centered ? BufferOf(state, "grad_avg", parameter) : null;
        var mb = group["momentum"] > 0 ? BufferOf(state, "momentum_buffer", parameter) : null;
        var h = (Lr: group["lr"], Alpha: group["alpha"], Eps: group["eps"], Wd: group["weight_decay"], Mu: group["momentum"]);
        if (parameter.DType == DType.Float32)
            Kernel(Data<float>(parameter), Data<float>(grad), Data<float>(sq), ga is null ? default : Data<float>(ga), mb is null ? default : Data<float>(mb), h, Centered);
        else
            Kernel(Data<double>(parameter), Data<double>(grad), Data<double>(sq), ga is null ? default : Data<double>(ga), mb is null ? default : Data<double>(mb), h, Centered);
    }

    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> sq, Span<T> ga, Span<T> mb,
        (double Lr, double Alpha, double Eps, double Wd, double Mu) h, bool centered) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T lr = T.CreateTruncating(h.Lr), alpha = T.CreateTruncating(h.Alpha), oneMinusAlpha = T.CreateTruncating(1 - h.Alpha);
        T eps = T.CreateTruncating(h.Eps), wd = T.CreateTruncating(h.Wd), mu = T.CreateTruncating(h.Mu);
        bool decay = h.Wd != 0, momentum = h.Mu > 0;
        for (int i = 0; i < p.Length; i++)
        {
            T gi = g[i];
            if (decay) gi += wd * p[i];
            T s = alpha * sq[i] + oneMinusAlpha * gi * gi;
            sq[i] = s;
            T d;
            if (centered)
            {
                T a = alpha * ga[i] + oneMinusAlpha * gi;
                ga[i] = a;
                d = T.Sqrt(s - a * a) + eps;
            }
            else d = T.Sqrt(s) + eps;
            if (momentum)
            {
                T b = mu * mb[i] + gi / d;
                mb[i] = b;
                p[i] -= lr * b;
            }
            else p[i] -= lr * (gi / d);
        }
    }
}

/// <summary>
/// Adadelta (Zeiler 2012), exactly as <c>torch.optim.Adadelta</c>:
/// <code>
/// g = ∇ + weight_decay·θ
/// s = ρ·s + (1 − ρ)·g²
/// δ = √(u + ε)/√(s + ε)·g
/// u = ρ·u + (1 − ρ)·δ²
/// θ = θ − lr·δ
/// </code>
/// Options: <c>lr</c> (1.0), <c>rho</c> (0.9), <c>eps</c> (1e-6), <c>weight_decay</c> (0). State: <c>square_avg</c> (s),
/// <c>acc_delta</c> (u).
/// </summary>
public sealed class Adadelta : GradientOptimizer
{
    /// <summary>Adadelta over one group of parameters.</summary>
    public Adadelta(IEnumerable<Tensor> parameters, double lr = 1.0, double rho = 0.9, double eps = 1e-6, double weightDecay = 0)
        : this(OneGroup(parameters), lr, rho, eps, weightDecay) { }

    /// <summary>Adadelta over parameter groups.</summary>
    public Adadelta(IEnumerable<ParamGroup> groups, double lr = 1.0, double rho = 0.9, double eps = 1e-6, double weightDecay = 0)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["rho"] = rho,
            ["eps"] = eps,
            ["weight_decay"] = weightDecay,
        }) => ValidateGroups();

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => ["square_avg", "acc_delta"];

    /// <inheritdoc/>
    protected override IEnumerable<string> RequiredStateBuffers(ParamGroup group) => ["square_avg", "acc_delta"];

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "rho", v => v >= 0 && v <= 1, "in [0, 1]");
        Require(group, index, "eps", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
    }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var sq = BufferOf(state, "square_avg", parameter);
        var acc = BufferOf(state, "acc_delta", parameter);
        var h = (Lr: group["lr"], Rho: group["rho"], Eps: group["eps"], Wd: group["weight_decay"]);
        if (parameter.DType == DType.Float32) Kernel(Data<float>(parameter), Data<float>(grad), Data<float>(sq), Data<float>(acc), h);
        else Kernel(Data<double>(parameter), Data<double>(grad), Data<double>(sq), Data<double>(acc), h);
    }

    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> sq, Span<T> acc, (double Lr, double Rho, double Eps, double Wd) h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T lr = T.CreateTruncating(h.Lr), rho = T.CreateTruncating(h.Rho), oneMinusRho = T.CreateTruncating(1 - h.Rho);
        T eps = T.CreateTruncating(h.Eps), wd = T.CreateTruncating(h.Wd);
        bool decay = h.Wd != 0;
        for (int i = 0; i < p.Length; i++)
        {
            T gi = g[i];
            if (decay) gi += wd * p[i];
            T s = rho * sq[i] + oneMinusRho * gi * gi;
            sq[i] = s;
            T delta = T.Sqrt(acc[i] + eps) / T.Sqrt(s + eps) * gi;
            acc[i] = rho * acc[i] + oneMinusRho * delta * delta;
            p[i] -= lr * delta;
        }
    }
}
