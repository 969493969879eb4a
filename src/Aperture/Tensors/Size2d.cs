namespace Aperture;

/// <summary>
/// A (height, width) pair of integers for 2-d window ops: kernel size, stride, padding, dilation. An int means
/// the same value for both (like PyTorch's <c>_size_2_t</c>), so <c>stride: 2</c> and <c>stride: (2, 1)</c> both work.
/// </summary>
public readonly record struct Size2d(int H, int W)
{
    /// <summary>The same value for height and width.</summary>
    public static implicit operator Size2d(int both) => new(both, both);

    /// <summary>A (height, width) tuple.</summary>
    public static implicit operator Size2d((int H, int W) hw) => new(hw.H, hw.W);

    /// <inheritdoc/>
    public override string ToString() => $"({H}, {W})";
}
