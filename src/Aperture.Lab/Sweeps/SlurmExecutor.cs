using System.Diagnostics;
using System.Globalization;
using System.Text;
using Aperture.Lab.Store;

namespace Aperture.Lab.Sweeps;

/// <summary>How a sweep's job array is submitted to Slurm.</summary>
public sealed record SlurmOptions
{
    /// <summary>The partition (<c>--partition</c>), or null for the cluster's default.</summary>
    public string? Partition { get; init; }

    /// <summary>Each task's time limit as Slurm writes it (<c>--time</c>: <c>30</c>, <c>1:00:00</c>, <c>1-00:00:00</c>), or null for the partition's.</summary>
    public string? Time { get; init; }

    /// <summary>
    /// How many seconds before a task's time limit Slurm sends its script SIGUSR1 (<c>--signal=B:USR1@N</c>; default
    /// 60), so that the worker releases its run and the task is requeued rather than killed. It must leave time for the
    /// run in progress to reach its next measurement and for the worker to stop.
    /// </summary>
    public int SignalSeconds { get; init; } = 60;

    /// <summary>How many tasks run at once (the <c>%K</c> of <c>--array=0-N%K</c>), or null for no limit.</summary>
    public int? ArrayParallelism { get; init; }

    /// <summary>CPUs per task (<c>--cpus-per-task</c>; also each worker's thread count). Default 1.</summary>
    public int CpusPerTask { get; init; } = 1;

    /// <summary>How many times the tasks a submission left unfinished are submitted again (default 2).</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>How often the coordinator asks <c>squeue</c> about the tasks (default 2 s).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Where the job script and the tasks' logs are written (a folder every node reads; one sub-folder per sweep).</summary>
    public required string ScriptDirectory { get; init; }

    /// <summary>The working directory of the tasks (default: the current one).</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;
}

/// <summary>
/// Runs a sweep as one Slurm job array: task i runs the worker on the sweep's task i (its runs, under the store's
/// leases and heartbeats). The array is submitted with <c>sbatch --parsable</c> and followed with <c>squeue</c> and
/// <c>scontrol show job</c> (not <c>sacct</c>, which needs accounting). The truth is the store: when no task of the
/// sweep is queued or running, the tasks whose runs are not all finished (cancelled, failed, preempted, timed out, a
/// node lost) are submitted again as a new array of just those indices, up to <see cref="SlurmOptions.MaxRetries"/>
/// times. Before a task's time limit (<see cref="SlurmOptions.SignalSeconds"/>, 60 s by default) Slurm sends its script SIGUSR1 (<c>--signal=B:USR1@60</c>); the
/// script asks the worker to stop (it stops between measurements and releases its run) and requeues the task.
/// </summary>
/// <param name="worker">The worker command line (absolute paths: it runs on the nodes).</param>
/// <param name="options">The submission's options.</param>
public sealed class SlurmExecutor(WorkerCommand worker, SlurmOptions options) : ISweepExecutor
{
    // Slurm's job states in which a task is still to run or running (anything else is over).
    private static bool IsActive(string state) => state is "PENDING" or "RUNNING" or "CONFIGURING" or "COMPLETING" or "REQUEUED" or "REQUEUE_FED"
        or "REQUEUE_HOLD" or "RESIZING" or "SUSPENDED" or "SIGNALING" or "STAGE_OUT" or "STOPPED" or "RESV_DEL_HOLD" or "SPECIAL_EXIT";

    /// <inheritdoc/>
    public string Name => "slurm";

    /// <summary>The options.</summary>
    public SlurmOptions Options => options;

    /// <summary>The job script for <paramref name="plan"/> (its array line covers every task; a retry names its indices on the command line).</summary>
    public string Script(SlurmPlanInfo plan)
    {
        string dir = ScriptFolder(plan.Id);
        var s = new StringBuilder();
        s.Append("#!/bin/bash\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --job-name=aperture-{plan.Id}\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --array={ArraySpec(Enumerable.Range(0, plan.Tasks))}\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --output={dir}/slurm-%A_%a.out\n");
        s.Append("#SBATCH --open-mode=append\n");
        s.Append("#SBATCH --requeue\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --signal=B:USR1@{options.SignalSeconds}\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={options.CpusPerTask}\n");
        s.Append(CultureInfo.InvariantCulture, $"#SBATCH --chdir={options.WorkingDirectory}\n");
        if (options.Partition is { } p) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --partition={p}\n");
        if (options.Time is { } t) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --time={t}\n");
        s.Append(CultureInfo.InvariantCulture, $$"""
            # Aperture sweep {{plan.Id}}: {{plan.Phenomenon}}, {{plan.Runs}} runs in {{plan.Tasks}} tasks of up to {{plan.RunsPerTask}} run(s).
            # Task i runs the worker on the sweep's task i; the run store decides which process owns each run (a lease
            # renewed by a heartbeat), so a task run twice computes nothing twice.
            set -u
            export APERTURE_THREADS="${SLURM_CPUS_PER_TASK:-1}"
            export NO_COLOR=1
            {{string.Join(' ', worker.Build(plan.Id, WorkerCommand.SlurmTask).Select(Quote))}} &
            worker=$!
            # SIGUSR1 comes {{options.SignalSeconds}} s before the time limit: the worker stops between measurements and releases its run, and
            # the task is requeued, so it runs again rather than ending TIMEOUT. A worker that had finished the task as
            # the signal came (exit 0) leaves nothing to run again: the task ends there.
            on_usr1() {
                kill -TERM "$worker" 2>/dev/null
                wait "$worker"
                status=$?
                if [ "$status" -eq 0 ]; then exit 0; fi
                scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
                exit 0
            }
            on_term() {
                kill -TERM "$worker" 2>/dev/null
                wait "$worker"
                exit 143
            }
            trap on_usr1 USR1
            trap on_term TERM
            wait "$worker"
            exit $?

            """);
        return s.ToString();
    }

    /// <summary>The folder of <paramref name="sweepId"/>'s job script and logs.</summary>
    public string ScriptFolder(string sweepId) => Path.GetFullPath(Path.Combine(options.ScriptDirectory, sweepId));

    /// <inheritdoc/>
    public void Execute(SweepPlan plan, RunStore store, IProgress<SweepProgress>? progress, CancellationToken cancellation)
    {
        var info = new SlurmPlanInfo(plan.Id, plan.Phenomenon.Id, plan.Runs.Count, plan.Tasks.Count, plan.RunsPerTask);
        string dir = ScriptFolder(plan.Id);
        Directory.CreateDirectory(dir);
        string script = Path.Combine(dir, "array.sh");
        Aperture.IO.AtomicFile.WriteAllText(script, Script(info));

        var previous = store.SweepJobs(plan.Id).Where(j => j.Executor == Name).ToList();
        int attempt = previous.Count == 0 ? 0 : previous.Max(j => j.Attempt) + 1;
        // Jobs of an earlier coordinator of this sweep that are still queued or running are followed, not resubmitted.
        var jobs = previous.Select(j => j.JobId).Where(id => TaskStates(id).Values.Any(IsActive)).ToList();
        int retries = 0;
        var lastState = new Dictionary<int, string>();
        int lastFinished = -1;
        Stopwatch? silentSince = null;
        if (jobs.Count > 0)
            progress?.Report(new SweepProgress(SweepRunner.FinishedCount(store, plan), plan.Runs.Count, $"following job(s) {string.Join(", ", jobs)} already submitted"));
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            if (store.IsSweepCancelled(plan.Id))
                throw new LabRunException($"sweep {plan.Id} was cancelled (`aperture lab cancel`); run the same command again to resume it");
            // Each task's state in its latest job. A controller that does not answer (restarting, overloaded) is
            // asked again at the next poll; only after five minutes of silence does the sweep stop.
            var states = new Dictionary<int, (string Job, string State)>();
            try
            {
                foreach (var job in jobs)
                    foreach (var (task, state) in TaskStates(job))
                        states[task] = (job, state);
                silentSince = null;
            }
            catch (LabRunException e)
            {
                silentSince ??= Stopwatch.StartNew();
                if (silentSince.Elapsed > TimeSpan.FromMinutes(5)) throw;
                progress?.Report(new SweepProgress(SweepRunner.FinishedCount(store, plan), plan.Runs.Count, e.Message + "; asking again"));
                cancellation.WaitHandle.WaitOne(options.PollInterval);
                continue;
            }
            foreach (var (task, (job, state)) in states)
                if (!lastState.TryGetValue(task, out var before) || before != state)
                {
                    lastState[task] = state;
                    if (!IsActive(state) || before is not null)
                        progress?.Report(new SweepProgress(SweepRunner.FinishedCount(store, plan), plan.Runs.Count, $"task {task} (job {job}_{task}): {state}"));
                }
            int finished = SweepRunner.FinishedCount(store, plan);
            if (finished != lastFinished) progress?.Report(new SweepProgress(lastFinished = finished, plan.Runs.Count));
            if (!states.Values.Any(s => IsActive(s.State)))
            {
                var missing = SweepRunner.UnfinishedTasks(store, plan);
                if (missing.Count == 0) return;
                if (jobs.Count > 0 && retries >= options.MaxRetries)
                    throw new LabRunException($"sweep {plan.Id}: task(s) {ArraySpec(missing)} did not finish after {options.MaxRetries} retries " +
                                              $"(last states: {string.Join(", ", missing.Select(t => $"{t} {(states.TryGetValue(t, out var s) ? s.State : "unknown")}").Take(8))}); " +
                                              $"see the logs in {dir}");
                if (jobs.Count > 0)
                {
                    retries++;
                    progress?.Report(new SweepProgress(finished, plan.Runs.Count,
                        $"resubmitting task(s) {ArraySpec(missing)} (retry {retries} of {options.MaxRetries})"));
                }
                string indices = ArraySpec(missing);
                string jobId = Submit(script, indices);
                store.AddSweepJob(plan.Id, jobId, Name, indices, attempt++);
                jobs.Add(jobId);
                progress?.Report(new SweepProgress(finished, plan.Runs.Count, $"submitted job {jobId}: array {indices}" +
                                                                                 (options.ArrayParallelism is { } k ? $"%{k}" : "")));
                continue;
            }
            cancellation.WaitHandle.WaitOne(options.PollInterval);
        }
    }

    /// <summary>Submits the script for the array indices <paramref name="indices"/> and returns the job id.</summary>
    private string Submit(string script, string indices)
    {
        var args = new List<string> { "--parsable", "--array=" + indices + (options.ArrayParallelism is { } k ? $"%{k}" : "") };
        var (code, output, error) = Slurm.Run("sbatch", [.. args, script]);
        if (code != 0) throw new LabRunException($"sbatch refused the job array: {FirstLine(error, output)}");
        // --parsable prints "jobid" or "jobid;cluster".
        string id = output.Trim().Split(';')[0];
        if (id.Length == 0 || !id.All(char.IsAsciiDigit)) throw new LabRunException($"sbatch printed '{output.Trim()}', not a job id");
        return id;
    }

    /// <summary>
    /// The state of each array task of job <paramref name="jobId"/> (task index → Slurm state): from
    /// <c>squeue -r -t all</c>, else <c>scontrol show job</c>; empty when Slurm no longer knows the job.
    /// </summary>
    public static IReadOnlyDictionary<int, string> TaskStates(string jobId)
    {
        var states = new Dictionary<int, string>();
        var (code, output, error) = Slurm.Run("squeue", ["-h", "-r", "-t", "all", "-j", jobId, "-o", "%i|%T"]);
        // An unknown job id (purged after MinJobAge) is asked of scontrol next; any other failure (no controller, no
        // configuration) is not an answer about the job.
        if (code != 0 && !error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
            throw new LabRunException($"squeue cannot tell the state of job {jobId}: {FirstLine(error, output)}");
        if (code == 0)
        {
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split('|');
                if (parts.Length != 2) continue;
                foreach (int task in TaskIndices(parts[0], jobId)) states[task] = parts[1];
            }
            if (states.Count > 0) return states;
        }
        (code, output, _) = Slurm.Run("scontrol", ["-o", "show", "job", jobId]);
        if (code != 0) return states;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string? tasks = null, state = null;
            foreach (var field in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (field.StartsWith("ArrayTaskId=", StringComparison.Ordinal)) tasks = field["ArrayTaskId=".Length..];
                else if (field.StartsWith("JobState=", StringComparison.Ordinal)) state = field["JobState=".Length..];
            }
            if (tasks is null || state is null) continue;
            foreach (int task in ParseArray(tasks)) states[task] = state;
        }
        return states;
    }

    // "123_4" → 4; "123_[5-9%2]" → 5 … 9 (squeue -r lists pending tasks one by one, but older versions may not).
    private static IEnumerable<int> TaskIndices(string id, string jobId)
    {
        if (!id.StartsWith(jobId + "_", StringComparison.Ordinal)) return [];
        string rest = id[(jobId.Length + 1)..].Trim('[', ']');
        return ParseArray(rest);
    }

    /// <summary>Reads a Slurm array list (<c>0-3,7,9-11%2</c>) into its indices.</summary>
    public static IReadOnlyList<int> ParseArray(string text)
    {
        var result = new List<int>();
        string body = text.Split('%')[0];
        foreach (var part in body.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var ends = part.Split(':')[0].Split('-');
            if (!int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)) continue;
            int b = a;
            if (ends.Length == 2 && !int.TryParse(ends[1], NumberStyles.None, CultureInfo.InvariantCulture, out b)) continue;
            for (int i = a; i <= b; i++) result.Add(i);
        }
        return result;
    }

    /// <summary>Indices as a Slurm array list, runs collapsed: 0,1,2,5,7,8 → <c>0-2,5,7-8</c>.</summary>
    public static string ArraySpec(IEnumerable<int> indices)
    {
        var sorted = indices.Distinct().Order().ToList();
        var parts = new List<string>();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(i == j ? sorted[i].ToString(CultureInfo.InvariantCulture) : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }

    /// <summary>Cancels every job of a sweep that Slurm still knows (<c>scancel</c>); returns the job ids it asked to cancel.</summary>
    public static IReadOnlyList<string> Cancel(IEnumerable<string> jobIds)
    {
        var ids = jobIds.ToList();
        if (ids.Count == 0) return ids;
        var (code, output, error) = Slurm.Run("scancel", ids);
        if (code != 0) throw new LabRunException($"scancel failed: {FirstLine(error, output)}");
        return ids;
    }

    // Single-quotes one argument for the shell; the array-task marker (WorkerCommand.SlurmTask) is written as
    // "$SLURM_ARRAY_TASK_ID", so each task of the array runs its own index.
    private static string Quote(string arg) =>
        arg == WorkerCommand.SlurmTask ? "\"$SLURM_ARRAY_TASK_ID\"" : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string FirstLine(string a, string b) =>
        (a.Trim().Length > 0 ? a : b).Trim().Split('\n')[0] is { Length: > 0 } l ? l : "no message";
}

/// <summary>What the job script says about its sweep.</summary>
/// <param name="Id">The sweep's id.</param>
/// <param name="Phenomenon">The phenomenon.</param>
/// <param name="Runs">How many runs.</param>
/// <param name="Tasks">How many tasks.</param>
/// <param name="RunsPerTask">Runs per task.</param>
public sealed record SlurmPlanInfo(string Id, string Phenomenon, int Runs, int Tasks, int RunsPerTask);

/// <summary>Runs Slurm's client commands.</summary>
public static class Slurm
{
    /// <summary>Runs <paramref name="tool"/> with <paramref name="args"/> and returns its exit code and output; a missing tool is a <see cref="LabRunException"/> saying so.</summary>
    public static (int Code, string Output, string Error) Run(string tool, IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo(tool) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process? p;
        try
        {
            p = Process.Start(psi);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new LabRunException($"{tool} not found: the Slurm executor needs Slurm's client commands (sbatch, squeue, scontrol, scancel) on the PATH " +
                                      "(on Debian: apt-get install slurm-client; for a local test cluster see cluster/slurm.sh)");
        }
        if (p is null) throw new LabRunException($"could not start {tool}");
        using (p)
        {
            var error = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(120_000))
            {
                p.Kill(entireProcessTree: true);
                throw new LabRunException($"{tool} {string.Join(' ', args)} did not answer within 2 minutes (is slurmctld up? `scontrol ping`)");
            }
            return (p.ExitCode, output, error.Result);
        }
    }

    /// <summary>Whether Slurm's client commands are on the PATH and a controller answers (<c>scontrol ping</c>).</summary>
    public static bool Available(out string why)
    {
        try
        {
            var (code, output, error) = Run("scontrol", ["ping"]);
            why = code == 0 && output.Contains("UP", StringComparison.Ordinal) ? "" : $"scontrol ping: {(output + error).Trim()}";
            return why.Length == 0;
        }
        catch (LabRunException e)
        {
            why = e.Message;
            return false;
        }
    }
}
