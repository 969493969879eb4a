using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

public class EdgeExtrapolationTests
{
    // f(x) = relu(x − 2): flat on the data [−1, 1], one hinge at 2 beyond its right edge.
    private static readonly PiecewiseLinear Hinged = PiecewiseLinear.Analyze([new double[,] { { 1 } }, new double[,] { { 1 } }], [[-2], [0]]);

    private static double[] Hinge(double[] x) => [.. x.Select(v => Math.Max(0, v - 2))];

    [Fact]
    public void AHingeWithinReachBendsTheTailByTheSlopeChangeTimesTheDistance()
    {
        // Reach 3: the right edge's line is flat at 0; at x = 4 the net is at 2, and its range over [−4, 4] is 2.
        var e = EdgeExtrapolation.Of(Hinged, -1, 1, 3);
        Assert.Equal(0, e.Left);
        Assert.Equal(2, e.Right, 12);
        Assert.Equal(2, e.Range, 12);
        Assert.Equal(1, e.Relative, 12);
        var s = EdgeExtrapolation.Sampled(Hinge, -1, 1, 3);
        Assert.Equal(e.Right, s.Right, 9);
        Assert.Equal(e.Range, s.Range, 9);
    }

    [Fact]
    public void BeforeTheHingeTheNetIsExactlyItsEdgeLine()
    {
        var e = EdgeExtrapolation.Of(Hinged, -1, 1, 0.5);
        Assert.Equal(0, e.Right);
        Assert.Equal(0, e.Range);
        Assert.Equal(0, e.Relative);
    }

    [Fact]
    public void ScaleFree()
    {
        // The same shape at a thousandth of the size gives the same relative deviation: small outputs are not "straight".
        var small = PiecewiseLinear.Analyze([new double[,] { { 1 }, { -1 } }, new double[,] { { 1e-3, 2e-3 } }], [[-2, -1.5], [0.1]]);
        var large = PiecewiseLinear.Analyze([new double[,] { { 1 }, { -1 } }, new double[,] { { 1, 2 } }], [[-2, -1.5], [100]]);
        Assert.Equal(large.Hinges, small.Hinges);
        var a = EdgeExtrapolation.Of(small, -1, 1, 4);
        var b = EdgeExtrapolation.Of(large, -1, 1, 4);
        Assert.True(a.Left > 0 && a.Right > 0);
        Assert.Equal(b.Relative, a.Relative, 9);
    }

    [Fact]
    public void ASaturatingFunctionIsFarFromItsEdgeLines()
    {
        var e = EdgeExtrapolation.Sampled(x => [.. x.Select(Math.Tanh)], -1, 1, 5);
        // tanh leaves x = 1 with slope 1 − tanh²(1) ≈ 0.42 and flattens: by x = 6 the line is ≈ 2.1 above it.
        Assert.InRange(e.Relative, 0.8, 1.5);
        Assert.Throws<ArgumentException>(() => EdgeExtrapolation.Of(Hinged, 1, 1, 1));
        Assert.Throws<ArgumentException>(() => EdgeExtrapolation.Of(Hinged, -1, 1, 0));
    }
}
