namespace Aperture;

/// <summary>
/// Fills fresh contiguous tensors from a <see cref="Generator"/>. Element i always uses the same counter block
/// (i / 4 for 32-bit draws, i / 2 for 64-bit draws and for normals), so chunks can be filled in any order by
/// any number of threads and the values never change.
/// </summary>
internal static class RandomFill
{
    public static void Uniform(Tensor t, double low, double high, Generator g)
    {
        int n = t.Numel;
        double scale = high - low;
        if (t.DType == DType.Float32)
        {
            ulong start = g.Reserve((n + 3) / 4);
            var d = t.Buffer<float>();
            float lo = (float)low, sc = (float)scale;
            Parallelism.For((n + 3) / 4, 64, (b0, b1) =>
            {
                for (int b = b0; b < b1; b++)
                {
                    var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                    int i = b * 4;
                    d[i] = lo + sc * Generator.ToSingle(w0);
                    if (i + 1 < n) d[i + 1] = lo + sc * Generator.ToSingle(w1);
                    if (i + 2 < n) d[i + 2] = lo + sc * Generator.ToSingle(w2);
                    if (i + 3 < n) d[i + 3] = lo + sc * Generator.ToSingle(w3);
                }
            });
        }
        else
        {
            ulong start = g.Reserve((n + 1) / 2);
            var d = t.Buffer<double>();
            Parallelism.For((n + 1) / 2, 64, (b0, b1) =>
            {
                for (int b = b0; b < b1; b++)
                {
                    var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                    int i = b * 2;
                    d[i] = low + scale * Generator.ToDouble(w0, w1);
                    if (i + 1 < n) d[i + 1] = low + scale * Generator.ToDouble(w2, w3);
                }
            });
        }
    }

    public static void Normal(Tensor t, double mean, double std, Generator g)
    {
        int n = t.Numel;
        ulong start = g.Reserve((n + 1) / 2);
        bool f32 = t.DType == DType.Float32;
        var df = f32 ? t.Buffer<float>() : null;
        var dd = f32 ? null : t.Buffer<double>();
        Parallelism.For((n + 1) / 2, 128, (b0, b1) =>
        {
            for (int b = b0; b < b1; b++)
            {
                var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                var (z0, z1) = Generator.BoxMuller(Generator.ToDouble(w0, w1), Generator.ToDouble(w2, w3));
                int i = b * 2;
                if (f32)
                {
                    df![i] = (float)(mean + std * z0);
                    if (i + 1 < n) df[i + 1] = (float)(mean + std * z1);
                }
                else
                {
                    dd![i] = mean + std * z0;
                    if (i + 1 < n) dd[i + 1] = mean + std * z1;
                }
            }
        });
    }

    public static void Integers(Tensor t, long low, long high, Generator g)
    {
        int n = t.Numel;
        ulong range = (ulong)(high - low);
        ulong start = g.Reserve(n);
        var d = t.Buffer<long>();
        // One block per element: 128 random bits, reduced by a 128-bit multiply (bias below 2^-64).
        Parallelism.For(n, 64, (i0, i1) =>
        {
            for (int i = i0; i < i1; i++)
            {
                var (w0, w1, _, _) = g.BlockAt(start + (ulong)i);
                ulong r = (ulong)w0 << 32 | w1;
                d[i] = low + (long)Math.BigMul(r, range, out _);
            }
        });
    }

    public static void Bernoulli(Tensor t, double p, Generator g)
    {
        int n = t.Numel;
        ulong start = g.Reserve((n + 1) / 2);
        var tmp = new bool[n];
        Parallelism.For((n + 1) / 2, 64, (b0, b1) =>
        {
            for (int b = b0; b < b1; b++)
            {
                var (w0, w1, w2, w3) = g.BlockAt(start + (ulong)b);
                int i = b * 2;
                tmp[i] = Generator.ToDouble(w0, w1) < p;
                if (i + 1 < n) tmp[i + 1] = Generator.ToDouble(w2, w3) < p;
            }
        });
        for (int i = 0; i < n; i++) t.SetRaw(i, tmp[i] ? 1 : 0);
    }
}
