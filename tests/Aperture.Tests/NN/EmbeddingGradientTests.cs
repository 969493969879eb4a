using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.NN;

/// <summary>
/// Embedding's backward scatters the selected rows straight into the table's gradient: the same bits as the general
/// VJP, both modes of differentiation still checked against finite differences, and a training step that
/// allocates nothing.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class EmbeddingGradientTests
{
    private static readonly long[] Repeated = [3, 0, 3, 5, 3, 0, 6];

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void BackwardIntoTheTableMatchesTheGeneralVjpBitForBit(DType dtype)
    {
        var g = new Generator(11);
        var emb = new Embedding(7, 4, generator: g, dtype: dtype);
        var idx = Tensor.FromArray(Repeated, [7]);
        var upstream = Tensor.Randn([7, 4], g, dtype);
        Tensor Loss() => Ops.Sum(Ops.Mul(emb.Forward(idx), upstream));

        // The general path: Autodiff.Grad returns the VJP's dense gradient and never uses the leaf shortcut.
        var want = Aperture.Autodiff.Grad([Loss()], [emb.Weight])[0]!;
        Loss().Backward();
        Assert.Equal(want.To(DType.Float64).ToArray<double>(), emb.Weight.Grad!.To(DType.Float64).ToArray<double>());

        // The naive reference: row r of the gradient is the sum of the upstream rows that looked r up, in order.
        var u = upstream.To(DType.Float64).ToArray<double>();
        var expect = new double[7 * 4];
        for (int i = 0; i < Repeated.Length; i++)
            for (int j = 0; j < 4; j++)
                expect[Repeated[i] * 4 + j] = dtype == DType.Float32 ? (float)(expect[Repeated[i] * 4 + j] + u[i * 4 + j]) : expect[Repeated[i] * 4 + j] + u[i * 4 + j];
        Assert.Equal(expect, emb.Weight.Grad!.To(DType.Float64).ToArray<double>());

        // A second backward accumulates into the existing gradient (rows never looked up stay zero).
        Loss().Backward();
        var twice = emb.Weight.Grad!.To(DType.Float64).ToArray<double>();
        for (int i = 0; i < expect.Length; i++) Assert.Equal(2 * expect[i], twice[i], 1e-5);
        Assert.All(new[] { 1, 2, 4 }, r => Assert.All(Enumerable.Range(0, 4), j => Assert.Equal(0.0, twice[r * 4 + j])));
    }

    [Fact]
    public void TiedWeightsGetBothContributions()
    {
        // The table is used by the lookup and by a matmul (tied input/output embeddings): the sparse rows and the dense
        // matmul gradient add up to the general path's result.
        var g = new Generator(2);
        var emb = new Embedding(6, 3, generator: g, dtype: DType.Float64);
        var idx = Tensor.FromArray(new long[] { 1, 4, 1 });
        Tensor Loss() => Ops.Sum(Ops.Tanh(Ops.MatMul(emb.Forward(idx), Ops.Transpose(emb.Weight, 0, 1))));
        var want = Aperture.Autodiff.Grad([Loss()], [emb.Weight])[0]!;
        Loss().Backward();
        var got = emb.Weight.Grad!.ToArray<double>();
        var w = want.ToArray<double>();
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i], got[i], 1e-14);
    }

    [Fact]
    public void FiniteDifferencesAgreeInBothModesAndAtSecondOrder()
    {
        var g = new Generator(4);
        var table = Tensor.Randn([5, 3], g, DType.Float64);
        var idx = Tensor.FromArray(new long[] { 4, 0, 4, 2, 4, 2 }, [2, 3]);
        Tensor F(Tensor[] x)
        {
            // Embedding's lookup (index_select of rows) on the table under test, with repeated rows.
            var rows = Ops.IndexSelect(x[0], 0, Ops.Reshape(idx, [-1]));
            return Ops.Sum(Ops.Mul(Ops.Sin(rows), rows));
        }
        Assert.True(GradCheck.Check(F, [table]).Passed);
        Assert.True(GradCheck.CheckSecondOrder(F, [table]).Passed);
    }

    [Fact]
    public void OutOfRangeIndicesNameTheLayer()
    {
        var emb = new Embedding(4, 2, generator: new Generator(0));
        var e = Assert.Throws<IndexOutOfRangeException>(() => emb.Forward(Tensor.FromArray(new long[] { 0, 4 }, [1, 2])));
        Assert.Contains("index 4 (element 1 of the input) is out of range for a table of 4 rows", e.Message);
        e = Assert.Throws<IndexOutOfRangeException>(() => emb.Forward(Tensor.FromArray(new long[] { -1 })));
        Assert.Contains("index -1", e.Message);
        // A non-contiguous index tensor is read correctly.
        var t = Tensor.FromArray(new long[] { 0, 1, 2, 3 }, [2, 2]);
        var y = emb.Forward(Ops.Transpose(t, 0, 1));
        Assert.Equal(emb.Weight.ToArray<float>()[4..6], y.ToArray<float>()[2..4]);   // element [0, 1] is index 2
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void An_embedding_classifier_step_with_adam_allocates_nothing(int threads)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            var g = new Generator(0);
            var emb = new Embedding(5000, 32, generator: new Generator(1));
            var head = new Linear(32, 10, generator: new Generator(2));
            var optimizer = new Adam(emb.Parameters().Concat(head.Parameters()), lr: 1e-3);
            var idx = Tensor.RandInt(0, 5000, [64], g);
            var y = Tensor.RandInt(0, 10, [64], g);
            void Step()
            {
                using (TensorScope.Begin())
                {
                    optimizer.ZeroGrad();
                    var h = emb.Forward(idx);
                    Losses.CrossEntropy(head.Forward(h), y).Backward();
                }
                optimizer.Step();
            }
            for (int i = 0; i < 50; i++) Step();
            long best = long.MaxValue;
            for (int window = 0; window < 3; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) Step();
                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, best);
        }
        finally { Parallelism.Threads = saved; }
    }
}
