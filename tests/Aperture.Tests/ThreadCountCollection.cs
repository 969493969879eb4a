namespace Aperture.Tests;

/// <summary>Tests that set <see cref="Parallelism.Threads"/>, a process-wide setting: they run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadCountCollection
{
    public const string Name = "Parallelism.Threads";
}
