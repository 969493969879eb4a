using System.Diagnostics;
using System.Globalization;
using Aperture.Lab.Store;

namespace Aperture.Lab;

/// <summary>What a sweep reports as it goes, for a progress display.</summary>
/// <param name="Phenomenon">The phenomenon's id.</param>
/// <param name="RunIndex">The index of the current run among <paramref name="RunCount"/>.</param>
/// <param name="RunCount">How many runs the protocol needs.</param>
/// <param name="Arm">The current run's arm.</param>
/// <param name="Seed">The current run's seed.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Fraction">How far the current run has got (0 to 1).</param>
public sealed record LabProgress(string Phenomenon, int RunIndex, int RunCount, string Arm, int Seed, LabProgressKind Kind, double Fraction)
{
    /// <summary>How far the whole protocol has got: finished runs plus the current run's fraction, over all runs.</summary>
    public double Overall => RunCount == 0 ? 1 : (RunIndex + Fraction) / RunCount;

    /// <summary>For a <see cref="LabProgressKind.Judged"/> event: the block's verdict with its provenance; null otherwise.</summary>
    public PhenomenonOutcome? Outcome { get; init; }
}

/// <summary>Kinds of <see cref="LabProgress"/> events.</summary>
public enum LabProgressKind
{
    /// <summary>The run was already finished in the store and is reused.</summary>
    Reused,
    /// <summary>The run started.</summary>
    Started,
    /// <summary>The run reported progress.</summary>
    Step,
    /// <summary>The run finished and was stored.</summary>
    Finished,
    /// <summary>
    /// Every run of the block is finished and its verdict is judged and stored (<see cref="LabProgress.Outcome"/>);
    /// a display can show the verdict as soon as it is known, before the rest of a sweep.
    /// </summary>
    Judged,
}

/// <summary>A phenomenon's result on one block of seeds: the verdict judged from its stored runs, with its provenance.</summary>
/// <param name="Id">The phenomenon's id.</param>
/// <param name="Tier">The tier.</param>
/// <param name="Protocol">The protocol used (defaults plus overrides).</param>
/// <param name="Overrides">The settings that differ from the tier's defaults (seeds and seed base included).</param>
/// <param name="Verdict">The verdict.</param>
/// <param name="Seeds">The number of seeds.</param>
/// <param name="Seconds">The stored runs' total time.</param>
/// <param name="RunsExecuted">Runs computed by this sweep.</param>
/// <param name="RunsReused">Runs found finished in the store.</param>
/// <param name="VerdictId">The stored verdict's id.</param>
public sealed record PhenomenonOutcome(string Id, Tier Tier, LabProtocol Protocol, IReadOnlyList<KeyValuePair<string, string>> Overrides,
    Verdict Verdict, int Seeds, double Seconds, int RunsExecuted, int RunsReused, long VerdictId)
{
    /// <summary>The first seed of the block.</summary>
    public int SeedBase => Protocol.SeedBase;

    /// <summary>The run ids judged.</summary>
    public IReadOnlyList<string> RunIds { get; init; } = [];

    /// <summary>The content hash of the data the runs read.</summary>
    public string DataFingerprint { get; init; } = "none";

    /// <summary>Which copy of the data the runs read.</summary>
    public string DataSource { get; init; } = "";

    /// <summary>Aperture's version and commit.</summary>
    public string CodeVersion { get; init; } = RunStore.CodeVersion;

    /// <summary>The phenomenon's protocol version.</summary>
    public int ProtocolVersion { get; init; }

    /// <summary>The machine that judged it.</summary>
    public string Host { get; init; } = Environment.MachineName;

    /// <summary>What reproduces this verdict.</summary>
    public Reproduction Reproduction => new(Id, Tier, Seeds, SeedBase, Overrides);
}

/// <summary>What reproduces a verdict: the phenomenon, tier, seed block and overridden settings (the CLI formats it as a command line).</summary>
/// <param name="Id">The phenomenon's id.</param>
/// <param name="Tier">The tier.</param>
/// <param name="Seeds">Seeds per arm.</param>
/// <param name="SeedBase">The block's first seed.</param>
/// <param name="Overrides">Settings that differ from the tier's defaults (seeds and seed base among them, if they do).</param>
public sealed record Reproduction(string Id, Tier Tier, int Seeds, int SeedBase, IReadOnlyList<KeyValuePair<string, string>> Overrides);

/// <summary>
/// A phenomenon judged on a discovery block of seeds and on an independent replication block of the same size (the
/// next seeds): a verdict is replicated only when both blocks give the same outcome.
/// </summary>
/// <param name="Discovery">The verdict on seeds B … B + N − 1.</param>
/// <param name="Replication">The verdict on seeds B + N … B + 2N − 1, or null when only one block was judged.</param>
public sealed record ReplicatedOutcome(PhenomenonOutcome Discovery, PhenomenonOutcome? Replication)
{
    /// <summary>The phenomenon's id.</summary>
    public string Id => Discovery.Id;

    /// <summary>True when both blocks gave the same outcome; null when there is no replication block.</summary>
    public bool? Replicated => Replication is null ? null : Replication.Verdict.Outcome == Discovery.Verdict.Outcome;

    /// <summary>"held, replicated", "held; replication: inconclusive", or the discovery outcome alone.</summary>
    public string Summary => Replication is null ? Discovery.Verdict.Outcome.Text()
        : Replicated == true ? Discovery.Verdict.Outcome.Text() + ", replicated"
        : $"{Discovery.Verdict.Outcome.Text()}; replication: {Replication.Verdict.Outcome.Text()} (not replicated)";
}

/// <summary>
/// Runs phenomena against a run store in three separable steps: <see cref="Plan"/> turns a protocol into run specs
/// (each a pure description a process anywhere can execute), <see cref="Execute"/> runs one spec into the store, and
/// <see cref="Judge(Phenomenon, Tier, LabProtocol)"/> computes the verdict from the stored runs alone and stores it.
/// </summary>
/// <param name="store">The run store.</param>
/// <param name="data">Where data is loaded from (a fresh source by default: Debian's copy when installed, else the shipped subset).</param>
public sealed partial class LabRunner(RunStore store, LabDataSource? data = null)
{
    private readonly LabDataSource _data = data ?? new LabDataSource();

    /// <summary>The data source runs read from.</summary>
    public LabDataSource DataSource => _data;

    /// <summary>
    /// The protocol for <paramref name="phenomenon"/> at <paramref name="tier"/> with <paramref name="overrides"/>
    /// (key → value; <paramref name="seeds"/> and <paramref name="seedBase"/>, when given, set <c>seeds</c> and
    /// <c>seed_base</c>), validated.
    /// </summary>
    public static LabProtocol Resolve(Phenomenon phenomenon, Tier tier, IEnumerable<KeyValuePair<string, string>>? overrides = null,
        int? seeds = null, int? seedBase = null)
    {
        var list = (overrides ?? []).ToList();
        if (seeds is { } n) list.Add(KeyValuePair.Create("seeds", n.ToString(CultureInfo.InvariantCulture)));
        if (seedBase is { } b) list.Add(KeyValuePair.Create("seed_base", b.ToString(CultureInfo.InvariantCulture)));
        return ProtocolBinding.Apply(phenomenon.Defaults(tier), list, phenomenon.Id);
    }

    /// <summary>
    /// The runs a protocol needs, in the order they are run (seed-major, so early seeds of every arm finish first).
    /// Resolves the protocol's data first (its fingerprint is part of every run's identity), so a full tier without
    /// the full dataset stops here, before anything runs.
    /// </summary>
    public IReadOnlyList<RunSpec> Plan(Phenomenon phenomenon, Tier tier, LabProtocol protocol)
    {
        ProtocolBinding.Validate(protocol, phenomenon.Id);
        var dataset = phenomenon.DataFor(protocol, tier);
        var data = _data.Resolve(dataset);
        string config = ProtocolBinding.RunConfigJson(protocol);
        string version = phenomenon.Version.ToString(CultureInfo.InvariantCulture);
        var arms = phenomenon.ArmsFor(protocol);
        if (arms.Count == 0 || arms.Select(a => a.Name).Distinct().Count() != arms.Count)
            throw new InvalidOperationException($"{phenomenon.Id}: arms must have distinct names and be at least one, found [{string.Join(", ", arms.Select(a => a.Name))}]");
        return [.. Enumerable.Range(protocol.SeedBase, protocol.Seeds).SelectMany(seed => arms.Select(arm =>
        {
            string armJson = arm.ToJson();
            string id = RunStore.RunIdentity(phenomenon.Id, tier, armJson, seed, config, version, RunStore.CodeVersion, data.Fingerprint);
            return new RunSpec(id, phenomenon.Id, tier, arm.Name, armJson, seed, config, version, RunStore.CodeVersion, dataset, data.Fingerprint, data.Source);
        }))];
    }

    /// <summary>
    /// Executes one run spec into the store (in this process; the spec holds everything needed): returns false,
    /// doing nothing, when the store already has it finished or another live process holds its lease (is running
    /// it). While it runs, a heartbeat keeps its lease. A run that throws is marked failed and rethrown as a
    /// <see cref="LabRunException"/> naming the phenomenon, arm and seed.
    /// </summary>
    /// <param name="spec">The run to execute.</param>
    /// <param name="phenomenon">The phenomenon it belongs to (default: the catalogue's phenomenon of that id).</param>
    /// <param name="progress">Receives the run's progress, from 0 to 1.</param>
    /// <param name="cancellation">Stops the run between measurements.</param>
    public bool Execute(RunSpec spec, Phenomenon? phenomenon = null, Action<double>? progress = null, CancellationToken cancellation = default) =>
        TryExecute(spec, phenomenon, progress, cancellation) == RunClaim.Claimed;

    // Claimed: executed here; Finished: found finished; Leased: another live process is running it.
    private RunClaim TryExecute(RunSpec spec, Phenomenon? phenomenon, Action<double>? progress, CancellationToken cancellation)
    {
        phenomenon ??= Catalogue.Get(spec.Phenomenon);
        if (phenomenon.Id != spec.Phenomenon) throw new ArgumentException($"run spec of {spec.Phenomenon} given with phenomenon {phenomenon.Id}", nameof(phenomenon));
        if (spec.CodeVersion != RunStore.CodeVersion)
            throw new LabRunException($"{spec.Phenomenon}: run {spec.RunId[..8]} was planned by Aperture {spec.CodeVersion}; this is {RunStore.CodeVersion}");
        var data = _data.Resolve(spec.Data);
        if (data.Fingerprint != spec.DataFingerprint)
            throw new LabRunException($"{spec.Phenomenon}: run {spec.RunId[..8]} was planned on data {spec.DataFingerprint[..Math.Min(12, spec.DataFingerprint.Length)]}, " +
                                      $"but this machine reads {data.Fingerprint[..Math.Min(12, data.Fingerprint.Length)]} ({data.Source})");
        long experiment = store.EnsureExperiment(phenomenon.Id, phenomenon.Claim);
        var claim = store.Claim(spec, experiment);
        if (claim != RunClaim.Claimed) return claim;
        var clock = Stopwatch.StartNew();
        using (store.HoldLease(spec.RunId))
        {
            try
            {
                var protocol = phenomenon.ReadProtocol(spec.ConfigJson);
                var context = new RunContext(phenomenon.ReadArm(spec.ArmJson), spec.Seed, spec.Tier, data,
                    store.StagesFor(phenomenon.Id, spec.ProtocolVersion), progress, cancellation);
                phenomenon.Execute(protocol, context.ArmValue, context);
                store.FinishRun(spec.RunId, context, clock.Elapsed.TotalSeconds);
            }
            catch (Exception e)
            {
                store.FailRun(spec.RunId, e.ToString(), clock.Elapsed.TotalSeconds);
                if (e is OperationCanceledException) throw;
                throw new LabRunException($"{phenomenon.Id}: run {spec.RunId[..8]} (arm {spec.Arm}, seed {spec.Seed}) failed: {e.Message}", e);
            }
        }
        return RunClaim.Claimed;
    }

    /// <summary>How often a sweep looks at runs another process holds, waiting for them to finish (default 0.25 s).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(0.25);

    /// <summary>
    /// Runs what is missing of the protocol's block of seeds, then judges and stores the verdict. Runs another live
    /// process is computing are left to it and waited for (polling every <see cref="PollInterval"/>): reused when it
    /// finishes them, taken over if its lease lapses, a <see cref="LabRunException"/> if it fails one.
    /// </summary>
    public PhenomenonOutcome Run(Phenomenon phenomenon, Tier tier, LabProtocol protocol, IProgress<LabProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        var plan = Plan(phenomenon, tier, protocol);
        var (executed, reused) = ExecuteAll(phenomenon, plan, progress, cancellation);
        var outcome = Judge(phenomenon, tier, protocol, plan, executed, reused);
        progress?.Report(new LabProgress(phenomenon.Id, plan.Count, plan.Count, "", protocol.SeedBase, LabProgressKind.Judged, 1) { Outcome = outcome });
        return outcome;
    }

    /// <summary>
    /// Executes every run of <paramref name="plan"/> not already finished in the store, in this process, and returns
    /// how many it computed and how many it found finished. Runs another live process is computing are left to it and
    /// waited for (polling every <see cref="PollInterval"/>): reused when it finishes them, taken over if its lease
    /// lapses, a <see cref="LabRunException"/> if it fails one.
    /// </summary>
    public (int Executed, int Reused) ExecuteAll(Phenomenon phenomenon, IReadOnlyList<RunSpec> plan, IProgress<LabProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        int executed = 0, reused = 0;
        // Runs another live process is computing are left to it and looked at again after the rest: each is then
        // finished (reused), or its lease expired (its process died: taken over), or it failed there (reported).
        var pending = new List<int>();
        bool first = true;
        for (var order = Enumerable.Range(0, plan.Count).ToList(); order.Count > 0; order = pending, pending = [], first = false)
        {
            if (!first) Thread.Sleep(PollInterval);
            foreach (int index in order)
            {
                cancellation.ThrowIfCancellationRequested();
                var spec = plan[index];
                var status = store.StatusOf(spec.RunId);
                if (status == RunStatus.Finished)
                {
                    reused++;
                    progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Reused, 1));
                    continue;
                }
                if (!first && status == RunStatus.Failed)
                    throw new LabRunException($"{phenomenon.Id}: run {spec.RunId[..8]} (arm {spec.Arm}, seed {spec.Seed}) failed in another process " +
                                              $"({FirstLine(store.FindRun(spec.RunId).Error)}); run the sweep again to retry it");
                if (first) progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Started, 0));
                switch (TryExecute(spec, phenomenon, f => progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Step, f)), cancellation))
                {
                    case RunClaim.Claimed: executed++; break;
                    case RunClaim.Finished: reused++; break;
                    default: pending.Add(index); continue;
                }
                progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Finished, 1));
            }
        }
        return (executed, reused);
    }

    /// <summary>
    /// Executes each run of <paramref name="plan"/> this process can claim now, skipping those finished or held by
    /// another live process (a worker pulling from a shared queue: the other holder finishes its own). A run that
    /// fails is recorded failed and the rest still run; returns how many it computed and the failures' messages.
    /// </summary>
    public (int Executed, IReadOnlyList<string> Failures) ExecuteClaimable(IReadOnlyList<RunSpec> plan, Action<RunSpec>? started = null,
        CancellationToken cancellation = default)
    {
        int executed = 0;
        var failures = new List<string>();
        foreach (var spec in plan)
        {
            cancellation.ThrowIfCancellationRequested();
            if (store.StatusOf(spec.RunId) == RunStatus.Finished) continue;
            started?.Invoke(spec);
            try
            {
                if (TryExecute(spec, null, null, cancellation) == RunClaim.Claimed) executed++;
            }
            catch (LabRunException e)
            {
                failures.Add(e.Message);
            }
        }
        return (executed, failures);
    }

    private static string FirstLine(string? text) =>
        text is null ? "no error recorded" : text.Split('\n', 2)[0].Trim();

    /// <summary>
    /// Runs and judges the discovery block (the protocol's seeds) and, when <paramref name="replicate"/>, an
    /// independent replication block of the same size on the next seeds.
    /// </summary>
    public ReplicatedOutcome RunReplicated(Phenomenon phenomenon, Tier tier, LabProtocol protocol, bool replicate = true,
        IProgress<LabProgress>? progress = null, CancellationToken cancellation = default)
    {
        var discovery = Run(phenomenon, tier, protocol, progress, cancellation);
        if (!replicate) return new ReplicatedOutcome(discovery, null);
        var replication = Run(phenomenon, tier, ReplicationOf(protocol), progress, cancellation);
        return new ReplicatedOutcome(discovery, replication);
    }

    /// <summary>The replication block of <paramref name="protocol"/>: the same settings on the next <c>seeds</c> seeds.</summary>
    public static LabProtocol ReplicationOf(LabProtocol protocol) => protocol with { SeedBase = protocol.SeedBase + protocol.Seeds };

    /// <summary>Judges a protocol from its stored runs (all must be finished) and stores the verdict. Runs nothing.</summary>
    public PhenomenonOutcome Judge(Phenomenon phenomenon, Tier tier, LabProtocol protocol) =>
        Judge(phenomenon, tier, protocol, Plan(phenomenon, tier, protocol), 0, 0);

    private PhenomenonOutcome Judge(Phenomenon phenomenon, Tier tier, LabProtocol protocol, IReadOnlyList<RunSpec> plan, int executed, int reused)
    {
        var unfinished = plan.Where(s => store.StatusOf(s.RunId) != RunStatus.Finished).ToList();
        if (unfinished.Count > 0)
            throw new LabRunException($"{phenomenon.Id}: cannot judge yet: {unfinished.Count} of {plan.Count} runs are not finished " +
                                      "(never run, failed, or running in another process); run the sweep again");
        var runs = store.LoadRunSet(plan.Select(s => s.RunId));
        var verdict = phenomenon.JudgeRuns(protocol, runs);
        var overrides = ProtocolBinding.Differences(protocol, phenomenon.Defaults(tier));
        long experiment = store.EnsureExperiment(phenomenon.Id, phenomenon.Claim);
        string fingerprint = plan.Count > 0 ? plan[0].DataFingerprint : "none", source = plan.Count > 0 ? plan[0].DataSource : "";
        long id = store.SaveVerdict(phenomenon.Id, tier, experiment, protocol, overrides, [.. plan.Select(s => s.RunId)], verdict,
            runs.Seconds, phenomenon.Version.ToString(CultureInfo.InvariantCulture), fingerprint, source);
        return new PhenomenonOutcome(phenomenon.Id, tier, protocol, overrides, verdict, protocol.Seeds, runs.Seconds, executed, reused, id)
        {
            RunIds = [.. plan.Select(s => s.RunId)],
            DataFingerprint = fingerprint,
            DataSource = source,
            ProtocolVersion = phenomenon.Version,
        };
    }
}

/// <summary>A run threw, or a verdict lacks finished runs: the message names the phenomenon and, for a run, its arm and seed.</summary>
public sealed class LabRunException(string message, Exception? inner = null) : Exception(message, inner);
