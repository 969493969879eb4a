using System.Diagnostics;
using System.Text.Json.Nodes;
using Aperture.Bench.Harness;
using Aperture.Bench.Peers;

namespace Aperture.Bench.Engines;

/// <summary>
/// PyTorch through a Python worker (<c>peers/torch_worker.py</c>) speaking one JSON object per line on stdin and
/// stdout. One worker per thread count, started with the environment that makes Debian's torch fast: OpenBLAS
/// picked by LD_LIBRARY_PATH, OPENBLAS_CORETYPE for this CPU, and the thread counts set.
/// </summary>
public sealed class PyTorchEngine : IEngine
{
    private readonly PyTorchSetup _setup;
    private readonly string _workDir;
    private Process? _worker;
    private int _threads;

    /// <summary>A PyTorch engine over what <paramref name="setup"/> installed; data files go to <paramref name="workDir"/>.</summary>
    public PyTorchEngine(PyTorchSetup setup, string workDir)
    {
        _setup = setup;
        _workDir = workDir;
        Unavailable = setup.Unavailable;
    }

    /// <inheritdoc/>
    public string Id => "pytorch";

    /// <inheritdoc/>
    public string? Unavailable { get; private set; }

    /// <summary>What each worker said about itself (torch version, BLAS core, GEMM check), by thread count.</summary>
    public Dictionary<int, JsonObject> Hello { get; } = [];

    /// <inheritdoc/>
    public IEnumerable<int> OwnProcessIds => _worker is { HasExited: false } w ? [w.Id] : [];

    /// <inheritdoc/>
    public string? Unsupported(Workload w) => null;

    /// <inheritdoc/>
    public void SetThreads(int threads)
    {
        if (Unavailable is not null || (_worker is not null && _threads == threads)) return;
        StopWorker();
        _threads = threads;
        try
        {
            _worker = StartWorker(threads);
            Hello[threads] = Send(new JsonObject { ["op"] = "hello" });
        }
        catch (Exception e)
        {
            Unavailable = $"the PyTorch worker failed to start: {e.Message}";
            StopWorker();
        }
    }

    private Process StartWorker(int threads)
    {
        var psi = new ProcessStartInfo(_setup.Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peers", "torch_worker.py"));
        foreach (var (k, v) in _setup.Environment) psi.Environment[k] = v;
        string t = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["APERTURE_BENCH_THREADS"] = t;
        psi.Environment["OMP_NUM_THREADS"] = t;
        psi.Environment["OPENBLAS_NUM_THREADS"] = t;
        psi.Environment["MKL_NUM_THREADS"] = t;
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {_setup.Python}");
    }

    /// <summary>Sends one request and waits for its answer; a worker-side error becomes an exception.</summary>
    internal JsonObject Send(JsonObject request)
    {
        var w = _worker ?? throw new InvalidOperationException("pytorch: no worker running");
        w.StandardInput.WriteLine(request.ToJsonString());
        w.StandardInput.Flush();
        string? line = w.StandardOutput.ReadLine();
        if (line is null)
            throw new InvalidOperationException($"the PyTorch worker exited (code {(w.WaitForExit(2000) ? w.ExitCode : -1)}) while answering '{request["op"]}'");
        var reply = JsonNode.Parse(line) as JsonObject ?? throw new InvalidDataException($"pytorch worker: not a JSON object: {line}");
        if (reply["ok"]?.GetValue<bool>() != true)
            throw new InvalidOperationException($"pytorch worker: {reply["error"]}\n{reply["trace"]}");
        return reply;
    }

    /// <inheritdoc/>
    public IWorkloadRun Prepare(Workload w, WorkloadData data)
    {
        if (_worker is null || _worker.HasExited)
        {
            // The worker died on an earlier workload: start a fresh one for this thread count.
            StopWorker();
            _worker = StartWorker(_threads);
            Send(new JsonObject { ["op"] = "hello" });
        }
        string path = Path.Combine(_workDir, $"{w.Name}.bin");
        var offsets = data.WriteRaw(path);
        var tensors = new JsonArray();
        foreach (var a in data.Arrays)
            tensors.Add(new JsonObject
            {
                ["name"] = a.Name,
                ["dtype"] = a.DType,
                ["shape"] = new JsonArray([.. a.Shape.Select(d => JsonValue.Create(d))]),
                ["offset"] = offsets[a.Name],
            });
        var spec = new JsonObject
        {
            ["kind"] = w.Kind switch
            {
                WorkloadKind.Gemm => "gemm",
                WorkloadKind.MlpTrain => "mlp-train",
                WorkloadKind.MlpInfer => "mlp-infer",
                WorkloadKind.LeNetTrain => "lenet-train",
                WorkloadKind.MlpGradient => "mlp-grad",
                WorkloadKind.MlpHvp => "mlp-hvp",
                WorkloadKind.SgldStep => "sgld",
                _ => "adam",
            },
            ["sizes"] = new JsonArray([.. w.Sizes.Select(d => JsonValue.Create(d))]),
            ["loss"] = w.Mse ? "mse" : "cross-entropy",
            ["lr"] = w.LearningRate,
            ["momentum"] = w.Momentum,
            ["nbeta"] = w.NBeta,
            ["localization"] = w.Localization,
            ["tensors"] = w.ParamShapes.Length,
        };
        var reply = Send(new JsonObject { ["op"] = "setup", ["workload"] = spec, ["data"] = path, ["tensors"] = tensors });
        File.Delete(path);
        string? detail = reply["foreach"] is { } fe ? $"Adam(foreach={(fe.GetValue<bool>() ? "True" : "False")}), the faster of the two implementations timed at setup" : null;
        return new WorkerRun(this, detail);
    }

    private sealed class WorkerRun(PyTorchEngine engine, string? detail) : IWorkloadRun
    {
        public string? Detail => detail;

        public double Check() => engine.Send(new JsonObject { ["op"] = "check" })["value"]!.GetValue<double>();

        public double Run(int iterations) =>
            engine.Send(new JsonObject { ["op"] = "run", ["iters"] = iterations })["seconds"]!.GetValue<double>();

        public void Dispose() { }
    }

    private void StopWorker()
    {
        if (_worker is null) return;
        try
        {
            if (!_worker.HasExited)
            {
                _worker.StandardInput.WriteLine("""{"op": "quit"}""");
                _worker.StandardInput.Flush();
                if (!_worker.WaitForExit(5000)) _worker.Kill();
            }
        }
        catch (IOException) { }
        _worker.Dispose();
        _worker = null;
    }

    /// <inheritdoc/>
    public void Dispose() => StopWorker();
}
