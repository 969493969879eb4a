using Aperture.Bench.Harness;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Bench.Engines;

/// <summary>
/// The workloads written with Aperture's public API as a user would: <see cref="Models.Mlp"/> and
/// <see cref="Models.LeNet5"/> modules, <see cref="Losses"/>, <c>Backward</c>, and the <see cref="SGD"/> and
/// <see cref="Adam"/> optimizers; GEMM is <see cref="Ops.MatMul"/>.
/// </summary>
public sealed class ApertureEngine : IEngine
{
    /// <inheritdoc/>
    public string Id => "aperture";

    /// <inheritdoc/>
    public string? Unavailable => null;

    /// <inheritdoc/>
    public IEnumerable<int> OwnProcessIds => [];

    /// <inheritdoc/>
    public string? Unsupported(Workload w) => null;

    /// <inheritdoc/>
    public void SetThreads(int threads) => Parallelism.Threads = threads;

    /// <inheritdoc/>
    public IWorkloadRun Prepare(Workload w, WorkloadData data) => w.Kind switch
    {
        WorkloadKind.Gemm => new GemmRun(data),
        WorkloadKind.MlpTrain or WorkloadKind.MlpInfer => new MlpRun(w, data),
        WorkloadKind.LeNetTrain => new LeNetRun(w, data),
        WorkloadKind.Adam => new AdamRun(w, data),
        WorkloadKind.MlpGradient or WorkloadKind.MlpHvp => new MlpCurvatureRun(w, data),
        WorkloadKind.SgldStep => new SgldRun(w, data),
        _ => throw new ArgumentOutOfRangeException(nameof(w), w.Kind, "unknown workload kind"),
    };

    /// <inheritdoc/>
    public void Dispose() { }

    private static Tensor FromArray(NamedArray a) =>
        a.Floats is not null ? Tensor.FromArray(a.Floats, a.Shape) : Tensor.FromArray(a.Longs!, a.Shape);

    private sealed class GemmRun(WorkloadData d) : InProcessRun
    {
        private readonly Tensor _a = FromArray(d["a"]), _b = FromArray(d["b"]);

        protected override void Step()
        {
            // The peers write into a C allocated once (PyTorch's mm(out=), TorchSharp's addmm_ with beta = 0); the
            // recycling scope gives the product the same buffer every step. Without it each step allocates a fresh
            // C on the large-object heap, and the garbage collections and page faults that follow cost 20–35% of
            // a 512–2048 product's time: that measured the allocator, not the matmul.
            using (TensorScope.Begin()) Ops.MatMul(_a, _b);
        }

        public override double Check() => Ops.Sum(Ops.Abs(Ops.MatMul(_a, _b))).Item();
    }

    /// <summary>
    /// Copies the shared initial weights into <paramref name="model"/>'s parameters, in registration order (each
    /// layer's weight, then its bias: the order the data lists them in), checking every shape.
    /// </summary>
    private static void LoadWeights(Module model, WorkloadData d, IReadOnlyList<string> names)
    {
        var parameters = model.NamedParameters().ToList();
        if (parameters.Count != names.Count)
            throw new InvalidOperationException($"aperture: the model has {parameters.Count} parameters, the workload data {names.Count}");
        using var _ = Autodiff.NoGrad();
        for (int i = 0; i < names.Count; i++)
        {
            var source = FromArray(d[names[i]]);
            if (!source.Shape.SequenceEqual(parameters[i].Parameter.Shape))
                throw new InvalidOperationException(
                    $"aperture: parameter {parameters[i].Name} has shape [{string.Join(", ", parameters[i].Parameter.ShapeArray())}] but '{names[i]}' is [{string.Join(", ", source.ShapeArray())}]");
            Ops.CopyInPlace(parameters[i].Parameter, source);
        }
    }

    private static string[] LinearNames(int layers) => [.. Enumerable.Range(0, layers).SelectMany(i => new[] { $"w{i}", $"b{i}" })];

    /// <summary>A ReLU MLP (<see cref="Models.Mlp"/>): a training step (cross-entropy or MSE, SGD with momentum) or a forward pass.</summary>
    private sealed class MlpRun : InProcessRun
    {
        private readonly Tensor _x;
        private readonly Tensor? _y;
        private readonly Sequential _model;
        private readonly bool _train, _mse;
        private readonly SGD? _optimizer;

        public MlpRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _train = w.Kind == WorkloadKind.MlpTrain;
            _mse = w.Mse;
            if (_train) _y = FromArray(d["y"]);
            _model = Models.Mlp(w.Sizes[0], w.Sizes[1..^1], w.Sizes[^1], "relu");
            LoadWeights(_model, d, LinearNames(w.Sizes.Length - 1));
            if (_train) _optimizer = new SGD(_model.Parameters(), w.LearningRate, w.Momentum);
        }

        private Tensor Backprop()
        {
            var output = _model.Forward(_x);
            var loss = _mse ? Losses.Mse(output, _y!) : Losses.CrossEntropy(output, _y!);
            _optimizer!.ZeroGrad();
            loss.Backward();
            return loss;
        }

        private Tensor TrainStep()
        {
            var loss = Backprop();
            _optimizer!.Step();
            return loss;
        }

        private Tensor Infer()
        {
            using var _ = Autodiff.NoGrad();
            return _model.Forward(_x);
        }

        // A recycling scope per step, as the Trainer opens (TorchSharp's side has its dispose scope): the step's
        // tensors, buffers and graph nodes come from per-thread pools, so a step allocates nothing. The optimizer
        // runs after the scope: its state outlives the step.
        protected override void Step()
        {
            using (TensorScope.Begin())
            {
                if (!_train)
                {
                    Infer();
                    return;
                }
                Backprop();
            }
            _optimizer!.Step();
        }

        public override double Check()
        {
            if (!_train) return Ops.Sum(Infer()).Item();
            TrainStep();
            TrainStep();
            return TrainStep().Item();
        }
    }

    /// <summary>LeNet-5 (<see cref="Models.LeNet5"/>): conv 5×5 (pad 2) → ReLU → max-pool 2, conv 5×5 → ReLU → max-pool 2, 400-120-84-10.</summary>
    private sealed class LeNetRun : InProcessRun
    {
        private readonly Tensor _x, _y;
        private readonly Sequential _model;
        private readonly SGD _optimizer;

        public LeNetRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _y = FromArray(d["y"]);
            _model = Models.LeNet5();
            LoadWeights(_model, d, ["c0w", "c0b", "c1w", "c1b", .. LinearNames(3)]);
            _optimizer = new SGD(_model.Parameters(), w.LearningRate, w.Momentum);
        }

        private Tensor Backprop()
        {
            var loss = Losses.CrossEntropy(_model.Forward(_x), _y);
            _optimizer.ZeroGrad();
            loss.Backward();
            return loss;
        }

        private Tensor TrainStep()
        {
            var loss = Backprop();
            _optimizer.Step();
            return loss;
        }

        // Forward and backward in a recycling scope, the optimizer after it (its state outlives the step), as the
        // Trainer does.
        protected override void Step()
        {
            using (TensorScope.Begin()) Backprop();
            _optimizer.Step();
        }

        public override double Check()
        {
            TrainStep();
            TrainStep();
            return TrainStep().Item();
        }
    }

    /// <summary>
    /// The gradient of a ReLU MLP's cross-entropy (<see cref="Autodiff.Grad(IReadOnlyList{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor?}?, bool, bool?, bool)"/>),
    /// or a Hessian-vector product of the same loss along a fixed direction (<see cref="Autodiff.Hvp(Func{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/>,
    /// forward-over-reverse), as the curvature instruments compute them.
    /// </summary>
    private sealed class MlpCurvatureRun : InProcessRun
    {
        private readonly Tensor _x, _y;
        private readonly Sequential _model;
        private readonly Tensor[] _parameters;
        private readonly Tensor[]? _direction;

        public MlpCurvatureRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _y = FromArray(d["y"]);
            _model = Models.Mlp(w.Sizes[0], w.Sizes[1..^1], w.Sizes[^1], "relu");
            LoadWeights(_model, d, LinearNames(w.Sizes.Length - 1));
            _parameters = [.. _model.Parameters()];
            if (w.Kind == WorkloadKind.MlpHvp) _direction = [.. LinearNames(w.Sizes.Length - 1).Select(n => FromArray(d["v" + n]))];
        }

        private Tensor[] Compute()
        {
            if (_direction is null)
                return [.. Autodiff.Grad([Losses.CrossEntropy(_model.Forward(_x), _y)], _parameters).Select(g => g!)];
            return Autodiff.Hvp(() => Losses.CrossEntropy(_model.Forward(_x), _y), _parameters, _direction);
        }

        protected override void Step()
        {
            using (TensorScope.Begin()) Compute();
        }

        public override double Check() => Compute().Sum(t => Ops.Sum(Ops.Abs(t)).Item());
    }

    private sealed class AdamRun : InProcessRun
    {
        private readonly Tensor[] _params;
        private readonly Adam _adam;

        public AdamRun(Workload w, WorkloadData d)
        {
            _params = new Tensor[w.ParamShapes.Length];
            for (int i = 0; i < _params.Length; i++)
            {
                _params[i] = FromArray(d[$"p{i}"]).RequiresGrad_();
                _params[i].Grad = FromArray(d[$"g{i}"]);
            }
            _adam = new Adam(_params, w.LearningRate);
        }

        protected override void Step() => _adam.Step();

        public override double Check()
        {
            for (int i = 0; i < 3; i++) Step();
            return _params.Sum(p => Ops.Sum(Ops.Abs(p.Detach())).Item());
        }
    }

    /// <summary>
    /// One step of the LLC sampler on a deep linear network, as <c>LocalLearningCoefficient</c> runs it: forward and
    /// backward in a recycling scope, then <see cref="Sgld"/> (localized at the initial weights) outside it.
    /// </summary>
    private sealed class SgldRun : InProcessRun
    {
        private readonly Tensor _x, _y;
        private readonly Tensor[] _weights;
        private readonly Sgld _sampler;

        public SgldRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _y = FromArray(d["y"]);
            _weights = [.. Enumerable.Range(0, w.Sizes.Length - 1).Select(i => FromArray(d[$"w{i}"]).RequiresGrad_())];
            _sampler = new Sgld(_weights, new Generator(0), w.LearningRate, w.NBeta, w.Localization);
        }

        private double Backprop()
        {
            var h = _x;
            foreach (var wl in _weights) h = Ops.MatMul(h, wl.Transpose(0, 1));
            var loss = (h - _y).Square().Sum() * (0.5 / _x.Shape[0]);
            _sampler.ZeroGrad();
            loss.Backward();
            return loss.Item();
        }

        protected override void Step()
        {
            using (TensorScope.Begin()) Backprop();
            _sampler.Step();
        }

        // The first step's loss: before any noise, so every engine agrees (the noise streams differ).
        public override double Check()
        {
            double loss;
            using (TensorScope.Begin()) loss = Backprop();
            _sampler.Step();
            return loss;
        }
    }
}
