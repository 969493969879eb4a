using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>One linear piece of a function of one variable: y = Slope·x + Intercept on (From, To).</summary>
/// <param name="From">Left end (−∞ for the first piece).</param>
/// <param name="To">Right end (+∞ for the last piece).</param>
/// <param name="Slope">dy/dx on the piece.</param>
/// <param name="Intercept">y at x = 0 of the piece's line.</param>
public readonly record struct LinearPiece(double From, double To, double Slope, double Intercept)
{
    /// <summary>The piece's line at <paramref name="x"/>.</summary>
    public double At(double x) => Slope * x + Intercept;
}

/// <summary>
/// The exact piecewise-linear form of a ReLU multilayer perceptron with one input and one output, found analytically:
/// between breakpoints every unit's pre-activation is affine in x, so walking along the line from −∞ to +∞ the next
/// breakpoint is the nearest root of those affine forms. No grid is sampled, so no piece is missed however small.
/// </summary>
public sealed class PiecewiseLinear
{
    private PiecewiseLinear(IReadOnlyList<double> boundaries, IReadOnlyList<LinearPiece> regions, IReadOnlyList<LinearPiece> pieces)
    {
        RegionBoundaries = boundaries;
        Regions = regions;
        Pieces = pieces;
    }

    /// <summary>Where some unit's activation switches (the boundaries of the activation regions), in increasing order.</summary>
    public IReadOnlyList<double> RegionBoundaries { get; }

    /// <summary>The activation regions: one affine function per region.</summary>
    public IReadOnlyList<LinearPiece> Regions { get; }

    /// <summary>The linear pieces of the output: adjacent regions with the same slope merged.</summary>
    public IReadOnlyList<LinearPiece> Pieces { get; }

    /// <summary>The hinges: where the output's slope changes (the ends of the pieces), in increasing order.</summary>
    public IEnumerable<double> Hinges => Pieces.Skip(1).Select(p => p.From);

    /// <summary>The function at <paramref name="x"/>, from its pieces.</summary>
    public double Evaluate(double x)
    {
        int lo = 0, hi = Pieces.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (x < Pieces[mid].To) hi = mid; else lo = mid + 1;
        }
        return Pieces[lo].At(x);
    }

    /// <summary>
    /// Analyzes x ↦ L_k(relu(… relu(L_1(x)))) where L_i(h) = W_i·h + b_i; <paramref name="weights"/>[i] is W_i with
    /// shape [out, in] (row-major, as <c>Ops.Linear</c> takes it) and <paramref name="biases"/>[i] is b_i. The first
    /// layer has one input and the last one output; ReLU follows every layer but the last.
    /// </summary>
    public static PiecewiseLinear Analyze(IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> biases)
    {
        Check(weights, biases);
        int hidden = weights.Count - 1;
        var active = new bool[hidden][];
        for (int l = 0; l < hidden; l++) active[l] = new bool[weights[l].GetLength(0)];

        // The pattern at −∞: layer by layer, a unit with form a·x + c is active far left when a < 0 (or a = 0 and c > 0).
        var forms = Forms(weights, biases, active, decideAt: double.NegativeInfinity);
        var boundaries = new List<double>();
        var regions = new List<LinearPiece>();
        double from = double.NegativeInfinity;
        for (int guard = 0; ; guard++)
        {
            if (guard > 10_000_000) throw new InvalidOperationException("piecewise-linear walk did not terminate");
            double next = double.PositiveInfinity;
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
            regions.Add(new LinearPiece(from, next, oa[0], oc[0]));
            if (double.IsPositiveInfinity(next)) break;
            boundaries.Add(next);
            forms = Forms(weights, biases, active, decideAt: next);
            from = next;
        }
        return new PiecewiseLinear(boundaries, regions, Merge(regions));
    }

    /// <summary>
    /// Analyzes a trained network: its <see cref="Linear"/> layers (in <see cref="Module.NamedModules"/> order, each
    /// with a bias) are taken as L_1 … L_k of <see cref="Analyze"/>, with ReLU between them, whatever modules actually
    /// sit between them (the caller vouches that they are ReLUs). The first layer must take one input and the last give one output.
    /// </summary>
    public static PiecewiseLinear Of(Module net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var layers = net.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        var weights = layers.Select(l => l.GetParameter("weight")).Select(w =>
        {
            var flat = w.ToDoubleArray();
            int rows = w.Size(0), cols = w.Size(1);
            var m = new double[rows, cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) m[i, j] = flat[i * cols + j];
            return m;
        }).ToList();
        return Analyze(weights, [.. layers.Select(l => l.GetParameter("bias").ToDoubleArray())]);
    }

    // Affine forms (a, c) of every layer's pre-activation, deciding each hidden unit's state just right of `decideAt`
    // (or far left at −∞) from its value there, and from its slope when the value is zero (it switches there).
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
                    double v = a[i] * decideAt + c[i];
                    double scale = Math.Abs(a[i] * decideAt) + Math.Abs(c[i]);
                    active[l][i] = Math.Abs(v) > 1e-12 * scale ? v > 0 : a[i] > 0;
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

    // Adjacent regions whose slopes agree to rounding are one linear piece of the output (a unit switched, but the
    // switch does not reach the output, e.g. its outgoing weights cancel or it feeds only inactive units).
    private static List<LinearPiece> Merge(List<LinearPiece> regions)
    {
        var pieces = new List<LinearPiece> { regions[0] };
        for (int i = 1; i < regions.Count; i++)
        {
            var last = pieces[^1];
            var r = regions[i];
            double scale = Math.Max(Math.Abs(last.Slope), Math.Abs(r.Slope));
            if (Math.Abs(last.Slope - r.Slope) <= 1e-9 * Math.Max(scale, 1e-300))
                pieces[^1] = last with { To = r.To };
            else
                pieces.Add(r);
        }
        return pieces;
    }

    private static void Check(IReadOnlyList<double[,]> w, IReadOnlyList<double[]> b)
    {
        if (w.Count == 0 || w.Count != b.Count)
            throw new ArgumentException($"PiecewiseLinear.Analyze needs as many weights as biases (at least one layer), found {w.Count} and {b.Count}");
        if (w[0].GetLength(1) != 1) throw new ArgumentException($"the first layer must have one input, found weight shape [{w[0].GetLength(0)}, {w[0].GetLength(1)}]");
        if (w[^1].GetLength(0) != 1) throw new ArgumentException($"the last layer must have one output, found weight shape [{w[^1].GetLength(0)}, {w[^1].GetLength(1)}]");
        for (int l = 0; l < w.Count; l++)
        {
            if (b[l].Length != w[l].GetLength(0))
                throw new ArgumentException($"layer {l}: bias has {b[l].Length} entries, weight has {w[l].GetLength(0)} rows");
            if (l > 0 && w[l].GetLength(1) != w[l - 1].GetLength(0))
                throw new ArgumentException($"layer {l}: weight expects {w[l].GetLength(1)} inputs, layer {l - 1} gives {w[l - 1].GetLength(0)}");
        }
    }
}
