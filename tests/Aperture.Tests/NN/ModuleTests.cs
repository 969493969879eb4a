using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.NN;

public class ModuleTests
{
    private static Sequential SmallMlp(ulong seed = 1) => Models.Mlp(4, [5], 3, generator: new Generator(seed));

    [Fact]
    public void ParametersHaveDottedNamesInRegistrationOrder()
    {
        var model = SmallMlp();
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], model.NamedParameters().Select(p => p.Name));
        Assert.Equal([5, 4], model.GetParameter("0.weight").ShapeArray());
        Assert.Same(model.GetParameter("2.bias"), ((Linear)model[2]).Bias);
        Assert.Equal(4 * 5 + 5 + 5 * 3 + 3, model.ParameterCount());
        Assert.All(model.Parameters(), p => Assert.True(p.RequiresGrad && p.IsLeaf));
    }

    [Fact]
    public void SharedModulesAppearOnceInParameters()
    {
        var g = new Generator(0);
        var shared = new Linear(3, 3, generator: g);
        var model = new Sequential(shared, new ReLU(), shared);
        Assert.Equal(4, model.NamedParameters().Count());
        Assert.Equal(2, model.Parameters().Count());
    }

    [Fact]
    public void LookupErrorsNameWhatExists()
    {
        var model = SmallMlp();
        var e = Assert.Throws<KeyNotFoundException>(() => model.GetParameter("0.wieght"));
        Assert.Contains("weight, bias", e.Message);
        Assert.Throws<KeyNotFoundException>(() => model.GetSubmodule("7"));
        Assert.Same(model[2], model.GetSubmodule("2"));
    }

    [Fact]
    public void TrainAndEvalReachEveryDescendant()
    {
        var model = Models.Mlp(4, [5, 5], 2, dropout: 0.5, batchNorm: true, generator: new Generator(0));
        model.Eval();
        Assert.All(model.Modules(), m => Assert.False(m.Training));
        model.Train();
        Assert.All(model.Modules(), m => Assert.True(m.Training));
    }

    [Fact]
    public void StateDictIsACopyAndRoundTrips()
    {
        var a = SmallMlp(1);
        var b = SmallMlp(2);
        var sd = a.StateDict();
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], sd.Keys);
        using (Aperture.Autodiff.NoGrad()) Ops.AddInPlace(a.GetParameter("0.weight"), Tensor.OnesLike(a.GetParameter("0.weight")));
        Assert.NotEqual(a.GetParameter("0.weight").ToFloatArray(), sd["0.weight"].ToFloatArray());

        var weight = b.GetParameter("0.weight");
        var result = b.LoadStateDict(sd);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Same(weight, b.GetParameter("0.weight")); // loaded in place
        foreach (var (k, v) in sd) Assert.Equal(v.ToFloatArray(), b.GetParameter(k).ToFloatArray());
    }

    [Fact]
    public void StrictLoadReportsMissingAndUnexpectedKeysAndChangesNothing()
    {
        var a = SmallMlp(1);
        var before = a.StateDict();
        var sd = SmallMlp(2).StateDict();
        sd.Remove("2.bias");
        sd["head.weight"] = Tensor.Zeros([1]);
        var e = Assert.Throws<ArgumentException>(() => a.LoadStateDict(sd));
        Assert.Contains("missing keys: 2.bias", e.Message);
        Assert.Contains("unexpected keys: head.weight", e.Message);
        foreach (var (k, v) in before) Assert.Equal(v.ToFloatArray(), a.GetParameter(k).ToFloatArray());

        var result = a.LoadStateDict(sd, strict: false);
        Assert.Equal(["2.bias"], result.MissingKeys);
        Assert.Equal(["head.weight"], result.UnexpectedKeys);
        Assert.Equal(sd["0.weight"].ToFloatArray(), a.GetParameter("0.weight").ToFloatArray());
    }

    [Fact]
    public void ShapeMismatchOnLoadNamesTheKeyAndBothShapes()
    {
        var a = Models.Mlp(4, [5], 3, generator: new Generator(0));
        var b = Models.Mlp(4, [5], 2, generator: new Generator(0));
        var e = Assert.Throws<ArgumentException>(() => b.LoadStateDict(a.StateDict(), strict: false));
        Assert.Contains("'2.weight' has shape [3, 5] in the state dict but [2, 5] in Linear(5 → 2)", e.Message);
    }

    [Fact]
    public void FreezingAModuleStopsGradientsAndUpdates()
    {
        var model = SmallMlp();
        model[0].Freeze();
        var opt = new SGD(model.Parameters(), lr: 0.1);
        var frozen = model.GetParameter("0.weight").ToFloatArray();
        var head = model.GetParameter("2.weight").ToFloatArray();
        var x = Tensor.Randn([8, 4], new Generator(3));
        Losses.Mse(model.Forward(x), Tensor.Zeros([8, 3])).Backward();
        Assert.Null(model.GetParameter("0.weight").Grad);
        Assert.NotNull(model.GetParameter("2.weight").Grad);
        opt.Step();
        Assert.Equal(frozen, model.GetParameter("0.weight").ToFloatArray());
        Assert.NotEqual(head, model.GetParameter("2.weight").ToFloatArray());
        Assert.Equal(5 * 3 + 3, model.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void FreezingOneParameterLeavesItUnchanged()
    {
        var model = SmallMlp();
        var bias = model.GetParameter("2.bias");
        bias.RequiresGrad = false;
        var before = bias.ToFloatArray();
        var opt = new Adam(model.Parameters(), lr: 0.1);
        for (int i = 0; i < 3; i++)
        {
            opt.ZeroGrad();
            Losses.Mse(model.Forward(Tensor.Ones([2, 4])), Tensor.Zeros([2, 3])).Backward();
            opt.Step();
        }
        Assert.Equal(before, bias.ToFloatArray());
        model.Unfreeze();
        Assert.True(bias.RequiresGrad);
    }

    [Fact]
    public void ForwardHookReadsAndReplacesOutputs()
    {
        var model = SmallMlp();
        Tensor? seen = null;
        using (model[1].RegisterForwardHook((m, input, output) => { seen = output; return null; }))
        {
            var y = model.Forward(Tensor.Ones([2, 4]));
            Assert.NotNull(seen);
            Assert.Equal([2, 5], seen!.ShapeArray());
            Assert.All(seen.ToFloatArray(), v => Assert.True(v >= 0)); // after ReLU
        }

        // Replacing the hidden activations with zeros leaves only the head's bias.
        var handle = model[1].RegisterForwardHook((m, input, output) => Tensor.ZerosLike(output));
        var patched = model.Forward(Tensor.Ones([2, 4]));
        var bias = model.GetParameter("2.bias").ToFloatArray();
        Assert.Equal(bias.Concat(bias), patched.ToFloatArray());
        handle.Remove();
        Assert.NotEqual(bias.Concat(bias), model.Forward(Tensor.Ones([2, 4])).ToFloatArray());
        seen = null;
        model.Forward(Tensor.Ones([1, 4]));
        Assert.Null(seen); // the first hook was removed by its using block
    }

    [Fact]
    public void ForwardPreHookReplacesInputs()
    {
        var layer = new Linear(2, 1, bias: false, weightInit: Init.Ones());
        layer.RegisterForwardPreHook((m, x) => Ops.Mul(x, 2.0));
        Assert.Equal(6f, layer.Forward(Tensor.FromArray([1f, 2f], [1, 2])).Item(), 6);
    }

    [Fact]
    public void ToConvertsEveryParameterAndBuffer()
    {
        var model = Models.Mlp(3, [4], 2, batchNorm: true, generator: new Generator(0));
        var before = model.GetParameter("0.weight").ToDoubleArray();
        model.To(DType.Float64);
        Assert.All(model.Parameters(), p => Assert.Equal(DType.Float64, p.DType));
        Assert.Equal(DType.Float64, model.GetBuffer("1.running_mean").DType);
        Assert.Equal(DType.Int64, model.GetBuffer("1.num_batches_tracked").DType);
        Assert.Equal(before, model.GetParameter("0.weight").ToDoubleArray());
        Assert.Equal(DType.Float64, model.Forward(Tensor.Ones([2, 3], DType.Float64)).DType);
    }

    [Fact]
    public void ApplyVisitsChildrenFirst()
    {
        var model = SmallMlp();
        var order = new List<string>();
        model.Apply(m => order.Add(m.Describe()));
        Assert.Equal(["Linear(4 → 5)", "ReLU()", "Linear(5 → 3)", "Sequential()"], order);
        var g = new Generator(3);
        model.Apply(m => { if (m is Linear l) Init.XavierUniform().Apply(l.Weight, g); });
        Assert.Equal(Init.XavierUniform().Sample([5, 4], DType.Float32, new Generator(3)).ToFloatArray(), model.GetParameter("0.weight").ToFloatArray());
    }

    [Fact]
    public void PrintsLikePyTorch()
    {
        var model = new Sequential(new Linear(784, 256, generator: new Generator(0)), new ReLU(), new Linear(256, 10, bias: false, generator: new Generator(0)));
        Assert.Equal("Sequential(\n  (0): Linear(784 → 256)\n  (1): ReLU()\n  (2): Linear(256 → 10, bias: false)\n)", model.ToString());
    }

    [Fact]
    public void RandomInitializationWithoutAGeneratorIsAClearError()
    {
        var e = Assert.Throws<ArgumentNullException>(() => new Linear(3, 2));
        Assert.Contains("Linear(3 → 2)", e.Message);
        Assert.Contains("Generator", e.Message);
        var constant = new Linear(3, 2, weightInit: Init.Zeros(), biasInit: Init.Constant(0.5));
        Assert.Equal([0.5f, 0.5f], constant.Bias!.ToFloatArray());
    }

    [Fact]
    public void SameSeedGivesTheSameModel()
    {
        var a = Models.Mlp(6, [7, 7], 3, generator: new Generator(42));
        var b = Models.Mlp(6, [7, 7], 3, generator: new Generator(42));
        var c = Models.Mlp(6, [7, 7], 3, generator: new Generator(43));
        foreach (var (k, v) in a.StateDict())
            Assert.Equal(v.ToFloatArray(), b.StateDict()[k].ToFloatArray());
        Assert.NotEqual(a.GetParameter("0.weight").ToFloatArray(), c.GetParameter("0.weight").ToFloatArray());
    }

    [Fact]
    public void DropoutDoesNotChangeTheInitialWeights()
    {
        var plain = Models.Mlp(6, [7, 7], 3, generator: new Generator(5));
        var dropped = Models.Mlp(6, [7, 7], 3, dropout: 0.5, generator: new Generator(5));
        var connect = Models.Mlp(6, [7, 7], 3, dropout: 0.5, dropoutKind: "dropconnect", generator: new Generator(5));
        Assert.Equal(["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"], dropped.NamedParameters().Select(p => p.Name));
        Assert.Equal(["2.generator", "5.generator"], dropped.NamedGenerators().Select(g => g.Name));
        Assert.Equal(plain.GetParameter("0.weight").ToFloatArray(), dropped.GetParameter("0.weight").ToFloatArray());
        Assert.Equal(plain.GetParameter("4.weight").ToFloatArray(), dropped.GetParameter("6.weight").ToFloatArray());
        Assert.IsType<DropConnect>(connect[0]);
        Assert.Equal(plain.GetParameter("0.weight").ToFloatArray(), connect.GetParameter("0.weight").ToFloatArray());
        Assert.Equal(plain.GetParameter("2.weight").ToFloatArray(), connect.GetParameter("2.weight").ToFloatArray());
        Assert.Equal(plain.GetParameter("4.bias").ToFloatArray(), connect.GetParameter("4.bias").ToFloatArray());
    }

    [Fact]
    public void DeepLinearNetworkIsAProductOfMatrices()
    {
        var net = Models.DeepLinear([3, 4, 4, 2], generator: new Generator(0), dtype: DType.Float64);
        Assert.Equal(["0.weight", "2.weight", "4.weight"], net.NamedParameters().Select(p => p.Name));
        var x = Tensor.Randn([5, 3], new Generator(1), DType.Float64);
        var w = net.GetParameter("4.weight").MatMul(net.GetParameter("2.weight")).MatMul(net.GetParameter("0.weight"));
        var expected = x.MatMul(w.T).ToDoubleArray();
        var actual = net.Forward(x).ToDoubleArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
    }
}
