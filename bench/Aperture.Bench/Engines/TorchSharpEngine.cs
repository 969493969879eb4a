using Aperture.Bench.Harness;
using Aperture.Bench.Peers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Aperture.Bench.Engines;

/// <summary>
/// The workloads in TorchSharp (libtorch 2.10 with MKL), in process: functional ops on parameters, its own SGD and
/// Adam, a dispose scope per step so no native tensor waits for the GC, inference under inference_mode, and
/// torch.set_num_threads for the thread count.
/// </summary>
public sealed class TorchSharpEngine : IEngine
{
    /// <summary>Loads TorchSharp (from the patched private copy); a failure leaves the engine unavailable.</summary>
    public TorchSharpEngine()
    {
        Unavailable = TorchSharpLoader.EnsureLoaded(out string how);
        LoadedFrom = how;
        if (Unavailable is null)
        {
            try
            {
                Version = $"TorchSharp {typeof(torch).Assembly.GetName().Version?.ToString(3)}, libtorch {torch.__version__}";
                torch.set_num_interop_threads(1);
            }
            catch (Exception e)
            {
                Unavailable = $"{e.GetType().Name}: {e.Message}";
            }
        }
    }

    /// <inheritdoc/>
    public string Id => "torchsharp";

    /// <inheritdoc/>
    public string? Unavailable { get; }

    /// <summary>How the native library was loaded (the patch applied), for the report.</summary>
    public string LoadedFrom { get; }

    /// <summary>TorchSharp's and libtorch's versions.</summary>
    public string Version { get; } = "";

    /// <inheritdoc/>
    public IEnumerable<int> OwnProcessIds => [];

    /// <inheritdoc/>
    public string? Unsupported(Workload w) => w.Kind is WorkloadKind.MlpGradient or WorkloadKind.MlpHvp or WorkloadKind.SgldStep
        ? "the gradient, Hessian-vector-product and SGLD workloads are compared with PyTorch only" : null;

    /// <inheritdoc/>
    public void SetThreads(int threads)
    {
        // Any call into TorchSharp would make it try to load its native library on its own: none when unavailable.
        if (Unavailable is null) torch.set_num_threads(threads);
    }

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

    private static TTensor FromArray(NamedArray a) =>
        a.Floats is not null ? torch.tensor(a.Floats, a.LongShape) : torch.tensor(a.Longs!, a.LongShape);

    private static Parameter Param(NamedArray a) => new(FromArray(a), requires_grad: true);

    /// <summary>A run that owns native tensors and optimizers, freed when the run is disposed.</summary>
    private abstract class TimedRun : InProcessRun
    {
        protected readonly List<IDisposable> Owned = [];

        public override void Dispose()
        {
            foreach (var d in Owned) d.Dispose();
            base.Dispose();
        }
    }

    private sealed class GemmRun : TimedRun
    {
        private readonly TTensor _a, _b, _c;

        public GemmRun(WorkloadData d)
        {
            _a = FromArray(d["a"]);
            _b = FromArray(d["b"]);
            _c = torch.empty(_a.shape[0], _b.shape[1]);
            Owned.AddRange([_a, _b, _c]);
        }

        // TorchSharp has no mm(out=); addmm_ with beta = 0 writes A·B into the preallocated C, which is the same
        // (C's old contents are ignored, as BLAS does with beta = 0). The scope frees any handle the call creates.
        protected override void Step()
        {
            using var scope = torch.NewDisposeScope();
            _c.addmm_(_a, _b, beta: 0, alpha: 1);
        }

        public override double Check()
        {
            Step();
            using var s = torch.NewDisposeScope();
            return _c.abs().sum().item<float>();
        }
    }

    private sealed class MlpRun : TimedRun
    {
        private readonly TTensor _x;
        private readonly TTensor? _y;
        private readonly Parameter[] _params;
        private readonly bool _train, _mse;
        private readonly optim.Optimizer? _optimizer;

        public MlpRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _train = w.Kind == WorkloadKind.MlpTrain;
            _mse = w.Mse;
            if (_train) _y = FromArray(d["y"]);
            int layers = w.Sizes.Length - 1;
            _params = [.. Enumerable.Range(0, layers).SelectMany(i => new[] { $"w{i}", $"b{i}" }).Select(n => Param(d[n]))];
            if (_train) _optimizer = optim.SGD(_params, w.LearningRate, w.Momentum);
            Owned.Add(_x);
            if (_y is not null) Owned.Add(_y);
            Owned.AddRange(_params);
            if (_optimizer is not null) Owned.Add(_optimizer);
        }

        private TTensor Forward()
        {
            var h = _x;
            int layers = _params.Length / 2;
            for (int i = 0; i < layers; i++)
            {
                h = F.linear(h, _params[2 * i], _params[2 * i + 1]);
                if (i < layers - 1) h = F.relu(h);
            }
            return h;
        }

        private double Iteration(bool read)
        {
            using var scope = torch.NewDisposeScope();
            if (!_train)
            {
                using var mode = torch.inference_mode();
                var output = Forward();
                return read ? output.sum().item<float>() : 0;
            }
            var o = Forward();
            var loss = _mse ? F.mse_loss(o, _y!) : F.cross_entropy(o, _y!);
            _optimizer!.zero_grad();
            loss.backward();
            _optimizer.step();
            return read ? loss.item<float>() : 0;
        }

        protected override void Step() => Iteration(read: false);

        public override double Check()
        {
            if (_train)
            {
                Iteration(read: false);
                Iteration(read: false);
            }
            return Iteration(read: true);
        }
    }

    private sealed class LeNetRun : TimedRun
    {
        private readonly TTensor _x, _y;
        private readonly Parameter[] _p;
        private readonly optim.Optimizer _optimizer;

        public LeNetRun(Workload w, WorkloadData d)
        {
            _x = FromArray(d["x"]);
            _y = FromArray(d["y"]);
            _p = [.. new[] { "c0w", "c0b", "c1w", "c1b", "w0", "b0", "w1", "b1", "w2", "b2" }.Select(n => Param(d[n]))];
            _optimizer = optim.SGD(_p, w.LearningRate, w.Momentum);
            Owned.AddRange([_x, _y, _optimizer]);
            Owned.AddRange(_p);
        }

        private double Iteration(bool read)
        {
            using var scope = torch.NewDisposeScope();
            var h = F.max_pool2d(F.relu(F.conv2d(_x, _p[0], _p[1], padding: [2, 2])), 2);
            h = F.max_pool2d(F.relu(F.conv2d(h, _p[2], _p[3])), 2);
            h = h.flatten(1);
            h = F.relu(F.linear(h, _p[4], _p[5]));
            h = F.relu(F.linear(h, _p[6], _p[7]));
            var loss = F.cross_entropy(F.linear(h, _p[8], _p[9]), _y);
            _optimizer.zero_grad();
            loss.backward();
            _optimizer.step();
            return read ? loss.item<float>() : 0;
        }

        protected override void Step() => Iteration(read: false);

        public override double Check()
        {
            Iteration(read: false);
            Iteration(read: false);
            return Iteration(read: true);
        }
    }

    private sealed class AdamRun : TimedRun
    {
        private readonly Parameter[] _params;
        private readonly optim.Optimizer _adam;

        public AdamRun(Workload w, WorkloadData d)
        {
            _params = new Parameter[w.ParamShapes.Length];
            for (int i = 0; i < _params.Length; i++)
            {
                _params[i] = Param(d[$"p{i}"]);
                _params[i].grad = FromArray(d[$"g{i}"]);
            }
            _adam = optim.Adam(_params, w.LearningRate);
            Owned.AddRange(_params);
            Owned.Add(_adam);
        }

        protected override void Step()
        {
            using var scope = torch.NewDisposeScope();
            _adam.step();
        }

        public override double Check()
        {
            for (int i = 0; i < 3; i++) Step();
            using var scope = torch.NewDisposeScope();
            using var mode = torch.no_grad();
            return _params.Sum(p => (double)p.abs().sum().item<float>());
        }
    }
}
