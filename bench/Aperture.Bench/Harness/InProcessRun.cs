using System.Diagnostics;

namespace Aperture.Bench.Harness;

/// <summary>A workload run in this process (Aperture, TorchSharp): a loop of <see cref="Step"/> timed with the Stopwatch.</summary>
public abstract class InProcessRun : IWorkloadRun
{
    /// <summary>One iteration.</summary>
    protected abstract void Step();

    /// <inheritdoc/>
    public abstract double Check();

    /// <inheritdoc/>
    public double Run(int iterations)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < iterations; i++) Step();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <inheritdoc/>
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
