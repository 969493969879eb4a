namespace Aperture.Bench.Harness;

/// <summary>One framework under test: Aperture, PyTorch (a Python worker) or TorchSharp (in process).</summary>
public interface IEngine : IDisposable
{
    /// <summary>"aperture", "pytorch" or "torchsharp": the JSON's engine field.</summary>
    string Id { get; }

    /// <summary>Why the engine cannot run at all here, or null when it can.</summary>
    string? Unavailable { get; }

    /// <summary>Why this engine cannot run <paramref name="w"/>, or null when it can.</summary>
    string? Unsupported(Workload w);

    /// <summary>Uses <paramref name="threads"/> threads for what follows.</summary>
    void SetThreads(int threads);

    /// <summary>Process ids besides this one whose CPU time is the engine's own (a worker process).</summary>
    IEnumerable<int> OwnProcessIds { get; }

    /// <summary>Builds <paramref name="w"/> from the shared data and initial weights.</summary>
    IWorkloadRun Prepare(Workload w, WorkloadData data);
}

/// <summary>A workload built in one engine, ready to be timed.</summary>
public interface IWorkloadRun : IDisposable
{
    /// <summary>
    /// Runs the first iterations from the initial state and returns a scalar that every engine should agree on: the
    /// third step's loss for training (so the gradients and the momentum update are checked too), the sum of the
    /// outputs for inference, Σ|C| for GEMM, Σ|p| after three steps for Adam.
    /// </summary>
    double Check();

    /// <summary>Runs <paramref name="iterations"/> iterations back to back and returns the seconds they took.</summary>
    double Run(int iterations);

    /// <summary>A configuration the engine chose for this workload at setup (for the report), or null.</summary>
    string? Detail => null;
}
