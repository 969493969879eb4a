using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class LinearRegionsTests
{
    private static (List<double[,]> W, List<double[]> B) RandomNet(int seed, params int[] sizes)
    {
        var g = new Generator((ulong)seed);
        var w = new List<double[,]>();
        var b = new List<double[]>();
        for (int l = 0; l + 1 < sizes.Length; l++)
        {
            var flat = Tensor.Randn([sizes[l + 1], sizes[l]], g, DType.Float64).ToDoubleArray();
            var m = new double[sizes[l + 1], sizes[l]];
            for (int i = 0; i < sizes[l + 1]; i++)
                for (int j = 0; j < sizes[l]; j++) m[i, j] = flat[i * sizes[l] + j] * Math.Sqrt(2.0 / sizes[l]);
            w.Add(m);
            b.Add([.. Tensor.Randn([sizes[l + 1]], g, DType.Float64).ToDoubleArray().Select(v => 0.3 * v)]);
        }
        return (w, b);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(14)]
    public void TelgarskysSawtoothHasTwoToTheLPiecesOnTheUnitInterval(int layers)
    {
        var (w, b) = LinearRegions.Sawtooth(layers);
        var line = LinearRegions.OnLine(w, b, [0.0], [1.0], 0, 1);
        int pieces = 1 << layers;
        Assert.Equal(pieces, line.Pieces.Count);
        // The hinges are the dyadic points k/2^L, and the slopes alternate ±2^L.
        for (int k = 0; k < pieces; k++)
        {
            Assert.Equal((double)k / pieces, line.Pieces[k].From, 12);
            Assert.Equal(k % 2 == 0 ? pieces : -pieces, line.Pieces[k].Slopes[0], 6);
        }
        var g = new Random(layers);
        for (int i = 0; i < 200; i++)
        {
            double t = g.NextDouble();
            Assert.Equal(LinearRegions.Forward(w, b, [t]).Output[0], line.Evaluate(t)[0], 9);
        }
    }

    [Theory]
    [InlineData(1, 5, 3)]
    [InlineData(2, 12, 1)]
    [InlineData(3, 3, 2)]
    public void BreakpointsAgreeWithDenseSamplingOnADeepNetwork(int seed, int inputs, int outputs)
    {
        var (w, b) = RandomNet(seed, inputs, 10, 8, 8, outputs);
        var g = new Generator((ulong)seed + 100);
        var origin = Tensor.Randn([inputs], g, DType.Float64).ToDoubleArray();
        var direction = Tensor.Randn([inputs], g, DType.Float64).ToDoubleArray();
        const double lo = -3, hi = 3;
        var line = LinearRegions.OnLine(w, b, origin, direction, lo, hi);
        Assert.True(line.Breakpoints.Count >= 5, $"only {line.Breakpoints.Count} breakpoints: the test needs a network that bends");

        // Dense sampling: a pattern change between neighbouring samples marks a breakpoint.
        const int samples = 200_000;
        double step = (hi - lo) / samples;
        double minGap = line.Breakpoints.Zip(line.Breakpoints.Skip(1), (x, y) => y - x).DefaultIfEmpty(hi - lo).Min();
        Assert.True(minGap > 2 * step, $"breakpoints {minGap} apart: too close for a grid of step {step}");
        bool[]? previous = null;
        var changes = new List<double>();
        for (int i = 0; i <= samples; i++)
        {
            double t = lo + i * step;
            var x = origin.Zip(direction, (o, d) => o + t * d).ToArray();
            var (pattern, _) = LinearRegions.Forward(w, b, x);
            if (previous is not null && !pattern.SequenceEqual(previous)) changes.Add(t - step / 2);
            previous = pattern;
        }
        Assert.Equal(changes.Count, line.Breakpoints.Count);
        for (int k = 0; k < changes.Count; k++) Assert.True(Math.Abs(changes[k] - line.Breakpoints[k]) <= step, $"breakpoint {k}: exact {line.Breakpoints[k]}, sampled near {changes[k]}");

        // The regions' affine maps are the network.
        var r = new Random(seed);
        for (int i = 0; i < 300; i++)
        {
            double t = lo + (hi - lo) * r.NextDouble();
            var x = origin.Zip(direction, (o, d) => o + t * d).ToArray();
            var expected = LinearRegions.Forward(w, b, x).Output;
            var actual = line.Evaluate(t);
            for (int k = 0; k < outputs; k++) Assert.Equal(expected[k], actual[k], 10);
        }
    }

    [Fact]
    public void OnTheWholeLineItAgreesWithTheOneDimensionalAnalysis()
    {
        var (w, b) = RandomNet(7, 1, 12, 9, 1);
        var pl = PiecewiseLinear.Analyze(w, b);
        var line = LinearRegions.OnLine(w, b, [0.0], [1.0]);
        Assert.Equal(pl.RegionBoundaries.Count, line.Breakpoints.Count);
        for (int i = 0; i < line.Breakpoints.Count; i++) Assert.Equal(pl.RegionBoundaries[i], line.Breakpoints[i], 12);
        Assert.Equal(pl.Pieces.Count, line.Pieces.Count);
        Assert.True(double.IsNegativeInfinity(line.Regions[0].From) && double.IsPositiveInfinity(line.Regions[^1].To));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(9)]
    public void OneHiddenLayerCutsThePlaneIntoOnePlusNPlusNChooseTwoRegions(int units)
    {
        // n lines in general position divide the plane into 1 + n + n(n − 1)/2 regions (Zaslavsky 1975); a box that
        // holds every crossing sees them all.
        var (w, b) = RandomNet(units, 2, units, 1);
        double reach = 1;
        for (int i = 0; i < units; i++)
            for (int j = i + 1; j < units; j++)
            {
                double det = w[0][i, 0] * w[0][j, 1] - w[0][i, 1] * w[0][j, 0];
                double xa = (-b[0][i] * w[0][j, 1] + b[0][j] * w[0][i, 1]) / det;
                double xb = (-w[0][i, 0] * b[0][j] + w[0][j, 0] * b[0][i]) / det;
                reach = Math.Max(reach, 2 * Math.Max(Math.Abs(xa), Math.Abs(xb)));
            }
        var regions = LinearRegions.InPlane(w, b, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-reach, reach), (-reach, reach));
        Assert.Equal(1 + units + units * (units - 1) / 2, regions.Count);
        Assert.Equal(4 * reach * reach, regions.Sum(r => r.Area), 6);
        Assert.Equal(regions.Count, regions.Select(r => string.Concat(r.Pattern.Select(p => p ? '1' : '0'))).Distinct().Count());
    }

    [Fact]
    public void PlaneRegionsOfADeepNetworkPartitionTheSliceAndMatchSampling()
    {
        var (w, b) = RandomNet(5, 6, 8, 8, 6, 2);
        var g = new Generator(55);
        var origin = Tensor.Randn([6], g, DType.Float64).ToDoubleArray();
        var u = Tensor.Randn([6], g, DType.Float64).ToDoubleArray();
        var v = Tensor.Randn([6], g, DType.Float64).ToDoubleArray();
        var regions = LinearRegions.InPlane(w, b, origin, u, v, (-2, 2), (-1, 1.5));
        Assert.True(regions.Count > 10);
        Assert.Equal(4 * 2.5, regions.Sum(r => r.Area), 9);
        var patterns = regions.Select(r => string.Concat(r.Pattern.Select(p => p ? '1' : '0'))).ToHashSet();
        Assert.Equal(regions.Count, patterns.Count);
        // At each region's centroid the network has that region's pattern and its affine outputs.
        foreach (var r in regions)
        {
            var (a, c) = r.Centroid;
            var x = origin.Select((o, j) => o + a * u[j] + c * v[j]).ToArray();
            var (pattern, output) = LinearRegions.Forward(w, b, x);
            Assert.Equal(r.Pattern, pattern);
            for (int k = 0; k < 2; k++) Assert.Equal(output[k], r.Gradient[2 * k] * a + r.Gradient[2 * k + 1] * c + r.Intercepts[k], 10);
        }
        // Every pattern a grid meets is a region's; the grid, blind to slivers, meets no more regions than there are.
        var seen = new HashSet<string>();
        for (int i = 0; i <= 300; i++)
            for (int j = 0; j <= 300; j++)
            {
                double a = -2 + 4.0 * i / 300, c = -1 + 2.5 * j / 300;
                var x = origin.Select((o, k) => o + a * u[k] + c * v[k]).ToArray();
                seen.Add(string.Concat(LinearRegions.Forward(w, b, x).Pattern.Select(p => p ? '1' : '0')));
            }
        Assert.Subset(patterns, seen);
        Assert.True(seen.Count >= 0.8 * patterns.Count, $"the grid met {seen.Count} of {patterns.Count} regions");
    }

    [Fact]
    public void TrainedModulesAreReadThroughTheirLinearLayers()
    {
        var net = Models.Mlp(3, [6, 5], 2, "relu", generator: new Generator(8), dtype: DType.Float64);
        double[] origin = [0.1, -0.2, 0.3], direction = [1, 0.5, -0.25];
        var line = LinearRegions.OnLine(net, origin, direction, -4, 4);
        for (double t = -3.9; t < 4; t += 0.37)
        {
            var x = Tensor.FromArray(origin.Zip(direction, (o, d) => o + t * d).ToArray(), [1, 3]);
            var y = net.Forward(x).ToDoubleArray();
            var e = line.Evaluate(t);
            Assert.Equal(y[0], e[0], 10);
            Assert.Equal(y[1], e[1], 10);
        }
        var plane = LinearRegions.InPlane(net, origin, direction, [0.0, 1, 0], (-1, 1), (-1, 1));
        Assert.Equal(4, plane.Sum(r => r.Area), 9);
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        var (w, b) = RandomNet(1, 3, 4, 1);
        Assert.Contains("takes 3 inputs", Assert.Throws<ArgumentException>(() => LinearRegions.OnLine(w, b, [0.0, 0], [1.0, 0, 0])).Message);
        Assert.Contains("tMin < tMax", Assert.Throws<ArgumentException>(() => LinearRegions.OnLine(w, b, [0.0, 0, 0], [1.0, 0, 0], 1, 1)).Message);
        Assert.Contains("finite", Assert.Throws<ArgumentException>(() =>
            LinearRegions.InPlane(w, b, [0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], (double.NegativeInfinity, 1), (0, 1))).Message);
        Assert.Contains("layer 1", Assert.Throws<ArgumentException>(() => LinearRegions.OnLine([w[0], new double[1, 3]], [b[0], [0.0]], [0.0, 0, 0], [1.0, 0, 0])).Message);
    }
}
