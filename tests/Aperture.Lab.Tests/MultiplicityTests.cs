using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

public class MultiplicityStatisticsTests
{
    [Fact]
    public void HolmTextbookExample()
    {
        // Sorted: 0.005 ≤ 0.05/4, 0.01 ≤ 0.05/3, 0.03 > 0.05/2: stop; 0.04 is not rejected either.
        double[] p = [0.01, 0.04, 0.03, 0.005];
        Assert.Equal([true, false, false, true], Multiplicity.Holm(p, 0.05));
        // Adjusted: 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06.
        var adjusted = Multiplicity.HolmAdjusted(p);
        double[] expected = [0.03, 0.06, 0.06, 0.02];
        for (int i = 0; i < p.Length; i++) Assert.Equal(expected[i], adjusted[i], 1e-15);
    }

    [Fact]
    public void HolmAdjustedIsCappedMonotoneAndAgreesWithHolm()
    {
        double[] p = [0.2, 0.9, 0.001, 0.6, 0.02, 0.02];
        var adjusted = Multiplicity.HolmAdjusted(p);
        Assert.All(adjusted, a => Assert.InRange(a, 0, 1));
        Assert.Equal(1, adjusted[1]);
        for (int i = 0; i < p.Length; i++)
            for (int j = 0; j < p.Length; j++)
                if (p[i] <= p[j]) Assert.True(adjusted[i] <= adjusted[j]);
        foreach (double alpha in new[] { 0.001, 0.01, 0.05, 0.1, 0.2 })
        {
            var rejected = Multiplicity.Holm(p, alpha);
            for (int i = 0; i < p.Length; i++) Assert.Equal(adjusted[i] <= alpha, rejected[i]);
        }
    }

    [Fact]
    public void HolmRejectsBadInput()
    {
        Assert.Equal("pValues", Assert.ThrowsAny<ArgumentException>(() => Multiplicity.Holm([], 0.05)).ParamName);
        Assert.Equal("pValues", Assert.ThrowsAny<ArgumentException>(() => Multiplicity.HolmAdjusted([])).ParamName);
        var e = Assert.ThrowsAny<ArgumentException>(() => Multiplicity.HolmAdjusted([0.1, 1.5]));
        Assert.Equal("pValues", e.ParamName);
        Assert.Contains("pValues[1] = 1.5", e.Message);
        Assert.Equal("alpha", Assert.ThrowsAny<ArgumentException>(() => Multiplicity.Holm([0.1], 0)).ParamName);
    }
}
