namespace Aperture.Lab;

/// <summary>One finished run as read back from the store.</summary>
/// <param name="RunId">The run's identity (a hash of phenomenon, tier, arm, seed, config and code version).</param>
/// <param name="Arm">The arm.</param>
/// <param name="Seed">The seed.</param>
/// <param name="Seconds">How long the run took.</param>
/// <param name="Results">Final values by key.</param>
/// <param name="Metrics">Per-step measurements by key, in step order.</param>
/// <param name="Artifacts">Artifact files by name (absolute paths).</param>
public sealed record StoredRun(string RunId, string Arm, int Seed, double Seconds,
    IReadOnlyDictionary<string, double> Results,
    IReadOnlyDictionary<string, IReadOnlyList<(long Step, double Value)>> Metrics,
    IReadOnlyDictionary<string, string> Artifacts)
{
    /// <summary>The final value recorded under <paramref name="key"/>.</summary>
    public double Result(string key) => Results.TryGetValue(key, out var v) ? v
        : throw new KeyNotFoundException($"run {RunId[..8]} ({Arm}, seed {Seed}) has no result '{key}'; it has: {string.Join(", ", Results.Keys)}");

    /// <summary>The text of the artifact saved under <paramref name="name"/>.</summary>
    public string ReadArtifact(string name) => Artifacts.TryGetValue(name, out var path) ? File.ReadAllText(path)
        : throw new KeyNotFoundException($"run {RunId[..8]} ({Arm}, seed {Seed}) has no artifact '{name}'");
}

/// <summary>The stored runs of one protocol: every arm × seed, read back from the store. Verdicts are computed from this alone.</summary>
public sealed class RunSet
{
    private readonly Dictionary<(string, int), StoredRun> _byKey;

    /// <summary>Wraps runs (normally read from a <see cref="Store.RunStore"/>).</summary>
    public RunSet(IReadOnlyList<StoredRun> runs)
    {
        Runs = [.. runs.OrderBy(r => r.Arm, StringComparer.Ordinal).ThenBy(r => r.Seed)];
        _byKey = [];
        foreach (var r in Runs)
            if (!_byKey.TryAdd((r.Arm, r.Seed), r))
                throw new ArgumentException($"two runs for arm '{r.Arm}' seed {r.Seed}");
        Seeds = [.. Runs.Select(r => r.Seed).Distinct().Order()];
        Arms = [.. Runs.Select(r => r.Arm).Distinct()];
    }

    /// <summary>Every run, by arm then seed.</summary>
    public IReadOnlyList<StoredRun> Runs { get; }

    /// <summary>The seeds present, in order.</summary>
    public IReadOnlyList<int> Seeds { get; }

    /// <summary>The arms present.</summary>
    public IReadOnlyList<string> Arms { get; }

    /// <summary>The run of <paramref name="arm"/> with <paramref name="seed"/>.</summary>
    public StoredRun Get(string arm, int seed) => _byKey.TryGetValue((arm, seed), out var r) ? r
        : throw new KeyNotFoundException($"no stored run for arm '{arm}' seed {seed}");

    /// <summary>The final value <paramref name="key"/> of every seed of <paramref name="arm"/>, in seed order (paired across arms).</summary>
    public double[] Results(string arm, string key) => [.. Seeds.Select(s => Get(arm, s).Result(key))];

    /// <summary>
    /// A metric logged once per position (a layer, say) by every seed of <paramref name="arm"/>: element i holds the
    /// seeds' i-th logged values, in seed order (the shape <see cref="Series.MeanOverSeeds"/> takes). Every seed must
    /// have logged as many values.
    /// </summary>
    public IReadOnlyList<double[]> MetricAcrossSeeds(string arm, string key)
    {
        var bySeed = Seeds.Select(s => Get(arm, s)).Select(r => r.Metrics.TryGetValue(key, out var m) ? m
            : throw new KeyNotFoundException($"run {r.RunId[..8]} ({arm}, seed {r.Seed}) logged no metric '{key}'")).ToList();
        int n = bySeed.Count == 0 ? 0 : bySeed[0].Count;
        if (bySeed.Any(m => m.Count != n)) throw new InvalidOperationException($"arm '{arm}': the seeds logged different numbers of '{key}' values");
        return [.. Enumerable.Range(0, n).Select(i => bySeed.Select(m => m[i].Value).ToArray())];
    }

    /// <summary>Total seconds the runs took.</summary>
    public double Seconds => Runs.Sum(r => r.Seconds);
}
