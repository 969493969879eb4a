using System.Diagnostics;
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
}

/// <summary>A phenomenon's result after a sweep: the verdict judged from its stored runs.</summary>
/// <param name="Id">The phenomenon's id.</param>
/// <param name="Tier">The tier.</param>
/// <param name="Protocol">The protocol used (defaults plus overrides).</param>
/// <param name="Overrides">The settings that differ from the tier's defaults.</param>
/// <param name="Verdict">The verdict.</param>
/// <param name="Seeds">The number of seeds.</param>
/// <param name="Seconds">The stored runs' total time.</param>
/// <param name="RunsExecuted">Runs computed by this sweep.</param>
/// <param name="RunsReused">Runs found finished in the store.</param>
/// <param name="VerdictId">The stored verdict's id.</param>
public sealed record PhenomenonOutcome(string Id, Tier Tier, LabProtocol Protocol, IReadOnlyList<KeyValuePair<string, string>> Overrides,
    Verdict Verdict, int Seeds, double Seconds, int RunsExecuted, int RunsReused, long VerdictId)
{
    /// <summary>The command that reproduces this result.</summary>
    public string Command => LabRunner.ReproduceCommand(Id, Tier, Seeds, Overrides);
}

/// <summary>
/// Runs phenomena against a run store: every arm × seed of the protocol, skipping runs the store already has finished,
/// then judges the verdict from the stored runs alone and stores it. Progress goes to an <see cref="IProgress{T}"/>.
/// </summary>
public sealed class LabRunner(RunStore store)
{
    /// <summary>
    /// The protocol for <paramref name="phenomenon"/> at <paramref name="tier"/> with <paramref name="overrides"/>
    /// (key → value; <paramref name="seeds"/>, when given, sets <c>seeds</c>), validated.
    /// </summary>
    public static LabProtocol Resolve(Phenomenon phenomenon, Tier tier, IEnumerable<KeyValuePair<string, string>>? overrides = null, int? seeds = null)
    {
        var list = (overrides ?? []).ToList();
        if (seeds is { } n) list.Add(KeyValuePair.Create("seeds", n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return ProtocolBinding.Apply(phenomenon.Defaults(tier), list, phenomenon.Id);
    }

    /// <summary>The runs a protocol needs, in the order they are run (seed-major, so early seeds of every arm finish first).</summary>
    public static IReadOnlyList<RunSpec> Plan(Phenomenon phenomenon, Tier tier, LabProtocol protocol)
    {
        string config = ProtocolBinding.RunConfigJson(protocol), version = phenomenon.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var arms = phenomenon.ArmsFor(protocol);
        if (arms.Count == 0 || arms.Distinct().Count() != arms.Count)
            throw new InvalidOperationException($"{phenomenon.Id}: arms must be distinct and at least one, found [{string.Join(", ", arms)}]");
        return [.. Enumerable.Range(0, protocol.Seeds).SelectMany(seed => arms.Select(arm =>
            new RunSpec(RunStore.RunIdentity(phenomenon.Id, tier, arm, seed, config, version), phenomenon.Id, tier, arm, seed, config, version)))];
    }

    /// <summary>Runs what is missing of the protocol, then judges and stores the verdict.</summary>
    public PhenomenonOutcome Run(Phenomenon phenomenon, Tier tier, LabProtocol protocol, IProgress<LabProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ProtocolBinding.Validate(protocol, phenomenon.Id);
        var plan = Plan(phenomenon, tier, protocol);
        long experiment = store.EnsureExperiment(phenomenon.Id, phenomenon.Claim);
        int executed = 0, reused = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var spec = plan[i];
            int index = i;
            if (!store.BeginRun(spec, experiment))
            {
                reused++;
                progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Reused, 1));
                continue;
            }
            progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Started, 0));
            var context = new RunContext(spec.Arm, spec.Seed, tier,
                f => progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Step, f)),
                cancellation);
            var clock = Stopwatch.StartNew();
            try
            {
                phenomenon.Execute(protocol, context);
            }
            catch (Exception e)
            {
                store.FailRun(spec.RunId, e.ToString(), clock.Elapsed.TotalSeconds);
                if (e is OperationCanceledException) throw;
                throw new LabRunException($"{phenomenon.Id}: run {spec.RunId[..8]} (arm {spec.Arm}, seed {spec.Seed}) failed: {e.Message}", e);
            }
            store.FinishRun(spec.RunId, context, clock.Elapsed.TotalSeconds);
            executed++;
            progress?.Report(new LabProgress(phenomenon.Id, index, plan.Count, spec.Arm, spec.Seed, LabProgressKind.Finished, 1));
        }
        return Judge(phenomenon, tier, protocol, executed, reused);
    }

    /// <summary>Judges a protocol from its stored runs (all must be finished) and stores the verdict. Runs nothing.</summary>
    public PhenomenonOutcome Judge(Phenomenon phenomenon, Tier tier, LabProtocol protocol, int executed = 0, int reused = 0)
    {
        var plan = Plan(phenomenon, tier, protocol);
        var unfinished = plan.Where(s => store.StatusOf(s.RunId) != RunStatus.Finished).ToList();
        if (unfinished.Count > 0)
            throw new LabRunException($"{phenomenon.Id}: cannot judge yet: {unfinished.Count} of {plan.Count} runs are not finished " +
                                      "(never run, failed, or running in another process); run the sweep again");
        var runs = store.LoadRunSet(plan.Select(s => s.RunId));
        var verdict = phenomenon.JudgeRuns(protocol, runs);
        var overrides = ProtocolBinding.Differences(protocol, phenomenon.Defaults(tier));
        long experiment = store.EnsureExperiment(phenomenon.Id, phenomenon.Claim);
        long id = store.SaveVerdict(phenomenon.Id, tier, experiment, protocol, overrides, [.. plan.Select(s => s.RunId)], verdict,
            runs.Seconds, phenomenon.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new PhenomenonOutcome(phenomenon.Id, tier, protocol, overrides, verdict, protocol.Seeds, runs.Seconds, executed, reused, id);
    }

    /// <summary>The <c>aperture</c> command line that reproduces a result.</summary>
    public static string ReproduceCommand(string id, Tier tier, int seeds, IReadOnlyList<KeyValuePair<string, string>> overrides)
    {
        var parts = new List<string> { "./aperture lab run", id, "--tier", RunStore.TierName(tier), "--seeds", seeds.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var (k, v) in overrides)
            if (k != "seeds") parts.Add($"--set {k}={v}");
        return string.Join(' ', parts);
    }
}

/// <summary>A run threw, or a verdict lacks finished runs: the message names the phenomenon and, for a run, its arm and seed.</summary>
public sealed class LabRunException(string message, Exception? inner = null) : Exception(message, inner);
