using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture.Optim;

/// <summary>
/// Stochastic gradient descent with optional heavy-ball or Nesterov momentum, exactly as <c>torch.optim.SGD</c>:
/// <code>
/// d = g + weight_decay·θ
/// b = d                                  (first step)
/// b = momentum·b + (1 − dampening)·d     (later steps)
/// d = nesterov ? d + momentum·b : b      (when momentum ≠ 0)
/// θ = θ − lr·d
/// </code>
/// With a constant learning rate and no dampening the momentum form is Polyak's heavy ball,
/// θ_{t+1} = θ_t − lr·∇f(θ_t) + momentum·(θ_t − θ_{t−1}); the Nesterov form is Sutskever et al.'s (2013).
/// Options: <c>lr</c>, <c>momentum</c>, <c>dampening</c>, <c>weight_decay</c>. State: <c>momentum_buffer</c>.
/// </summary>
public sealed class SGD : GradientOptimizer
{
    /// <summary>SGD over one group of parameters.</summary>
    public SGD(IEnumerable<Tensor> parameters, double lr = 1e-3, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this(OneGroup(parameters), lr, momentum, dampening, weightDecay, nesterov) { }

    /// <summary>SGD over parameter groups; options a group does not set take these values.</summary>
    public SGD(IEnumerable<ParamGroup> groups, double lr = 1e-3, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr,
            ["momentum"] = momentum,
            ["dampening"] = dampening,
            ["weight_decay"] = weightDecay,
        })
    {
        Nesterov = nesterov;
        ValidateGroups();
    }

    /// <summary>Whether the update uses Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    /// <remarks>The momentum buffer is not required: PyTorch's SGD starts it from the gradient at the first step that has momentum, and so does this one.</remarks>
    protected override IReadOnlyCollection<string>? StateBufferNames => ["momentum_buffer"];

    /// <inheritdoc/>
    protected override void Validate(ParamGroup group, int index)
    {
        Require(group, index, "lr", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "momentum", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        Require(group, index, "dampening", double.IsFinite, "finite");
        Require(group, index, "weight_decay", v => v >= 0 && double.IsFinite(v), "a finite number ≥ 0");
        if (Nesterov && (group["momentum"] <= 0 || group["dampening"] != 0))
            throw new ArgumentException($"{Name}: Nesterov momentum needs momentum > 0 and dampening = 0 (parameter group {index} has momentum {group["momentum"]}, dampening {group["dampening"]})");
    }

    /// <summary>The options of the group being stepped, read once per group by <see cref="BeginGroup"/>.</summary>
    private (double Lr, double Mu, double Damp, double Wd) _options;

    /// <inheritdoc/>
    private protected override void BeginGroup(ParamGroup group) =>
        _options = (group["lr"], group["momentum"], group["dampening"], group["weight_decay"]);

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state)
    {
        var o = _options;
        Tensor? buffer = null;
        bool first = false;
        if (o.Mu != 0 && !state.Buffers.TryGetValue("momentum_buffer", out buffer))
        {
            first = true;
            buffer = BufferOf(state, "momentum_buffer", parameter);
        }
        var h = new Hyper(o.Lr, o.Mu, o.Damp, o.Wd, Nesterov, first);
        int unit = parameter.Rank >= 2 && parameter.Shape[0] > 0 ? parameter.Numel / parameter.Shape[0] : SplitBlock;
        if (parameter.DType == DType.Float32)
            Split(Data<float>(parameter), Data<float>(grad), buffer is null ? default : Data<float>(buffer), h, unit, grad._writtenOnOneThread);
        else
            Split(Data<double>(parameter), Data<double>(grad), buffer is null ? default : Data<double>(buffer), h, unit, grad._writtenOnOneThread);
    }

    /// <summary>One update's hyper-parameters (First: the momentum buffer starts from this step's gradient).</summary>
    private readonly record struct Hyper(double Lr, double Mu, double Damp, double Wd, bool Nesterov, bool First);

    /// <summary>Elements per unit of work when a 0- or 1-d parameter's update is split across threads.</summary>
    private const int SplitBlock = 1024;

    /// <summary>
    /// How far ahead (bytes) the momentum loop asks for each array's lines; settable so it can be tuned by measurement.
    /// 1 KiB was chosen on a Zen 5 core (below). On a Zen 4 core (<see cref="Microarchitecture.HalvedAvx512"/>), the
    /// distances alternated in one process (windows of 200 updates, 40 each, two runs): 256 bytes took the update of a
    /// 784-256-256-10 MLP (270k parameters) from 50.6–55.7 to 45.0–50.7 µs in median at one thread and 29.1–29.9 to
    /// 27.1–28.0 at two, and a 784-1024-1024-10 one's (1.9M, beyond L2) from 603–679 to 546–574 µs and 228–291 to
    /// 215–255; 128 and 512 bytes within a few percent of 256, 768 and up as slow as 1 KiB.
    /// </summary>
    internal static int PrefetchBytes = Microarchitecture.HalvedAvx512 ? 256 : 1024;

    /// <summary>
    /// The update split across <see cref="Parallelism.Threads"/> (from 32k elements, as Adam's) into contiguous units:
    /// whole rows of a matrix (its first dimension: a layer's output features), so that each core updates the same
    /// rows of the weight, its gradient and its momentum that it computes in the layer's products (Linear cuts its
    /// forward product and its weight gradient by those rows), and the three stay in that core's cache instead of
    /// crossing to the other core every step. The split follows the gradient: one that was written on the calling
    /// thread alone (<paramref name="gradOnOneThread"/>: a weight gradient whose product was not split) is used there,
    /// since splitting its update would have the other core pull half of the gradient, the weight and the momentum
    /// from this one's cache, every step (mlp-b32 at two threads: 83.5k samples/s with its products on one thread and
    /// its updates split, against 126k at one thread; docs/threads.md). Every element's arithmetic is the same on
    /// every thread: same bits.
    /// </summary>
    private static unsafe void Split<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> buf, Hyper h, int unit, bool gradOnOneThread) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int units = (p.Length + unit - 1) / unit;
        if (units < 2 || gradOnOneThread || Parallelism.Threads == 1 || p.Length < Parallelism.MinParallelWork)
        {
            Kernel(p, g, buf, h);
            return;
        }
        fixed (T* pp = p)
        fixed (T* pg = g)
        fixed (T* pb = buf)
            Parallelism.For(units, unit, new SplitBody<T>(pp, pg, buf.IsEmpty ? null : pb, p.Length, unit, h));
    }

    private readonly unsafe struct SplitBody<T>(T* p, T* g, T* buf, int n, int unit, Hyper h) : Parallelism.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int u0, int u1)
        {
            int i0 = u0 * unit, len = (int)Math.Min(n, (long)u1 * unit) - i0;
            Kernel(new Span<T>(p + i0, len), new ReadOnlySpan<T>(g + i0, len), buf is null ? default : new Span<T>(buf + i0, len), h);
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Plain SGD only: θ[r] −= lr·g[r] on the touched rows r, the dense update's arithmetic on those rows, and the dense
    /// update leaves every other row as it is (θ − lr·0 = θ), so the two paths give the same bits. Momentum and weight
    /// decay would move untouched rows too, so a lazy version would be a different algorithm; they are refused.
    /// </remarks>
    protected override void UpdateRowSparse(ParamGroup group, Tensor parameter, RowSparseGradient grad, ParameterState state)
    {
        if (group["momentum"] != 0 || group["weight_decay"] != 0)
            throw new NotSupportedException(
                $"{Name}: a row-sparse gradient (a parameter of shape {Shapes.Format(parameter.Shape)} from an Embedding with sparse: true) needs momentum = 0 and weight_decay = 0, " +
                $"found momentum {group["momentum"]}, weight_decay {group["weight_decay"]}: use Adam for lazy row updates, or a dense Embedding");
        var h = new Hyper(group["lr"], 0, 0, 0, false, false);
        int d = grad.RowLength;
        var rows = grad.Indices;
        if (parameter.DType == DType.Float32)
        {
            Span<float> p = Data<float>(parameter), g = grad.Values<float>();
            for (int k = 0; k < rows.Length; k++) Kernel(p.Slice((int)rows[k] * d, d), g.Slice(k * d, d), default, h);
        }
        else
        {
            Span<double> p = Data<double>(parameter), g = grad.Values<double>();
            for (int k = 0; k < rows.Length; k++) Kernel(p.Slice((int)rows[k] * d, d), g.Slice(k * d, d), default, h);
        }
    }

    /// <summary>Elements before the first 64-byte boundary of <paramref name="p"/> (a hint: the array may move after).</summary>
    private static unsafe int AlignPeel<T>(Span<T> p) where T : unmanaged
    {
        nint addr = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(p));
        return (int)(((64 - (addr & 63)) & 63) / sizeof(T)) % Vector512<T>.Count;
    }

    /// <summary>
    /// The update on 512-bit vectors, over whole registers of the arrays; returns how many elements it did. The common
    /// form (heavy-ball momentum after the first step, no weight decay, no Nesterov) has a loop of its own, with no
    /// test inside it and no bounds checks. Each element's arithmetic is the scalar loop's, operation for operation.
    /// Measured on one Zen 5 core (CPU time, interleaved with the 256-bit loop, minimum of 31 windows): the MLP
    /// 784-256-256-10's step (270k parameters) 60 → 40 µs; a 784-1024-1024-10's (1.9M, beyond the caches) unchanged.
    /// </summary>
    private static unsafe int Wide<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> buf, T lr, T mu, T oneMinusDamp, T wd, bool decay, bool momentum, bool nesterov, bool first)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, n = p.Length - w;
        var vlr = Vector512.Create(lr);
        var vmu = Vector512.Create(mu);
        var vdamp = Vector512.Create(oneMinusDamp);
        var vwd = Vector512.Create(wd);
        ref T rp = ref MemoryMarshal.GetReference(p);
        ref T rg = ref MemoryMarshal.GetReference(g);
        int i = 0;
        if (!momentum)
        {
            for (; i <= n; i += w)
            {
                nuint u = (nuint)i;
                var pi = Vector512.LoadUnsafe(ref rp, u);
                var d = Vector512.LoadUnsafe(ref rg, u);
                if (decay) d += vwd * pi;
                (pi - vlr * d).StoreUnsafe(ref rp, u);
            }
            return i;
        }
        ref T rb = ref MemoryMarshal.GetReference(buf);
        if (!decay && !nesterov && !first && Sse.IsSupported)
        {
            nuint ahead = (nuint)(PrefetchBytes / sizeof(T));
            for (; i <= n; i += w)
            {
                nuint u = (nuint)i;
                // PrefetchBytes ahead in each array: with one access per line the hardware prefetchers fell behind once the
                // arrays outgrew the caches (on a Zen 5 core a 1024 × 1024 weight ran 10–30% slower than the 256-bit loop
                // without it).
                // A hint only: no value depends on it, and the address may be past the end.
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref rb, u + ahead)));
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref rg, u + ahead)));
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref rp, u + ahead)));
                var b = vmu * Vector512.LoadUnsafe(ref rb, u) + vdamp * Vector512.LoadUnsafe(ref rg, u);
                b.StoreUnsafe(ref rb, u);
                (Vector512.LoadUnsafe(ref rp, u) - vlr * b).StoreUnsafe(ref rp, u);
            }
            return i;
        }
        for (; i <= n; i += w)
        {
            nuint u = (nuint)i;
            var pi = Vector512.LoadUnsafe(ref rp, u);
            var d = Vector512.LoadUnsafe(ref rg, u);
            if (decay) d += vwd * pi;
            var b = first ? d : vmu * Vector512.LoadUnsafe(ref rb, u) + vdamp * d;
            b.StoreUnsafe(ref rb, u);
            d = nesterov ? d + vmu * b : b;
            (pi - vlr * d).StoreUnsafe(ref rp, u);
        }
        return i;
    }

    /// <summary>
    /// The update, vectorized: each element's arithmetic is the scalar loop's, operation for operation (IEEE multiply
    /// and add, no fused multiply-add), so the bits do not depend on the vector width.
    /// </summary>
    private static void Kernel<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> buf, Hyper h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T lr = T.CreateTruncating(h.Lr), mu = T.CreateTruncating(h.Mu), oneMinusDamp = T.CreateTruncating(1 - h.Damp), wd = T.CreateTruncating(h.Wd);
        bool decay = h.Wd != 0, momentum = h.Mu != 0;
        int i = 0, w = System.Numerics.Vector<T>.Count;
        if (KernelPaths.Active == KernelPath.Avx512 && p.Length >= 4 * Vector512<T>.Count)
        {
            // Start the vectors at a 64-byte boundary of the parameter, so its loads and stores do not split lines.
            int head = AlignPeel(p);
            if (head > 0) Kernel(p[..head], g[..head], buf.IsEmpty ? buf : buf[..head], h);
            int done = head + Wide(p[head..], g[head..], buf.IsEmpty ? buf : buf[head..], lr, mu, oneMinusDamp, wd, decay, momentum, h.Nesterov, h.First);
            p = p[done..];
            g = g[done..];
            if (!buf.IsEmpty) buf = buf[done..];
        }
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            System.Numerics.Vector<T> vlr = new(lr), vmu = new(mu), vdamp = new(oneMinusDamp), vwd = new(wd);
            for (; i <= p.Length - w; i += w)
            {
                var pi = new System.Numerics.Vector<T>(p.Slice(i, w));
                var d = new System.Numerics.Vector<T>(g.Slice(i, w));
                if (decay) d += vwd * pi;
                if (momentum)
                {
                    var b = h.First ? d : vmu * new System.Numerics.Vector<T>(buf.Slice(i, w)) + vdamp * d;
                    b.CopyTo(buf.Slice(i, w));
                    d = h.Nesterov ? d + vmu * b : b;
                }
                (pi - vlr * d).CopyTo(p.Slice(i, w));
            }
        }
        for (; i < p.Length; i++)
        {
            T d = g[i];
            if (decay) d += wd * p[i];
            if (momentum)
            {
                T b = h.First ? d : mu * buf[i] + oneMinusDamp * d;
                buf[i] = b;
                d = h.Nesterov ? d + mu * b : b;
            }
            p[i] -= lr * d;
        }
    }
}
