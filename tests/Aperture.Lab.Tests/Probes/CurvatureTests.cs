using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class CurvatureTests
{
    /// <summary>A small float64 MLP (6 → 12 → 8 → 3, P = 215) and 40 labelled random inputs.</summary>
    private static (Sequential Net, Tensor X, Tensor Y) Problem(string activation = "tanh", ulong seed = 1)
    {
        var net = Models.Mlp(6, [12, 8], 3, activation, generator: new Generator(seed), dtype: DType.Float64);
        var x = Tensor.Randn([40, 6], new Generator(seed + 100), DType.Float64);
        var y = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => (long)((i * 7 + (int)seed) % 3)).ToArray(), [40]);
        return (net, x, y);
    }

    /// <summary>The dense Hessian of the loss over the given parameters, column by column from P Hessian-vector products.</summary>
    internal static double[] DenseHessian(EmpiricalLoss loss, IReadOnlyList<Tensor> ps)
    {
        int n = EmpiricalLoss.Count(ps);
        var h = new double[n * n];
        var e = new double[n];
        var col = new double[n];
        var op = loss.Hessian(ps);
        for (int j = 0; j < n; j++)
        {
            e[j] = 1;
            op(e, col);
            e[j] = 0;
            for (int i = 0; i < n; i++) h[i * n + j] = col[i];
        }
        return h;
    }

    private static double[] Eigenvalues(double[] h, int n) => Linalg.SymmetricEigen(Tensor.FromArray(h, [n, n])).Values.ToDoubleArray();

    [Fact]
    public void LanczosMatchesTheDenseHessiansExtremeEigenvalues()
    {
        var (net, x, y) = Problem();
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        int n = loss.ParameterCount;
        Assert.Equal(215, n);
        var h = DenseHessian(loss, loss.Select(null));
        // The Hessian built from HVPs is symmetric (forward-over-reverse is exact, not a finite difference).
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) Assert.Equal(h[i * n + j], h[j * n + i], 1e-12);
        var lam = Eigenvalues(h, n);
        Assert.True(lam[0] < -1e-4, $"the test wants an indefinite Hessian, got λ_min = {lam[0]}");

        var top = Curvature.TopEigenvalues(loss, 3, seed: 4, tolerance: 1e-10);
        Assert.True(top.Converged);
        Assert.Equal("model", top.Group);
        Assert.Equal(215, top.Parameters);
        for (int i = 0; i < 3; i++)
            Assert.True(Math.Abs(top.Values[i] - lam[n - 1 - i]) <= 1e-8 * Math.Abs(lam[n - 1]), $"λ_{i}: {top.Values[i]} vs {lam[n - 1 - i]}");
        Assert.True(top.HessianVectorProducts < n, $"{top.HessianVectorProducts} HVPs");

        var bottom = Curvature.MostNegativeEigenvalues(loss, 1, seed: 4, tolerance: 1e-10, maxSteps: n, vectors: true);
        Assert.True(Math.Abs(bottom.Values[0] - lam[0]) <= 1e-8 * Math.Abs(lam[n - 1]), $"{bottom.Values[0]} vs {lam[0]}");
        // The eigenvectors are eigenvectors of the dense Hessian: ‖H·u − λ·u‖ ≤ 1e-7·λ_max, ‖u‖ = 1.
        var withVectors = Curvature.TopEigenvalues(loss, 2, seed: 4, tolerance: 1e-10, vectors: true);
        Assert.Empty(top.Vectors);
        foreach (var (value, u) in withVectors.Values.Zip(withVectors.Vectors).Append((bottom.Values[0], bottom.Vectors[0])))
        {
            Assert.Equal(1, u.Sum(c => c * c), 1e-12);
            double res = 0;
            for (int i = 0; i < n; i++)
            {
                double hu = 0;
                for (int j = 0; j < n; j++) hu += h[i * n + j] * u[j];
                res += (hu - value * u[i]) * (hu - value * u[i]);
            }
            Assert.True(Math.Sqrt(res) <= 1e-7 * lam[n - 1], $"residual {Math.Sqrt(res)} for λ = {value}");
        }
    }

    [Fact]
    public void EachLayersEigenvaluesAreThoseOfItsDiagonalBlock()
    {
        var (net, x, y) = Problem();
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        var all = loss.Parameters.Select(p => p.Name).ToList();
        int n = loss.ParameterCount;
        var h = DenseHessian(loss, loss.Select(null));
        var layers = loss.Layers();
        Assert.Equal(["0", "2", "4"], layers.Select(g => g.Name));
        Assert.Equal(["2.weight", "2.bias"], layers[1].ParameterNames);
        // The block's rows and columns in the full Hessian.
        var offsets = new Dictionary<string, (int Start, int Count)>();
        int at = 0;
        foreach (var (name, p) in loss.Parameters) { offsets[name] = (at, p.Numel); at += p.Numel; }
        foreach (var g in layers)
        {
            var idx = g.ParameterNames.SelectMany(nm => Enumerable.Range(offsets[nm].Start, offsets[nm].Count)).ToArray();
            int m = idx.Length;
            var block = new double[m * m];
            for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) block[i * m + j] = h[idx[i] * n + idx[j]];
            var lam = Eigenvalues(block, m);
            var r = Curvature.TopEigenvalues(loss, 1, seed: 2, group: g, tolerance: 1e-10);
            Assert.Equal(g.Name, r.Group);
            Assert.Equal(m, r.Parameters);
            Assert.True(Math.Abs(r.Values[0] - lam[m - 1]) <= 1e-8 * Math.Abs(lam[m - 1]), $"group {g.Name}: {r.Values[0]} vs {lam[m - 1]}");
        }
        var report = Curvature.Report(loss, k: 2, seed: 3, traceProbes: 4, densityProbes: 1, densitySteps: 10);
        Assert.Equal(["model", "0", "2", "4"], report.Select(c => c.Top.Group));
        Assert.All(report, c => { Assert.NotNull(c.Trace); Assert.NotNull(c.Density); Assert.Null(c.Bottom); });
        Assert.Contains("not a trainable parameter", Assert.Throws<ArgumentException>(() => loss.Select(new ParameterGroup("x", ["9.weight"]))).Message);
    }

    [Fact]
    public void HutchinsonsTraceLiesWithinThreeStandardErrorsOfTheExactTrace()
    {
        var (net, x, y) = Problem();
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        int n = loss.ParameterCount;
        var h = DenseHessian(loss, loss.Select(null));
        double trace = Enumerable.Range(0, n).Sum(i => h[i * n + i]);
        var t = Curvature.Trace(loss, probes: 200, seed: 5);
        Assert.Equal(200, t.Probes);
        Assert.True(Math.Abs(t.Mean - trace) <= 3 * t.StandardError, $"{t.Mean} ± {t.StandardError} vs {trace}");
        Assert.True(t.Low < trace && trace < t.High);
        Assert.True(t.StandardError > 0);
        // Deterministic for a seed, different for another.
        Assert.Equal(t, Curvature.Trace(loss, probes: 200, seed: 5));
        Assert.NotEqual(t.Mean, Curvature.Trace(loss, probes: 200, seed: 6).Mean);
    }

    [Fact]
    public void TheDensitysFirstTwoMomentsAreTheNormalizedTracesOfHAndHSquared()
    {
        var (net, x, y) = Problem();
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        int n = loss.ParameterCount;
        var h = DenseHessian(loss, loss.Select(null));
        double tr = 0, tr2 = 0;
        for (int i = 0; i < n; i++) { tr += h[i * n + i]; for (int j = 0; j < n; j++) tr2 += h[i * n + j] * h[j * n + i]; }
        var d = Curvature.Density(loss, steps: 30, probes: 40, seed: 7);
        Assert.Equal(40, d.Density.Probes);
        Assert.All(d.Density.Weights, w => Assert.Equal(1, w.Sum(), 1e-12));
        var m1 = d.Density.ProbeMoments(1);
        var m2 = d.Density.ProbeMoments(2);
        Assert.True(Math.Abs(d.Density.Moment(1) - tr / n) <= 3 * StdErr(m1), $"{d.Density.Moment(1)} vs {tr / n} ± {StdErr(m1)}");
        Assert.True(Math.Abs(d.Density.Moment(2) - tr2 / n) <= 3 * StdErr(m2), $"{d.Density.Moment(2)} vs {tr2 / n} ± {StdErr(m2)}");
        // With a Krylov space as large as the problem, one probe's nodes are the exact eigenvalues.
        var full = Curvature.Density(loss, steps: n, probes: 1, seed: 7);
        var lam = Eigenvalues(h, n);
        Assert.Equal(lam[^1], full.Density.Nodes[0][^1], 1e-9 * lam[^1]);
        Assert.Equal(lam[0], full.Density.Nodes[0][0], 1e-9 * lam[^1]);
    }

    private static double StdErr(double[] x)
    {
        double mean = x.Average();
        return Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1) / x.Length);
    }

    [Fact]
    public void TheWholeSetBatchByBatchIsTheSameLossAndHessianAsOneBatch()
    {
        var (net, x, y) = Problem();
        var one = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        var batched = new EmpiricalLoss(net, new Aperture.Data.TensorDataset(x, y), 7, BatchNormMode.Eval); // 40 = 5·7 + 5: unequal weights
        Assert.Equal(6, batched.Batches);
        Assert.Equal(one.Value(), batched.Value(), 1e-14);
        int n = one.ParameterCount;
        var v = Enumerable.Range(0, n).Select(i => Math.Sin(i)).ToArray();
        var a = new double[n];
        var b = new double[n];
        one.Hessian(one.Select(null))(v, a);
        batched.Hessian(batched.Select(null))(v, b);
        for (int i = 0; i < n; i++) Assert.Equal(a[i], b[i], 1e-13);
        Assert.Equal(Curvature.TopEigenvalues(one, 1, 0, tolerance: 1e-10).Values[0], Curvature.TopEigenvalues(batched, 1, 0, tolerance: 1e-10).Values[0], 1e-9);
    }

    [Fact]
    public void BatchNormModeIsExplicitRecordedAndLeavesTheModelAsItWas()
    {
        var net = Models.Mlp(5, [7], 3, "relu", batchNorm: true, generator: new Generator(3), dtype: DType.Float64);
        var x = Tensor.Randn([16, 5], new Generator(4), DType.Float64);
        var y = Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (long)(i % 3)).ToArray(), [16]);
        net.Train();
        var state = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        var train = Curvature.TopEigenvalues(new EmpiricalLoss(net, x, y, BatchNormMode.Train), 1, 0, tolerance: 1e-9);
        var eval = Curvature.TopEigenvalues(new EmpiricalLoss(net, x, y, BatchNormMode.Eval), 1, 0, tolerance: 1e-9);
        Assert.Equal(BatchNormMode.Train, train.BatchNorm);
        Assert.Equal(BatchNormMode.Eval, eval.BatchNorm);
        Assert.NotEqual(train.Values[0], eval.Values[0], 1e-6); // batch statistics vs running statistics: different functions
        Assert.All(net.Modules(), m => Assert.True(m.Training));
        foreach (var (name, t) in net.StateDict()) Assert.Equal(state[name], t.ToDoubleArray()); // running stats restored
        // Repeating a training-mode measurement gives the same bits (nothing drifted).
        var again = Curvature.TopEigenvalues(new EmpiricalLoss(net, x, y, BatchNormMode.Train), 1, 0, tolerance: 1e-9);
        Assert.Equal(train.Values, again.Values);
        Assert.Equal(train.Residuals, again.Residuals);
    }

    [Fact]
    public void TheDinhRescalingKeepsTheLogitsAndChangesTheCurvatureAsPredicted()
    {
        var (net, x, y) = Problem("relu", seed: 3);
        var before = net.Forward(x).ToDoubleArray();
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        int n = loss.ParameterCount;
        var h = DenseHessian(loss, loss.Select(null));
        var topBefore = Curvature.TopEigenvalues(loss, 1, 0, tolerance: 1e-10).Values[0];
        var w2Before = Curvature.TopEigenvalues(loss, 1, 0, new ParameterGroup("w2", ["2.weight"]), 1e-10).Values[0];

        double[] alphas = [4.0, 0.125, 2.0];
        var scales = Reparametrization.ParameterScales(net, alphas);
        Assert.Equal(4.0, scales["0.bias"]);
        Assert.Equal(0.5, scales["2.bias"]);
        Assert.Equal(0.125, scales["2.weight"]);
        Assert.Equal(1.0, scales["4.bias"]);
        Reparametrization.ScaleLayers(net, alphas);
        var after = net.Forward(x).ToDoubleArray();
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], after[i], 1e-12 * Math.Max(1, Math.Abs(before[i])));

        // Predicted: H' = D⁻¹·H·D⁻¹ with D the parameter scales.
        var d = loss.Parameters.SelectMany(p => Enumerable.Repeat(scales[p.Name], p.Parameter.Numel)).ToArray();
        var predicted = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) predicted[i * n + j] = h[i * n + j] / (d[i] * d[j]);
        double lamPredicted = Eigenvalues(predicted, n)[^1];
        var topAfter = Curvature.TopEigenvalues(loss, 1, 0, tolerance: 1e-10).Values[0];
        Assert.True(Math.Abs(topAfter - lamPredicted) <= 1e-8 * lamPredicted, $"{topAfter} vs predicted {lamPredicted}");
        Assert.True(topAfter > 5 * topBefore, $"the rescaling should sharpen the minimum: {topBefore} → {topAfter}");
        // A layer's weight block scales by exactly 1/α_k².
        var w2After = Curvature.TopEigenvalues(loss, 1, 0, new ParameterGroup("w2", ["2.weight"]), 1e-10).Values[0];
        Assert.Equal(w2Before / (0.125 * 0.125), w2After, 1e-8 * w2After);
    }

    [Fact]
    public void TheRescalingRefusesWhatWouldChangeTheFunction()
    {
        var (tanh, _, _) = Problem("tanh");
        Assert.Contains("layer 1 (Tanh", Assert.Throws<ArgumentException>(() => Reparametrization.ScaleLayers(tanh, [1.0, 1, 1])).Message);
        var (relu, _, _) = Problem("relu");
        var state = relu.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        Assert.Contains("multiply to", Assert.Throws<ArgumentException>(() => Reparametrization.ScaleLayers(relu, [2.0, 1, 1])).Message);
        Assert.Contains("2 scale factors for 3 weight layers", Assert.Throws<ArgumentException>(() => Reparametrization.ScaleLayers(relu, [2.0, 0.5])).Message);
        Assert.Contains("positive", Assert.Throws<ArgumentOutOfRangeException>(() => Reparametrization.ScaleLayers(relu, [-1.0, -1, 1])).Message);
        foreach (var (name, t) in relu.StateDict()) Assert.Equal(state[name], t.ToDoubleArray());
    }

    [Fact]
    public void EpsilonSharpnessOfALossLinearInTheParametersIsTheBoxsExactMaximum()
    {
        // L(w) = mean(X·wᵀ + b) is linear in (w, b): its maximum over the box is L + Σ ε(|θ_i| + 1)·|∂L/∂θ_i|.
        var net = new Linear(3, 1, generator: new Generator(8), dtype: DType.Float64);
        var x = Tensor.Randn([10, 3], new Generator(9), DType.Float64);
        var y = Tensor.Zeros([10, 1], DType.Float64);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval, (o, _) => Ops.Mean(o));
        var theta = EmpiricalLoss.Flatten(loss.Select(null));
        var (l0, g) = loss.ValueAndGradient(loss.Select(null));
        const double eps = 1e-3;
        double rise = theta.Select((t, i) => eps * (Math.Abs(t) + 1) * Math.Abs(g[i])).Sum();
        var s = Sharpness.Epsilon(loss, eps, steps: 10, seed: 1);
        Assert.Equal(l0, s.Loss, 1e-14);
        Assert.Equal(l0 + rise, s.MaxLoss, 1e-13);
        Assert.Equal(100 * rise / (1 + l0), s.Value, 1e-10);
        Assert.Equal(theta, EmpiricalLoss.Flatten(loss.Select(null))); // restored
    }

    [Fact]
    public void EpsilonSharpnessOfAConvexQuadraticReachesTheBestVertex()
    {
        // A convex loss attains its maximum over a box at a vertex; with 4 parameters there are 16 to check.
        var net = new Linear(3, 1, generator: new Generator(10), dtype: DType.Float64);
        var x = Tensor.Randn([12, 3], new Generator(11), DType.Float64);
        var y = Tensor.Randn([12, 1], new Generator(12), DType.Float64);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval, (o, t) => Losses.Mse(o, t));
        var ps = loss.Select(null);
        var theta = EmpiricalLoss.Flatten(ps);
        const double eps = 0.05;
        double best = double.NegativeInfinity;
        for (int mask = 0; mask < 16; mask++)
        {
            EmpiricalLoss.Load(ps, theta.Select((t, i) => t + ((mask >> i & 1) == 1 ? 1 : -1) * eps * (Math.Abs(t) + 1)).ToArray());
            best = Math.Max(best, loss.Value());
        }
        EmpiricalLoss.Load(ps, theta);
        double l0 = loss.Value();
        var s = Sharpness.Epsilon(loss, eps, steps: 20, seed: 2);
        Assert.Equal(best, s.MaxLoss, 1e-12);
        Assert.Equal(100 * (best - l0) / (1 + l0), s.Value, 1e-9);
        Assert.Equal(s, Sharpness.Epsilon(loss, eps, steps: 20, seed: 2));
    }
    [Fact]
    public void BadArgumentsAreClearErrors()
    {
        var (net, x, y) = Problem();
        Assert.Contains("batch size must be at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => new EmpiricalLoss(net, x, y, BatchNormMode.Eval, batchSize: 0)).Message);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        Assert.Contains("k must be in 1..215", Assert.Throws<ArgumentOutOfRangeException>(() => Curvature.TopEigenvalues(loss, 216)).Message);
        Assert.Contains("at least 2 probes", Assert.Throws<ArgumentOutOfRangeException>(() => Curvature.Trace(loss, probes: 1)).Message);
        Assert.Contains("epsilon must be positive", Assert.Throws<ArgumentOutOfRangeException>(() => Sharpness.Epsilon(loss, epsilon: 0)).Message);
        Assert.Contains("214 values for 215", Assert.Throws<ShapeMismatchException>(() => EmpiricalLoss.Load(loss.Select(null), new double[214])).Message);
        net.Freeze();
        Assert.Contains("no trainable parameters", Assert.Throws<ArgumentException>(() => new EmpiricalLoss(net, x, y, BatchNormMode.Eval)).Message);
    }
}
