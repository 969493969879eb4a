using Aperture.NN;

namespace Aperture.Tests.NN;

/// <summary>
/// What the tests of <see cref="Linear"/>'s cached weight copies share (<see cref="TransposedWeight"/>,
/// <see cref="PackedWeight"/>, <see cref="ThinPackedWeight"/>): the bits to compare against, the layer's output once
/// its copy is built, the copy itself, and the check that a copy costs nothing until a weight is used twice.
/// </summary>
internal static class LinearCacheChecks
{
    public static void AssertSameBits(float[] e, float[] a, string what)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what}: element {i} is {a[i]}, expected {e[i]}");
    }

    public static void AssertSameBits(Tensor expected, Tensor actual, string what) =>
        AssertSameBits(expected.ToArray<float>(), actual.ToArray<float>(), what);

    /// <summary>The ordinary path, which never uses a cached copy.</summary>
    public static Tensor Reference(Linear layer, Tensor x)
    {
        using var _ = Aperture.Autodiff.NoGrad();
        return Ops.Linear(x, layer.Weight, layer.Bias);
    }

    /// <summary>The layer's output without autodiff, called often enough that a cached copy is built and used.</summary>
    public static Tensor Infer(Linear layer, Tensor x)
    {
        using var _ = Aperture.Autodiff.NoGrad();
        layer.Forward(x);
        return layer.Forward(x);
    }

    /// <summary>y[i, j] = fma(x[i, k−1], w[j, k−1], … fma(x[i, 0], w[j, 0], 0)) + b[j]: each output's one k-ordered chain.</summary>
    public static float[] Naive(float[] x, float[] w, float[]? b, int m, int n, int k)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int q = 0; q < k; q++) s = MathF.FusedMultiplyAdd(x[i * k + q], w[j * k + q], s);
                y[i * n + j] = b is null ? s : s + b[j];
            }
        return y;
    }

    /// <summary>The copy the layer holds in its cache slot <paramref name="field"/>, or null.</summary>
    public static TCopy? Copy<TCopy>(Linear layer, string field) where TCopy : class, IWeightCopy<TCopy>
    {
        var f = typeof(Linear).GetField(field, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        return ((WeightCacheSlot<TCopy>)f.GetValue(layer)!).Copy;
    }

    /// <summary>
    /// A loop that changes the weight before every no-grad call never builds the copy in <paramref name="field"/> and
    /// allocates nothing; one that keeps the weight builds it once (where <paramref name="supported"/>) and then
    /// allocates nothing either.
    /// </summary>
    public static void BuiltOnlyForAWeightUsedTwiceAndSteadyStateAllocatesNothing<TCopy>(Linear layer, Tensor x, string field, bool supported)
        where TCopy : class, IWeightCopy<TCopy>
    {
        var delta = Tensor.Full(layer.Weight.Shape, 1e-3);
        void Changing()
        {
            using (Aperture.Autodiff.NoGrad()) Ops.AddInPlace(layer.Weight, delta);
            using var _ = TensorScope.Begin();
            using var __ = Aperture.Autodiff.NoGrad();
            layer.Forward(x);
        }
        void Steady()
        {
            using var _ = TensorScope.Begin();
            using var __ = Aperture.Autodiff.NoGrad();
            layer.Forward(x);
        }
        for (int i = 0; i < 5; i++) Changing();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Changing();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Null(Copy<TCopy>(layer, field));

        for (int i = 0; i < 5; i++) Steady();
        if (supported) Assert.NotNull(Copy<TCopy>(layer, field));
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Steady();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
