using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.Optim;

public class OptimizerTests
{
    // f(θ) = ½θᵀAθ − bᵀθ, A symmetric positive definite: ∇f = Aθ − b, minimum at A⁻¹b.
    private static readonly double[,] A = { { 3, 0.5 }, { 0.5, 1 } };
    private static readonly double[] B = [1, -2];
    private static readonly double[] Theta0 = [0.5, -0.3];

    private static double[] Gradient(double[] t) => [A[0, 0] * t[0] + A[0, 1] * t[1] - B[0], A[1, 0] * t[0] + A[1, 1] * t[1] - B[1]];

    private static double F(double[] t) => 0.5 * (t[0] * (A[0, 0] * t[0] + A[0, 1] * t[1]) + t[1] * (A[1, 0] * t[0] + A[1, 1] * t[1])) - B[0] * t[0] - B[1] * t[1];

    private static readonly double FMin = F([(B[0] * A[1, 1] - A[0, 1] * B[1]) / (A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]), (A[0, 0] * B[1] - A[1, 0] * B[0]) / (A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0])]);

    [Fact]
    public void Options_changed_between_steps_are_validated_and_used_at_the_next_step()
    {
        // A step validates a group again only after its options were set: an invalid value set between steps is still
        // refused by the next step (leaving the parameter as it was), and a valid change takes effect at once.
        var p = Tensor.FromArray([1.0, -2.0]).RequiresGrad_();
        var sgd = new SGD([p], lr: 0.1, momentum: 0.5);
        var group = sgd.ParamGroups[0];
        p.Grad = Tensor.FromArray([1.0, 1.0]);
        sgd.Step();                                    // buffer b = g, θ = θ − 0.1·b
        Assert.Equal([0.9, -2.1], p.ToDoubleArray());

        group["lr"] = -1;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => sgd.Step());
        Assert.Contains("lr = -1 in parameter group 0 is invalid", e.Message);
        Assert.Equal([0.9, -2.1], p.ToDoubleArray());
        e = Assert.Throws<ArgumentOutOfRangeException>(() => sgd.Step());   // refused again, not remembered as checked
        Assert.Contains("lr = -1", e.Message);

        group["lr"] = 1.0;
        group["momentum"] = 0.25;
        sgd.Step();                                    // b = 0.25·1 + 1 = 1.25, θ = θ − 1·1.25
        Assert.Equal([0.9 - 1.25, -2.1 - 1.25], p.ToDoubleArray());

        var nesterov = new SGD([Tensor.FromArray([1.0]).RequiresGrad_()], lr: 0.1, momentum: 0.9, nesterov: true);
        nesterov.Parameters().Single().Grad = Tensor.FromArray([1.0]);
        nesterov.Step();
        nesterov.ParamGroups[0]["dampening"] = 0.5;
        var n = Assert.Throws<ArgumentException>(() => nesterov.Step());
        Assert.Contains("Nesterov momentum needs momentum > 0 and dampening = 0", n.Message);
    }

    /// <summary>Runs <paramref name="steps"/> steps of an optimizer on the quadratic with exact (hand) gradients.</summary>
    private static double[] RunOptimizer(Func<Tensor, Optimizer> make, int steps)
    {
        var p = Tensor.FromArray((double[])Theta0.Clone()).RequiresGrad_();
        var opt = make(p);
        for (int s = 0; s < steps; s++)
        {
            p.Grad = Tensor.FromArray(Gradient(p.ToDoubleArray()));
            opt.Step();
        }
        return p.ToDoubleArray();
    }

    /// <summary>The same steps written out by hand: <paramref name="update"/>(θ, g, t) moves θ in place.</summary>
    private static double[] RunReference(Action<double[], double[], int> update, int steps)
    {
        var t = (double[])Theta0.Clone();
        for (int s = 1; s <= steps; s++) update(t, Gradient(t), s);
        return t;
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-14 * Math.Max(1, Math.Abs(expected[i])));
    }

    [Fact]
    public void SgdWithMomentumAndDampeningIsTheHandFormula()
    {
        double[] buf = new double[2];
        var expected = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                double d = g[i] + 0.01 * t[i];
                buf[i] = s == 1 ? d : 0.9 * buf[i] + (1 - 0.1) * d;
                t[i] -= 0.05 * buf[i];
            }
        }, 4);
        AssertClose(expected, RunOptimizer(p => new SGD([p], lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01), 4));
    }

    [Fact]
    public void SgdPlainAndNesterovAreTheHandFormulas()
    {
        AssertClose(RunReference((t, g, s) => { for (int i = 0; i < 2; i++) t[i] -= 0.1 * g[i]; }, 3), RunOptimizer(p => new SGD([p], lr: 0.1), 3));
        double[] buf = new double[2];
        var expected = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                buf[i] = s == 1 ? g[i] : 0.8 * buf[i] + g[i];
                t[i] -= 0.1 * (g[i] + 0.8 * buf[i]);
            }
        }, 4);
        AssertClose(expected, RunOptimizer(p => new SGD([p], lr: 0.1, momentum: 0.8, nesterov: true), 4));
        Assert.Throws<ArgumentException>(() => new SGD([Tensor.Zeros([1]).RequiresGrad_()], lr: 0.1, nesterov: true));
    }

    [Fact]
    public void HeavyBallIsPolyaksRecurrence()
    {
        // θ_{t+1} = θ_t − lr·∇f(θ_t) + μ(θ_t − θ_{t−1})
        var prev = (double[])Theta0.Clone();
        var expected = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                double next = t[i] - 0.1 * g[i] + 0.7 * (t[i] - prev[i]);
                prev[i] = t[i];
                t[i] = next;
            }
        }, 6);
        var actual = RunOptimizer(p => new SGD([p], lr: 0.1, momentum: 0.7), 6);
        for (int i = 0; i < 2; i++) Assert.Equal(expected[i], actual[i], 1e-12);
    }

    [Fact]
    public void AdagradIsTheHandFormula()
    {
        double[] sum = [0.1, 0.1];
        var expected = RunReference((t, g, s) =>
        {
            double clr = 0.3 / (1 + (s - 1) * 0.05);
            for (int i = 0; i < 2; i++)
            {
                double gi = g[i] + 0.02 * t[i];
                sum[i] += gi * gi;
                t[i] -= clr * (gi / (Math.Sqrt(sum[i]) + 1e-10));
            }
        }, 4);
        AssertClose(expected, RunOptimizer(p => new Adagrad([p], lr: 0.3, lrDecay: 0.05, weightDecay: 0.02, initialAccumulatorValue: 0.1), 4));
    }

    [Fact]
    public void RmsPropIsTheHandFormula()
    {
        double[] sq = new double[2];
        var plain = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                sq[i] = 0.9 * sq[i] + (1 - 0.9) * g[i] * g[i];
                t[i] -= 0.01 * (g[i] / (Math.Sqrt(sq[i]) + 1e-8));
            }
        }, 4);
        AssertClose(plain, RunOptimizer(p => new RMSprop([p], lr: 0.01, alpha: 0.9), 4));

        sq = new double[2];
        double[] avg = new double[2], buf = new double[2];
        var centered = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                double gi = g[i] + 0.1 * t[i];
                sq[i] = 0.9 * sq[i] + (1 - 0.9) * gi * gi;
                avg[i] = 0.9 * avg[i] + (1 - 0.9) * gi;
                double d = Math.Sqrt(sq[i] - avg[i] * avg[i]) + 1e-8;
                buf[i] = 0.5 * buf[i] + gi / d;
                t[i] -= 0.01 * buf[i];
            }
        }, 4);
        AssertClose(centered, RunOptimizer(p => new RMSprop([p], lr: 0.01, alpha: 0.9, weightDecay: 0.1, momentum: 0.5, centered: true), 4));
    }

    [Fact]
    public void AdadeltaIsTheHandFormula()
    {
        double[] sq = new double[2], acc = new double[2];
        var expected = RunReference((t, g, s) =>
        {
            for (int i = 0; i < 2; i++)
            {
                sq[i] = 0.9 * sq[i] + (1 - 0.9) * g[i] * g[i];
                double delta = Math.Sqrt(acc[i] + 1e-6) / Math.Sqrt(sq[i] + 1e-6) * g[i];
                acc[i] = 0.9 * acc[i] + (1 - 0.9) * delta * delta;
                t[i] -= 1.0 * delta;
            }
        }, 4);
        AssertClose(expected, RunOptimizer(p => new Adadelta([p]), 4));
    }

    private static Action<double[], double[], int> AdamReference(double lr, double b1, double b2, double eps, double wd, bool decoupled, bool folded)
    {
        double[] m = new double[2], v = new double[2];
        return (t, g, s) =>
        {
            double bc1 = 1 - Math.Pow(b1, s), bc2 = 1 - Math.Pow(b2, s);
            for (int i = 0; i < 2; i++)
            {
                if (decoupled) t[i] *= 1 - lr * wd;
                double gi = decoupled ? g[i] : g[i] + wd * t[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                if (folded) t[i] -= lr * Math.Sqrt(bc2) / bc1 * (m[i] / (Math.Sqrt(v[i]) + eps));
                else t[i] -= lr * (m[i] / bc1) / (Math.Sqrt(v[i] / bc2) + eps);
            }
        };
    }

    [Fact]
    public void AdamIsTheHandFormulaInBothForms()
    {
        AssertClose(RunReference(AdamReference(0.1, 0.9, 0.999, 1e-8, 0, false, false), 5), RunOptimizer(p => new Adam([p], lr: 0.1), 5));
        AssertClose(RunReference(AdamReference(0.1, 0.8, 0.99, 1e-3, 0.05, false, false), 5),
            RunOptimizer(p => new Adam([p], lr: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-3, weightDecay: 0.05), 5));
        AssertClose(RunReference(AdamReference(0.1, 0.9, 0.999, 1e-3, 0, false, true), 5),
            RunOptimizer(p => new Adam([p], lr: 0.1, eps: 1e-3, form: AdamForm.Folded), 5));
        AssertClose(RunReference(AdamReference(0.1, 0.9, 0.999, 1e-8, 0.1, true, false), 5),
            RunOptimizer(p => new AdamW([p], lr: 0.1, weightDecay: 0.1), 5));
    }

    [Fact]
    public void AdamRefusesBeta2OfOne()
    {
        var p = Tensor.Zeros([2]).RequiresGrad_();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Adam([p], beta2: 1.0));
        Assert.Contains("beta2", e.Message);
        Assert.Contains("[0, 1)", e.Message);
        Assert.Contains("bias correction", e.Message);
        Assert.Contains("beta1", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p], beta1: -0.1)).Message);

        // Set later through the group: refused at the next step.
        var adam = new Adam([p]);
        adam.ParamGroups[0]["beta2"] = 1.0;
        p.Grad = Tensor.Ones([2]);
        Assert.Contains("beta2", Assert.Throws<ArgumentOutOfRangeException>(adam.Step).Message);
    }

    [Fact]
    public void Beta2RoundedToOneInBFloat16BreaksEachFormItsOwnWay()
    {
        // 0.999 is a valid beta2, but bfloat16 rounds it to exactly 1: the standard form divides 0 by 0, the folded form freezes.
        Assert.Equal(1.0, Rounding.Round(0.999, StorageFormat.BFloat16));
        var standard = RunOptimizer(p => new Adam([p], lr: 0.1) { HyperParameterFormat = StorageFormat.BFloat16 }, 1);
        Assert.All(standard, v => Assert.True(double.IsNaN(v)));
        var folded = RunOptimizer(p => new Adam([p], lr: 0.1, form: AdamForm.Folded) { HyperParameterFormat = StorageFormat.BFloat16 }, 3);
        Assert.Equal(Theta0, folded);
        // Truncation keeps beta2 below 1 (0.99609375), and training proceeds.
        var truncated = RunOptimizer(p => new Adam([p], lr: 0.1) { HyperParameterFormat = StorageFormat.BFloat16, Rounding = RoundingMode.TowardZero }, 3);
        Assert.All(truncated, v => Assert.True(double.IsFinite(v)));
        Assert.NotEqual(Theta0, truncated);
    }

    public static TheoryData<string> OptimizerNames => ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adam_folded", "adamw"];

    private static GradientOptimizer Make(string name, IEnumerable<Tensor> ps) => name switch
    {
        "sgd" => new SGD(ps, lr: 0.05),
        "momentum" => new SGD(ps, lr: 0.05, momentum: 0.9),
        "nesterov" => new SGD(ps, lr: 0.05, momentum: 0.9, nesterov: true),
        "adagrad" => new Adagrad(ps, lr: 0.3),
        "rmsprop" => new RMSprop(ps, lr: 0.01),
        "adadelta" => new Adadelta(ps, lr: 10),
        "adam" => new Adam(ps, lr: 0.05),
        "adam_folded" => new Adam(ps, lr: 0.05, form: AdamForm.Folded),
        "adamw" => new AdamW(ps, lr: 0.05, weightDecay: 1e-3),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void EveryOptimizerReducesAConvexQuadratic(string name)
    {
        var theta = RunOptimizer(p => Make(name, [p]), 300);
        double gap0 = F(Theta0) - FMin, gap = F(theta) - FMin;
        Assert.True(gap < 0.05 * gap0, $"{name}: f − f* went from {gap0} to {gap}");
    }

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void EveryOptimizerReducesASmallMlpsLoss(string name)
    {
        var g = new Generator(0);
        var model = Models.Mlp(2, [16], 1, activation: "tanh", generator: g);
        var x = Tensor.Uniform([64, 2], -2, 2, g);
        var y = Ops.Mul(Ops.Sin(Ops.Sum(x, 1, keepDim: true)), 1.0);
        var opt = Make(name, model.Parameters());
        double first = 0, last = 0;
        for (int step = 0; step < 150; step++)
        {
            opt.ZeroGrad();
            var loss = Losses.Mse(model.Forward(x), y);
            loss.Backward();
            opt.Step();
            if (step == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(last < 0.5 * first, $"{name}: loss went from {first} to {last}");
        Assert.Equal(150, opt.StepCount);
    }

    [Fact]
    public void ParameterGroupsHaveTheirOwnHyperParameters()
    {
        var a = Tensor.Ones([2]).RequiresGrad_();
        var b = Tensor.Ones([2]).RequiresGrad_();
        var opt = new SGD([new ParamGroup([a]) { ["lr"] = 0.5 }, new ParamGroup([b])], lr: 0.1);
        Assert.Equal(0.5, opt.ParamGroups[0].LearningRate);
        Assert.Equal(0.1, opt.ParamGroups[1]["lr"]);
        a.Grad = Tensor.Ones([2]);
        b.Grad = Tensor.Ones([2]);
        opt.Step();
        Assert.Equal([0.5f, 0.5f], a.ToFloatArray());
        Assert.Equal([0.9f, 0.9f], b.ToFloatArray());

        Assert.Contains("unknown option 'betas'", Assert.Throws<ArgumentException>(() => new Adam([new ParamGroup([a]) { ["betas"] = 0.9 }])).Message);
        Assert.Contains("more than one place", Assert.Throws<ArgumentException>(() => new SGD([new ParamGroup([a]), new ParamGroup([a])])).Message);
        Assert.Contains("weight_decay = -1", Assert.Throws<ArgumentOutOfRangeException>(() => new SGD([a], weightDecay: -1)).Message);
    }

    [Fact]
    public void StepsRoundWeightsToThePolicysFormat()
    {
        var p = Tensor.FromArray([1.0f, -2.0f]).RequiresGrad_();
        var opt = new SGD([p], lr: 0.0123);
        p.Grad = Tensor.FromArray([0.37f, 0.91f]);
        using (NumericsPolicy.Use(new NumericsPolicy { Weights = StorageFormat.BFloat16 })) opt.Step();
        foreach (float v in p.ToFloatArray()) Assert.Equal(Rounding.Round(v, StorageFormat.BFloat16), v);
    }

    [Fact]
    public void GradientClippingByNormAndValue()
    {
        var a = Tensor.Zeros([2]).RequiresGrad_();
        var b = Tensor.Zeros([1]).RequiresGrad_();
        a.Grad = Tensor.FromArray([3.0f, 0f]);
        b.Grad = Tensor.FromArray([4.0f]);
        double norm = GradClip.ClipGradNorm([a, b], 1.0);
        Assert.Equal(5, norm, 6);
        Assert.Equal(0.6f, a.Grad.At(0), 5);
        Assert.Equal(0.8f, b.Grad!.At(0), 5);
        Assert.Equal(1.0, GradClip.ClipGradNorm([a, b], 10), 5); // under the limit: unchanged
        Assert.Equal(0.6f, a.Grad.At(0), 5);

        a.Grad = Tensor.FromArray([3.0f, -0.5f]);
        GradClip.ClipGradValue([a, b], 1.0);
        Assert.Equal([1.0f, -0.5f], a.Grad.ToFloatArray());
        Assert.Equal(4, GradClip.ClipGradNorm([a], 1, double.PositiveInfinity) * 4, 5);
    }

    [Fact]
    public void StateDictHoldsBuffersStepsAndOptions()
    {
        var p = Tensor.Ones([3]).RequiresGrad_();
        var opt = new Adam([p], lr: 0.01);
        p.Grad = Tensor.Ones([3]);
        opt.Step();
        var s = opt.StateDict();
        Assert.Equal(["state.0.exp_avg", "state.0.exp_avg_sq"], s.Tensors.Keys.Order());
        Assert.Equal(1, s.Scalar("state.0.step"));
        Assert.Equal(0.01, s.Scalar("param_groups.0.lr"));
        Assert.Equal(0.999, s.Scalar("param_groups.0.beta2"));

        var other = new Adam([Tensor.Ones([4]).RequiresGrad_()]);
        Assert.Contains("parameter 0 is float32 [4]", Assert.Throws<ArgumentException>(() => other.LoadStateDict(s)).Message);
    }

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void ResumingFromAStateDictContinuesBitwise(string name)
    {
        var x = Tensor.Uniform([32, 3], -1, 1, new Generator(7));
        var y = Tensor.FromArray(Enumerable.Range(0, 32).Select(i => (long)(i % 3)).ToArray());
        Sequential Build(ulong seed) => Models.Mlp(3, [8, 8], 3, dropout: 0.2, generator: new Generator(seed));

        void Train(Module model, Optimizer opt, LRScheduler sched, int steps)
        {
            for (int s = 0; s < steps; s++)
            {
                opt.ZeroGrad();
                Losses.CrossEntropy(model.Forward(x), y).Backward();
                opt.Step();
                sched.Step();
            }
        }

        var model = Build(1);
        var opt = Make(name, model.Parameters());
        var sched = new CosineAnnealingLR(opt, 20);
        Train(model, opt, sched, 5);
        var modelState = model.StateDict();
        var optState = opt.StateDict();
        var schedState = sched.StateDict();
        Train(model, opt, sched, 5);

        var fresh = Build(99);
        var freshOpt = Make(name, fresh.Parameters());
        var freshSched = new CosineAnnealingLR(freshOpt, 20);
        fresh.LoadStateDict(modelState);
        freshOpt.LoadStateDict(optState);
        freshSched.LoadStateDict(schedState);
        Train(fresh, freshOpt, freshSched, 5);

        AssertBitwiseEqual(model.StateDict(), fresh.StateDict());
        Assert.Equal(opt.ParamGroups[0].LearningRate, freshOpt.ParamGroups[0].LearningRate);
        Assert.Equal(10, freshOpt.StepCount);
    }

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void ALoadThatFailsLeavesTheOptimizerAsItWas(string name)
    {
        var p = Tensor.FromArray([1.0, -2.0, 0.5]).RequiresGrad_();
        var opt = Make(name, [p]);
        for (int i = 0; i < 3; i++)
        {
            p.Grad = Tensor.FromArray([0.3, -0.1, 0.2]);
            opt.Step();
        }
        var good = opt.StateDict();
        string Print(StateSnapshot s) => string.Join(";", s.Scalars.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:R}"))
            + string.Join(";", s.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={string.Join(",", kv.Value.ToDoubleArray())}"));
        string before = Print(good);

        void Refused(Action<StateSnapshot> corrupt, string message)
        {
            var bad = new StateSnapshot(new(good.Tensors, StringComparer.Ordinal), new(good.Scalars, StringComparer.Ordinal));
            corrupt(bad);
            var e = Assert.Throws<ArgumentException>(() => opt.LoadStateDict(bad));
            Assert.Contains(message, e.Message);
            Assert.Equal(before, Print(opt.StateDict()));
        }
        Refused(s => s.Scalars["param_groups.0.lr"] = double.NaN, "lr = NaN in parameter group 0 is invalid");
        Refused(s => s.Scalars["param_groups.1.lr"] = 0.1, "parameter group 1, but the optimizer has 1");
        Refused(s => s.Scalars["param_groups.0.nonsense"] = 0.1, "an option 'nonsense' that");
        Refused(s => s.Scalars["state.step"] = 1, "scalar 'state.step' is not a per-parameter step count (expected state.{parameter index}.step)");
        Refused(s => s.Scalars["state.0.step"] = -1, "'state.0.step' = -1 is not a whole number ≥ 0");
        Refused(s => s.Scalars["state.7.step"] = 1, "'state.7.step' names no parameter");
        Refused(s => s.Scalars["step_count"] = double.PositiveInfinity, "'step_count' = Infinity is not a whole number");
        Refused(s => s.Tensors["state.0.bogus"] = Tensor.Zeros([3], DType.Float64), "'state.0.bogus' names a buffer 'bogus'");
        if (name.StartsWith("adam", StringComparison.Ordinal))
        {
            Refused(s => s.Scalars["param_groups.0.eps"] = double.NaN, "eps = NaN in parameter group 0 is invalid");
            Refused(s => s.Scalars["param_groups.0.eps"] = double.NegativeInfinity, "eps = -Infinity in parameter group 0 is invalid");
            Refused(s => s.Scalars["param_groups.0.beta2"] = 1, "beta2 = 1 in parameter group 0 is invalid");
            Refused(s => s.Tensors.Remove("state.0.exp_avg"), "parameter 0 has taken 3 steps but its state lacks 'state.0.exp_avg'");
        }
        opt.LoadStateDict(good);                                       // and the good state still loads
        Assert.Equal(before, Print(opt.StateDict()));
    }

    [Fact]
    public void SgdMayResumeWithoutAMomentumBufferAsPyTorchDoes()
    {
        // Momentum switched on after some plain steps: the buffer does not exist yet, and the first momentum step
        // starts it from the gradient. Such a state must load.
        var p = Tensor.FromArray([1.0, 2.0]).RequiresGrad_();
        var opt = new SGD([p], lr: 0.1);
        p.Grad = Tensor.FromArray([1.0, 1.0]);
        opt.Step();
        var s = opt.StateDict();
        s.Scalars["param_groups.0.momentum"] = 0.9;
        var other = new SGD([Tensor.FromArray([1.0, 2.0]).RequiresGrad_()], lr: 0.1);
        other.LoadStateDict(s);
        Assert.Equal(0.9, other.ParamGroups[0]["momentum"]);
    }

    internal static void AssertBitwiseEqual(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected)
        {
            var w = actual[k];
            Assert.Equal(v.DType, w.DType);
            if (v.DType == DType.Float32)
                Assert.True(v.ToArray<float>().Select(BitConverter.SingleToInt32Bits).SequenceEqual(w.ToArray<float>().Select(BitConverter.SingleToInt32Bits)), $"'{k}' differs");
            else if (v.DType == DType.Int64)
                Assert.Equal(v.ToArray<long>(), w.ToArray<long>());
            else
                Assert.True(v.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits).SequenceEqual(w.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits)), $"'{k}' differs");
        }
    }
}
