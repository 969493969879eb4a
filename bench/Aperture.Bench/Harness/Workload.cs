namespace Aperture.Bench.Harness;

/// <summary>What a workload computes; each engine implements every kind the same way.</summary>
public enum WorkloadKind
{
    /// <summary>C = A·B, float32, square.</summary>
    Gemm,
    /// <summary>A ReLU MLP training step: forward, loss, backward, SGD with momentum.</summary>
    MlpTrain,
    /// <summary>A ReLU MLP forward pass without autodiff.</summary>
    MlpInfer,
    /// <summary>A LeNet-5 training step on 1×28×28 images.</summary>
    LeNetTrain,
    /// <summary>One Adam step over fixed gradients.</summary>
    Adam,
    /// <summary>The gradient of a ReLU MLP's cross-entropy over the parameters (no optimizer): the HVP's baseline.</summary>
    MlpGradient,
    /// <summary>A Hessian-vector product of the same loss over the parameters, along a fixed direction.</summary>
    MlpHvp,
    /// <summary>
    /// One SGLD step of the local learning coefficient's sampler on a deep linear network (no biases): forward, ½·mean
    /// squared error, backward, Δw = −(ε/2)·[nβ·∇L_B + γ·(w − w*)] + √ε·N(0, I).
    /// </summary>
    SgldStep,
}

/// <summary>
/// One benchmark workload: its name (the JSON key), what it computes, how much work one iteration is, and the
/// numbers that shape it. Iterations are counted in <see cref="Unit"/>: samples/s for training and inference,
/// GFLOP/s for GEMM, steps/s for Adam.
/// </summary>
public sealed record Workload(string Name, WorkloadKind Kind, string Title)
{
    /// <summary>Layer widths of an MLP, input first.</summary>
    public int[] Sizes { get; init; } = [];

    /// <summary>Samples per step.</summary>
    public int Batch { get; init; }

    /// <summary>Mean squared error instead of cross-entropy (the tiny regression MLP).</summary>
    public bool Mse { get; init; }

    /// <summary>Matrix size of a GEMM.</summary>
    public int N { get; init; }

    /// <summary>Parameter tensor shapes of an Adam step.</summary>
    public int[][] ParamShapes { get; init; } = [];

    /// <summary>Learning rate (SGD or Adam).</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>SGLD: nβ.</summary>
    public double NBeta { get; init; } = 1000 / Math.Log(1000);

    /// <summary>SGLD: the localization strength γ.</summary>
    public double Localization { get; init; } = 1;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>The unit of the reported figure (higher is better for all).</summary>
    public string Unit => Kind switch
    {
        WorkloadKind.Gemm => "GFLOP/s",
        WorkloadKind.Adam or WorkloadKind.SgldStep => "steps/s",
        _ => "samples/s",
    };

    /// <summary>How many units one iteration is worth (GFLOP, samples or steps).</summary>
    public double UnitsPerIteration => Kind switch
    {
        WorkloadKind.Gemm => 2.0 * N * N * N / 1e9,
        WorkloadKind.Adam or WorkloadKind.SgldStep => 1,
        _ => Batch,
    };

    /// <summary>The number of parameters of an Adam workload.</summary>
    public long ParamCount => ParamShapes.Sum(s => (long)s.Aggregate(1, (a, b) => a * b));

    /// <summary>Every workload of a full run, in the order they are reported.</summary>
    public static IReadOnlyList<Workload> Full { get; } = Build();

    /// <summary>The shortened set of <c>--quick</c>: one of each kind, on the smaller shapes.</summary>
    public static IReadOnlyList<Workload> Quick { get; } =
        [.. Full.Where(w => w.Name is "gemm-256" or "mlp-b32" or "tiny-mlp-b16" or "lenet5-b64" or "mlp-infer-b1" or "adam-1m-2t" or "mlp-grad-b256" or "mlp-hvp-b256" or "sgld-dln-10k")];

    private static List<Workload> Build()
    {
        var list = new List<Workload>();
        foreach (int n in (int[])[256, 512, 1024, 2048])
            list.Add(new($"gemm-{n}", WorkloadKind.Gemm, $"GEMM fp32 {n}×{n}·{n}×{n}") { N = n });
        list.Add(new("mlp-b128", WorkloadKind.MlpTrain, "MLP 784-256-256-10 training, batch 128") { Sizes = [784, 256, 256, 10], Batch = 128 });
        list.Add(new("mlp-b32", WorkloadKind.MlpTrain, "MLP 784-256-256-10 training, batch 32") { Sizes = [784, 256, 256, 10], Batch = 32 });
        list.Add(new("wide-mlp-b256", WorkloadKind.MlpTrain, "wide MLP 784-1024-1024-10 training, batch 256") { Sizes = [784, 1024, 1024, 10], Batch = 256 });
        list.Add(new("tiny-mlp-b16", WorkloadKind.MlpTrain, "tiny MLP 2-16-16-1 (MSE) training, batch 16") { Sizes = [2, 16, 16, 1], Batch = 16, Mse = true });
        list.Add(new("lenet5-b64", WorkloadKind.LeNetTrain, "LeNet-5 on 1×28×28 training, batch 64") { Batch = 64 });
        list.Add(new("mlp-infer-b128", WorkloadKind.MlpInfer, "MLP 784-256-256-10 inference, batch 128") { Sizes = [784, 256, 256, 10], Batch = 128 });
        list.Add(new("mlp-infer-b1", WorkloadKind.MlpInfer, "MLP 784-256-256-10 inference, batch 1") { Sizes = [784, 256, 256, 10], Batch = 1 });
        // The cost of a Hessian-vector product relative to a gradient of the same loss (the curvature instruments' unit).
        list.Add(new("mlp-grad-b256", WorkloadKind.MlpGradient, "MLP 784-256-256-10 cross-entropy gradient, batch 256") { Sizes = [784, 256, 256, 10], Batch = 256 });
        list.Add(new("mlp-hvp-b256", WorkloadKind.MlpHvp, "MLP 784-256-256-10 cross-entropy Hessian-vector product, batch 256") { Sizes = [784, 256, 256, 10], Batch = 256 });
        // 1,048,576 parameters in two tensors, and 1,010,000 in 200 (100 weight matrices with their biases).
        list.Add(new("adam-1m-2t", WorkloadKind.Adam, "Adam step, 1M parameters in 2 tensors")
        { ParamShapes = [[1024, 512], [1024, 512]], LearningRate = 1e-3 });
        list.Add(new("adam-1m-200t", WorkloadKind.Adam, "Adam step, 1M parameters in 200 tensors")
        { ParamShapes = [.. Enumerable.Range(0, 200).Select(i => i % 2 == 0 ? new[] { 100, 100 } : [100])], LearningRate = 1e-3 });
        // The LLC estimator's inner loop: a 10,000-parameter deep linear network 50-50-50-50-50, batch 100, n = 1000
        // (nβ = n/ln n), ε = 10⁻⁴, γ = 1 — the size of the performance goal (one estimate = 4 × 3000 such steps).
        list.Add(new("sgld-dln-10k", WorkloadKind.SgldStep, "SGLD step, deep linear net 50-50-50-50-50 (10k parameters), batch 100")
        { Sizes = [50, 50, 50, 50, 50], Batch = 100, LearningRate = 1e-4 });
        return list;
    }
}
