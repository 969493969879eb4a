using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Aperture.Lab.Store;

namespace Aperture.Lab.Sweeps;

/// <summary>
/// Runs a sweep in <see cref="Jobs"/> worker processes on this machine. Each worker takes any run of the sweep that is
/// not finished and not held (the store's claim is one transaction, and a live lease keeps a run to its holder), so
/// nothing runs twice. When the workers have exited, runs still unfinished (a worker killed or failing) are handed to a
/// fresh set of workers, up to <see cref="MaxRetries"/> times.
/// </summary>
/// <param name="worker">The worker command line.</param>
/// <param name="jobs">How many workers run at once.</param>
public sealed partial class ProcessExecutor(WorkerCommand worker, int jobs) : ISweepExecutor
{
    /// <summary>How many workers run at once.</summary>
    public int Jobs { get; } = jobs >= 1 ? jobs : throw new LabConfigException($"--jobs must be at least 1, found {jobs}");

    /// <summary>How many more rounds of workers are started for runs a round left unfinished (default 2).</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>How often progress is read from the store (default 0.5 s).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <inheritdoc/>
    public string Name => "processes";

    /// <inheritdoc/>
    public void Execute(SweepPlan plan, RunStore store, IProgress<SweepProgress>? progress, CancellationToken cancellation)
    {
        string threads = Math.Max(1, Environment.ProcessorCount / Jobs).ToString(CultureInfo.InvariantCulture);
        var failures = new List<string>();
        for (int round = 0; ; round++)
        {
            var missing = SweepRunner.UnfinishedTasks(store, plan);
            if (missing.Count == 0) return;
            if (round > MaxRetries)
                throw new LabRunException($"sweep {plan.Id}: {missing.Count} task(s) still have unfinished runs after {MaxRetries} retries" +
                                          (failures.Count > 0 ? $"; the workers said: {string.Join(" | ", failures.TakeLast(3))}" : ""));
            if (round > 0) progress?.Report(new SweepProgress(SweepRunner.FinishedCount(store, plan), plan.Runs.Count,
                $"{missing.Count} task(s) unfinished: starting workers again (retry {round} of {MaxRetries})"));
            var workers = new List<(Process P, ConcurrentQueue<string> Err)>();
            try
            {
                for (int i = 0; i < Math.Min(Jobs, missing.Count); i++) workers.Add(Start(plan.Id, threads));
                int last = -1;
                while (workers.Any(w => !w.P.HasExited))
                {
                    if (cancellation.WaitHandle.WaitOne(PollInterval)) break;
                    if (store.IsSweepCancelled(plan.Id))
                    {
                        foreach (var w in workers.Where(w => !w.P.HasExited)) Terminate(w.P);
                        foreach (var w in workers) w.P.WaitForExit(30_000);
                        throw new LabRunException($"sweep {plan.Id} was cancelled (`aperture lab cancel`); run the same command again to resume it");
                    }
                    int done = SweepRunner.FinishedCount(store, plan);
                    if (done != last) progress?.Report(new SweepProgress(last = done, plan.Runs.Count));
                }
                if (cancellation.IsCancellationRequested)
                {
                    // Ask each worker to stop between measurements (it releases its run), then wait for it.
                    foreach (var w in workers.Where(w => !w.P.HasExited)) Terminate(w.P);
                    foreach (var w in workers) w.P.WaitForExit(30_000);
                    cancellation.ThrowIfCancellationRequested();
                }
                foreach (var (p, err) in workers)
                {
                    p.WaitForExit();
                    if (p.ExitCode != 0)
                        failures.Add($"worker {p.Id} exited with code {p.ExitCode}" + (err.IsEmpty ? "" : ": " + string.Join(" ", err.TakeLast(2))));
                }
            }
            finally
            {
                foreach (var (p, _) in workers)
                {
                    if (!p.HasExited) p.Kill(entireProcessTree: true);
                    p.Dispose();
                }
            }
        }
    }

    private (Process, ConcurrentQueue<string>) Start(string sweepId, string threads)
    {
        var line = worker.Build(sweepId, null);
        var psi = new ProcessStartInfo(line[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in line.Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["APERTURE_THREADS"] = threads;
        psi.Environment["NO_COLOR"] = "1";
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new LabRunException($"could not start the worker {line[0]}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LabRunException($"could not start the worker {line[0]}: {e.Message}", e);
        }
        var err = new ConcurrentQueue<string>();
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not { Length: > 0 } l) return;
            err.Enqueue(l.Trim());
            while (err.Count > 20) err.TryDequeue(out string? _);
        };
        p.OutputDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return (p, err);
    }

    /// <summary>Sends SIGTERM (a graceful stop) to a process; elsewhere than Unix, kills it.</summary>
    internal static void Terminate(Process p)
    {
        try
        {
            if (OperatingSystem.IsWindows()) p.Kill(entireProcessTree: true);
            else _ = SendSignal(p.Id, 15);
        }
        catch (InvalidOperationException)
        {
            // It has already exited.
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
