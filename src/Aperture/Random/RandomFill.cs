using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Aperture;

/// <summary>
/// Fills fresh contiguous tensors from a <see cref="Generator"/>. Element i always uses the same counter block
/// (i / 4 for 32-bit draws, i / 2 for 64-bit draws and for normals), so chunks can be filled in any order by
/// any number of threads and the values never change.
/// </summary>
/// <remarks>The loop bodies are structs so that a fill (a dropout mask in every training step) allocates nothing.</remarks>
internal static class RandomFill
{
    public static void Uniform(Tensor t, double low, double high, Generator g)
    {
        int n = t.Numel;
        double scale = high - low;
        if (t.DType == DType.Float32)
        {
            ulong start = g.Reserve((n + 3) / 4);
            Parallelism.For((n + 3) / 4, 64, new UniformSingles(g, start, t.Buffer<float>(), t._offset, n, (float)low, (float)scale));
        }
        else
        {
            ulong start = g.Reserve((n + 1) / 2);
            Parallelism.For((n + 1) / 2, 64, new UniformDoubles(g, start, t.Buffer<double>(), t._offset, n, low, scale));
        }
    }

    private readonly struct UniformSingles(Generator g, ulong start, float[] d, int offset, int n, float lo, float sc) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1)
        {
            for (int b = b0; b < b1; b++)
            {
                var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                int i = b * 4;
                d[offset + i] = lo + sc * Generator.ToSingle(w0);
                if (i + 1 < n) d[offset + i + 1] = lo + sc * Generator.ToSingle(w1);
                if (i + 2 < n) d[offset + i + 2] = lo + sc * Generator.ToSingle(w2);
                if (i + 3 < n) d[offset + i + 3] = lo + sc * Generator.ToSingle(w3);
            }
        }
    }

    private readonly struct UniformDoubles(Generator g, ulong start, double[] d, int offset, int n, double low, double scale) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1)
        {
            for (int b = b0; b < b1; b++)
            {
                var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                int i = b * 2;
                d[offset + i] = low + scale * Generator.ToDouble(w0, w1);
                if (i + 1 < n) d[offset + i + 1] = low + scale * Generator.ToDouble(w2, w3);
            }
        }
    }

    public static void Normal(Tensor t, double mean, double std, Generator g)
    {
        int n = t.Numel;
        ulong start = g.Reserve((n + 1) / 2);
        Parallelism.For((n + 1) / 2, 128, new Normals(g, start, t, n, mean, std));
    }

    private readonly struct Normals(Generator g, ulong start, Tensor t, int n, double mean, double std) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1)
        {
            bool f32 = t.DType == DType.Float32;
            var df = f32 ? t.Buffer<float>() : null;
            var dd = f32 ? null : t.Buffer<double>();
            int offset = t._offset;
            // Philox eight blocks at a time (the same words as one block at a time), then Box–Muller per block.
            Span<uint> words = stackalloc uint[4 * Philox.Lanes];
            for (int b8 = b0; b8 < b1; b8 += Philox.Lanes)
            {
                g.BlocksAt(start + (ulong)b8, words);
                int end = Math.Min(b1 - b8, Philox.Lanes);
                for (int q = 0; q < end; q++)
                {
                    int b = b8 + q;
                    var (z0, z1) = Generator.BoxMuller(Generator.ToDouble(words[4 * q], words[4 * q + 1]), Generator.ToDouble(words[4 * q + 2], words[4 * q + 3]));
                    int i = offset + b * 2;
                    bool second = b * 2 + 1 < n;
                    if (f32)
                    {
                        df![i] = (float)(mean + std * z0);
                        if (second) df[i + 1] = (float)(mean + std * z1);
                    }
                    else
                    {
                        dd![i] = mean + std * z0;
                        if (second) dd[i + 1] = mean + std * z1;
                    }
                }
            }
        }
    }

    public static void Integers(Tensor t, long low, long high, Generator g)
    {
        int n = t.Numel;
        ulong start = g.Reserve(n);
        Parallelism.For(n, 64, new IntegerDraws(g, start, t.Buffer<long>(), t._offset, low, (ulong)(high - low)));
    }

    /// <summary>One block per element: 128 random bits, reduced by a 128-bit multiply (bias below 2^-64).</summary>
    private readonly struct IntegerDraws(Generator g, ulong start, long[] d, int offset, long low, ulong range) : Parallelism.IRangeBody
    {
        public void Run(int i0, int i1)
        {
            for (int i = i0; i < i1; i++)
            {
                var (w0, w1, _, _) = g.BlockAt(start + (ulong)i);
                ulong r = (ulong)w0 << 32 | w1;
                d[offset + i] = low + (long)Math.BigMul(r, range, out _);
            }
        }
    }

    /// <summary>Each element is <paramref name="value"/> with probability <paramref name="p"/>, else 0 (for a bool tensor: true or false).</summary>
    public static void Bernoulli(Tensor t, double p, Generator g, double value = 1)
    {
        int n = t.Numel;
        ulong start = g.Reserve((n + 1) / 2);
        Parallelism.For((n + 1) / 2, 64, new BernoulliDraws(g, start, t, n, p, value));
    }

    /// <summary>
    /// Element i is <c>ToDouble(two words of block start + i/2) &lt; p</c>: the first two words for an even i, the last
    /// two for an odd one. The blocks are drawn eight at a time (<see cref="Generator.BlocksAt"/>, the same words as one
    /// block at a time), whose 32 words are the 16 elements' word pairs in order. ToDouble(hi, lo) is the 53-bit integer
    /// u = (hi ≫ 5)·2²⁶ + (lo ≫ 6) times 2⁻⁵³, exactly, so it is below p exactly when u is below ⌈p·2⁵³⌉ (p·2⁵³ is exact):
    /// the comparison is an integer one, and the element is the "on" value's bits masked by it, with no branch. A
    /// branch on each draw mispredicts half the time at p = ½; with that branch and a block and a switch on the dtype
    /// per pair, a dropout mask cost about 16 ns an element, and DropConnect's masks were a quarter of the lab's
    /// dropout-vs-randomization run.
    /// </summary>
    private readonly struct BernoulliDraws(Generator g, ulong start, Tensor t, int n, double p, double on) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1)
        {
            // The threshold on u: ⌈p·2⁵³⌉, 0 for p ≤ 0 or NaN (no draw is below it), 2⁵³ for p ≥ 1 (every draw is).
            const double Two53 = 9007199254740992.0;
            double scaled = p * Two53;
            ulong threshold = !(scaled > 0) ? 0 : scaled >= Two53 ? 1UL << 53 : (ulong)Math.Ceiling(scaled);
            switch (t.DType)
            {
                case DType.Float32: Fill(b0, b1, t.Buffer<float>(), (float)on, threshold); break;
                case DType.Float64: Fill(b0, b1, t.Buffer<double>(), on, threshold); break;
                case DType.Int64: Fill(b0, b1, t.Buffer<long>(), (long)on, threshold); break;
                default: Fill(b0, b1, t.Buffer<bool>(), true, threshold); break;
            }
        }

        /// <summary>Elements 2·b0 … 2·b1 − 1 (those below n): <paramref name="one"/> where the draw is below p, else all-zero bits.</summary>
        private void Fill<T>(int b0, int b1, T[] d, T one, ulong threshold) where T : unmanaged
        {
            ulong onBits = Unsafe.SizeOf<T>() switch
            {
                1 => Unsafe.As<T, byte>(ref one),
                4 => Unsafe.As<T, uint>(ref one),
                _ => Unsafe.As<T, ulong>(ref one),
            };
            ref T first = ref MemoryMarshal.GetArrayDataReference(d);
            first = ref Unsafe.Add(ref first, t._offset);
            Span<uint> words = stackalloc uint[4 * Philox.Lanes];
            for (int b8 = b0; b8 < b1; b8 += Philox.Lanes)
            {
                g.BlocksAt(start + (ulong)b8, words);
                int e0 = 2 * b8, e1 = Math.Min(n, 2 * Math.Min(b1, b8 + Philox.Lanes));
                for (int e = e0; e < e1; e++)
                {
                    uint hi = words[2 * (e - e0)], lo = words[2 * (e - e0) + 1];
                    ulong u = ((ulong)(hi >> 5) << 26) + (lo >> 6);
                    bool below = u < threshold;
                    ulong bits = onBits & (0UL - Unsafe.As<bool, byte>(ref below));
                    ref T slot = ref Unsafe.Add(ref first, e);
                    switch (Unsafe.SizeOf<T>())
                    {
                        case 1: Unsafe.As<T, byte>(ref slot) = (byte)bits; break;
                        case 4: Unsafe.As<T, uint>(ref slot) = (uint)bits; break;
                        default: Unsafe.As<T, ulong>(ref slot) = bits; break;
                    }
                }
            }
        }
    }
}
