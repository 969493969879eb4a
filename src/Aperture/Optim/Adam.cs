using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Numerics;

namespace Aperture.Optim;

/// <summary>Where Adam applies its bias corrections.</summary>
public enum AdamForm
{
    /// <summary>
    /// PyTorch's form: θ −= lr·m̂/(√v̂ + ε), computed as θ −= (lr/(1 − β1^t))·m/(√v/√(1 − β2^t) + ε).
    /// With β2 = 1 the correction 1 − β2^t is 0 and the first step is 0/0 = NaN.
    /// </summary>
    Standard,
    /// <summary>
    /// The form of Kingma and Ba's Algorithm 1 note, which folds the corrections into the step size:
    /// θ −= α_t·m/(√v + ε̂) with α_t = lr·√(1 − β2^t)/(1 − β1^t). Its ε̂ is not scaled by the correction, so the two
    /// forms differ slightly while √v is comparable to ε. With β2 = 1 the step size is 0 and training silently stops.
    /// </summary>
    Folded,
}

/// <summary>
/// Adam (Kingma and Ba 2015), exactly as <c>torch.optim.Adam</c> (without amsgrad):
/// <code>
/// g = ∇ + weight_decay·θ                      (L2 penalty folded into the gradient)
/// m = β1·m + (1 − β1)·g
/// v = β2·v + (1 − β2)·g²
/// θ = θ − lr·m̂/(√v̂ + ε),   m̂ = m/(1 − β1^t),  v̂ = v/(1 − β2^t)
/// </code>
/// (see <see cref="AdamForm"/> for the folded alternative). Options: <c>lr</c> (1e-3), <c>beta1</c> (0.9),
/// <c>beta2</c> (0.999), <c>eps</c> (1e-8), <c>weight_decay</c> (0). State: <c>exp_avg</c> (m), <c>exp_avg_sq</c> (v).
/// β1 and β2 must be in [0, 1).
/// </summary>
/// <remarks>
/// To study what low-precision storage does to Adam (β2 = 0.999 rounds to 1 in bfloat16), set
/// <see cref="HyperParameterFormat"/>: the validated hyper-parameters β1, β2 and ε are then rounded to that format
/// when each step is computed, as an implementation that stores them in it would. <see cref="StateFormat"/> does the
/// same for m and v after each update.
/// </remarks>
public class Adam : GradientOptimizer
{
    private readonly bool _decoupled;

    /// <summary>Adam over one group of parameters.</summary>
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0,
        AdamForm form = AdamForm.Standard)
        : this(OneGroup(parameters), lr, beta1, beta2, eps, weightDecay, form) { }

    /// <summary>Adam over parameter groups; options a group does not set take these values.</summary>
    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0,
        AdamForm form = AdamForm.Standard)
        : this(groups, lr, beta1, beta2, eps, weightDecay, form, decoupled: false) { }

    private protected Adam(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay, AdamForm form, bool decoupled)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["beta1"] = beta1,
            ["beta2"] = beta2,
            ["eps"] = eps,
            ["weight_decay"] = weightDecay,
        })
    {
        if (!Enum.IsDefined(form)) throw new ArgumentOutOfRangeException(nameof(form), form, $"{Name}: unknown form");
        Form = form;
        _decoupled = decoupled;
        ValidateGroups();
    }

    /// <summary>Where the bias corrections are applied.</summary>
    public AdamForm Form { get; }

    /// <summary>The emulated storage format of β1, β2 and ε (Native: none).</summary>
    public StorageFormat HyperParameterFormat { get; init; } = StorageFormat.Native;

    /// <summary>The emulated storage format of the moments m and v (Native: none).</summary>
    public StorageFormat StateFormat { get; init; } = StorageFormat.Native;

    /// <summary>The rounding mode of <see cref="HyperParameterFormat"/> and <see cref="StateFormat"/>.</summary>
    public RoundingMode Rounding { get; init; } = RoundingMode.NearestEven;

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => MomentNames;

    /// <inheritdoc/>
    protected override IEnumerable<string> RequiredStateBuffers(ParamGroup group) => MomentNames;

    private static readonly string[] MomentNames = ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "beta1", v => v >= 0 && v < 1, "in [0, 1)");
        Require(group, index, "beta2", v => v >= 0 && v < 1,
            "in [0, 1): beta2 = 1 makes the bias correction 1 − beta2^t zero, and the update divides by it (0/0)");
        Require(group, index, "eps", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
    }

    /// <summary>The value of a hyper-parameter as the step uses it (rounded to <see cref="HyperParameterFormat"/>).</summary>
    public double Effective(double value) => Aperture.Rounding.Round(value, HyperParameterFormat, Rounding);

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var m = BufferOf(state, "exp_avg", parameter);
        var v = BufferOf(state, "exp_avg_sq", parameter);
        var h = HyperOf(group, state);
        if (h.StateFormat != StorageFormat.Native)
        {
            if (parameter.DType == DType.Float32) Kernel(Data<float>(parameter), Data<float>(grad), Data<float>(m), Data<float>(v), h);
            else Kernel(Data<double>(parameter), Data<double>(grad), Data<double>(m), Data<double>(v), h);
        }
        else if (parameter.DType == DType.Float32) Split(Data<float>(parameter), Data<float>(grad), Data<float>(m), Data<float>(v), h);
        else Split(Data<double>(parameter), Data<double>(grad), Data<double>(m), Data<double>(v), h);
    }

    /// <summary>Elements per unit of work when the update is split across threads (whole cache lines and pages).</summary>
    private const int SplitBlock = 1024;

    /// <summary>
    /// The vectorized update, split across <see cref="Parallelism.Threads"/> into contiguous ranges of whole blocks
    /// (each thread streams its own part of θ, g, m and v, and no cache line is written by two threads). Below about
    /// 32k elements (about 15 µs of work on one core) it stays on the calling thread: a hand-off costs more than the
    /// half it saves. Every element's arithmetic is the same on every thread, so the bits do not change.
    /// </summary>
    private static unsafe void Split<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, Hyper h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (p.Length + SplitBlock - 1) / SplitBlock;
        if (blocks < 2 || Parallelism.Threads == 1 || (long)p.Length < Parallelism.MinParallelWork)
        {
            Vectorized(p, g, m, v, h);
            return;
        }
        fixed (T* pp = p)
        fixed (T* pg = g)
        fixed (T* pm = m)
        fixed (T* pv = v)
            Parallelism.For(blocks, SplitBlock, new SplitBody<T>(pp, pg, pm, pv, p.Length, h));
    }

    private readonly unsafe struct SplitBody<T>(T* p, T* g, T* m, T* v, int n, Hyper h) : Parallelism.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int b0, int b1)
        {
            int i0 = b0 * SplitBlock, len = Math.Min(n, b1 * SplitBlock) - i0;
            Vectorized(new Span<T>(p + i0, len), new ReadOnlySpan<T>(g + i0, len), new Span<T>(m + i0, len), new Span<T>(v + i0, len), h);
        }
    }

    private Hyper HyperOf(ParamGroup group, ParameterState state)
    {
        double lr = group["lr"], b1 = Effective(group["beta1"]), b2 = Effective(group["beta2"]), eps = Effective(group["eps"]);
        double bc1 = 1 - Math.Pow(b1, state.Step), bc2 = 1 - Math.Pow(b2, state.Step);
        var h = new Hyper
        {
            Beta1 = b1,
            Beta2 = b2,
            Eps = eps,
            WeightDecay = _decoupled ? 0 : group["weight_decay"],
            DecoupledFactor = _decoupled ? 1 - lr * group["weight_decay"] : 1,
            Decoupled = _decoupled && group["weight_decay"] != 0,
            StepSize = Form == AdamForm.Standard ? lr / bc1 : lr * Math.Sqrt(bc2) / bc1,
            CorrectionSqrt = Form == AdamForm.Standard ? Math.Sqrt(bc2) : 1,
            Standard = Form == AdamForm.Standard,
            StateFormat = StateFormat,
            Rounding = Rounding,
        };
        return h;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Lazy Adam, as PyTorch's <c>SparseAdam</c> and TensorFlow's <c>LazyAdam</c>: only the touched rows' moments and
    /// values change, each by this optimizer's own per-element update (weight decay included) with the bias
    /// corrections of the parameter's step count. When every row is touched at every step the result is the dense
    /// update's, bit for bit; otherwise an untouched row keeps its moments instead of decaying them.
    /// </remarks>
    protected override void UpdateRowSparse(ParamGroup group, Tensor parameter, RowSparseGradient grad, ParameterState state)
    {
        var m = BufferOf(state, "exp_avg", parameter);
        var v = BufferOf(state, "exp_avg_sq", parameter);
        var h = HyperOf(group, state);
        int d = grad.RowLength;
        var rows = grad.Indices;
        if (parameter.DType == DType.Float32)
        {
            Span<float> p = Data<float>(parameter), g = grad.Values<float>(), ms = Data<float>(m), vs = Data<float>(v);
            for (int k = 0; k < rows.Length; k++)
            {
                int o = (int)rows[k] * d;
                if (h.StateFormat != StorageFormat.Native) Kernel(p.Slice(o, d), g.Slice(k * d, d), ms.Slice(o, d), vs.Slice(o, d), h);
                else Vectorized(p.Slice(o, d), g.Slice(k * d, d), ms.Slice(o, d), vs.Slice(o, d), h);
            }
        }
        else
        {
            Span<double> p = Data<double>(parameter), g = grad.Values<double>(), ms = Data<double>(m), vs = Data<double>(v);
            for (int k = 0; k < rows.Length; k++)
            {
                int o = (int)rows[k] * d;
                if (h.StateFormat != StorageFormat.Native) Kernel(p.Slice(o, d), g.Slice(k * d, d), ms.Slice(o, d), vs.Slice(o, d), h);
                else Vectorized(p.Slice(o, d), g.Slice(k * d, d), ms.Slice(o, d), vs.Slice(o, d), h);
            }
        }
    }

    private readonly struct Hyper
    {
        public double Beta1 { get; init; }
        public double Beta2 { get; init; }
        public double Eps { get; init; }
        public double WeightDecay { get; init; }
        public double DecoupledFactor { get; init; }
        public bool Decoupled { get; init; }
        public double StepSize { get; init; }
        public double CorrectionSqrt { get; init; }
        public bool Standard { get; init; }
        public StorageFormat StateFormat { get; init; }
        public RoundingMode Rounding { get; init; }
    }

    /// <summary>
    /// The update without state rounding, vectorized. Each element's arithmetic is the scalar kernel's, operation for
    /// operation (IEEE multiply, add, divide and square root, no fused multiply-add), so the bits do not depend on the
    /// vector width or on how <see cref="Split"/> cuts the range.
    /// </summary>
    private static void Vectorized<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, Hyper h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && p.Length >= Vector512<T>.Count)
        {
            // Full-width vectors where the hardware has them: the divisions and square roots, not memory, bound the
            // update once its arrays are in cache.
            var b1 = Vector512.Create(T.CreateTruncating(h.Beta1));
            var b2 = Vector512.Create(T.CreateTruncating(h.Beta2));
            var oneMinusB1 = Vector512.Create(T.CreateTruncating(1 - h.Beta1));
            var oneMinusB2 = Vector512.Create(T.CreateTruncating(1 - h.Beta2));
            var eps = Vector512.Create(T.CreateTruncating(h.Eps));
            var wd = Vector512.Create(T.CreateTruncating(h.WeightDecay));
            var decay = Vector512.Create(T.CreateTruncating(h.DecoupledFactor));
            var stepSize = Vector512.Create(T.CreateTruncating(h.StepSize));
            var corr = Vector512.Create(T.CreateTruncating(h.CorrectionSqrt));
            bool l2 = h.WeightDecay != 0;
            int w = Vector512<T>.Count;
            ref T rp = ref MemoryMarshal.GetReference(p);
            ref T rg = ref MemoryMarshal.GetReference(g);
            ref T rm = ref MemoryMarshal.GetReference(m);
            ref T rv = ref MemoryMarshal.GetReference(v);
            for (; i <= p.Length - w; i += w)
            {
                nuint u = (nuint)i;
                var pi = Vector512.LoadUnsafe(ref rp, u);
                if (h.Decoupled) pi *= decay;
                var gi = Vector512.LoadUnsafe(ref rg, u);
                if (l2) gi += wd * pi;
                var mi = b1 * Vector512.LoadUnsafe(ref rm, u) + oneMinusB1 * gi;
                var vi = b2 * Vector512.LoadUnsafe(ref rv, u) + oneMinusB2 * gi * gi;
                mi.StoreUnsafe(ref rm, u);
                vi.StoreUnsafe(ref rv, u);
                var denom = h.Standard ? Vector512.Sqrt(vi) / corr + eps : Vector512.Sqrt(vi) + eps;
                (pi - stepSize * (mi / denom)).StoreUnsafe(ref rp, u);
            }
        }
        if (System.Numerics.Vector.IsHardwareAccelerated && p.Length - i >= System.Numerics.Vector<T>.Count)
        {
            var b1 = new System.Numerics.Vector<T>(T.CreateTruncating(h.Beta1));
            var b2 = new System.Numerics.Vector<T>(T.CreateTruncating(h.Beta2));
            var oneMinusB1 = new System.Numerics.Vector<T>(T.CreateTruncating(1 - h.Beta1));
            var oneMinusB2 = new System.Numerics.Vector<T>(T.CreateTruncating(1 - h.Beta2));
            var eps = new System.Numerics.Vector<T>(T.CreateTruncating(h.Eps));
            var wd = new System.Numerics.Vector<T>(T.CreateTruncating(h.WeightDecay));
            var decay = new System.Numerics.Vector<T>(T.CreateTruncating(h.DecoupledFactor));
            var stepSize = new System.Numerics.Vector<T>(T.CreateTruncating(h.StepSize));
            var corr = new System.Numerics.Vector<T>(T.CreateTruncating(h.CorrectionSqrt));
            bool l2 = h.WeightDecay != 0;
            int w = System.Numerics.Vector<T>.Count;
            for (; i <= p.Length - w; i += w)
            {
                var pi = new System.Numerics.Vector<T>(p.Slice(i, w));
                if (h.Decoupled) pi *= decay;
                var gi = new System.Numerics.Vector<T>(g.Slice(i, w));
                if (l2) gi += wd * pi;
                var mi = b1 * new System.Numerics.Vector<T>(m.Slice(i, w)) + oneMinusB1 * gi;
                var vi = b2 * new System.Numerics.Vector<T>(v.Slice(i, w)) + oneMinusB2 * gi * gi;
                mi.CopyTo(m.Slice(i, w));
                vi.CopyTo(v.Slice(i, w));
                var denom = h.Standard ? System.Numerics.Vector.SquareRoot(vi) / corr + eps : System.Numerics.Vector.SquareRoot(vi) + eps;
                (pi - stepSize * (mi / denom)).CopyTo(p.Slice(i, w));
            }
        }
        Kernel(p[i..], g[i..], m[i..], v[i..], h);
    }

    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, Hyper h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T b1 = T.CreateTruncating(h.Beta1), b2 = T.CreateTruncating(h.Beta2);
        T oneMinusB1 = T.CreateTruncating(1 - h.Beta1), oneMinusB2 = T.CreateTruncating(1 - h.Beta2);
        T eps = T.CreateTruncating(h.Eps), wd = T.CreateTruncating(h.WeightDecay), decay = T.CreateTruncating(h.DecoupledFactor);
        T stepSize = T.CreateTruncating(h.StepSize), corr = T.CreateTruncating(h.CorrectionSqrt);
        bool l2 = h.WeightDecay != 0, round = h.StateFormat != StorageFormat.Native;
        for (int i = 0; i < p.Length; i++)
        {
            if (h.Decoupled) p[i] *= decay;
            T gi = g[i];
            if (l2) gi += wd * p[i];
            T mi = b1 * m[i] + oneMinusB1 * gi;
            T vi = b2 * v[i] + oneMinusB2 * gi * gi;
            if (round)
            {
                mi = RoundTo(mi, h.StateFormat, h.Rounding);
                vi = RoundTo(vi, h.StateFormat, h.Rounding);
            }
            m[i] = mi;
            v[i] = vi;
            T denom = h.Standard ? T.Sqrt(vi) / corr + eps : T.Sqrt(vi) + eps;
            p[i] -= stepSize * (mi / denom);
        }
    }

    private static T RoundTo<T>(T x, StorageFormat format, RoundingMode mode) where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float)
            ? T.CreateTruncating(Aperture.Rounding.Round(float.CreateTruncating(x), format, mode))
            : T.CreateTruncating(Aperture.Rounding.Round(double.CreateTruncating(x), format, mode));
}

/// <summary>
/// Adam with decoupled weight decay (Loshchilov and Hutter 2019), exactly as <c>torch.optim.AdamW</c>: each step
/// first shrinks θ by θ = θ·(1 − lr·weight_decay), then applies Adam's update without an L2 term. The default
/// weight_decay is 1e-2.
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>AdamW over one group of parameters.</summary>
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2,
        AdamForm form = AdamForm.Standard)
        : this(OneGroup(parameters), lr, beta1, beta2, eps, weightDecay, form) { }

    /// <summary>AdamW over parameter groups; options a group does not set take these values.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2,
        AdamForm form = AdamForm.Standard)
        : base(groups, lr, beta1, beta2, eps, weightDecay, form, decoupled: true) { }
}
