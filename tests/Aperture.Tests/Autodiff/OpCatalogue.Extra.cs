namespace Aperture.Tests.Autodiff;

public static partial class OpCatalogue
{
    // Entries for ops added after the core (convolution, pooling, ...) go here.
    private static IEnumerable<OpCase> Extra()
    {
        yield break;
    }
}
