namespace Aperture.Lab;

/// <summary>
/// What one run (one seed of one arm) sees: its arm and seed, a generator seeded by the seed alone (so every arm of a
/// seed draws the same data and initialization: a paired design), the data its protocol reads, and the places to
/// record measurements. Nothing is written to the store until the run returns: a run that throws or is killed leaves
/// no partial measurements.
/// </summary>
public sealed class RunContext
{
    private readonly Action<double>? _progress;
    internal readonly List<(string Key, long Step, double Value)> Metrics = [];
    internal readonly Dictionary<string, double> Results = [];
    internal readonly Dictionary<string, string> Artifacts = [];

    /// <summary>Creates a context (the runner does this; tests may too).</summary>
    /// <param name="arm">The arm.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="tier">The tier whose protocol is running.</param>
    /// <param name="data">The data the run reads (<see cref="LabData.None"/> for a synthetic task).</param>
    /// <param name="stages">Where shared stages are kept (null: computed in memory, never shared).</param>
    /// <param name="progress">Receives the run's progress, from 0 to 1.</param>
    /// <param name="cancellation">Cancelled when the sweep is stopped.</param>
    public RunContext(Arm arm, int seed, Tier tier, LabData? data = null, IStageStore? stages = null,
        Action<double>? progress = null, CancellationToken cancellation = default)
    {
        ArmValue = arm ?? throw new ArgumentNullException(nameof(arm));
        Seed = seed;
        Tier = tier;
        Generator = new Generator((ulong)seed);
        Data = data ?? LabData.None;
        Stages = stages;
        _progress = progress;
        Cancellation = cancellation;
    }

    /// <summary>Creates a context for an arm named by a label (<see cref="NamedArm"/>).</summary>
    public RunContext(string arm, int seed, Tier tier, LabData? data = null, Action<double>? progress = null, CancellationToken cancellation = default)
        : this(new NamedArm(arm), seed, tier, data, null, progress, cancellation)
    {
    }

    /// <summary>The arm's name (its label in tables and plots).</summary>
    public string Arm => ArmValue.Name;

    /// <summary>The arm itself.</summary>
    public Arm ArmValue { get; }

    /// <summary>The seed.</summary>
    public int Seed { get; }

    /// <summary>The tier whose protocol is running.</summary>
    public Tier Tier { get; }

    /// <summary>A generator seeded by <see cref="Seed"/> alone (the same for every arm of this seed).</summary>
    public Generator Generator { get; }

    /// <summary>The data the protocol reads, resolved once for the whole sweep; its fingerprint is part of the run's identity.</summary>
    public LabData Data { get; }

    /// <summary>Where shared stages are stored and found (see <see cref="Stage"/>); null when none is attached.</summary>
    public IStageStore? Stages { get; }

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

    /// <summary>
    /// A stage several runs share (a pretrained network, say): returned from the stage store when a run in any process
    /// has already computed it under the same identity, else computed by <paramref name="compute"/> and stored. The
    /// identity is the stage's <paramref name="name"/>, its <paramref name="key"/> (the settings it depends on, as
    /// canonical text), the seed and the data's fingerprint, together with the phenomenon, protocol version and code
    /// version the store adds. The stage is bytes, so that it can live in a file another machine reads.
    /// </summary>
    public byte[] Stage(string name, string key, Func<byte[]> compute)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(compute);
        if (Stages is null) return compute();
        string identity = string.Join('\n', name, key, Seed.ToString(System.Globalization.CultureInfo.InvariantCulture), Data.Fingerprint);
        return Stages.LoadOrCompute(identity, name, compute);
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

/// <summary>Where the stages that several runs share are kept: a run store, for one phenomenon at one protocol and code version.</summary>
public interface IStageStore
{
    /// <summary>The stage stored under <paramref name="identity"/>, or null.</summary>
    byte[]? TryLoad(string identity);

    /// <summary>Stores a stage (a second writer of the same identity changes nothing).</summary>
    void Save(string identity, string name, byte[] content);

    /// <summary>
    /// The stage stored under <paramref name="identity"/>, else computed by <paramref name="compute"/> and stored. A
    /// store that runs several runs at once computes each identity once: a second caller waits for the first and
    /// loads its result.
    /// </summary>
    byte[] LoadOrCompute(string identity, string name, Func<byte[]> compute)
    {
        ArgumentNullException.ThrowIfNull(compute);
        if (TryLoad(identity) is { } found) return found;
        var bytes = compute();
        Save(identity, name, bytes);
        return bytes;
    }
}
