using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.Autodiff;

using Autodiff = Aperture.Autodiff;

/// <summary>
/// Version counters: a tensor saved for the backward pass and changed in place afterwards makes <c>Backward</c> throw,
/// naming the op that saved it and the op that changed it, where it used to return a silently wrong gradient.
/// The expected values are PyTorch's.
/// </summary>
public class InPlaceSafetyTests
{
    [Fact]
    public void A_saved_activation_changed_under_no_grad_refuses_backward()
    {
        // PyTorch raises here; computing on would give x.Grad = 28 instead of the correct 24.
        var x = Tensor.FromArray([3.0]).RequiresGrad_();
        var h = x * 2.0;
        var y = (h * h).Sum();
        using (Autodiff.NoGrad()) Ops.AddInPlace(h, Tensor.FromArray([1.0]));
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("'mul'", ex.Message);
        Assert.Contains("'add_'", ex.Message);
        Assert.Null(x.Grad);
    }

    [Fact]
    public void Without_the_change_the_same_graph_gives_the_pytorch_gradient()
    {
        var x = Tensor.FromArray([3.0]).RequiresGrad_();
        var h = x * 2.0;
        (h * h).Sum().Backward();
        Assert.Equal(24.0, x.Grad!.Item());
    }

    [Theory]
    [InlineData("add")]
    [InlineData("fill")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("copy")]
    [InlineData("set_at")]
    public void A_constant_saved_by_mul_and_changed_in_place_refuses_backward(string how)
    {
        // Today's wrong answers: [11, 12, 13] after add_(10), [0, 0, 0] after fill_(0); the right one is [1, 2, 3].
        var x = Tensor.FromArray([1.0, 2.0, 3.0]).RequiresGrad_();
        var c = Tensor.FromArray([1.0, 2.0, 3.0]);
        var y = (x * c).Sum();
        string writer = how switch
        {
            "add" => Do(() => Ops.AddInPlace(c, 10), "add_"),
            "fill" => Do(() => Ops.FillInPlace(c, 0), "fill_"),
            "sub" => Do(() => Ops.SubInPlace(c, Tensor.Scalar(1, DType.Float64)), "sub_"),
            "mul" => Do(() => Ops.MulInPlace(c, Tensor.Scalar(2, DType.Float64)), "mul_"),
            "copy" => Do(() => Ops.CopyInPlace(c, Tensor.Zeros([3], DType.Float64)), "copy_"),
            _ => Do(() => c.SetAt(7, 1), "SetAt"),
        };
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("input 1 of 'mul'", ex.Message);
        Assert.Contains($"'{writer}'", ex.Message);
        Assert.Contains("shape [3]", ex.Message);
    }

    private static string Do(Action a, string name)
    {
        a();
        return name;
    }

    [Fact]
    public void A_change_through_a_view_or_a_detached_alias_is_seen()
    {
        var x = Tensor.FromArray([1.0, 2.0, 3.0, 4.0]).RequiresGrad_();
        var c = Tensor.FromArray([1.0, 2.0, 3.0, 4.0]);
        var y = (x * c).Sum();
        Ops.FillInPlace(c.Reshape(2, 2).Slice(0, 1, 2), 5);     // a view of a view
        Assert.Throws<InvalidOperationException>(() => y.Backward());

        var w = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var z = (w.Exp()).Sum();                                 // exp saves its output
        var w2 = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var out2 = w2.Exp();
        var loss2 = out2.Sum();
        using (Autodiff.NoGrad()) Ops.AddInPlace(out2.Detach(), 1);
        var ex = Assert.Throws<InvalidOperationException>(() => loss2.Backward());
        Assert.Contains("output of 'exp'", ex.Message);
        z.Backward();                                           // the untouched graph still works
        Assert.Equal(Math.Exp(2), w.Grad!.ToDoubleArray()[1], 12);
    }

    [Fact]
    public void Ops_that_do_not_read_a_tensor_let_it_change_as_pytorch_does()
    {
        // add and sum save nothing: changing the bias after the forward pass does not invalidate the gradient.
        var x = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var b = Tensor.FromArray([5.0, 5.0]);
        var y = ((x + b) * 3.0).Sum();
        Ops.AddInPlace(b, 1);
        y.Backward();
        Assert.Equal([3.0, 3.0], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Gather_refuses_when_its_index_changed()
    {
        var x = Tensor.FromArray([1.0, 2.0, 3.0]).RequiresGrad_();
        var index = Tensor.FromArray([0L, 2L]);
        var y = (Ops.Gather(x, 0, index) * Tensor.FromArray([1.0, 10.0])).Sum();
        Ops.CopyInPlace(index, Tensor.FromArray([1L, 1L]));
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("'gather'", ex.Message);
        Assert.Contains("'copy_'", ex.Message);
    }

    /// <summary>A GAN-style loop that steps the optimizer between a forward pass and its backward.</summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void An_optimizer_step_between_forward_and_backward_refuses(string optimizer)
    {
        var lin = new Linear(2, 1, bias: false, generator: new Generator(0), dtype: DType.Float64);
        using (Autodiff.NoGrad()) Ops.CopyInPlace(lin.Weight, Tensor.FromArray(new double[,] { { 0.3, -0.2 } }));
        Optimizer opt = optimizer == "sgd" ? new SGD(lin.Parameters(), lr: 0.5) : new Adam(lin.Parameters(), lr: 0.5);
        var x = Tensor.FromArray([1.0, 2.0], [1, 2]).RequiresGrad_();
        var loss = lin.Forward(x).Square().Sum();               // (w·x)²
        loss.Backward(retainGraph: true);
        Assert.Equal([-0.06, 0.04], x.Grad!.ToDoubleArray().Select(v => Math.Round(v, 12)));

        x.ZeroGrad();
        opt.Step();                                               // changes w, which 'linear' saved
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("'linear'", ex.Message);
        Assert.Contains(optimizer == "sgd" ? "'SGD.Step'" : "'Adam.Step'", ex.Message);
        Assert.Null(x.Grad);                                      // (it would have been [0.04, 0.14] before)

        // The ordinary loop is untouched: a forward pass after the step saves the new weights.
        opt.ZeroGrad();
        var again = lin.Forward(x).Square().Sum();
        again.Backward();
        var w = lin.Weight.ToDoubleArray();
        double wx = w[0] + 2 * w[1];
        Assert.Equal(2 * wx * w[0], x.Grad!.ToDoubleArray()[0], 12);
        Assert.Equal(2 * wx * w[1], x.Grad!.ToDoubleArray()[1], 12);
    }

    [Fact]
    public void Fill_on_a_leaf_that_requires_grad_refuses_like_add_and_copy()
    {
        var w = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var fill = Assert.Throws<InvalidOperationException>(() => Ops.FillInPlace(w, 0));
        Assert.Contains("fill_", fill.Message);
        Assert.Contains("NoGrad", fill.Message);
        Assert.Throws<InvalidOperationException>(() => Ops.AddInPlace(w, 1));
        Assert.Throws<InvalidOperationException>(() => Ops.CopyInPlace(w, Tensor.Zeros([2], DType.Float64)));
        Assert.Equal([1.0, 2.0], w.ToDoubleArray());
        using (Autodiff.NoGrad()) Ops.FillInPlace(w, 0);        // an initializer's write
        Assert.Equal([0.0, 0.0], w.ToDoubleArray());
    }

    [Fact]
    public void Gradient_accumulation_and_retained_graphs_are_not_in_place_changes_of_saved_tensors()
    {
        var x = Tensor.FromArray([1.5, -2.0]).RequiresGrad_();
        var y = (x * x * x).Sum();
        y.Backward(retainGraph: true);
        y.Backward();                                             // the second pass adds into x.Grad in place
        Assert.Equal([13.5, 24.0], x.Grad!.ToDoubleArray());
        var z = (x.Exp() * x).Sum();
        z.Backward();                                             // the leaf's gradient buffer changed in place: not saved by any node
        Assert.Equal(13.5 + Math.Exp(1.5) * 2.5, x.Grad!.ToDoubleArray()[0], 12);
    }

    [Fact]
    public void A_recycled_training_step_after_an_optimizer_step_does_not_trip()
    {
        var model = Models.Mlp(4, [8], 3, generator: new Generator(1));
        var opt = new Adam(model.Parameters(), lr: 0.01);
        var g = new Generator(2);
        var x = Tensor.Randn([5, 4], g);
        var labels = Tensor.RandInt(0, 3, [5], g);
        for (int step = 0; step < 5; step++)
        {
            using (TensorScope.Begin())
            {
                opt.ZeroGrad();
                Losses.CrossEntropy(model.Forward(x), labels).Backward();
            }
            opt.Step();
        }
    }
}
