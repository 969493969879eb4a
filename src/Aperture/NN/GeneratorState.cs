namespace Aperture.NN;

/// <summary>
/// Saves and restores a <see cref="Generator"/> as a tensor, so that it travels in a state dict and a checkpoint:
/// an int64 tensor of shape [3] holding the seed, the stream and the offset (each a 64-bit pattern stored as a
/// signed integer). A generator restored from it continues the stream exactly where the saved one stood.
/// </summary>
public static class GeneratorState
{
    /// <summary>The state of <paramref name="generator"/> as an int64 tensor [seed, stream, offset].</summary>
    public static Tensor Save(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        return Tensor.FromArray([unchecked((long)generator.Seed), unchecked((long)generator.Stream), unchecked((long)generator.Offset)]);
    }

    /// <summary>A new generator in the state <paramref name="state"/> holds.</summary>
    public static Generator Load(Tensor state)
    {
        var (seed, stream, offset) = Read(state);
        return new Generator(seed, stream) { Offset = offset };
    }

    /// <summary>
    /// Restores <paramref name="state"/> into <paramref name="generator"/> when it has the same seed and stream
    /// (only the offset moves, so every holder of that object sees it), and returns it; otherwise returns a new
    /// generator in that state.
    /// </summary>
    public static Generator Restore(Generator generator, Tensor state)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var (seed, stream, offset) = Read(state);
        if (generator.Seed == seed && generator.Stream == stream)
        {
            generator.Offset = offset;
            return generator;
        }
        return new Generator(seed, stream) { Offset = offset };
    }

    /// <summary>True when <paramref name="state"/> has the shape and dtype of a saved generator.</summary>
    public static bool IsState(Tensor state) => state.DType == DType.Int64 && state.Rank == 1 && state.Shape[0] == 3;

    private static (ulong Seed, ulong Stream, ulong Offset) Read(Tensor state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!IsState(state))
            throw new ArgumentException($"GeneratorState: a saved generator is an int64 tensor of shape [3] (seed, stream, offset); got {state.DType.Name()} of shape {Shapes.Format(state.Shape)}");
        var v = state.ToArray<long>();
        return (unchecked((ulong)v[0]), unchecked((ulong)v[1]), unchecked((ulong)v[2]));
    }
}
