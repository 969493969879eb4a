namespace Aperture.Lab;

/// <summary>
/// What one run (one seed of one arm) sees: its arm and seed, a generator seeded by the seed alone (so every arm of a
/// seed draws the same data and initialization: a paired design), and the places to record measurements. Nothing is
/// written to the store until the run returns: a run that throws or is killed leaves no partial measurements.
/// </summary>
public sealed class RunContext
{
    private readonly Action<double>? _progress;
    internal readonly List<(string Key, long Step, double Value)> Metrics = [];
    internal readonly Dictionary<string, double> Results = [];
    internal readonly Dictionary<string, string> Artifacts = [];

    /// <summary>Creates a context (the runner does this; tests may too).</summary>
    public RunContext(string arm, int seed, Tier tier, Action<double>? progress = null, CancellationToken cancellation = default)
    {
        Arm = arm;
        Seed = seed;
        Tier = tier;
        Generator = new Generator((ulong)seed);
        _progress = progress;
        Cancellation = cancellation;
    }

    /// <summary>The arm (condition) this run belongs to.</summary>
    public string Arm { get; }

    /// <summary>The seed: 0, 1, …, Seeds − 1.</summary>
    public int Seed { get; }

    /// <summary>The tier whose protocol is running.</summary>
    public Tier Tier { get; }

    /// <summary>A generator seeded by <see cref="Seed"/> alone (the same for every arm of this seed).</summary>
    public Generator Generator { get; }

    /// <summary>Cancelled when the sweep is stopped; check it in long loops.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>Records a measurement at a step (a training curve). A key's steps must be distinct.</summary>
    public void Log(string key, long step, double value)
    {
        CheckKey(key);
        Metrics.Add((key, step, value));
    }

    /// <summary>Records a final value of the run (what a verdict reads). Recording a key again replaces it.</summary>
    public void Record(string key, double value)
    {
        CheckKey(key);
        Results[key] = value;
    }

    /// <summary>Saves a text artifact (JSON, CSV) under <paramref name="name"/>, kept with the run.</summary>
    public void SaveArtifact(string name, string content)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(['/', '\\', '\0']) >= 0 || name is "." or "..")
            throw new ArgumentException($"artifact name must be a plain file name, found '{name}'", nameof(name));
        Artifacts[name] = content;
    }

    /// <summary>Reports how far the run has got, from 0 to 1 (drives the progress bar and its ETA).</summary>
    public void ReportProgress(double fraction)
    {
        Cancellation.ThrowIfCancellationRequested();
        _progress?.Invoke(Math.Clamp(fraction, 0, 1));
    }

    private static void CheckKey(string key)
    {
        if (string.IsNullOrWhiteSpace(key)) throw new ArgumentException("a measurement needs a non-empty key", nameof(key));
    }
}
