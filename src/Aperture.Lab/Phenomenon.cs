using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aperture.Lab;

/// <summary>How large a protocol is: <see cref="Quick"/> runs in about a minute on 2 cores; <see cref="Full"/> matches the literature's scale as far as a CPU allows.</summary>
public enum Tier
{
    /// <summary>About a minute on 2 cores.</summary>
    Quick,
    /// <summary>The literature's scale, as far as a CPU allows.</summary>
    Full,
}

/// <summary>A source for a phenomenon's claim.</summary>
/// <param name="Citation">Authors, year and title.</param>
/// <param name="ArXiv">The arXiv id, when there is one ("1611.03530").</param>
/// <param name="Url">A link, when there is no arXiv id.</param>
public sealed record Source(string Citation, string? ArXiv = null, string? Url = null)
{
    /// <summary>Where to read it: the arXiv abstract page or <see cref="Url"/>.</summary>
    public string? Link => ArXiv is not null ? $"https://arxiv.org/abs/{ArXiv}" : Url;
}

/// <summary>Which data a protocol's runs read: part of every run's identity through its content hash.</summary>
public enum LabDataset
{
    /// <summary>No external data: everything is drawn from the seed (synthetic tasks).</summary>
    None,
    /// <summary>
    /// The Fashion-MNIST images of the subset shipped with Aperture (6000 training, 1000 test), identified by their
    /// index in the full dataset: read from Debian's full copy when installed, else from the shipped files; the same
    /// bits either way. Quick tiers use it.
    /// </summary>
    FashionMnistSubset,
    /// <summary>The whole of Fashion-MNIST (60,000 + 10,000); a run stops at once when no full copy is installed.</summary>
    FashionMnistFull,
    /// <summary>
    /// The King James Bible as the <c>bible</c> program of <c>bible-kjv</c> prints it, with WordNet's exception lists
    /// (the analogy questions); identified by the hash of the text and the questions read (<see cref="Corpora.CorpusText"/>).
    /// </summary>
    KingJamesBible,
    /// <summary>WordNet 3.0's glosses (<c>wordnet-base</c>), with WordNet's exception lists; identified by their content hash.</summary>
    WordNetGlosses,
    /// <summary>GCIDE (<c>dict-gcide</c>), with WordNet's exception lists; identified by their content hash.</summary>
    Gcide,
}

/// <summary>
/// One arm (condition) of a phenomenon: a record whose public init properties are its settings. Its canonical JSON
/// (snake_case keys, declaration order) is part of a run's identity; <see cref="Name"/> is how tables and plots label
/// it. No arm is encoded in a string and parsed back.
/// </summary>
public abstract record Arm
{
    /// <summary>A short label for tables and plots ("heavy-ball", "plain lr=0.1"); unique among a protocol's arms.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// The arm's place in a variant × setting grid, when a phenomenon's arms form one (dropout at p = 0.5: variant
    /// "dropout", setting "p=0.5"); null otherwise. Figures draw a grid's arms in one hue per variant, shaded light to
    /// dark through the settings in the protocol's order, with a legend that reads variant by variant. A figure
    /// declaration, not a setting: it is no part of the arm's JSON (<see cref="ToJson"/>) or identity.
    /// </summary>
    public virtual ArmCell? Cell => null;

    /// <summary>An enum setting as it is written in an arm's JSON and name: kebab case ("plain-glorot", "he-relu").</summary>
    protected static string Kebab(Enum value) => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        IgnoreReadOnlyProperties = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The arm's canonical JSON: its settings in declaration order, snake_case keys, enums in kebab case.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, GetType(), Json);

    /// <summary>Reads <see cref="ToJson"/>'s output back into an arm of <paramref name="type"/>.</summary>
    public static Arm FromJson(string json, Type type) =>
        (Arm)(JsonSerializer.Deserialize(json, type, Json) ?? throw new LabConfigException($"arm JSON for {type.Name} is null"));
}

/// <summary>An arm named by a label alone, for phenomena whose arms carry no settings beyond their name.</summary>
/// <param name="Label">The arm's name.</param>
public sealed record NamedArm(string Label) : Arm
{
    /// <inheritdoc/>
    public override string Name => Label;
}

/// <summary>
/// A phenomenon of deep learning as a controlled experiment: a claim, its sources, the mental models it bears on, a
/// protocol with quick and full defaults, the runs it needs (one per arm and seed), and a verdict rule stated in advance.
/// Derive from <see cref="Phenomenon{TProtocol, TArm}"/>; the catalogue finds every such class by reflection.
/// A phenomenon holds no state: everything a run needs comes from its protocol, its arm and its <see cref="RunContext"/>.
/// </summary>
public abstract class Phenomenon
{
    /// <summary>A short kebab-case id, used on the command line ("momentum-acceleration").</summary>
    public abstract string Id { get; }

    /// <summary>A title for the report.</summary>
    public abstract string Title { get; }

    /// <summary>The claim under test, in one sentence.</summary>
    public abstract string Claim { get; }

    /// <summary>How the claim is measured and judged, in a short paragraph.</summary>
    public abstract string Method { get; }

    /// <summary>Where the claim comes from.</summary>
    public abstract IReadOnlyList<Source> Sources { get; }

    /// <summary>The mental models the result bears on, each with the outcome it predicts.</summary>
    public abstract IReadOnlyList<ModelBearing> Models { get; }

    /// <summary>
    /// The protocol version, part of every run's identity. Bump it when a change alters what a run measures or how it
    /// is judged (a new rule is a new protocol), and say why in docs/phenomena.md.
    /// </summary>
    public virtual int Version => 1;

    /// <summary>The protocol's defaults for a tier.</summary>
    public abstract LabProtocol Defaults(Tier tier);

    /// <summary>The arms (conditions) a protocol runs; every arm runs with every seed.</summary>
    public abstract IReadOnlyList<Arm> ArmsFor(LabProtocol protocol);

    /// <summary>Which data the protocol's runs read at <paramref name="tier"/>.</summary>
    public abstract LabDataset DataFor(LabProtocol protocol, Tier tier);

    /// <summary>Performs one run: one seed of one arm.</summary>
    public abstract void Execute(LabProtocol protocol, Arm arm, RunContext run);

    /// <summary>Judges the stored runs of a protocol by the pre-stated rule.</summary>
    public abstract Verdict JudgeRuns(LabProtocol protocol, RunSet runs);

    /// <summary>Phenomenon-specific figures drawn from the stored runs (the report adds the training curves and the effect plot).</summary>
    public abstract IEnumerable<Figure> FiguresFor(LabProtocol protocol, RunSet runs);

    /// <summary>
    /// The per-step metrics the runs log (<see cref="RunContext.Log"/>), each with what its index counts (step, epoch,
    /// layer, a setting) and what its value is: the report draws each as a curve per arm with these axes. A logged key
    /// not declared here is drawn against its bare index, labelled as undeclared. Declared on the class with
    /// <see cref="LogsMetricAttribute"/>, one per key.
    /// </summary>
    public IReadOnlyList<Metric> Metrics => [.. GetType().GetCustomAttributes(typeof(LogsMetricAttribute), false).Cast<LogsMetricAttribute>().Select(a => a.Metric)];

    /// <summary>The protocol's type (a record deriving from <see cref="LabProtocol"/>).</summary>
    public abstract Type ProtocolType { get; }

    /// <summary>The arms' type (a record deriving from <see cref="Arm"/>).</summary>
    public abstract Type ArmType { get; }

    /// <summary>Reads an arm from its canonical JSON (a run spec executed in another process).</summary>
    public Arm ReadArm(string json) => Arm.FromJson(json, ArmType);

    /// <summary>Reads a protocol from its JSON (a run spec's config, or a stored verdict's protocol).</summary>
    public LabProtocol ReadProtocol(string json) => ProtocolBinding.FromJson(json, ProtocolType);
}

/// <summary>
/// A phenomenon with a typed protocol and typed arms. A phenomenon file derives from this and fills in the claim, the
/// protocol's <see cref="Quick"/> and <see cref="Full"/> defaults, the arms, <see cref="Run"/> (one seed of one arm,
/// recording measurements through the <see cref="RunContext"/>) and <see cref="Judge"/> (the verdict from stored runs only).
/// </summary>
/// <typeparam name="TProtocol">The protocol record.</typeparam>
/// <typeparam name="TArm">The arm record.</typeparam>
public abstract class Phenomenon<TProtocol, TArm> : Phenomenon where TProtocol : LabProtocol where TArm : Arm
{
    /// <summary>Defaults that run in about a minute on 2 cores.</summary>
    public abstract TProtocol Quick { get; }

    /// <summary>Defaults at the literature's scale, as far as a CPU allows.</summary>
    public abstract TProtocol Full { get; }

    /// <summary>The arms (conditions) to compare; every arm runs with every seed.</summary>
    public abstract IReadOnlyList<TArm> Arms(TProtocol protocol);

    /// <summary>One run: one seed of one arm. Record measurements with <see cref="RunContext.Log"/> and <see cref="RunContext.Record"/>.</summary>
    public abstract void Run(TProtocol protocol, TArm arm, RunContext run);

    /// <summary>The verdict, computed from the stored runs alone by the rule the protocol's thresholds state.</summary>
    public abstract Verdict Judge(TProtocol protocol, RunSet runs);

    /// <summary>Figures particular to this phenomenon, drawn from the stored runs (none by default).</summary>
    public virtual IEnumerable<Figure> Figures(TProtocol protocol, RunSet runs) => [];

    /// <summary>
    /// Which data the runs read: by default none (a synthetic task). Phenomena on Fashion-MNIST return
    /// <see cref="LabDataset.FashionMnistSubset"/> at the quick tier and <see cref="LabDataset.FashionMnistFull"/> at the full tier;
    /// phenomena on a Debian text corpus return its entry (<see cref="LabData.DatasetOf"/>).
    /// </summary>
    public virtual LabDataset Data(TProtocol protocol, Tier tier) => LabDataset.None;

    /// <inheritdoc/>
    public sealed override LabProtocol Defaults(Tier tier) => tier == Tier.Full ? Full : Quick;

    /// <inheritdoc/>
    public sealed override IReadOnlyList<Arm> ArmsFor(LabProtocol protocol) => Arms(Cast(protocol));

    /// <inheritdoc/>
    public sealed override LabDataset DataFor(LabProtocol protocol, Tier tier) => Data(Cast(protocol), tier);

    /// <inheritdoc/>
    public sealed override void Execute(LabProtocol protocol, Arm arm, RunContext run) =>
        Run(Cast(protocol), arm as TArm ?? throw new ArgumentException($"{Id} expects a {typeof(TArm).Name} arm, found {arm.GetType().Name}"), run);

    /// <inheritdoc/>
    public sealed override Verdict JudgeRuns(LabProtocol protocol, RunSet runs) => Judge(Cast(protocol), runs);

    /// <inheritdoc/>
    public sealed override IEnumerable<Figure> FiguresFor(LabProtocol protocol, RunSet runs) => Figures(Cast(protocol), runs);

    /// <inheritdoc/>
    public sealed override Type ProtocolType => typeof(TProtocol);

    /// <inheritdoc/>
    public sealed override Type ArmType => typeof(TArm);

    private TProtocol Cast(LabProtocol p) => p as TProtocol
        ?? throw new ArgumentException($"{Id} expects a {typeof(TProtocol).Name} protocol, found {p.GetType().Name}");
}
