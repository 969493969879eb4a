using Aperture.Lab.Store;

namespace Aperture.Lab.Sweeps;

/// <summary>What a sweep reports as it goes: how many of its runs are finished, and, now and then, a sentence.</summary>
/// <param name="RunsFinished">Runs finished in the store (computed now or found finished).</param>
/// <param name="RunsTotal">Runs the sweep needs.</param>
/// <param name="Message">What happened (a job submitted, a task ended, a retry), or null for a plain count.</param>
public sealed record SweepProgress(int RunsFinished, int RunsTotal, string? Message = null);

/// <summary>One judged grid point of a finished sweep.</summary>
/// <param name="Point">The point on its block.</param>
/// <param name="Outcome">Its verdict, as <c>lab run</c> reports one protocol's.</param>
public sealed record SweepPointOutcome(SweepPoint Point, PhenomenonOutcome Outcome);

/// <summary>A finished sweep: every point judged.</summary>
/// <param name="Plan">The plan.</param>
/// <param name="Points">Each point on each block with its verdict, point-major.</param>
public sealed record SweepOutcome(SweepPlan Plan, IReadOnlyList<SweepPointOutcome> Points);

/// <summary>
/// Executes a sweep's runs: in this process, in worker processes on this machine, or as a Slurm job array. An
/// executor only makes every run of the plan finished in the store; judging is the same whichever ran them.
/// </summary>
public interface ISweepExecutor
{
    /// <summary>The executor's name (local, processes, slurm).</summary>
    string Name { get; }

    /// <summary>
    /// Makes every run of <paramref name="plan"/> finished in <paramref name="store"/>, or throws a
    /// <see cref="LabRunException"/> saying which did not finish and why.
    /// </summary>
    void Execute(SweepPlan plan, RunStore store, IProgress<SweepProgress>? progress, CancellationToken cancellation);
}

/// <summary>
/// Runs a sweep: plans it (every grid point validated before anything runs), stores its record, has an executor run
/// what is missing, then judges every point from the stored runs and records each verdict in the sweep's record.
/// </summary>
/// <param name="store">The run store (shared with the workers, wherever they run).</param>
/// <param name="runner">The lab runner that plans and judges (its data source resolves the data).</param>
public sealed class SweepRunner(RunStore store, LabRunner runner)
{
    /// <summary>Expands and plans <paramref name="spec"/> and stores its record (kept as it is when already stored).</summary>
    public SweepPlan Prepare(SweepSpec spec, int runsPerTask = 1)
    {
        var plan = SweepPlan.Create(spec, runner, runsPerTask);
        store.SaveSweep(plan);
        return plan;
    }

    /// <summary>Runs what is missing of <paramref name="plan"/> with <paramref name="executor"/>, then judges every point.</summary>
    public SweepOutcome Run(SweepPlan plan, ISweepExecutor executor, IProgress<SweepProgress>? progress = null, CancellationToken cancellation = default)
    {
        store.ResumeSweep(plan.Id);
        executor.Execute(plan, store, progress, cancellation);
        return Judge(plan);
    }

    /// <summary>Judges every point of <paramref name="plan"/> from its stored runs (all must be finished) and records the verdicts.</summary>
    public SweepOutcome Judge(SweepPlan plan)
    {
        var unfinished = FinishedCount(store, plan) is var done && done < plan.Runs.Count ? plan.Runs.Count - done : 0;
        if (unfinished > 0)
            throw new LabRunException($"sweep {plan.Id}: cannot judge yet: {unfinished} of {plan.Runs.Count} runs are not finished");
        var outcomes = new List<SweepPointOutcome>();
        foreach (var point in plan.Points)
        {
            var outcome = runner.Judge(plan.Phenomenon, plan.Spec.Tier, point.Protocol);
            store.SetSweepVerdict(plan.Id, point.Point, point.Block, outcome.VerdictId, outcome.Verdict);
            outcomes.Add(new SweepPointOutcome(point, outcome));
        }
        return new SweepOutcome(plan, outcomes);
    }

    /// <summary>How many of <paramref name="plan"/>'s runs are finished in <paramref name="store"/>.</summary>
    public static int FinishedCount(RunStore store, SweepPlan plan) =>
        store.StatusesOf(plan.Runs.Select(r => r.RunId)).Values.Count(s => s == RunStatus.Finished);

    /// <summary>The tasks of <paramref name="plan"/> with a run not finished in <paramref name="store"/>, by index.</summary>
    public static IReadOnlyList<int> UnfinishedTasks(RunStore store, SweepPlan plan)
    {
        var status = store.StatusesOf(plan.Runs.Select(r => r.RunId));
        return [.. Enumerable.Range(0, plan.Tasks.Count).Where(t => plan.Tasks[t].Any(r => status[r.RunId] != RunStatus.Finished))];
    }
}

/// <summary>Runs a sweep's runs one after another in this process (the default; the same as <c>lab run</c>).</summary>
/// <param name="runner">The lab runner (its store must be the sweep's).</param>
public sealed class LocalExecutor(LabRunner runner) : ISweepExecutor
{
    /// <inheritdoc/>
    public string Name => "local";

    /// <inheritdoc/>
    public void Execute(SweepPlan plan, RunStore store, IProgress<SweepProgress>? progress, CancellationToken cancellation)
    {
        int finished = 0;
        var events = progress is null ? null : new Progress(e =>
        {
            if (e.Kind is LabProgressKind.Finished or LabProgressKind.Reused) progress.Report(new SweepProgress(++finished, plan.Runs.Count));
        });
        runner.ExecuteAll(plan.Phenomenon, plan.Runs, events, cancellation);
    }

    private sealed class Progress(Action<LabProgress> report) : IProgress<LabProgress>
    {
        public void Report(LabProgress value) => report(value);
    }
}

/// <summary>
/// How to start a worker process for a sweep: the whole command line (program first) for a sweep id and a task. The
/// CLI supplies its own (the lab does not know its syntax); a Slurm script writes <see cref="SlurmTask"/> where the
/// task's index goes, and the shell fills it in.
/// </summary>
/// <param name="Build">The command line for (sweep id, task index or null for a worker that takes any unclaimed run).</param>
public sealed record WorkerCommand(Func<string, string?, IReadOnlyList<string>> Build)
{
    /// <summary>Stands for the Slurm array task's index in a command line (the script writes <c>"$SLURM_ARRAY_TASK_ID"</c>).</summary>
    public const string SlurmTask = "\u0001SLURM_ARRAY_TASK_ID";
}
