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

/// <summary>
/// A phenomenon of deep learning as a controlled experiment: a claim, its sources, the mental models it bears on, a
/// protocol with quick and full defaults, the runs it needs (one per arm and seed), and a verdict rule stated in advance.
/// Derive from <see cref="Phenomenon{TProtocol}"/>; the catalogue finds every such class by reflection.
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
    /// The code version that is part of every run's identity. Bump it when a change alters what a run measures, so
    /// that stored runs made by the old code are not reused.
    /// </summary>
    public virtual int Version => 1;

    /// <summary>The protocol's defaults for a tier.</summary>
    public abstract LabProtocol Defaults(Tier tier);

    /// <summary>The arms (conditions) a protocol runs; every arm runs with every seed.</summary>
    public abstract IReadOnlyList<string> ArmsFor(LabProtocol protocol);

    /// <summary>Performs one run: one seed of one arm.</summary>
    public abstract void Execute(LabProtocol protocol, RunContext run);

    /// <summary>Judges the stored runs of a protocol by the pre-stated rule.</summary>
    public abstract Verdict JudgeRuns(LabProtocol protocol, RunSet runs);

    /// <summary>Phenomenon-specific figures drawn from the stored runs (the report adds the training curves and the effect plot).</summary>
    public abstract IEnumerable<Figure> FiguresFor(LabProtocol protocol, RunSet runs);

    /// <summary>The protocol's type (a record deriving from <see cref="LabProtocol"/>).</summary>
    public abstract Type ProtocolType { get; }
}

/// <summary>
/// A phenomenon with a typed protocol. A phenomenon file derives from this and fills in the claim, the protocol's
/// <see cref="Quick"/> and <see cref="Full"/> defaults, the arms, <see cref="Run"/> (one seed of one arm, recording
/// measurements through the <see cref="RunContext"/>) and <see cref="Judge"/> (the verdict from stored runs only).
/// </summary>
/// <typeparam name="TProtocol">The protocol record.</typeparam>
public abstract class Phenomenon<TProtocol> : Phenomenon where TProtocol : LabProtocol
{
    /// <summary>Defaults that run in about a minute on 2 cores.</summary>
    public abstract TProtocol Quick { get; }

    /// <summary>Defaults at the literature's scale, as far as a CPU allows.</summary>
    public abstract TProtocol Full { get; }

    /// <summary>The arms (conditions) to compare; every arm runs with every seed.</summary>
    public abstract IReadOnlyList<string> Arms(TProtocol protocol);

    /// <summary>One run: one seed of one arm. Record measurements with <see cref="RunContext.Log"/> and <see cref="RunContext.Record"/>.</summary>
    public abstract void Run(TProtocol protocol, RunContext run);

    /// <summary>The verdict, computed from the stored runs alone by the rule the protocol's thresholds state.</summary>
    public abstract Verdict Judge(TProtocol protocol, RunSet runs);

    /// <summary>Figures particular to this phenomenon, drawn from the stored runs (none by default).</summary>
    public virtual IEnumerable<Figure> Figures(TProtocol protocol, RunSet runs) => [];

    /// <inheritdoc/>
    public sealed override LabProtocol Defaults(Tier tier) => tier == Tier.Full ? Full : Quick;

    /// <inheritdoc/>
    public sealed override IReadOnlyList<string> ArmsFor(LabProtocol protocol) => Arms(Cast(protocol));

    /// <inheritdoc/>
    public sealed override void Execute(LabProtocol protocol, RunContext run) => Run(Cast(protocol), run);

    /// <inheritdoc/>
    public sealed override Verdict JudgeRuns(LabProtocol protocol, RunSet runs) => Judge(Cast(protocol), runs);

    /// <inheritdoc/>
    public sealed override IEnumerable<Figure> FiguresFor(LabProtocol protocol, RunSet runs) => Figures(Cast(protocol), runs);

    /// <inheritdoc/>
    public sealed override Type ProtocolType => typeof(TProtocol);

    private TProtocol Cast(LabProtocol p) => p as TProtocol
        ?? throw new ArgumentException($"{Id} expects a {typeof(TProtocol).Name} protocol, found {p.GetType().Name}");
}
