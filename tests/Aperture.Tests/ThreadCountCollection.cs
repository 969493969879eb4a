namespace Aperture.Tests;

/// <summary>
/// Tests that change a process-wide kernel setting (<see cref="Parallelism.Threads"/>, a forced kernel code path, the
/// GEMM's blocking sizes): they run alone, after the others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadCountCollection
{
    public const string Name = "Parallelism.Threads";
}
