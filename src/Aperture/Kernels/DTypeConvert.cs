namespace Aperture;

/// <summary>Elementwise conversion between dtypes (float to int truncates toward zero; non-zero is true).</summary>
internal static class DTypeConvert
{
    public static void Copy(Tensor src, Tensor dst)
    {
        var s = src.IsContiguous ? src : StridedCopy.ToContiguous(src);
        int n = s.Numel;
        switch (src.DType, dst.DType)
        {
            case (DType.Float32, DType.Float64):
                {
                    var a = s.ContiguousSpan<float>(); var b = dst.ContiguousSpan<double>();
                    for (int i = 0; i < n; i++) b[i] = a[i];
                    return;
                }
            case (DType.Float64, DType.Float32):
                {
                    var a = s.ContiguousSpan<double>(); var b = dst.ContiguousSpan<float>();
                    for (int i = 0; i < n; i++) b[i] = (float)a[i];
                    return;
                }
            default:
                for (int i = 0; i < n; i++) dst.SetRaw(i, s.GetRaw(s._offset + i));
                return;
        }
    }
}
