using Aperture.Latent;
using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

public class NeighbourAgreementTests
{
    // The oracle: every pair and every listed neighbour written out, O(n²).
    private static double BrutePairs(double[] v)
    {
        double s = 0;
        long pairs = 0;
        for (int i = 0; i < v.Length; i++)
            for (int j = 0; j < v.Length; j++)
                if (i != j) { s += Math.Abs(v[i] - v[j]); pairs++; }
        return s / pairs;
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 1)]
    [InlineData(17, 2)]
    [InlineData(64, 3)]
    [InlineData(255, 4)]
    public void PairSpreadIsTheMeanOverAllPairs(int n, int levels)
    {
        // levels > 0 puts the values on a coarse grid, so many tie.
        var g = new Generator((ulong)n);
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = levels == 0 ? g.NextNormal() * 3 + 1 : g.NextLong(levels + 1) - 1;
        if (v.Distinct().Count() == 1) v[0] += 1;
        Assert.Equal(BrutePairs(v), NeighbourAgreement.PairSpread(v), 1e-12);
    }

    [Theory]
    [InlineData(11, 1)]
    [InlineData(30, 4)]
    [InlineData(41, 40)]
    public void MeasureMatchesABruteForceCount(int n, int k)
    {
        var g = new Generator((ulong)(n * 7 + k));
        var x = Tensor.Randn([n, 3], g, DType.Float64);
        var nb = new NearestNeighbourIndex(x).SearchSelf(k);
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = g.NextDouble() * 10;
        var idx = nb.Indices.ToArray<long>();
        double s = 0;
        for (int q = 0; q < n; q++)
            for (int j = 0; j < k; j++) s += Math.Abs(v[q] - v[idx[q * k + j]]);
        var a = NeighbourAgreement.Measure(nb, v);
        Assert.Equal(s / (n * k), a.NeighbourSpread, 1e-12);
        Assert.Equal(BrutePairs(v), a.PairSpread, 1e-12);
        Assert.Equal(a.NeighbourSpread / a.PairSpread, a.Relative);
        if (k == n - 1) Assert.Equal(a.PairSpread, a.NeighbourSpread, 1e-12);   // every other item is a neighbour: the pair mean itself
    }

    [Fact]
    public void AnAttributeTheSearchSortsByHasSmallSpreadAndAnIgnoredOneAboutOne()
    {
        // Items on a line: neighbours by position share the position, and an independent attribute is about as spread as random pairs.
        int n = 400;
        var g = new Generator(3);
        var pos = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        var other = Enumerable.Range(0, n).Select(_ => g.NextNormal()).ToArray();
        var nb = new NearestNeighbourIndex(Tensor.FromArray(pos, [n, 1])).SearchSelf(4);
        Assert.True(NeighbourAgreement.Measure(nb, pos).Relative < 0.02);
        Assert.InRange(NeighbourAgreement.Measure(nb, other).Relative, 0.85, 1.15);
    }

    [Fact]
    public void BadInputIsNamed()
    {
        var nb = new NearestNeighbourIndex(Tensor.Randn([5, 2], new Generator(1), DType.Float64)).SearchSelf(2);
        Assert.Contains("5 queries but there are 4", Assert.Throws<ArgumentException>(() => NeighbourAgreement.Measure(nb, new double[4])).Message);
        Assert.Contains("constant", Assert.Throws<ArgumentException>(() => NeighbourAgreement.Measure(nb, [1.0, 1, 1, 1, 1])).Message);
        Assert.Contains("item 2 is NaN", Assert.Throws<ArgumentException>(() => NeighbourAgreement.PairSpread([1.0, 2, double.NaN])).Message);
        Assert.Contains("at least two", Assert.Throws<ArgumentException>(() => NeighbourAgreement.PairSpread([1.0])).Message);
        Assert.Contains("outside the 2 items", Assert.Throws<ArgumentException>(() => NeighbourAgreement.NeighbourSpread([1L, 5L], 1, [0.0, 1])).Message);
    }
}
