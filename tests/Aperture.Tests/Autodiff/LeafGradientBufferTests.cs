using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.Autodiff;

/// <summary>
/// Inside a recycling scope a plain backward pass lets a VJP rule write a leaf's gradient straight into the buffer of
/// the gradient cleared at the start of the step, instead of computing it elsewhere and copying it in. The gradients
/// must be the bits of the same pass run outside any scope (where every gradient is a fresh tensor), also when a
/// leaf receives several contributions (a weight tied across layers, a tensor that is both input and weight) and when
/// gradients accumulate over two backward passes.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LeafGradientBufferTests
{
    private static float[] Bits(Tensor t) => t.Contiguous().ToArray<float>();

    private static void AssertSameGradients(IReadOnlyList<Tensor> expected, IReadOnlyList<Tensor> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.NotNull(actual[i].Grad);
            Assert.Equal(Bits(expected[i].Grad!), Bits(actual[i].Grad!));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Mlp_training_in_a_scope_matches_training_without_one(int threads)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            var g = new Generator(3);
            var x = Tensor.Randn([17, 33], g);
            var y = Tensor.RandInt(0, 5, [17], g);
            var plain = Models.Mlp(33, [19, 7], 5, generator: new Generator(1));
            var scoped = Models.Mlp(33, [19, 7], 5, generator: new Generator(1));
            var plainOpt = new SGD(plain.Parameters(), lr: 0.1, momentum: 0.9);
            var scopedOpt = new SGD(scoped.Parameters(), lr: 0.1, momentum: 0.9);
            for (int step = 0; step < 4; step++)
            {
                plainOpt.ZeroGrad();
                Losses.CrossEntropy(plain.Forward(x), y).Backward();
                using (TensorScope.Begin())
                {
                    scopedOpt.ZeroGrad();
                    Losses.CrossEntropy(scoped.Forward(x), y).Backward();
                }
                AssertSameGradients([.. plain.Parameters()], [.. scoped.Parameters()]);
                plainOpt.Step();
                scopedOpt.Step();
            }
            var p = plain.Parameters().ToList();
            var s = scoped.Parameters().ToList();
            for (int i = 0; i < p.Count; i++) Assert.Equal(Bits(p[i]), Bits(s[i]));
        }
        finally { Parallelism.Threads = saved; }
    }

    /// <summary>The gradients of a loss over leaves, computed with or without a recycling scope, two steps each.</summary>
    private static float[][] TwoSteps(Tensor[] leaves, Func<Tensor> loss, bool scoped, bool accumulate)
    {
        float[][] last = [];
        for (int step = 0; step < 2; step++)
        {
            using (scoped ? TensorScope.Begin() : default(TensorScope?))
            {
                foreach (var l in leaves) l.Grad = null;
                loss().Backward();
                if (accumulate) loss().Backward();
            }
            last = [.. leaves.Select(l => Bits(l.Grad!))];
        }
        return last;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_weight_tied_across_layers_gets_the_sum_of_both_contributions(bool accumulate)
    {
        var g = new Generator(4);
        var w = Tensor.Randn([9, 9], g).RequiresGrad_();
        var b = Tensor.Randn([9], g).RequiresGrad_();
        var x = Tensor.Randn([5, 9], g);
        Tensor Loss() => Ops.Sum(Ops.Square(Ops.Linear(Ops.Relu(Ops.Linear(x, w, b)), w, b)));
        var expected = TwoSteps([w, b], Loss, scoped: false, accumulate);
        var actual = TwoSteps([w, b], Loss, scoped: true, accumulate);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tensor_that_is_both_input_and_weight_gets_both_gradients(bool accumulate)
    {
        var w = Tensor.Randn([7, 7], new Generator(6)).RequiresGrad_();
        Tensor Loss() => Ops.Sum(Ops.Square(Ops.Linear(w, w)));
        var expected = TwoSteps([w], Loss, scoped: false, accumulate);
        var actual = TwoSteps([w], Loss, scoped: true, accumulate);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_gradient_kept_from_the_last_step_is_not_the_buffer_written_twice()
    {
        // The user's reference to last step's gradient may be reused as this step's buffer (as before this change);
        // what matters is that the new gradient is complete and correct.
        var g = new Generator(8);
        var w = Tensor.Randn([4, 6], g).RequiresGrad_();
        var x1 = Tensor.Randn([3, 6], g);
        var x2 = Tensor.Randn([3, 6], g);
        w.Grad = null;
        Ops.Sum(Ops.Linear(x2, w)).Backward();
        var expected = Bits(w.Grad!);
        w.Grad = null;
        using (TensorScope.Begin()) Ops.Sum(Ops.Linear(x1, w)).Backward();
        using (TensorScope.Begin())
        {
            w.Grad = null;
            Ops.Sum(Ops.Linear(x2, w)).Backward();
        }
        Assert.Equal(expected, Bits(w.Grad!));
    }
}
