using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

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
/// follow one another inside the one region, instead of a loop of the pool per layer with its wake-up and hand-back:
/// after its part of a layer a participant publishes its progress, and it runs its part of the next layer over the
/// previous layer's parts in order, waiting, spinning, for each one only when it reaches it (see
/// <see cref="Participate"/>). Each output is still one fused multiply-add chain over its inputs in order, with the
/// bias and the ReLU applied to the finished chain in the store, whichever thread computes it.
/// <para>
/// What bounds a pass at two threads beyond the weight traffic is the exchanges between the cores (the bench's
/// <c>--small</c> lists the pass, the calling thread's share alone and a round trip through the pool). Tried on the
/// 2-core Zen 5 machine and not kept (each alternated with the kept code in windows of 5,000 passes in one process):
/// giving participant 0, which starts first, one more output vector of the first layer (about 30% slower: its share
/// then reads a strided column of the other's panel); the worker prefetching the last loop's job while it spins, so
/// that a new post's job would already be on its way (no change, or a few percent slower); a pass that returns
/// without waiting for the worker to hand its chunk back, the next loop of the pool waiting for it instead (no
/// change to 5% slower).
/// </para>
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

    /// <summary>Longs between two synchronization words: 128 bytes, so no two share a cache line (or the adjacent-line prefetch's pair).</summary>
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

    // Pinned: each layer but the last writes its outputs here, and the last its partial sums, each at a 64-byte
    // aligned start, so no two parts share a line.
    private readonly float[] _scratch;
    private readonly int[] _scratchStart;

    // Per participant p, each word on lines of its own: at JoinAt(p) the pass it joined (+generation) or was taken
    // over in (−generation); at ProgressAt(p) its progress, (generation << 16) + layers done. The others poll the
    // progress word while they wait; apart from it, the join word stays in its participant's cache from pass to
    // pass, so joining (a locked write) does not first have to fetch its line from the core that polled it.
    private long[] _sync = new long[SyncLength(1)];
    private readonly PassState _state = new();

    /// <summary>
    /// What the caller writes at each pass, on lines of its own: the participants read the chain's other fields at
    /// every pass, and a write beside them would move those lines from core to core before any work could start.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private sealed class PassState
    {
        [FieldOffset(128)] public long Generation;
        [FieldOffset(136)] public int Busy;
    }

    /// <summary>One layer as a pass sees it (refreshed at each pass: the copies are rebuilt when the weights change).</summary>
    private struct Layer
    {
        public float[] Copy;
        public int CopyStart;
        public float[]? Bias;
        public int BiasOffset;
        public int N, K, Vectors, Parts;
        public bool Relu;

        /// <summary>Whether <paramref name="other"/> describes the same layer (its parts aside).</summary>
        public readonly bool Same(in Layer other) =>
            ReferenceEquals(Copy, other.Copy) && CopyStart == other.CopyStart && ReferenceEquals(Bias, other.Bias)
            && BiasOffset == other.BiasOffset && N == other.N && K == other.K && Vectors == other.Vectors && Relu == other.Relu;
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
        // The last layer's area holds only its partial sums (its outputs go to the pass's output tensor).
        for (int l = 0; l < _linears.Length; l++)
        {
            _scratchStart[l] = total;
            total += GemvTransposed.Vectors(_linears[l].OutFeatures) * 16;
        }
        _scratch = GC.AllocateUninitializedArray<float>(total + 16, pinned: true);
        fixed (float* s = _scratch)
        {
            int shift = (int)((64 - ((nint)s & 63)) & 63) / sizeof(float);
            for (int l = 0; l < _linears.Length; l++) _scratchStart[l] += shift;
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
        if (Interlocked.CompareExchange(ref _state.Busy, 1, 0) != 0)
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
            // The pass's references to the parameters are dropped, so no replaced tensor is kept alive here. The
            // layers' arrays (a copy and a bias's storage) stay until they change: rewriting them at every pass would
            // move their lines to the caller's core, and the worker reads them first thing in the next pass.
            Array.Clear(_copies);
            Array.Clear(_weights);
            Array.Clear(_biases);
            Volatile.Write(ref _state.Busy, 0);
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
            var (copy, copyStart) = _copies[l]!.Transposed();
            var layer = new Layer
            {
                Copy = copy, CopyStart = copyStart, Bias = b?.Buffer<float>(), BiasOffset = b?._offset ?? 0,
                N = linear.OutFeatures, K = linear.InFeatures, Vectors = GemvTransposed.Vectors(linear.OutFeatures),
                Relu = _relu[l], Parts = _layers[l].Parts,
            };
            // Written only when changed: the other participant reads these lines at every pass.
            if (!layer.Same(in _layers[l])) _layers[l] = layer;
            work += (long)layer.N * layer.K;
        }
        if (work < ParallelMinWork) threads = 1;
        int participants = 1;
        for (int l = 0; l < count; l++)
        {
            ref var layer = ref _layers[l];
            int parts = Math.Clamp(layer.Vectors / MinPartVectors, 1, threads);
            if (layer.Parts != parts) layer.Parts = parts;
            participants = Math.Max(participants, parts);
        }
        if (_sync.Length < SyncLength(participants)) _sync = new long[SyncLength(participants)];

        Span<int> shape = stackalloc int[x.Rank];
        x.Shape.CopyTo(shape);
        shape[^1] = _layers[count - 1].N;
        var output = Tensor.Empty(shape, DType.Float32);
        Regions++;
        long generation = ++_state.Generation;
        long joinBy = participants == 1 ? 0 : System.Diagnostics.Stopwatch.GetTimestamp() + s_joinGraceTicks;
        var body = new Pass(this, x.Buffer<float>(), x._offset, x.Strides[^1], output.Buffer<float>(), output._offset, generation, joinBy);
        if (participants == 1) body.Run(0, 1);
        else Parallelism.For(participants, work, body);
        return Graph.Record(null, output);
    }

    /// <summary>One pass's participants, as a loop body of the pool: item p is participant p.</summary>
    private readonly struct Pass(LinearChain chain, float[] x, int xOffset, nint incX, float[] y, int yOffset, long generation, long joinBy)
        : Parallelism.IRangeBody
    {
        // Several participants in one call: the pool was taken, so this loop runs on its caller alone and no worker
        // will come; participant 0 takes the others over at once.
        public void Run(int start, int end)
        {
            for (int p = start; p < end; p++) chain.Participate(p, x, xOffset, incX, y, yOffset, generation, end - start > 1 ? 0 : joinBy);
        }
    }

    /// <summary>
    /// Participant <paramref name="p"/>'s share of a pass: its part of each layer, each run over the previous
    /// layer's parts in order as they are written, and participant 0's wait for the last layer's other parts.
    /// </summary>
    /// <remarks>
    /// A layer's chains run over its input k-ordered, and the input is the previous layer's parts in order; so a
    /// participant runs its chains over each part as soon as that part is written, and keeps the partial sums in its
    /// output until the next part (a float32 stored and reloaded is the same float32, so the bits are those of one
    /// unbroken chain). Participant 0's own part comes first in its input, so while the others finish their parts
    /// of the previous layer it is already working, where it would otherwise wait.
    /// </remarks>
    private void Participate(int p, float[] xArray, int xOffset, nint incX, float[] yArray, int yOffset, long generation, long joinBy)
    {
        var sync = _sync;
        var layers = _layers;
        // Participant 0 is the caller and is always present; another one runs only if participant 0 has not taken it over.
        if (p > 0 && !Claim(sync, p, generation)) return;
        ulong taken = 0;   // participant 0: the participants it has taken over
        int last = layers.Length - 1;
        // Every other pass takes each part's panels last first (see RunPart).
        bool backward = (generation & 1) != 0;
        fixed (float* xs = xArray, ys = yArray, scratch = _scratch)
        {
            for (int l = 0; l <= last; l++)
            {
                ref var layer = ref layers[l];
                float* input = l == 0 ? xs + xOffset : scratch + _scratchStart[l - 1];
                nint inc = l == 0 ? incX : 1;
                float* output = l == last ? ys + yOffset : scratch + _scratchStart[l];
                long done = (generation << 16) + l + 1;
                if (l == 0)
                {
                    if (p < layer.Parts) RunPart(ref layer, p, input, inc, output, 0, layer.K, null, backward);
                }
                else if (p < layer.Parts)
                {
                    ref var previous = ref layers[l - 1];
                    for (int s = 0; s < previous.Parts; s++)
                    {
                        Part(ref previous, s, out int u0, out int u1);
                        if (u0 >= u1) continue;
                        if (s != p && (taken & (1UL << s)) == 0 && Wait(sync, p, s, done - 1, generation, joinBy))
                        {
                            // Participant s had not joined: participant 0 runs its part of the previous layer now (all
                            // of that layer's input is written: its own part of it read all of it) and its parts
                            // of every layer from here on.
                            taken |= 1UL << s;
                            float* previousInput = l == 1 ? xs + xOffset : scratch + _scratchStart[l - 2];
                            RunPart(ref previous, s, previousInput, l == 1 ? incX : 1, input, 0, previous.K, null, backward);
                            Volatile.Write(ref sync[ProgressAt(s)], done - 1);
                        }
                        int q0 = u0 * 16, q1 = Math.Min(u1 * 16, previous.N);
                        // The part was just written on another core: its lines are asked for at once, not one
                        // miss at a time as the chains reach them.
                        for (int q = q0; q < q1; q += 16) Sse.Prefetch0(input + q);
                        RunPart(ref layer, p, input, 1, output, q0, q1, scratch + _scratchStart[l], backward);
                    }
                }
                // The taken-over participants' parts: this layer's whole input is written (the own part read all of it).
                for (ulong t = taken; t != 0; t &= t - 1)
                {
                    int q = System.Numerics.BitOperations.TrailingZeroCount(t);
                    if (q < layer.Parts) RunPart(ref layer, q, input, inc, output, 0, layer.K, null, backward);
                    Volatile.Write(ref sync[ProgressAt(q)], done);
                }
                Volatile.Write(ref sync[ProgressAt(p)], done);
            }
            if (p > 0) return;
            // Participant 0 returns the output: it waits for the last layer's other parts (the earlier layers' parts
            // were all waited for as inputs).
            ref var final = ref layers[last];
            long finished = (generation << 16) + last + 1;
            float* finalInput = last == 0 ? xs + xOffset : scratch + _scratchStart[last - 1];
            for (int q = 1; q < final.Parts; q++)
                if ((taken & (1UL << q)) == 0 && Wait(sync, 0, q, finished, generation, joinBy))
                {
                    taken |= 1UL << q;
                    RunPart(ref final, q, finalInput, last == 0 ? incX : 1, ys + yOffset, 0, final.K, null, backward);
                    Volatile.Write(ref sync[ProgressAt(q)], finished);
                }
        }
    }

    /// <summary>
    /// How long after a pass starts participant 0 waits for another one to join before it takes that one's work over:
    /// longer than a spinning worker takes to notice a new loop and join (a microsecond or less), short against a
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
        ref long progress = ref sync[ProgressAt(q)];
        if (Volatile.Read(ref progress) >= done) return false;
        // Polled at the shortest pause first: the other core is usually a fraction of a microsecond behind, and the
        // growing pauses of SpinWait would overshoot its arrival by as much again.
        var spin = new SpinWait();
        for (int polls = 0; Volatile.Read(ref progress) < done; polls++)
        {
            // Participant 0 looks at q's join word only once the grace has passed (the clock read every 16 polls),
            // so the word's line stays with q.
            if (p == 0 && (polls & 15) == 15 && System.Diagnostics.Stopwatch.GetTimestamp() >= joinBy
                && Volatile.Read(ref sync[JoinAt(q)]) != generation && TakeOver(sync, q, generation)) return true;
            if (polls < 1024) Thread.SpinWait(1);
            else spin.SpinOnce(sleep1Threshold: -1);
        }
        return false;
    }

    /// <summary>The index of participant <paramref name="p"/>'s join word in the synchronization array.</summary>
    private static int JoinAt(int p) => (2 * p + 1) * SyncStride;

    /// <summary>The index of participant <paramref name="p"/>'s progress word in the synchronization array.</summary>
    private static int ProgressAt(int p) => (2 * p + 2) * SyncStride;

    /// <summary>The synchronization array's length for <paramref name="participants"/> participants (a stride of padding at each end).</summary>
    private static int SyncLength(int participants) => (2 * participants + 2) * SyncStride;

    /// <summary>Participant <paramref name="p"/> joins this pass; false when participant 0 has taken it over.</summary>
    private static bool Claim(long[] sync, int p, long generation)
    {
        ref long slot = ref sync[JoinAt(p)];
        long old = Volatile.Read(ref slot);
        return old != -generation && (old == generation || Interlocked.CompareExchange(ref slot, generation, old) == old);
    }

    /// <summary>Participant 0 takes over participant <paramref name="q"/> if it has not joined this pass.</summary>
    private static bool TakeOver(long[] sync, int q, long generation)
    {
        ref long slot = ref sync[JoinAt(q)];
        long old = Volatile.Read(ref slot);
        if (old == generation || old == -generation || Interlocked.CompareExchange(ref slot, -generation, old) != old) return false;
        Interlocked.Increment(ref TakeOvers);
        return true;
    }

    /// <summary>The output vectors [v0, v1) of part <paramref name="part"/> of <paramref name="layer"/>, ⌈·⌉-cut so earlier parts take the extra ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Part(ref Layer layer, int part, out int v0, out int v1)
    {
        v0 = (int)(((long)layer.Vectors * part + layer.Parts - 1) / layer.Parts);
        v1 = (int)(((long)layer.Vectors * (part + 1) + layer.Parts - 1) / layer.Parts);
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="layer"/>, its chains over inputs [q0, q1): from zero when q0 is
    /// 0 and from the partial sums in <paramref name="partial"/> otherwise, finished (bias, ReLU) in
    /// <paramref name="output"/> when q1 is the layer's input size and left as partial sums otherwise. With
    /// <paramref name="backward"/> the part's panels of the copy are read last first.
    /// </summary>
    /// <remarks>
    /// The copies a participant reads from pass to pass can exceed its L2 (on one thread, the 784-256-256-10 MLP's
    /// 1.08 MB against a Zen 4 or Zen 5 core's 1 MB). Read in the same order at every pass, each line has been pushed
    /// out, in an LRU-like cache, by the time it is wanted again; read in the opposite order every other pass, the
    /// panels read last are read first, while still there. Each output is one chain either way. On the 2-core Zen 4
    /// machine, one thread, alternated with the fixed order in windows of 10,000 passes (30 each, two runs), the
    /// MLP's batch-1 pass went from a median of 12.8 and 13.2 µs to 12.1 and 12.3.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunPart(ref Layer layer, int part, float* input, nint inc, float* output, int q0, int q1, float* partial, bool backward)
    {
        Part(ref layer, part, out int v0, out int v1);
        if (v0 >= v1) return;
        fixed (float* w = layer.Copy, b = layer.Bias)
            GemvTransposed.Range(input, inc, w + layer.CopyStart, b == null ? null : b + layer.BiasOffset, output, layer.N, layer.K, v0, v1, layer.Relu, q0, q1, partial, backward);
    }
}
