namespace Aperture.Lab.Statistics;

/// <summary>Argument checks shared by the statistics, so every method words its errors alike.</summary>
internal static class Checks
{
    /// <summary>Throws unless 0 &lt; confidence &lt; 1, naming the argument "confidence".</summary>
    public static void Confidence(double confidence)
    {
        if (!(confidence > 0 && confidence < 1))
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "confidence must lie strictly between 0 and 1");
    }

    /// <summary>Throws unless <paramref name="values"/> holds at least <paramref name="count"/> values.</summary>
    public static void AtLeast<T>(IReadOnlyList<T> values, int count, string what, string paramName)
    {
        ArgumentNullException.ThrowIfNull(values, paramName);
        if (values.Count < count)
            throw new ArgumentException($"{what} needs at least {count} value{(count == 1 ? "" : "s")}, found {values.Count}", paramName);
    }
}
