namespace Aperture.Lab.Tests.Probes;

internal static class ProbeHelpers
{
    /// <summary>Overwrites a parameter's values (row-major), outside the graph.</summary>
    public static void Set(Tensor parameter, params double[] values)
    {
        using var _ = Autodiff.NoGrad();
        Ops.CopyInPlace(parameter, Tensor.FromArray(values, parameter.ShapeArray()).To(parameter.DType));
    }
}
