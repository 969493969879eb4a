using System.Diagnostics;
using Aperture.Bench.Harness;

namespace Aperture.Bench.Engines;

/// <summary>The workloads written with Aperture's public API (Ops, Backward, in-place updates under NoGrad).</summary>
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
        _ => throw new ArgumentOutOfRangeException(nameof(w), w.Kind, "unknown workload kind"),
    };

    /// <inheritdoc/>
    public void Dispose() { }

    private static Tensor FromArray(NamedArray a) =>
        a.Floats is not null ? Tensor.FromArray(a.Floats, a.Shape) : Tensor.FromArray(a.Longs!, a.Shape);

    private abstract class TimedRun : IWorkloadRun
    {
        protected abstract void Step();

        public abstract double Check();

        public double Run(int iterations)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < iterations; i++) Step();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        public void Dispose() { }
    }

    private sealed class GemmRun(WorkloadData d) : TimedRun
    {
        private readonly Tensor _a = FromArray(d["a"]), _b = FromArray(d["b"]);
        private Tensor? _c;

        protected override void Step() => _c = Ops.MatMul(_a, _b);

        public override double Check()
        {
            Step();
            return Ops.Sum(Ops.Abs(_c!)).Item();
        }
    }

    /// <summary>A ReLU MLP: a training step (cross-entropy or MSE, SGD with momentum) or a forward pass.</summary>
    private sealed class MlpRun : TimedRun
    {
        private readonly Tensor _x;
        private readonly Tensor? _y;
        private readonly Tensor[] _params;
        private readonly bool _train, _mse;
        private readonly IOptimizerStep? _optimizer;

        public MlpRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _train = w.Kind == WorkloadKind.MlpTrain;
            _mse = w.Mse;
            // Gather wants an index with the input's rank: labels [B] become [B, 1].
            if (_train) _y = _mse ? FromArray(d["y"]) : Ops.Reshape(FromArray(d["y"]), [w.Batch, 1]);
            int layers = w.Sizes.Length - 1;
            _params = [.. Enumerable.Range(0, layers).SelectMany(i => new[] { $"w{i}", $"b{i}" }).Select(n => FromArray(d[n]).RequiresGrad_())];
            if (_train) _optimizer = new SgdMomentum(_params, w.LearningRate, w.Momentum);
        }

        private Tensor Forward()
        {
            var h = _x;
            int layers = _params.Length / 2;
            for (int i = 0; i < layers; i++)
            {
                h = Ops.Linear(h, _params[2 * i], _params[2 * i + 1]);
                if (i < layers - 1) h = Ops.Relu(h);
            }
            return h;
        }

        private Tensor Loss()
        {
            var output = Forward();
            return _mse ? Ops.Mean(Ops.Square(Ops.Sub(output, _y!))) : CrossEntropy(output, _y!);
        }

        private Tensor TrainStep()
        {
            var loss = Loss();
            foreach (var p in _params) p.ZeroGrad();
            loss.Backward();
            _optimizer!.Step();
            return loss;
        }

        private Tensor Infer()
        {
            using var _ = Autodiff.NoGrad();
            return Forward();
        }

        protected override void Step()
        {
            if (_train) TrainStep();
            else Infer();
        }

        public override double Check()
        {
            if (!_train) return Ops.Sum(Infer()).Item();
            TrainStep();
            TrainStep();
            return TrainStep().Item();
        }
    }

    /// <summary>LeNet-5: conv 5×5 (pad 2) → ReLU → max-pool 2, conv 5×5 → ReLU → max-pool 2, 400-120-84-10.</summary>
    private sealed class LeNetRun : TimedRun
    {
        private readonly Tensor _x, _y;
        private readonly Tensor[] _p;
        private readonly IOptimizerStep _optimizer;

        public LeNetRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _y = Ops.Reshape(FromArray(d["y"]), [w.Batch, 1]);
            _p = [.. new[] { "c0w", "c0b", "c1w", "c1b", "w0", "b0", "w1", "b1", "w2", "b2" }.Select(n => FromArray(d[n]).RequiresGrad_())];
            _optimizer = new SgdMomentum(_p, w.LearningRate, w.Momentum);
        }

        private Tensor TrainStep()
        {
            var h = Ops.MaxPool2d(Ops.Relu(Ops.Conv2d(_x, _p[0], _p[1], padding: 2)), 2);
            h = Ops.MaxPool2d(Ops.Relu(Ops.Conv2d(h, _p[2], _p[3])), 2);
            h = Ops.Flatten(h, 1);
            h = Ops.Relu(Ops.Linear(h, _p[4], _p[5]));
            h = Ops.Relu(Ops.Linear(h, _p[6], _p[7]));
            var loss = CrossEntropy(Ops.Linear(h, _p[8], _p[9]), _y);
            foreach (var p in _p) p.ZeroGrad();
            loss.Backward();
            _optimizer.Step();
            return loss;
        }

        protected override void Step() => TrainStep();

        public override double Check()
        {
            TrainStep();
            TrainStep();
            return TrainStep().Item();
        }
    }

    /// <summary>Mean cross-entropy of logits [B, K] against class indices [B, 1] (int64).</summary>
    private static Tensor CrossEntropy(Tensor logits, Tensor labels) =>
        Ops.Neg(Ops.Mean(Ops.Gather(Ops.LogSoftmax(logits, -1), 1, labels)));

    private sealed class AdamRun : TimedRun
    {
        private readonly Tensor[] _params;
        private readonly AdamStep _adam;

        public AdamRun(Workload w, WorkloadData d)
        {
            _params = new Tensor[w.ParamShapes.Length];
            for (int i = 0; i < _params.Length; i++)
            {
                _params[i] = FromArray(d[$"p{i}"]).RequiresGrad_();
                _params[i].Grad = FromArray(d[$"g{i}"]);
            }
            _adam = new AdamStep(_params, w.LearningRate);
        }

        protected override void Step() => _adam.Step();

        public override double Check()
        {
            for (int i = 0; i < 3; i++) Step();
            return _params.Sum(p => Ops.Sum(Ops.Abs(p.Detach())).Item());
        }
    }
}
