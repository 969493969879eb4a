using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Aperture.Lab;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture lab run</c> as a sweep (<c>--set key=v1,v2</c>, <c>--sweep FILE</c>, <c>--executor</c>), and <c>lab worker | status | cancel</c>.</summary>
internal static partial class LabCommands
{
    private sealed class SweepOptions
    {
        public readonly Option<string?> File = new("--sweep")
        {
            Description = "run the sweep a spec file describes (JSON or YAML shaped like a W&B sweep: method: grid, phenomenon, tier, seeds, " +
                          "parameters with value, values, or distribution log_uniform_values | uniform | int_uniform with min, max and count)",
        };

        public readonly Option<string> Executor = new Option<string>("--executor")
        {
            Description = "where a sweep's runs execute: local (this process), processes (--jobs worker processes on this machine), " +
                          "slurm (one Slurm job array; needs sbatch, squeue, scontrol and a store every node reaches)",
            DefaultValueFactory = _ => "local",
        }.AcceptOnlyFromAmong("local", "processes", "slurm");

        public readonly Option<int?> Jobs = new("--jobs") { Description = "worker processes at once (--executor processes; default: the number of CPUs)" };
        public readonly Option<string?> Partition = new("--partition") { Description = "Slurm partition (--executor slurm; default: the cluster's)" };
        public readonly Option<string?> Time = new("--time") { Description = "each Slurm task's time limit, as sbatch --time takes it (30, 1:00:00, 1-00:00:00)" };
        public readonly Option<int?> ArrayParallelism = new("--array-parallelism") { Description = "Slurm tasks running at once (the %K of --array=0-N%K; default: no limit)" };
        public readonly Option<string?> Signal = new("--signal")
        {
            Description = "when Slurm warns a task before its time limit, as sbatch --signal takes it: USR1@SECONDS (default USR1@60); " +
                          "the worker then releases its run and the task is requeued",
        };
        public readonly Option<int?> CpusPerTask = new("--cpus-per-task") { Description = "CPUs per Slurm task, and the worker's thread count (default 1)" };
        public readonly Option<int?> MaxRetries = new("--max-retries") { Description = "how many times tasks left unfinished (cancelled, failed, preempted, node lost) are run again (default 2)" };
        public readonly Option<int?> RunsPerTask = new("--runs-per-task") { Description = "runs each Slurm task (or worker unit) executes in turn (default 1; raise it for thousands of short runs)" };

        public void AddTo(Command cmd)
        {
            foreach (var o in (Option[])[File, Executor, Jobs, Partition, Time, Signal, ArrayParallelism, CpusPerTask, MaxRetries, RunsPerTask]) cmd.Options.Add(o);
        }

        public bool Requested(ParseResult r, IReadOnlyList<Phenomenon> chosen, Tier tier, Dictionary<string, List<KeyValuePair<string, string>>> overrides)
        {
            if (r.GetValue(File) is not null || r.GetValue(Executor) != "local") return true;
            foreach (var p in chosen)
                if (SweepArguments.Split(overrides[p.Id], ProtocolBinding.Settings(p.Defaults(tier))).Axes.Count > 0) return true;
            // An executor's option without its executor is reported by name when the sweep's options are checked.
            return r.GetValue(Jobs) is not null || r.GetValue(Partition) is not null || r.GetValue(Time) is not null || r.GetValue(Signal) is not null || r.GetValue(ArrayParallelism) is not null
                   || r.GetValue(CpusPerTask) is not null || r.GetValue(MaxRetries) is not null || r.GetValue(RunsPerTask) is not null;
        }
    }

    private static int RunSweep(ParseResult r, Option<string?> storeOption, SweepOptions o, IReadOnlyList<Phenomenon> chosen, Tier tier,
        Dictionary<string, List<KeyValuePair<string, string>>> overrides, bool tierGiven, int? seeds, int? seedBase, bool replicate, string? dataDir,
        Option<string?> format, Option<string?> json, CancellationToken cancel)
    {
        // A sweep writes its record (aperture.sweep/1), as `lab status SWEEP --json` does, and prints its listing in any
        // --format; every path is checked before anything runs.
        var output = CommandOutput.Begin(r, format, json);
        string executorName = r.GetValue(o.Executor)!;
        CheckExecutorOptions(r, o, executorName);
        SweepSpec spec;
        if (r.GetValue(o.File) is { } file)
        {
            if (chosen.Count > 1) throw new CommandLineException("--sweep runs one phenomenon: name it in the file (or one id on the command line)");
            if (overrides.Values.Any(l => l.Count > 0))
                throw new CommandLineException("give the sweep's settings in the --sweep file or with --set, not both");
            var defaults = new SweepSpec(chosen.Count == 1 ? chosen[0].Id : null!, tier, []) { Seeds = seeds, SeedBase = seedBase, Replicate = replicate };
            spec = SweepArguments.ReadSpecFile(file, defaults);
            // What the command line states explicitly wins over the file.
            if (tierGiven) spec = spec with { Tier = tier };
            if (seeds is not null) spec = spec with { Seeds = seeds };
            if (seedBase is not null) spec = spec with { SeedBase = seedBase };
            if (!replicate) spec = spec with { Replicate = false };
            if (chosen.Count == 1 && chosen[0].Id != spec.Phenomenon)
                throw new CommandLineException($"--sweep {file} sweeps {spec.Phenomenon}, but the command names {chosen[0].Id}");
            if (!Catalogue.All.Any(p => p.Id == spec.Phenomenon))
                throw new CommandLineException($"--sweep {file}: no phenomenon '{spec.Phenomenon}'{Terminal.DidYouMean(spec.Phenomenon, Catalogue.All.Select(p => p.Id))} (see `aperture lab list`)");
        }
        else
        {
            if (chosen.Count != 1)
                throw new CommandLineException($"a sweep runs one phenomenon; {chosen.Count} are named ({string.Join(", ", chosen.Take(4).Select(p => p.Id))}{(chosen.Count > 4 ? ", …" : "")})"
                    + (executorName != "local" ? $": --executor {executorName} runs a sweep, so give one command per phenomenon" : ""));
            var p = chosen[0];
            var (fixedSettings, axes) = SweepArguments.Split(overrides[p.Id], ProtocolBinding.Settings(p.Defaults(tier)));
            spec = new SweepSpec(p.Id, tier, axes) { Fixed = fixedSettings, Seeds = seeds, SeedBase = seedBase, Replicate = replicate };
        }

        Terminal.CheckDataDirectory(dataDir);
        var data = new LabDataSource(dataDir);
        using var runStore = Terminal.OpenStore(r.GetValue(storeOption));
        output.Note($"run store: {runStore.Path}");
        var runner = new LabRunner(runStore, data);
        var sweeps = new SweepRunner(runStore, runner);
        var plan = sweeps.Prepare(spec, r.GetValue(o.RunsPerTask) ?? 1);
        int points = plan.Points.Select(x => x.Point).Distinct().Count();
        output.Note(
            $"sweep {plan.Id}: {plan.Phenomenon.Id}, {points} grid point{(points == 1 ? "" : "s")}{(spec.Replicate ? " × 2 seed blocks" : "")}, {plan.Runs.Count} runs in {plan.Tasks.Count} task{(plan.Tasks.Count == 1 ? "" : "s")} ({executorName})");
        // Workers open the store the way this command did: a PostgreSQL address as given (the displayed one hides
        // the password), an SQLite file by its absolute path.
        string given = r.GetValue(storeOption) ?? Environment.GetEnvironmentVariable(RunStore.PathVariable) ?? "";
        string location = StoreAddress.IsPostgreSql(given) ? given : runStore.Path;
        var executor = CreateExecutor(r, o, executorName, runner, runStore, location, dataDir);
        int finishedBefore = SweepRunner.FinishedCount(runStore, plan);
        if (finishedBefore > 0) output.Note($"{finishedBefore} of {plan.Runs.Count} runs are already finished in the store and are reused");

        runStore.ResumeSweep(plan.Id);
        if (Terminal.Interactive)
        {
            Terminal.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape($"sweep {plan.Id}"), maxValue: Math.Max(1, plan.Runs.Count));
                    var progress = new SweepReporter(e =>
                    {
                        task.Value = e.RunsFinished;
                        task.Description = Markup.Escape($"sweep {plan.Id} [{e.RunsFinished}/{e.RunsTotal} runs]");
                        if (e.Message is { } m) Terminal.Console.MarkupLineInterpolated($"[grey]{m}[/]");
                    });
                    executor.Execute(plan, runStore, progress, cancel);
                    task.Value = task.MaxValue;
                    task.StopTask();
                });
        }
        else
        {
            // No live display where nobody watches (a log, a pipe): the executor's messages as lines, beside the
            // listing (on standard error when standard output holds TSV or JSON).
            var gate = new Lock();
            executor.Execute(plan, runStore, new SweepReporter(e =>
            {
                if (e.Message is { } m)
                    lock (gate) output.Note(m);
            }), cancel);
        }
        var outcome = sweeps.Judge(plan);
        PrintSweep(output, outcome);
        output.Json(() => Documents.SweepDocument(runStore, runStore.FindSweep(plan.Id), "run", executorName));
        return 0;
    }

    private static void CheckExecutorOptions(ParseResult r, SweepOptions o, string executor)
    {
        if (executor != "processes" && r.GetValue(o.Jobs) is not null) throw new CommandLineException("--jobs is for --executor processes");
        if (executor != "slurm")
            foreach (var (given, name) in new (bool, string)[]
                     {
                         (r.GetValue(o.Partition) is not null, "--partition"), (r.GetValue(o.Time) is not null, "--time"), (r.GetValue(o.Signal) is not null, "--signal"),
                         (r.GetValue(o.ArrayParallelism) is not null, "--array-parallelism"), (r.GetValue(o.CpusPerTask) is not null, "--cpus-per-task"),
                     })
                if (given) throw new CommandLineException($"{name} is for --executor slurm");
        if (executor == "local" && r.GetValue(o.MaxRetries) is not null) throw new CommandLineException("--max-retries is for --executor processes or slurm");
        void Positive(int? v, string name)
        {
            if (v is { } n && n < 1) throw new CommandLineException($"{name} must be at least 1, found {n}");
        }
        Positive(r.GetValue(o.Jobs), "--jobs");
        Positive(r.GetValue(o.ArrayParallelism), "--array-parallelism");
        Positive(r.GetValue(o.CpusPerTask), "--cpus-per-task");
        Positive(r.GetValue(o.RunsPerTask), "--runs-per-task");
        if (r.GetValue(o.MaxRetries) is < 0 or > 100) throw new CommandLineException($"--max-retries must lie in [0, 100], found {r.GetValue(o.MaxRetries)}");
        if (r.GetValue(o.Time) is { } t && !System.Text.RegularExpressions.Regex.IsMatch(t, @"^(\d+-)?\d+(:\d+){0,2}$"))
            throw new CommandLineException($"--time expects a Slurm time limit (MINUTES, HH:MM:SS, D-HH:MM:SS), found '{t}'");
        if (r.GetValue(o.Signal) is { } sig) SignalSeconds(sig);
        if (r.GetValue(o.Partition) is { } p && (p.Length == 0 || !p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ',')))
            throw new CommandLineException($"--partition expects a partition name, found '{p}'");
    }

    // "USR1@N" (or sbatch's "B:USR1@N": the job script is where the signal goes either way) as N seconds. Only USR1:
    // the job script's trap is what releases the run and requeues the task.
    private static int SignalSeconds(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text, @"^(B:)?(SIG)?USR1@(\d{1,5})$");
        if (!m.Success)
            throw new CommandLineException($"--signal expects USR1@SECONDS (the job script releases the run and requeues the task on SIGUSR1), found '{text}'");
        int n = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        if (n is < 1 or > 65535) throw new CommandLineException($"--signal USR1@SECONDS: SECONDS must lie in [1, 65535], found {n}");
        return n;
    }

    private static ISweepExecutor CreateExecutor(ParseResult r, SweepOptions o, string name, LabRunner runner, RunStore store, string location, string? dataDir)
    {
        var worker = WorkerCommandFor(location, store.ArtifactRoot, dataDir);
        return name switch
        {
            "processes" => new ProcessExecutor(worker, r.GetValue(o.Jobs) ?? Environment.ProcessorCount) { MaxRetries = r.GetValue(o.MaxRetries) ?? 2 },
            "slurm" => new SlurmExecutor(worker, new SlurmOptions
            {
                Partition = r.GetValue(o.Partition),
                Time = r.GetValue(o.Time),
                SignalSeconds = r.GetValue(o.Signal) is { } sig ? SignalSeconds(sig) : 60,
                ArrayParallelism = r.GetValue(o.ArrayParallelism),
                CpusPerTask = r.GetValue(o.CpusPerTask) ?? 1,
                MaxRetries = r.GetValue(o.MaxRetries) ?? 2,
                ScriptDirectory = Path.Combine(store.ArtifactRoot, "sweeps"),
            }),
            _ => new LocalExecutor(runner),
        };
    }

    /// <summary>
    /// This program's own command line for a worker: the .NET host and this assembly by absolute path (a Slurm task runs
    /// it on a node, from the job script), the store and its artifacts folder, the sweep, and the task (or none: any
    /// unclaimed run).
    /// </summary>
    private static WorkerCommand WorkerCommandFor(string storeLocation, string artifacts, string? dataDir)
    {
        string host = DotnetHost(), dll = typeof(Cli).Assembly.Location;
        string? data = dataDir is null ? null : Path.GetFullPath(dataDir);
        return new WorkerCommand((id, task) =>
        [
            host, dll, "lab", "worker", "--store", storeLocation, "--artifacts", artifacts, "--sweep", id,
            .. task is null ? Array.Empty<string>() : ["--task", task],
            .. data is null ? Array.Empty<string>() : ["--data-dir", data],
        ]);
    }

    // The `dotnet` that runs this program: the current process when it is the host, else the one beside the runtime.
    private static string DotnetHost()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
        // …/dotnet/shared/Microsoft.NETCore.App/10.0.x/ → …/dotnet/dotnet
        string beside = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet"));
        return File.Exists(beside) ? beside : "dotnet";
    }

    private static void PrintSweep(CommandOutput output, SweepOutcome outcome)
    {
        var swept = outcome.Plan.SweptSettings;
        var table = new Listing(["point", .. swept, "block", "verdict", "effect [95% CI]", "seeds"]);
        foreach (var (point, o) in outcome.Points)
        {
            var cells = new List<Cell> { point.Point.ToString(CultureInfo.InvariantCulture) };
            foreach (var k in swept) cells.Add(point.Settings.LastOrDefault(kv => kv.Key == k).Value ?? "");
            cells.Add(point.BlockName);
            cells.Add(new Cell(o.Verdict.Outcome.Text(), Terminal.Colour(o.Verdict.Outcome)));
            cells.Add($"{o.Verdict.Effect.Name}: {o.Verdict.Effect.FormatWithUnit()}");
            cells.Add($"{o.SeedBase}-{o.SeedBase + o.Seeds - 1}");
            table.Add([.. cells]);
        }
        output.Write(table);
        output.Note($"sweep {outcome.Plan.Id} judged: {outcome.Points.Count} verdict{(outcome.Points.Count == 1 ? "" : "s")} stored; `aperture report` draws its response curves");
        output.Note($"code: Aperture {RunStore.CodeVersion} on {Environment.MachineName}");
        // Whole on one line, so that it can be copied from a log.
        output.Note($"reproduce: {SweepReproduceCommand(outcome.Plan.Spec)}");
    }

    /// <summary>
    /// The command that reruns a sweep from a fresh clone, on one line: <c>lab run ID --set …</c> when that command line
    /// reads back as the same spec (so the same sweep id), else the spec written to <c>sweep.json</c> and run with
    /// <c>--sweep</c> (a spec no <c>--set</c> can state: no swept setting, one listed value, a key not in snake_case).
    /// </summary>
    public static string SweepReproduceCommand(SweepSpec spec)
    {
        var phenomenon = Catalogue.Get(spec.Phenomenon);
        var settings = ProtocolBinding.Settings(phenomenon.Defaults(spec.Tier));
        // A list-valued setting's values are whole lists separated by ';' (its commas belong to each list).
        bool IsList(string key) => settings.FirstOrDefault(s => s.Key == key)?.IsList ?? false;
        List<KeyValuePair<string, string>> sets =
        [
            .. spec.Fixed,
            .. spec.Axes.Select(a => KeyValuePair.Create(a.Setting, a.Kind == SweepAxisKind.Values ? string.Join(IsList(a.Setting) ? ";" : ",", a.Listed) : a.ToString())),
        ];
        var parts = new List<string> { "./aperture lab run", phenomenon.Id, "--tier", RunStoreTier(spec.Tier) };
        if (spec.Seeds is { } n) parts.AddRange(["--seeds", n.ToString(CultureInfo.InvariantCulture)]);
        if (spec.SeedBase is { } b) parts.AddRange(["--seed-base", b.ToString(CultureInfo.InvariantCulture)]);
        if (!spec.Replicate) parts.Add("--no-replication");
        try
        {
            var (fixedSettings, axes) = SweepArguments.Split(sets, settings);
            var back = new SweepSpec(spec.Phenomenon, spec.Tier, axes) { Fixed = fixedSettings, Seeds = spec.Seeds, SeedBase = spec.SeedBase, Replicate = spec.Replicate };
            if (axes.Count > 0 && back.ToJson() == spec.ToJson())
                return string.Join(' ', [.. parts, .. sets.Select(kv => "--set " + ShellWord($"{kv.Key}={kv.Value}"))]);
        }
        catch (Exception e) when (e is CommandLineException or LabConfigException)
        {
            // Not stated by --set: the spec file below.
        }
        return $"printf '%s\\n' {ShellWord(spec.ToJson())} > sweep.json && ./aperture lab run --sweep sweep.json";
    }

    // A word for a POSIX shell: as it is when every character is safe, else in single quotes (a quote inside as '\'').
    private static string ShellWord(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ',' or ':' or '=' or '/' or '@' or '%' or '+')
            ? text
            : "'" + text.Replace("'", "'\\''") + "'";

    private static Command Worker(Option<string?> store)
    {
        var sweep = new Option<string>("--sweep") { Description = "the sweep's id (or a unique prefix)", Required = true };
        var task = new Option<int?>("--task") { Description = "the task to run (a Slurm array index); without it, take any run of the sweep no process holds" };
        var dataDir = new Option<string?>("--data-dir") { Description = "a directory holding Fashion-MNIST's IDX files (as given to `lab run`)" };
        var cmd = new Command("worker", "Run a stored sweep's runs: one task's (as a Slurm array task does), or any unclaimed ones (as --executor processes does). " +
                                        "Each run is claimed in the store under a lease with a heartbeat, so nothing runs twice.") { sweep, task, dataDir };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            Terminal.CheckDataDirectory(r.GetValue(dataDir));
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var record = s.FindSweep(r.GetValue(sweep)!);
            var phenomenon = Catalogue.Get(record.Phenomenon);
            var runner = new LabRunner(s, new LabDataSource(r.GetValue(dataDir)));
            string where = $"{Environment.MachineName} pid {Environment.ProcessId}";
            if (r.GetValue(task) is { } index)
            {
                if (index < 0 || index >= record.TaskCount)
                    throw new CommandLineException($"--task {index}: sweep {record.Id} has tasks 0–{record.TaskCount - 1}");
                var runs = s.SweepTaskRuns(record.Id, index);
                Terminal.Console.MarkupLineInterpolated($"sweep {record.Id} task {index}: {runs.Count} run(s) on {where}");
                var progress = new LabReporter(e =>
                {
                    if (e.Kind is LabProgressKind.Finished or LabProgressKind.Reused)
                        Terminal.Console.MarkupLineInterpolated($"  {(e.Kind == LabProgressKind.Reused ? "found finished" : "finished")}: {e.Arm}, seed {e.Seed}");
                });
                var (executed, reused) = runner.ExecuteAll(phenomenon, runs, progress, cancel);
                Terminal.Console.MarkupLineInterpolated($"sweep {record.Id} task {index}: {executed} run(s) computed, {reused} found finished");
                return 0;
            }
            var all = Enumerable.Range(0, record.TaskCount).SelectMany(t => s.SweepTaskRuns(record.Id, t)).ToList();
            var (count, failures) = runner.ExecuteClaimable(all, spec => Terminal.Console.MarkupLineInterpolated($"  {spec.Arm}, seed {spec.Seed}"), cancel);
            Terminal.Console.MarkupLineInterpolated($"sweep {record.Id}: {count} run(s) computed on {where}");
            foreach (var f in failures) Terminal.PrintError(f);
            return failures.Count == 0 ? 0 : 1;
        })));
        return cmd;
    }

    private static Command Status(Option<string?> store)
    {
        var sweep = new Argument<string>("sweep") { Description = "the sweep's id (or a unique prefix)" };
        var json = Output.JsonOption(Documents.Sweep);
        var format = Output.FormatOption();
        var cmd = new Command("status", "Show a sweep: each grid point's runs (finished, running, failed, not started) and verdict, its tags, and its Slurm jobs' task states.") { sweep, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var record = s.FindSweep(r.GetValue(sweep)!);
            var spec = record.Spec;
            var swept = spec.Axes.Select(a => a.Setting).ToList();
            var status = s.StatusesOf(record.Points.SelectMany(p => p.RunIds));
            output.Note($"sweep {record.Id}: {record.Phenomenon} ({RunStoreTier(record.Tier)}), {record.RunCount} runs in {record.TaskCount} tasks, created {record.Created}{(s.IsSweepCancelled(record.Id) ? ", cancelled" : "")}");
            var tags = s.SweepTags(record.Id);
            if (tags.Count > 0) output.Note($"tags: {string.Join(" ", tags.Select(kv => $"{kv.Key}={kv.Value}"))}");
            var table = new Listing(["point", .. swept, "block", "runs finished", "running", "failed", "verdict", "effect [95% CI]"]);
            foreach (var p in record.Points)
            {
                var cells = new List<Cell> { p.Point.ToString(CultureInfo.InvariantCulture) };
                foreach (var k in swept) cells.Add(p.Settings.LastOrDefault(kv => kv.Key == k).Value ?? "");
                cells.Add(p.Block == 0 ? "discovery" : "replication");
                cells.Add($"{p.RunIds.Count(id => status[id] == RunStatus.Finished)}/{p.RunIds.Count}");
                cells.Add(p.RunIds.Count(id => status[id] == RunStatus.Running).ToString(CultureInfo.InvariantCulture));
                cells.Add(p.RunIds.Count(id => status[id] == RunStatus.Failed).ToString(CultureInfo.InvariantCulture));
                cells.Add(p.Outcome is { } outcome ? new Cell(outcome.Text(), Terminal.Colour(outcome)) : "not judged");
                cells.Add(p.Effect is { } e ? $"{e.Name}: {e.FormatWithUnit()}" : "");
                table.Add([.. cells]);
            }
            output.Write(table);
            // A run marked running whose lease has lapsed has no live worker: it was killed (SIGKILL, the end of
            // scancel's grace period, a lost node) before it could release the run. Counted as running above, as the
            // store holds it; said here, so that a sweep that shows runs "running" with no job left is understood.
            var now = DateTimeOffset.UtcNow;
            List<string> lapsed = [.. record.Points.SelectMany(p => p.RunIds).Distinct(StringComparer.Ordinal)
                .Where(id => status[id] == RunStatus.Running && (s.LeaseOf(id).Expires is not { } e || e <= now))];
            if (lapsed.Count > 0)
                output.Note($"{lapsed.Count} running run(s) hold a lease that has lapsed ({string.Join(", ", lapsed.Take(3).Select(id => id[..Math.Min(12, id.Length)]))}"
                            + $"{(lapsed.Count > 3 ? ", …" : "")}): no worker holds them any more (killed before it could release them); "
                            + "the next worker of this sweep takes them over: run the sweep again");
            var jobs = s.SweepJobs(record.Id);
            var jobStates = new Dictionary<string, (IReadOnlyDictionary<string, int>? States, string? Error)>(StringComparer.Ordinal);
            foreach (var job in jobs.Where(j => j.Executor == "slurm"))
            {
                string states;
                try
                {
                    var tasks = SlurmExecutor.TaskStates(job.JobId);
                    var counts = tasks.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
                    jobStates[job.JobId] = (counts, null);
                    states = tasks.Count == 0 ? "no longer known to Slurm"
                        : string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Value} {kv.Key}"));
                }
                catch (LabRunException e)
                {
                    jobStates[job.JobId] = (null, e.Message);
                    states = e.Message;
                }
                output.Note($"slurm job {job.JobId} (array {job.Tasks}, submitted {job.Submitted}{(job.Attempt > 0 ? $", retry {job.Attempt}" : "")}): {states}");
            }
            output.Json(() => Documents.SweepDocument(s, record, "status", jobStates: jobStates));
            return 0;
        }));
        return cmd;
    }

    private static Command Cancel(Option<string?> store)
    {
        var sweep = new Argument<string>("sweep") { Description = "the sweep's id (or a unique prefix)" };
        var json = Output.JsonOption(Documents.Sweep);
        var cmd = new Command("cancel", "Cancel a sweep: its Slurm jobs still queued or running are cancelled (scancel), and its coordinator stops instead of retrying. " +
                                        "Finished runs stay in the store; running the sweep again resumes it.") { sweep, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var output = CommandOutput.Begin(r, null, json);
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var record = s.FindSweep(r.GetValue(sweep)!);
            s.CancelSweep(record.Id);
            var slurmJobs = s.SweepJobs(record.Id).Where(j => j.Executor == "slurm").Select(j => j.JobId).ToList();
            var live = slurmJobs.Count == 0 ? [] : slurmJobs.Where(id => SlurmExecutor.TaskStates(id).Values.Any(v => v is "PENDING" or "RUNNING" or "REQUEUED" or "CONFIGURING" or "SUSPENDED")).ToList();
            SlurmExecutor.Cancel(live);
            Terminal.Console.MarkupLineInterpolated($"sweep {record.Id} cancelled{(live.Count > 0 ? $": scancel {string.Join(" ", live)}" : slurmJobs.Count > 0 ? " (its Slurm jobs had already ended)" : "")}");
            output.Json(() => Documents.SweepDocument(s, record, "cancel", cancelledJobs: live));
            return 0;
        }));
        return cmd;
    }

    private static Command TagSweep(Option<string?> store)
    {
        var sweep = new Argument<string>("sweep") { Description = "the sweep's id (or a unique prefix)" };
        var pairs = new Argument<string[]>("tag") { Description = "KEY=VALUE (a key already set is replaced)", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("tag", "Tag a sweep with KEY=VALUE pairs, kept in the run store (shown by `lab status`, its --json and the report's sweep page).") { sweep, pairs };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var tags = (r.GetValue(pairs) ?? []).Select(p => RunsCommands.ParseTag(p, "<tag>")).ToList();
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var record = s.FindSweep(r.GetValue(sweep)!);
            foreach (var (k, v) in tags) s.TagSweep(record.Id, k, v);
            Terminal.Console.MarkupLineInterpolated($"sweep {record.Id}: {string.Join(" ", s.SweepTags(record.Id).Select(kv => $"{kv.Key}={kv.Value}"))}");
            return 0;
        }));
        return cmd;
    }

    private static Command UntagSweep(Option<string?> store)
    {
        var sweep = new Argument<string>("sweep") { Description = "the sweep's id (or a unique prefix)" };
        var keys = new Argument<string[]>("key") { Description = "the tags to remove", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("untag", "Remove tags from a sweep.") { sweep, keys };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var record = s.FindSweep(r.GetValue(sweep)!);
            foreach (var k in r.GetValue(keys) ?? [])
                if (!s.UntagSweep(record.Id, k)) throw new CommandLineException($"sweep {record.Id} has no tag '{k}'");
            Terminal.Console.MarkupLineInterpolated($"sweep {record.Id}: {string.Join(" ", s.SweepTags(record.Id).Select(kv => $"{kv.Key}={kv.Value}"))}");
            return 0;
        }));
        return cmd;
    }

    private static string RunStoreTier(Tier t) => t == Tier.Full ? "full" : "quick";

    private sealed class SweepReporter(Action<SweepProgress> report) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value) => report(value);
    }

    private sealed class LabReporter(Action<LabProgress> report) : IProgress<LabProgress>
    {
        public void Report(LabProgress value) => report(value);
    }
}
