using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>One activation region of a ReLU network restricted to a line x(t) = x₀ + t·u: on (From, To) every output is affine in t.</summary>
/// <param name="From">Left end (−∞ or the range's start).</param>
/// <param name="To">Right end (+∞ or the range's end).</param>
/// <param name="Slopes">dy_k/dt on the region, one per output.</param>
/// <param name="Intercepts">y_k at t = 0 of the region's lines.</param>
public sealed record LineRegion(double From, double To, double[] Slopes, double[] Intercepts)
{
    /// <summary>The region's affine outputs at <paramref name="t"/>.</summary>
    public double[] At(double t) => [.. Slopes.Select((s, k) => s * t + Intercepts[k])];
}

/// <summary>
/// A ReLU network restricted to a line through input space: the exact breakpoints where some unit switches, the
/// activation regions between them, and the output's linear pieces (adjacent regions with the same affine output merged).
/// </summary>
/// <param name="Breakpoints">The t where some hidden unit's pre-activation changes sign, increasing.</param>
/// <param name="Regions">The activation regions, in order.</param>
/// <param name="Pieces">The output's linear pieces: regions merged where every output's slope and intercept agree to rounding.</param>
public sealed record LineRegions(IReadOnlyList<double> Breakpoints, IReadOnlyList<LineRegion> Regions, IReadOnlyList<LineRegion> Pieces)
{
    /// <summary>The output at <paramref name="t"/>, from the regions.</summary>
    public double[] Evaluate(double t)
    {
        int lo = 0, hi = Regions.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (t < Regions[mid].To) hi = mid; else lo = mid + 1;
        }
        return Regions[lo].At(t);
    }
}

/// <summary>One linear region of a ReLU network in a 2-D slice x(α, β) = x₀ + α·u + β·v: a convex polygon on which the activation pattern is fixed and the outputs are affine.</summary>
/// <param name="Vertices">The polygon's corners (α, β), counter-clockwise.</param>
/// <param name="Pattern">Which hidden units are active, layer after layer.</param>
/// <param name="Gradient">∂y_k/∂(α, β) on the region: [outputs, 2] row-major.</param>
/// <param name="Intercepts">y_k at (α, β) = (0, 0) of the region's affine maps.</param>
public sealed record PlaneRegion(IReadOnlyList<(double Alpha, double Beta)> Vertices, bool[] Pattern, double[] Gradient, double[] Intercepts)
{
    /// <summary>The polygon's area (shoelace formula).</summary>
    public double Area => LinearRegions.PolygonArea(Vertices);

    /// <summary>The mean of the vertices (inside, since the polygon is convex).</summary>
    public (double Alpha, double Beta) Centroid => (Vertices.Average(p => p.Alpha), Vertices.Average(p => p.Beta));
}

/// <summary>
/// Exact linear regions of ReLU multilayer perceptrons (x ↦ L_k(relu(… relu(L_1(x))))) of any depth, input and output
/// dimension, on a line or in a plane through input space (Hanin and Rolnick 2019, arXiv 1901.09021, count the regions
/// a line or plane meets; Serra et al. 2018 and Telgarsky 2016 bound them). Nothing is sampled: within a region every
/// pre-activation is affine in the slice's coordinates, so a region's boundaries are the zeros of those affine forms.
/// On a line, walking from left to right, the next breakpoint is the nearest root; in a plane, a polygon is cut by each
/// unit's zero line, layer by layer, and every final polygon is one region (the set where an activation pattern holds
/// is convex, so it is one polygon). Generalizes <see cref="PiecewiseLinear"/> (one input, one output, the whole line).
/// </summary>
public static class LinearRegions
{
    /// <summary>
    /// The network restricted to x(t) = <paramref name="origin"/> + t·<paramref name="direction"/>, t in
    /// [<paramref name="tMin"/>, <paramref name="tMax"/>] (infinite ends allowed). Weights as <see cref="PiecewiseLinear.Analyze"/>: W_i
    /// [out, in] row-major; ReLU after every layer but the last.
    /// </summary>
    public static LineRegions OnLine(IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> biases, double[] origin, double[] direction,
        double tMin = double.NegativeInfinity, double tMax = double.PositiveInfinity)
    {
        Check(weights, biases);
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(direction);
        int d = weights[0].GetLength(1);
        if (origin.Length != d || direction.Length != d)
            throw new ArgumentException($"LinearRegions.OnLine: the network takes {d} inputs, but origin has {origin.Length} and direction {direction.Length}");
        if (!(tMin < tMax) || double.IsNaN(tMin) || double.IsNaN(tMax))
            throw new ArgumentException($"LinearRegions.OnLine: the range must have tMin < tMax, got [{tMin}, {tMax}]");
        // The line's coordinate t is the one input of an equivalent network whose first layer is (W₁u, W₁x₀ + b₁).
        int n1 = weights[0].GetLength(0);
        var a1 = new double[n1, 1];
        var b1 = new double[n1];
        for (int i = 0; i < n1; i++)
        {
            double sa = 0, sc = biases[0][i];
            for (int j = 0; j < d; j++)
            {
                sa += weights[0][i, j] * direction[j];
                sc += weights[0][i, j] * origin[j];
            }
            a1[i, 0] = sa;
            b1[i] = sc;
        }
        var w = new List<double[,]> { a1 };
        w.AddRange(weights.Skip(1));
        var b = new List<double[]> { b1 };
        b.AddRange(biases.Skip(1));
        return Walk(w, b, tMin, tMax);
    }

    /// <summary>The line restriction of a trained network (its Linear layers, as <see cref="PiecewiseLinear.Of"/> takes them).</summary>
    public static LineRegions OnLine(Module net, double[] origin, double[] direction, double tMin = double.NegativeInfinity, double tMax = double.PositiveInfinity)
    {
        var (w, b) = Layers(net);
        return OnLine(w, b, origin, direction, tMin, tMax);
    }

    /// <summary>
    /// The regions the network cuts in the rectangle [<paramref name="alphaRange"/>] × [<paramref name="betaRange"/>] of the
    /// plane x(α, β) = <paramref name="origin"/> + α·<paramref name="u"/> + β·<paramref name="v"/>. Polygons of area below
    /// 1e-12 of the rectangle's are dropped as rounding slivers.
    /// </summary>
    public static IReadOnlyList<PlaneRegion> InPlane(IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> biases, double[] origin, double[] u, double[] v,
        (double Min, double Max) alphaRange, (double Min, double Max) betaRange)
    {
        Check(weights, biases);
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(v);
        int d = weights[0].GetLength(1);
        if (origin.Length != d || u.Length != d || v.Length != d)
            throw new ArgumentException($"LinearRegions.InPlane: the network takes {d} inputs, but origin, u and v have {origin.Length}, {u.Length} and {v.Length}");
        if (!(alphaRange.Min < alphaRange.Max) || !(betaRange.Min < betaRange.Max) || !double.IsFinite(alphaRange.Min + alphaRange.Max + betaRange.Min + betaRange.Max))
            throw new ArgumentException($"LinearRegions.InPlane: the rectangle must be finite with Min < Max, got α in [{alphaRange.Min}, {alphaRange.Max}], β in [{betaRange.Min}, {betaRange.Max}]");
        List<(double, double)> box = [(alphaRange.Min, betaRange.Min), (alphaRange.Max, betaRange.Min), (alphaRange.Max, betaRange.Max), (alphaRange.Min, betaRange.Max)];
        double minArea = 1e-12 * PolygonArea(box);
        double scale = Math.Max(Math.Max(Math.Abs(alphaRange.Min), Math.Abs(alphaRange.Max)), Math.Max(Math.Abs(betaRange.Min), Math.Abs(betaRange.Max)));

        // The input as affine forms in (α, β): x_j = origin_j + α·u_j + β·v_j, stored as [n, 3] = (∂α, ∂β, constant).
        var input = new double[d * 3];
        for (int j = 0; j < d; j++) (input[3 * j], input[3 * j + 1], input[3 * j + 2]) = (u[j], v[j], origin[j]);
        var work = new List<(List<(double, double)> Poly, double[] Forms, List<bool> Pattern)> { (box, input, []) };
        for (int l = 0; l < weights.Count; l++)
        {
            var next = new List<(List<(double, double)>, double[], List<bool>)>();
            int rows = weights[l].GetLength(0), cols = weights[l].GetLength(1);
            foreach (var (poly, forms, pattern) in work)
            {
                var pre = Affine(weights[l], biases[l], forms, rows, cols);
                if (l == weights.Count - 1)
                {
                    next.Add((poly, pre, pattern));
                    continue;
                }
                // Cut by each unit's zero line; each piece knows its sign for every unit of this layer.
                var pieces = new List<(List<(double, double)> Poly, List<bool> Signs)> { (poly, []) };
                for (int i = 0; i < rows; i++)
                {
                    double ga = pre[3 * i], gb = pre[3 * i + 1], gc = pre[3 * i + 2];
                    var cut = new List<(List<(double, double)>, List<bool>)>();
                    foreach (var (p, signs) in pieces)
                    {
                        var (pos, neg) = Split(p, ga, gb, gc, scale);
                        if (pos is not null && PolygonArea(pos) > minArea) cut.Add((pos, [.. signs, true]));
                        if (neg is not null && PolygonArea(neg) > minArea) cut.Add((neg, [.. signs, false]));
                    }
                    pieces = cut;
                }
                foreach (var (p, signs) in pieces)
                {
                    var post = new double[rows * 3];
                    for (int i = 0; i < rows; i++)
                        if (signs[i]) (post[3 * i], post[3 * i + 1], post[3 * i + 2]) = (pre[3 * i], pre[3 * i + 1], pre[3 * i + 2]);
                    next.Add((p, post, [.. pattern, .. signs]));
                }
            }
            work = next;
        }
        int outputs = weights[^1].GetLength(0);
        return [.. work.Select(w =>
        {
            var grad = new double[outputs * 2];
            var intercept = new double[outputs];
            for (int k = 0; k < outputs; k++) (grad[2 * k], grad[2 * k + 1], intercept[k]) = (w.Forms[3 * k], w.Forms[3 * k + 1], w.Forms[3 * k + 2]);
            return new PlaneRegion(w.Poly, [.. w.Pattern], grad, intercept);
        })];
    }

    /// <summary>The plane regions of a trained network (its Linear layers, as <see cref="PiecewiseLinear.Of"/> takes them).</summary>
    public static IReadOnlyList<PlaneRegion> InPlane(Module net, double[] origin, double[] u, double[] v, (double Min, double Max) alphaRange, (double Min, double Max) betaRange)
    {
        var (w, b) = Layers(net);
        return InPlane(w, b, origin, u, v, alphaRange, betaRange);
    }

    /// <summary>
    /// Telgarsky's sawtooth (Telgarsky 2016, arXiv 1602.04485): L layers of the tent map
    /// T(x) = 2·relu(x) − 4·relu(x − ½), composed, so that on [0, 1] the output T^L has 2^L linear pieces with
    /// width-2 layers — the classic proof that depth buys regions exponentially.
    /// </summary>
    public static (List<double[,]> Weights, List<double[]> Biases) Sawtooth(int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        var w = new List<double[,]> { new double[,] { { 1 }, { 1 } } };
        var b = new List<double[]> { new[] { 0.0, -0.5 } };
        for (int l = 1; l < layers; l++)
        {
            w.Add(new double[,] { { 2, -4 }, { 2, -4 } });
            b.Add([0.0, -0.5]);
        }
        w.Add(new double[,] { { 2, -4 } });
        b.Add([0.0]);
        return (w, b);
    }

    /// <summary>The activation pattern (every hidden unit, layer after layer: pre-activation &gt; 0) and the outputs at input <paramref name="x"/>.</summary>
    public static (bool[] Pattern, double[] Output) Forward(IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> biases, double[] x)
    {
        Check(weights, biases);
        var pattern = new List<bool>();
        var h = x;
        for (int l = 0; l < weights.Count; l++)
        {
            int rows = weights[l].GetLength(0), cols = weights[l].GetLength(1);
            var z = new double[rows];
            for (int i = 0; i < rows; i++)
            {
                double s = biases[l][i];
                for (int j = 0; j < cols; j++) s += weights[l][i, j] * h[j];
                z[i] = s;
            }
            if (l == weights.Count - 1) return ([.. pattern], z);
            foreach (var zi in z) pattern.Add(zi > 0);
            h = [.. z.Select(zi => Math.Max(zi, 0))];
        }
        throw new InvalidOperationException("unreachable");
    }

    // ---- the line walk -----------------------------------------------------------------------------------------

    private static LineRegions Walk(IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> biases, double tMin, double tMax)
    {
        int hidden = weights.Count - 1;
        var active = new bool[hidden][];
        for (int l = 0; l < hidden; l++) active[l] = new bool[weights[l].GetLength(0)];
        var forms = Forms(weights, biases, active, tMin);
        var breakpoints = new List<double>();
        var regions = new List<LineRegion>();
        double from = tMin;
        for (int guard = 0; ; guard++)
        {
            if (guard > 10_000_000) throw new InvalidOperationException("LinearRegions: the walk along the line did not terminate");
            double next = tMax;
            for (int l = 0; l < hidden; l++)
            {
                var (a, c) = forms[l];
                for (int j = 0; j < a.Length; j++)
                {
                    if (a[j] == 0) continue;
                    double root = -c[j] / a[j];
                    // Roots at (or within rounding of) the current boundary belong to units that just switched.
                    if (root > from + Tolerance(from) && root < next) next = root;
                }
            }
            var (oa, oc) = forms[hidden];
            regions.Add(new LineRegion(from, next, oa, oc));
            if (next >= tMax) break;
            breakpoints.Add(next);
            forms = Forms(weights, biases, active, next);
            from = next;
        }
        return new LineRegions(breakpoints, regions, Merge(regions));
    }

    // Affine forms (a, c) in t of every layer's pre-activation, deciding each hidden unit's state just right of
    // `decideAt` (far left at −∞) from its value there, and from its slope where the value is zero (it switches there).
    private static (double[] A, double[] C)[] Forms(IReadOnlyList<double[,]> w, IReadOnlyList<double[]> b, bool[][] active, double decideAt)
    {
        var forms = new (double[], double[])[w.Count];
        double[] ha = [1], hc = [0];
        for (int l = 0; l < w.Count; l++)
        {
            int rows = w[l].GetLength(0), cols = w[l].GetLength(1);
            var a = new double[rows];
            var c = new double[rows];
            for (int i = 0; i < rows; i++)
            {
                double sa = 0, sc = b[l][i];
                for (int j = 0; j < cols; j++)
                {
                    sa += w[l][i, j] * ha[j];
                    sc += w[l][i, j] * hc[j];
                }
                a[i] = sa;
                c[i] = sc;
            }
            forms[l] = (a, c);
            if (l == w.Count - 1) break;
            for (int i = 0; i < rows; i++)
            {
                if (double.IsNegativeInfinity(decideAt))
                    active[l][i] = a[i] < 0 || (a[i] == 0 && c[i] > 0);
                else
                {
                    double value = a[i] * decideAt + c[i];
                    double scale = Math.Abs(a[i] * decideAt) + Math.Abs(c[i]);
                    active[l][i] = Math.Abs(value) > 1e-12 * scale ? value > 0 : a[i] > 0;
                }
            }
            ha = new double[rows];
            hc = new double[rows];
            for (int i = 0; i < rows; i++)
                if (active[l][i]) { ha[i] = a[i]; hc[i] = c[i]; }
        }
        return forms;
    }

    private static double Tolerance(double x) => double.IsInfinity(x) ? 0 : 1e-12 * Math.Max(1, Math.Abs(x));

    // Adjacent regions whose outputs agree to rounding (every slope and intercept) are one linear piece.
    private static List<LineRegion> Merge(List<LineRegion> regions)
    {
        var pieces = new List<LineRegion> { regions[0] };
        for (int i = 1; i < regions.Count; i++)
        {
            var last = pieces[^1];
            var r = regions[i];
            bool same = true;
            for (int k = 0; k < r.Slopes.Length && same; k++)
            {
                double ss = Math.Max(Math.Max(Math.Abs(last.Slopes[k]), Math.Abs(r.Slopes[k])), 1e-300);
                double cs = Math.Max(Math.Max(Math.Abs(last.Intercepts[k]), Math.Abs(r.Intercepts[k])), 1e-300);
                same = Math.Abs(last.Slopes[k] - r.Slopes[k]) <= 1e-9 * ss && Math.Abs(last.Intercepts[k] - r.Intercepts[k]) <= 1e-9 * Math.Max(cs, ss);
            }
            if (same) pieces[^1] = last with { To = r.To };
            else pieces.Add(r);
        }
        return pieces;
    }

    // ---- polygons ------------------------------------------------------------------------------------------------

    private static double[] Affine(double[,] w, double[] b, double[] forms, int rows, int cols)
    {
        var result = new double[rows * 3];
        for (int i = 0; i < rows; i++)
        {
            double ga = 0, gb = 0, gc = b[i];
            for (int j = 0; j < cols; j++)
            {
                double wij = w[i, j];
                ga += wij * forms[3 * j];
                gb += wij * forms[3 * j + 1];
                gc += wij * forms[3 * j + 2];
            }
            (result[3 * i], result[3 * i + 1], result[3 * i + 2]) = (ga, gb, gc);
        }
        return result;
    }

    // Splits a convex polygon by the line ga·α + gb·β + gc = 0 into the part where the form is positive and the part
    // where it is not (either may be null). Values within rounding of zero count as on the line.
    private static (List<(double, double)>? Pos, List<(double, double)>? Neg) Split(List<(double A, double B)> poly, double ga, double gb, double gc, double scale)
    {
        double tol = 1e-12 * (Math.Abs(ga) * scale + Math.Abs(gb) * scale + Math.Abs(gc));
        var val = poly.Select(p => ga * p.A + gb * p.B + gc).ToArray();
        if (val.All(x => x >= -tol) && val.Any(x => x > tol)) return (poly, null);
        if (val.All(x => x <= tol)) return (null, poly);
        var pos = new List<(double, double)>();
        var neg = new List<(double, double)>();
        for (int i = 0; i < poly.Count; i++)
        {
            var p = poly[i];
            var q = poly[(i + 1) % poly.Count];
            double vp = Math.Abs(val[i]) <= tol ? 0 : val[i], vq = Math.Abs(val[(i + 1) % poly.Count]) <= tol ? 0 : val[(i + 1) % poly.Count];
            if (vp >= 0) pos.Add(p);
            if (vp <= 0) neg.Add(p);
            if ((vp > 0 && vq < 0) || (vp < 0 && vq > 0))
            {
                double s = vp / (vp - vq);
                var x = (p.A + s * (q.A - p.A), p.B + s * (q.B - p.B));
                pos.Add(x);
                neg.Add(x);
            }
        }
        return (pos.Count >= 3 ? pos : null, neg.Count >= 3 ? neg : null);
    }

    /// <summary>The area of a simple polygon by the shoelace formula.</summary>
    internal static double PolygonArea(IReadOnlyList<(double A, double B)> poly)
    {
        double s = 0;
        for (int i = 0; i < poly.Count; i++)
        {
            var p = poly[i];
            var q = poly[(i + 1) % poly.Count];
            s += p.A * q.B - q.A * p.B;
        }
        return Math.Abs(s) / 2;
    }

    private static (List<double[,]> W, List<double[]> B) Layers(Module net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var layers = net.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        if (layers.Count == 0) throw new ArgumentException("LinearRegions: the module has no Linear layer", nameof(net));
        var w = layers.Select(l =>
        {
            var flat = l.Weight.ToDoubleArray();
            int rows = l.OutFeatures, cols = l.InFeatures;
            var m = new double[rows, cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) m[i, j] = flat[i * cols + j];
            return m;
        }).ToList();
        return (w, [.. layers.Select(l => l.Bias?.ToDoubleArray() ?? new double[l.OutFeatures])]);
    }

    private static void Check(IReadOnlyList<double[,]> w, IReadOnlyList<double[]> b)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(b);
        if (w.Count == 0 || w.Count != b.Count)
            throw new ArgumentException($"LinearRegions: needs as many weights as biases (at least one layer), found {w.Count} and {b.Count}");
        for (int l = 0; l < w.Count; l++)
        {
            if (b[l].Length != w[l].GetLength(0))
                throw new ArgumentException($"LinearRegions: layer {l}: bias has {b[l].Length} entries, weight has {w[l].GetLength(0)} rows");
            if (l > 0 && w[l].GetLength(1) != w[l - 1].GetLength(0))
                throw new ArgumentException($"LinearRegions: layer {l}: weight expects {w[l].GetLength(1)} inputs, layer {l - 1} gives {w[l - 1].GetLength(0)}");
        }
    }
}
