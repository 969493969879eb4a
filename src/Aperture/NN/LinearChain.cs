using System.Runtime.CompilerServices;

namespace Aperture.NN;

/// <summary>
/// A run of a <see cref="Sequential"/>'s Linear layers, each optionally followed by a ReLU, computed at batch 1
/// without autodiff in one parallel region over the layers' transposed copies (<see cref="TransposedWeight"/>): the
/// same bits as the modules run one by one, at any thread count.
/// </summary>
/// <remarks>
/// At batch 1 a layer's product reads its whole weight to make few outputs, so what bounds a forward pass is where
/// the weights are read from. Each layer's outputs are cut into parts of whole 16-output vectors, part p always to
/// participant p (the calling thread is participant 0, pool worker p − 1 participant p); from pass to pass each core
/// thus reads the same columns of every copy, so its share of all the copies stays in its own L2 (the 784-256-256-10
/// MLP's three copies, 1.08 MB, overflow one Zen 5 core's 1 MB L2; half of them, 0.54 MB, fits). The layers
/// follow one another inside the one region: after its part of a layer a participant publishes its progress and
/// waits, spinning, until every part of that layer is written (the next layer reads all of its outputs), instead
/// of a loop of the pool per layer with its wake-up and hand-back. Each output is still one fused multiply-add chain
/// over its inputs in order, with the bias and the ReLU applied to the finished chain in the store, whichever thread
/// computes it.
/// <para>
/// A participant whose worker has not started when participant 0 needs its part of a layer (a busy or descheduled
/// worker, or the pool taken by another loop, when the region runs on its caller alone) is taken over whole by
/// participant 0, which then runs that participant's parts of the remaining layers itself; only participant 0 takes
/// over, and it only ever waits on participants that have started, so no wait can go unanswered.
/// </para>
/// </remarks>
internal sealed unsafe class LinearChain
{
    /// <summary>
    /// Output vectors each part of a layer has at least: below about four vectors per thread a part's time is the
    /// latency of its k-long chains rather than the reading of its weight, so a smaller cut saves nothing.
    /// </summary>
    private const int MinPartVectors = 4;

    /// <summary>The most participants a region has (more threads than this are not used for one pass).</summary>
    private const int MaxParticipants = 64;

    /// <summary>Longs between two participants' synchronization words: 128 bytes, so no two share a cache line (or the adjacent-line prefetch's pair).</summary>
    private const int SyncStride = 16;

    /// <summary>
    /// Multiply-adds (Σ n·k over the layers) from which a pass is split across threads: the region and one wait per
    /// layer cost a fraction of a microsecond, which a 256 × 256 layer on one thread (about 1.5 µs) repays.
    /// </summary>
    internal static long ParallelMinWork = 1 << 16;

    /// <summary>Passes this thread has run as chains (for tests that check the path is taken).</summary>
    [ThreadStatic] internal static long Regions;

    /// <summary>Participants taken over by participant 0 in any pass (for tests of that path).</summary>
    internal static long TakeOvers;

    /// <summary>Whether <see cref="Sequential"/> runs its batch-1 runs as chains (off: layer by layer, for the profile's comparison).</summary>
    internal static bool Enabled = true;

    private readonly Module[] _modules;
    private readonly Linear[] _linears;
    private readonly bool[] _relu;
    private readonly TransposedWeight?[] _copies;
    private readonly Tensor?[] _weights, _biases;
    private readonly Layer[] _layers;

    // Pinned: each layer but the last writes its outputs here, at a 64-byte aligned start, so no two parts share a line.
    private readonly float[] _scratch;
    private readonly int[] _scratchStart;

    // Per participant p, at p·SyncStride: [0] the pass it joined (+generation) or was taken over in (−generation);
    // [1] its progress, (generation << 16) + layers done.
    private long[] _sync = new long[2 * SyncStride];
    private long _generation;
    private int _busy;

    // When participant 0 may take over a participant that has not joined this pass (Stopwatch ticks).
    private long _joinBy;

    /// <summary>One layer as a pass sees it (refreshed at each pass: the copies are rebuilt when the weights change).</summary>
    private struct Layer
    {
        public float[] Copy;
        public int CopyStart;
        public float[]? Bias;
        public int BiasOffset;
        public int N, K, Vectors, Parts;
        public bool Relu;
    }

    private LinearChain(Module[] modules)
    {
        _modules = modules;
        var linears = new List<Linear>();
        var relu = new List<bool>();
        for (int i = 0; i < modules.Length; i++)
        {
            linears.Add((Linear)modules[i]);
            bool r = i + 1 < modules.Length && modules[i + 1] is ReLU;
            relu.Add(r);
            if (r) i++;
        }
        _linears = [.. linears];
        _relu = [.. relu];
        _copies = new TransposedWeight?[_linears.Length];
        _weights = new Tensor?[_linears.Length];
        _biases = new Tensor?[_linears.Length];
        _layers = new Layer[_linears.Length];
        _scratchStart = new int[_linears.Length];
        int total = 0;
        for (int l = 0; l + 1 < _linears.Length; l++)
        {
            _scratchStart[l] = total;
            total += GemvTransposed.Vectors(_linears[l].OutFeatures) * 16;
        }
        _scratch = GC.AllocateUninitializedArray<float>(total + 16, pinned: true);
        fixed (float* s = _scratch)
        {
            int shift = (int)((64 - ((nint)s & 63)) & 63) / sizeof(float);
            for (int l = 0; l + 1 < _linears.Length; l++) _scratchStart[l] += shift;
        }
    }

    /// <summary>The number of modules the run covers.</summary>
    public int Count => _modules.Length;

    /// <summary>
    /// The length of the run of modules at <paramref name="start"/>: hook-free Linear layers whose sizes chain,
    /// each optionally followed by a hook-free ReLU; 0 when <paramref name="layers"/>[start] does not begin one.
    /// </summary>
    internal static int RunLength(List<Module> layers, int start)
    {
        int j = start, previous = -1;
        while (j < layers.Count && layers[j] is Linear l && l.NoHooks && (previous < 0 || l.InFeatures == previous))
        {
            previous = l.OutFeatures;
            j++;
            if (j < layers.Count && layers[j] is ReLU r && r.NoHooks) j++;
        }
        return j - start;
    }

    /// <summary>Whether this chain is the run of <paramref name="length"/> modules at <paramref name="start"/>.</summary>
    private bool Is(List<Module> layers, int start, int length)
    {
        if (length != _modules.Length) return false;
        for (int i = 0; i < length; i++)
            if (!ReferenceEquals(layers[start + i], _modules[i])) return false;
        return true;
    }

    /// <summary>
    /// Runs the modules of <paramref name="layers"/> from <paramref name="start"/> on <paramref name="x"/> as one
    /// chain when they form a run (<see cref="RunLength"/>) and the input is one float32 row that needs no graph
    /// node; the chain is kept in <paramref name="chains"/>[start] from call to call. Returns false, having done
    /// nothing, otherwise; on true, <paramref name="covered"/> modules were run.
    /// </summary>
    internal static bool TryForward(List<Module> layers, ref LinearChain?[]? chains, int start, Tensor x, out Tensor? y, out int covered)
    {
        y = null;
        covered = 0;
        var first = (Linear)layers[start];
        if (!Enabled) return false;
        // Batch 1 only, tested first: a batched or training pass pays these few tests and nothing more.
        if (x.Rank == 0 || x.Numel != first.InFeatures || x.Shape[^1] != first.InFeatures || x.DType != DType.Float32) return false;
        // Under autodiff a parameter needs its node: out before any other lookup, so training passes pay one test.
        if (!GemvTransposed.Supported || Graph.NeedsNode(x) || (GradMode.Enabled && first.Weight.RequiresGrad)) return false;
        var policy = NumericsPolicy.Current;
        if (policy.Order != ReductionOrder.Default || policy.Accumulation != AccumulationPrecision.Native) return false;
        int length = RunLength(layers, start);
        if (length == 0) return false;
        if (chains is null || chains.Length != layers.Count) chains = new LinearChain?[layers.Count];
        var chain = chains[start];
        if (chain is null || !chain.Is(layers, start, length)) chain = chains[start] = new LinearChain([.. layers.GetRange(start, length)]);
        if (!chain.Forward(x, out y)) return false;
        covered = length;
        return true;
    }

    /// <summary>The pass; false (nothing done) when a layer's weight or bias is not one the transposed path takes.</summary>
    private bool Forward(Tensor x, out Tensor? y)
    {
        y = null;
        int count = _linears.Length;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            // This chain is running on another thread (its scratch and its per-pass state are taken): the layers
            // one by one.
            for (int l = 0; l < count; l++)
                if (!Takes(_linears[l].Weight, _linears[l].Bias)) return false;
            y = OneByOne(x, kept: false);
            return true;
        }
        try
        {
            // The parameters are looked up once a pass (each lookup is a dictionary's).
            for (int l = 0; l < count; l++)
            {
                var linear = _linears[l];
                if (!Takes(_weights[l] = linear.Weight, _biases[l] = linear.Bias)) return false;
            }
            // Every layer's copy is asked for before any is used, so all are built on the same (second) pass.
            bool all = true;
            for (int l = 0; l < count; l++) all &= (_copies[l] = _linears[l].TransposedCopy(_weights[l]!)) is not null;
            // A layer without its copy yet (the first pass at a version of its weight): the layers one by one.
            y = all ? Region(x) : OneByOne(x, kept: true);
        }
        finally
        {
            // The pass's references to the parameters, copies and biases are dropped, so nothing replaced is kept
            // alive here.
            Array.Clear(_copies);
            Array.Clear(_weights);
            Array.Clear(_biases);
            for (int l = 0; l < _layers.Length; l++) (_layers[l].Copy, _layers[l].Bias) = (null!, null);
            Volatile.Write(ref _busy, 0);
        }
        return true;
    }

    /// <summary>Whether a layer's weight and bias are ones the transposed path takes (float32, contiguous, no graph node).</summary>
    private static bool Takes(Tensor w, Tensor? b) =>
        w.DType == DType.Float32 && w.IsContiguous && !Graph.NeedsNode(w)
        && (b is null || (b.DType == DType.Float32 && b.IsContiguous && !Graph.NeedsNode(b)));

    /// <summary>
    /// The layers one at a time (the same bits): over a layer's copy where it has one, else <see cref="Ops.Linear"/>;
    /// the copies are those this pass asked for (<paramref name="kept"/>, with the chain held) or asked for now.
    /// </summary>
    private Tensor OneByOne(Tensor x, bool kept)
    {
        for (int l = 0; l < _linears.Length; l++)
        {
            var linear = _linears[l];
            var (w, b) = kept ? (_weights[l]!, _biases[l]) : (linear.Weight, linear.Bias);
            if ((kept ? _copies[l] : linear.TransposedCopy(w)) is { } copy) x = Ops.LinearTransposed(x, copy, w, b, _relu[l]);
            else
            {
                x = Ops.Linear(x, w, b);
                if (_relu[l]) x = Ops.Relu(x);
            }
        }
        return x;
    }

    private Tensor Region(Tensor x)
    {
        int count = _linears.Length;
        long work = 0;
        int threads = Math.Min(Parallelism.Threads, MaxParticipants);
        for (int l = 0; l < count; l++)
        {
            var linear = _linears[l];
            var b = _biases[l];
            ref var layer = ref _layers[l];
            (layer.Copy, layer.CopyStart) = _copies[l]!.Transposed();
            layer.Bias = b?.Buffer<float>();
            layer.BiasOffset = b?._offset ?? 0;
            layer.N = linear.OutFeatures;
            layer.K = linear.InFeatures;
            layer.Vectors = GemvTransposed.Vectors(layer.N);
            layer.Relu = _relu[l];
            work += (long)layer.N * layer.K;
        }
        if (work < ParallelMinWork) threads = 1;
        int participants = 1;
        for (int l = 0; l < count; l++)
        {
            ref var layer = ref _layers[l];
            layer.Parts = Math.Clamp(layer.Vectors / MinPartVectors, 1, threads);
            participants = Math.Max(participants, layer.Parts);
        }
        if (_sync.Length < participants * SyncStride + SyncStride) _sync = new long[participants * SyncStride + SyncStride];

        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = _layers[count - 1].N;
        var output = Tensor.Empty(shape, DType.Float32);
        Regions++;
        long generation = ++_generation;
        _joinBy = participants == 1 ? 0 : System.Diagnostics.Stopwatch.GetTimestamp() + s_joinGraceTicks;
        var body = new Pass(this, x.Buffer<float>(), x._offset, x.Strides[^1], output.Buffer<float>(), output._offset, generation);
        if (participants == 1) body.Run(0, 1);
        else Parallelism.For(participants, work, body);
        return Graph.Record(null, output);
    }

    /// <summary>One pass's participants, as a loop body of the pool: item p is participant p.</summary>
    private readonly struct Pass(LinearChain chain, float[] x, int xOffset, nint incX, float[] y, int yOffset, long generation)
        : Parallelism.IRangeBody
    {
        public void Run(int start, int end)
        {
            // Several participants in one call: the pool was taken, so this loop runs on its caller alone and no
            // worker will come; participant 0 takes the others over at once.
            if (end - start > 1) chain._joinBy = 0;
            for (int p = start; p < end; p++) chain.Participate(p, x, xOffset, incX, y, yOffset, generation);
        }
    }

    /// <summary>Participant <paramref name="p"/>'s share of a pass: its part of each layer, then the wait for the others'.</summary>
    private void Participate(int p, float[] xArray, int xOffset, nint incX, float[] yArray, int yOffset, long generation)
    {
        var sync = _sync;
        var layers = _layers;
        // Participant 0 is the caller and is always present; another one runs only if participant 0 has not taken it over.
        if (p > 0 && !Claim(sync, p, generation)) return;
        ulong taken = 0;   // participant 0: the participants it has taken over
        fixed (float* xs = xArray, ys = yArray, scratch = _scratch)
        {
            for (int l = 0; l < layers.Length; l++)
            {
                ref var layer = ref layers[l];
                float* input = l == 0 ? xs + xOffset : scratch + _scratchStart[l - 1];
                nint inc = l == 0 ? incX : 1;
                float* output = l == layers.Length - 1 ? ys + yOffset : scratch + _scratchStart[l];
                long done = (generation << 16) + l + 1;
                if (p < layer.Parts) RunPart(ref layer, p, input, inc, output);
                for (ulong t = taken; t != 0; t &= t - 1)
                {
                    int q = System.Numerics.BitOperations.TrailingZeroCount(t);
                    if (q < layer.Parts) RunPart(ref layer, q, input, inc, output);
                    Volatile.Write(ref sync[q * SyncStride + SyncStride + 1], done);
                }
                Volatile.Write(ref sync[p * SyncStride + SyncStride + 1], done);
                // The last layer's outputs are read by no one here: only participant 0, which returns them, waits.
                if (p > 0 && l == layers.Length - 1) break;
                for (int q = 0; q < layer.Parts; q++)
                {
                    if (q == p || (taken & (1UL << q)) != 0) continue;
                    if (Wait(sync, p, q, done, generation, _joinBy))
                    {
                        taken |= 1UL << q;
                        RunPart(ref layer, q, input, inc, output);
                        Volatile.Write(ref sync[q * SyncStride + SyncStride + 1], done);
                    }
                }
            }
        }
    }

    /// <summary>
    /// How long after a pass starts participant 0 waits for another one to join before it takes that one's work over:
    /// longer than a spinning worker takes to notice a new loop (it polls about every 0.75 µs), short against a
    /// worker's wake-up from sleep.
    /// </summary>
    private static readonly long s_joinGraceTicks = Math.Max(1, System.Diagnostics.Stopwatch.Frequency / 250_000); // 4 µs

    /// <summary>
    /// Waits until participant <paramref name="q"/> has done layer <c>done</c>; true instead when <paramref name="p"/>
    /// is participant 0 and has just taken <paramref name="q"/> over (it had not joined by <paramref name="joinBy"/>),
    /// so the caller must run q's part itself.
    /// </summary>
    private static bool Wait(long[] sync, int p, int q, long done, long generation, long joinBy)
    {
        ref long progress = ref sync[q * SyncStride + SyncStride + 1];
        if (Volatile.Read(ref progress) >= done) return false;
        // Polled at the shortest pause first: the other core is usually a fraction of a microsecond behind, and the
        // growing pauses of SpinWait would overshoot its arrival by as much again.
        var spin = new SpinWait();
        for (int polls = 0; Volatile.Read(ref progress) < done; polls++)
        {
            if (p == 0 && Volatile.Read(ref sync[q * SyncStride + SyncStride]) != generation
                && System.Diagnostics.Stopwatch.GetTimestamp() >= joinBy && TakeOver(sync, q, generation)) return true;
            if (polls < 1024) Thread.SpinWait(1);
            else spin.SpinOnce(sleep1Threshold: -1);
        }
        return false;
    }

    /// <summary>Participant <paramref name="p"/> joins this pass; false when participant 0 has taken it over.</summary>
    private static bool Claim(long[] sync, int p, long generation)
    {
        ref long slot = ref sync[p * SyncStride + SyncStride];
        long old = Volatile.Read(ref slot);
        return old != -generation && (old == generation || Interlocked.CompareExchange(ref slot, generation, old) == old);
    }

    /// <summary>Participant 0 takes over participant <paramref name="q"/> if it has not joined this pass.</summary>
    private static bool TakeOver(long[] sync, int q, long generation)
    {
        ref long slot = ref sync[q * SyncStride + SyncStride];
        long old = Volatile.Read(ref slot);
        if (old == generation || old == -generation || Interlocked.CompareExchange(ref slot, -generation, old) != old) return false;
        Interlocked.Increment(ref TakeOvers);
        return true;
    }

    /// <summary>Part <paramref name="part"/> of <paramref name="layer"/>: its output vectors, ⌈·⌉-cut so earlier parts take the extra ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunPart(ref Layer layer, int part, float* input, nint inc, float* output)
    {
        int v0 = (int)(((long)layer.Vectors * part + layer.Parts - 1) / layer.Parts);
        int v1 = (int)(((long)layer.Vectors * (part + 1) + layer.Parts - 1) / layer.Parts);
        if (v0 >= v1) return;
        fixed (float* w = layer.Copy, b = layer.Bias)
            GemvTransposed.Range(input, inc, w + layer.CopyStart, b == null ? null : b + layer.BiasOffset, output, layer.N, layer.K, v0, v1, layer.Relu);
    }
}
