using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class PiecewiseLinearOfTests
{
    [Fact]
    public void SawtoothNetGivesTheSamePiecesAsAnalyze()
    {
        // Telgarsky's tent map composed three times: 2³ pieces on [0, 1] and one flat piece on each side.
        var layers = new List<Module> { new Linear(1, 2, generator: new Generator(0), dtype: DType.Float64), new ReLU() };
        for (int l = 1; l < 3; l++) { layers.Add(new Linear(2, 2, generator: new Generator(0), dtype: DType.Float64)); layers.Add(new ReLU()); }
        layers.Add(new Linear(2, 1, generator: new Generator(0), dtype: DType.Float64));
        var net = new Sequential(layers);
        var linears = net.Modules().OfType<Linear>().ToList();
        ProbeHelpers.Set(linears[0].GetParameter("weight"), 1, 1);
        ProbeHelpers.Set(linears[0].GetParameter("bias"), 0, -0.5);
        for (int l = 1; l < 3; l++)
        {
            ProbeHelpers.Set(linears[l].GetParameter("weight"), 2, -4, 2, -4);
            ProbeHelpers.Set(linears[l].GetParameter("bias"), 0, -0.5);
        }
        ProbeHelpers.Set(linears[3].GetParameter("weight"), 2, -4);
        ProbeHelpers.Set(linears[3].GetParameter("bias"), 0);

        var f = PiecewiseLinear.Of(net);
        Assert.Equal(10, f.Pieces.Count);
        var hinges = f.Hinges.ToArray();
        for (int k = 0; k <= 8; k++) Assert.Equal(k / 8.0, hinges[k], 1e-12);
        Assert.Equal(1, f.Evaluate(1 / 8.0), 12);
    }

    [Fact]
    public void RandomNetMatchesAnalyzeAndItsOwnOutputs()
    {
        var net = Models.Mlp(1, [6, 5], 1, "relu", generator: new Generator(11), dtype: DType.Float64);
        var f = PiecewiseLinear.Of(net);
        var linears = net.Modules().OfType<Linear>().ToList();
        var weights = linears.Select(l =>
        {
            var w = l.GetParameter("weight");
            var flat = w.ToDoubleArray();
            var m = new double[w.Size(0), w.Size(1)];
            for (int i = 0; i < w.Size(0); i++)
                for (int j = 0; j < w.Size(1); j++) m[i, j] = flat[i * w.Size(1) + j];
            return m;
        }).ToList();
        var g = PiecewiseLinear.Analyze(weights, [.. linears.Select(l => l.GetParameter("bias").ToDoubleArray())]);
        Assert.Equal(g.Pieces, f.Pieces);
        Assert.Equal(g.RegionBoundaries, f.RegionBoundaries);
        double[] xs = [.. Enumerable.Range(-40, 81).Select(i => i / 10.0)];
        var ys = net.Forward(Tensor.FromArray(xs, [xs.Length, 1])).ToDoubleArray();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(ys[i], f.Evaluate(xs[i]), 1e-10);
    }
}
