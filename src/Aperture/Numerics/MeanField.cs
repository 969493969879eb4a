namespace Aperture;

/// <summary>The activations whose mean-field maps <see cref="MeanField"/> computes.</summary>
public enum MeanFieldActivation
{
    /// <summary>φ(h) = tanh h, integrated by Gauss–Hermite quadrature.</summary>
    Tanh,

    /// <summary>φ(h) = max(h, 0), in closed form (the arc-cosine kernel of Cho and Saul, 2009).</summary>
    Relu,

    /// <summary>φ(h) = h (a deep linear network, or a readout layer), in closed form.</summary>
    Linear,
}

/// <summary>
/// Where a random network with weights W ~ N(0, σ_w²/n_in) and biases b ~ N(0, σ_b²) settles in the infinite-width
/// limit: the fixed points of the variance and correlation maps, the slope χ₁ that decides order or chaos, and the
/// depth scales over which the input's variance and correlations are forgotten (Schoenholz et al. 2016,
/// arXiv 1611.01232, eqs. 3–9). See <see cref="MeanField.Analyze"/>.
/// </summary>
/// <param name="Activation">The nonlinearity.</param>
/// <param name="WeightVariance">σ_w².</param>
/// <param name="BiasVariance">σ_b².</param>
/// <param name="QStar">The stable fixed point q* of the variance map; +∞ when the variance grows without bound; NaN
/// when every q is a fixed point (ReLU at σ_w² = 2, σ_b² = 0; linear at σ_w² = 1, σ_b² = 0).</param>
/// <param name="CStar">The stable fixed point c* of the correlation map at q*: 1 in the ordered phase (χ₁ ≤ 1), below 1 in the chaotic phase.</param>
/// <param name="Chi1">χ₁ = σ_w²·E[φ′(√q* z)²]: the slope of the correlation map at c = 1 and the per-layer gain of
/// the gradient's variance. Below 1 ordered (gradients vanish), above 1 chaotic (gradients explode).</param>
/// <param name="ChiC">χ_c = σ_w²·E[φ′(u₁)φ′(u₂)] with (u₁, u₂) of variance q* and correlation c*: the slope of the correlation map at c* (χ₁ in the ordered phase).</param>
/// <param name="QMapSlope">The slope of the variance map at q*: χ₁ + σ_w²·E[φ(√q* z)φ″(√q* z)].</param>
/// <param name="DepthScaleQ">ξ_q = −1/ln(slope of the variance map at q*): layers over which q^l approaches q*; +∞ when the slope is at least 1.</param>
/// <param name="DepthScaleC">ξ_c = −1/ln χ_c: layers over which c^l approaches c*, and so the depth to which a random network can be trained; +∞ at criticality.</param>
/// <param name="CriticalWeightVariance">The σ_w² at which χ₁ = 1 for this σ_b² (the order-to-chaos line).</param>
public sealed record MeanFieldPoint(
    MeanFieldActivation Activation, double WeightVariance, double BiasVariance,
    double QStar, double CStar, double Chi1, double ChiC, double QMapSlope, double DepthScaleQ, double DepthScaleC,
    double CriticalWeightVariance)
{
    /// <summary>"ordered" (χ₁ &lt; 1), "critical" (|χ₁ − 1| ≤ 1e-9) or "chaotic" (χ₁ &gt; 1).</summary>
    public string Phase => Math.Abs(Chi1 - 1) <= 1e-9 ? "critical" : Chi1 < 1 ? "ordered" : "chaotic";
}

/// <summary>
/// One fully connected layer of a random network as mean-field theory sees it: h = W·x + b with
/// W ~ N(0, <paramref name="WeightVariance"/>/n_in), b ~ N(0, <paramref name="BiasVariance"/>), then the activation.
/// </summary>
/// <param name="Activation">The activation applied to this layer's pre-activation h (<see cref="MeanFieldActivation.Linear"/> for a readout).</param>
/// <param name="WeightVariance">σ_w² (the weights' variance times the fan-in).</param>
/// <param name="BiasVariance">σ_b².</param>
/// <param name="WidthRatio">n_out/n_in of the layer; it scales the gradient's variance passed back through it.</param>
public readonly record struct MeanFieldLayer(MeanFieldActivation Activation, double WeightVariance, double BiasVariance, double WidthRatio = 1);

/// <summary>
/// The mean-field prediction for one layer l of <see cref="MeanField.Propagate(IReadOnlyList{MeanFieldLayer}, double, double, double)"/>, for a pair of inputs a and b.
/// </summary>
/// <param name="Qa">q^l_aa, the variance of input a's pre-activations.</param>
/// <param name="Qb">q^l_bb.</param>
/// <param name="C">c^l = q^l_ab/√(q^l_aa·q^l_bb), the correlation of the pair's pre-activations.</param>
/// <param name="ActiveFraction">The expected fraction of active units (slope at least half the activation's slope at the origin), averaged over a and b.</param>
/// <param name="Chi">σ_w,l+1²·E[φ′(h^l)²]·n_{l+1}/n_l averaged over a and b: the factor the gradient's variance gains from layer l+1 back to l (for the last layer, E[φ′(h^L)²]).</param>
/// <param name="GradientVariance">The mean square of ∂(v·y)/∂h^l for a unit-variance cotangent v on the output y = φ(h^L), averaged over a and b.</param>
/// <param name="JacobianGain">E‖∂h^l/∂x·u‖²/‖u‖² for a random direction u, averaged over a and b: the mean squared singular value of the Jacobian from the input to h^l.</param>
public readonly record struct MeanFieldLayerPrediction(double Qa, double Qb, double C, double ActiveFraction, double Chi, double GradientVariance, double JacobianGain)
{
    /// <summary>(q^l_aa + q^l_bb)/2.</summary>
    public double Q => (Qa + Qb) / 2;
}

/// <summary>
/// The mean-field theory of signal propagation in deep random networks (Poole et al. 2016, arXiv 1606.05340;
/// Schoenholz et al. 2016, arXiv 1611.01232): at infinite width, layer l's pre-activations are Gaussian with variance
/// q^l, and two inputs' pre-activations have correlation c^l. Each layer maps
/// <code>
///   q^l    = σ_w²·E[φ(√q^(l−1) z)²] + σ_b²
///   q^l_ab = σ_w²·E[φ(u_a)φ(u_b)] + σ_b²,   (u_a, u_b) Gaussian with variances q_aa, q_bb and correlation c^(l−1)
///   δq^l   = σ_w²·E[φ′(h^l)²]·δq^(l+1)      (the gradient's variance, backward)
/// </code>
/// For ReLU and linear layers the expectations are closed forms. For tanh they are quadratures over the Gaussian:
/// the trapezoid rule on a grid fine enough for tanh's poles at ±iπ/2 (geometric convergence, full double accuracy
/// at any q), nested for a correlated pair (the outer variable, then the other given it). <see cref="GaussHermite"/>
/// (Golub–Welsch) is the classical alternative and the tests' cross-check: it agrees to 1e-13 for q ≤ 1 but its fixed
/// node spacing loses accuracy as q grows. Everything is float64 and deterministic.
/// </summary>
public static class MeanField
{
    // tanh′(h) ≥ ½ ⇔ |h| ≤ atanh(1/√2): where a tanh unit is "active" (passes at least half of a small signal).
    private static readonly double TanhActiveEdge = Math.Atanh(1 / Math.Sqrt(2));


    // ---- the rule -------------------------------------------------------------------------------------

    /// <summary>
    /// The n-point Gauss–Hermite rule for the standard normal: nodes z_i and weights w_i with
    /// Σ w_i f(z_i) = E[f(z)], z ~ N(0, 1), exactly when f is a polynomial of degree below 2n. By Golub and Welsch
    /// (1969): the nodes are the eigenvalues of the Jacobi matrix of the probabilists' Hermite polynomials (zero
    /// diagonal, off-diagonal √k) and the weights the squared first components of its unit eigenvectors, found by
    /// the implicit QL algorithm. Nodes ascend; the rule is symmetrized (z_i = −z_(n−1−i), equal weights) so that odd
    /// functions integrate to exactly 0.
    /// </summary>
    public static (double[] Nodes, double[] Weights) GaussHermite(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var e = new double[n - 1];
        for (int k = 1; k < n; k++) e[k - 1] = Math.Sqrt(k);
        // Only row 0 of the eigenvector matrix is needed: its squares are the weights. Values come back ascending.
        var eig = Linalg.TridiagonalEigen(new double[n], e, [0]);
        var nodes = eig.Values;
        var weights = new double[n];
        for (int i = 0; i < n; i++) weights[i] = eig.Vectors[i] * eig.Vectors[i];
        for (int i = 0; i < n / 2; i++)
        {
            double x = (nodes[n - 1 - i] - nodes[i]) / 2, w = (weights[i] + weights[n - 1 - i]) / 2;
            nodes[i] = -x; nodes[n - 1 - i] = x;
            weights[i] = w; weights[n - 1 - i] = w;
        }
        if (n % 2 == 1) nodes[n / 2] = 0;
        double total = weights.Sum();
        for (int i = 0; i < n; i++) weights[i] /= total;
        return (nodes, weights);
    }

    // ---- one-dimensional expectations over h ~ N(0, q) ------------------------------------------------

    /// <summary>E[φ(h)²] for h ~ N(0, q), q ≥ 0.</summary>
    public static double SecondMoment(MeanFieldActivation phi, double q)
    {
        CheckVariance(q, nameof(q));
        return phi switch
        {
            MeanFieldActivation.Relu => q / 2,
            MeanFieldActivation.Linear => q,
            _ => Expect1(q, h => { double t = Math.Tanh(h); return t * t; }),
        };
    }

    /// <summary>E[φ′(h)²] for h ~ N(0, q).</summary>
    public static double SlopeSecondMoment(MeanFieldActivation phi, double q)
    {
        CheckVariance(q, nameof(q));
        return phi switch
        {
            MeanFieldActivation.Relu => 0.5,
            MeanFieldActivation.Linear => 1,
            _ => Expect1(q, h => { double s = TanhSlope(h); return s * s; }),
        };
    }

    /// <summary>
    /// The expected fraction of active units for h ~ N(0, q): those whose slope φ′(h) is at least half the
    /// activation's slope at the origin — h &gt; 0 for ReLU (½), |h| ≤ atanh(1/√2) ≈ 0.881 for tanh
    /// (erf(0.881/√(2q))), every unit for a linear layer.
    /// </summary>
    public static double ActiveFraction(MeanFieldActivation phi, double q)
    {
        CheckVariance(q, nameof(q));
        return phi switch
        {
            MeanFieldActivation.Relu => 0.5,
            MeanFieldActivation.Linear => 1,
            _ => q == 0 ? 1 : SpecialFunctions.Erf(TanhActiveEdge / Math.Sqrt(2 * q)),
        };
    }

    /// <summary>Whether the pre-activation <paramref name="h"/> counts as active (see <see cref="ActiveFraction"/>).</summary>
    public static bool IsActive(MeanFieldActivation phi, double h) => phi switch
    {
        MeanFieldActivation.Relu => h > 0,
        MeanFieldActivation.Linear => true,
        _ => Math.Abs(h) <= TanhActiveEdge,
    };

    // ---- the maps -------------------------------------------------------------------------------------

    /// <summary>The variance map: q^l = σ_w²·E[φ(√q^(l−1) z)²] + σ_b².</summary>
    public static double QMap(MeanFieldActivation phi, double weightVariance, double biasVariance, double q)
    {
        CheckParameters(weightVariance, biasVariance);
        return weightVariance * SecondMoment(phi, q) + biasVariance;
    }

    /// <summary>
    /// E[φ(u_a)φ(u_b)] for a Gaussian pair with variances <paramref name="qa"/>, <paramref name="qb"/> and
    /// correlation <paramref name="c"/>. ReLU: √(q_a q_b)/(2π)·(sin θ + (π − θ) cos θ), θ = arccos c (Cho and Saul's
    /// arc-cosine kernel of degree 1); tanh: u_a = √q_a z₁, u_b = √q_b (c z₁ + √(1 − c²) z₂) on the product rule.
    /// </summary>
    public static double PairMoment(MeanFieldActivation phi, double qa, double qb, double c)
    {
        CheckPair(qa, qb, c);
        switch (phi)
        {
            case MeanFieldActivation.Relu:
                {
                    double theta = Math.Acos(c);
                    return Math.Sqrt(qa * qb) / (2 * Math.PI) * (Math.Sin(theta) + (Math.PI - theta) * c);
                }
            case MeanFieldActivation.Linear:
                return c * Math.Sqrt(qa * qb);
            default:
                return Expect2(qa, qb, c, Math.Tanh);
        }
    }

    /// <summary>
    /// E[φ′(u_a)φ′(u_b)] for the pair of <see cref="PairMoment"/>: ReLU (π − arccos c)/(2π) (the arc-cosine kernel of
    /// degree 0), tanh by the product rule.
    /// </summary>
    public static double PairSlopeMoment(MeanFieldActivation phi, double qa, double qb, double c)
    {
        CheckPair(qa, qb, c);
        return phi switch
        {
            MeanFieldActivation.Relu => (Math.PI - Math.Acos(c)) / (2 * Math.PI),
            MeanFieldActivation.Linear => 1,
            _ => Expect2(qa, qb, c, TanhSlope),
        };
    }

    /// <summary>
    /// The correlation map: given layer l−1's variances and correlation, c^l = q^l_ab/√(q^l_aa·q^l_bb) with
    /// q^l_ab = σ_w²·E[φ(u_a)φ(u_b)] + σ_b². Returns 1 when both new variances are 0.
    /// </summary>
    public static double CMap(MeanFieldActivation phi, double weightVariance, double biasVariance, double qa, double qb, double c)
    {
        CheckParameters(weightVariance, biasVariance);
        double qab = weightVariance * PairMoment(phi, qa, qb, c) + biasVariance;
        double na = QMap(phi, weightVariance, biasVariance, qa), nb = QMap(phi, weightVariance, biasVariance, qb);
        return na == 0 || nb == 0 ? 1 : Math.Clamp(qab / Math.Sqrt(na * nb), -1, 1);
    }

    /// <summary>The correlation map at equal variances q (the fixed-point analysis's map, c ↦ c^(l+1)).</summary>
    public static double CMap(MeanFieldActivation phi, double weightVariance, double biasVariance, double q, double c) =>
        CMap(phi, weightVariance, biasVariance, q, q, c);

    /// <summary>χ(q) = σ_w²·E[φ′(√q z)²]: the gain of the gradient's variance through a layer at variance q (χ₁ at q = q*).</summary>
    public static double Chi(MeanFieldActivation phi, double weightVariance, double q)
    {
        CheckParameters(weightVariance, 0);
        return weightVariance * SlopeSecondMoment(phi, q);
    }

    /// <summary>The slope of the correlation map at c for equal variances q: σ_w²·E[φ′(u_a)φ′(u_b)] (Schoenholz et al. eq. 5 / 8).</summary>
    public static double ChiC(MeanFieldActivation phi, double weightVariance, double q, double c)
    {
        CheckParameters(weightVariance, 0);
        return weightVariance * PairSlopeMoment(phi, q, q, c);
    }

    /// <summary>
    /// The slope of the variance map at q: d/dq σ_w²·E[φ(√q z)²] = σ_w²·E[φ′(√q z)² + φ(√q z)φ″(√q z)] (by Stein's
    /// lemma); σ_w²/2 for ReLU, σ_w² for linear.
    /// </summary>
    public static double QMapSlope(MeanFieldActivation phi, double weightVariance, double q)
    {
        CheckParameters(weightVariance, 0);
        CheckVariance(q, nameof(q));
        return phi switch
        {
            MeanFieldActivation.Relu => weightVariance / 2,
            MeanFieldActivation.Linear => weightVariance,
            // φ = tanh: φ′² + φφ″ = s² − 2t²s with t = tanh h, s = 1 − t².
            _ => weightVariance * Expect1(q, h => { double t = Math.Tanh(h), s = 1 - t * t; return s * s - 2 * t * t * s; }),
        };
    }

    // ---- fixed points, depth scales and the critical line ---------------------------------------------

    /// <summary>
    /// The stable fixed point q* of the variance map, the limit of q^l from any q⁰ &gt; 0. ReLU: σ_b²/(1 − σ_w²/2)
    /// for σ_w² &lt; 2; linear: σ_b²/(1 − σ_w²) for σ_w² &lt; 1; +∞ beyond; NaN on the marginal line where every q is
    /// fixed. tanh: the positive root of q = σ_w²·E[tanh(√q z)²] + σ_b² by bisection (the map is increasing and
    /// bounded by σ_w² + σ_b²; with σ_b² = 0 it is 0 for σ_w² ≤ 1).
    /// </summary>
    public static double QStar(MeanFieldActivation phi, double weightVariance, double biasVariance)
    {
        CheckParameters(weightVariance, biasVariance);
        double slope = phi == MeanFieldActivation.Relu ? weightVariance / 2 : weightVariance;
        switch (phi)
        {
            case MeanFieldActivation.Relu:
            case MeanFieldActivation.Linear:
                if (slope < 1) return biasVariance / (1 - slope);
                return slope == 1 && biasVariance == 0 ? double.NaN : double.PositiveInfinity;
        }
        if (biasVariance == 0 && weightVariance <= 1) return 0;
        // tanh: r(q) = (q-map(q) − q)/q is positive below q* and negative above; bisect in log q.
        double Excess(double q) => QMap(phi, weightVariance, biasVariance, q) / q - 1;
        double lo = 1e-30, hi = weightVariance + biasVariance + 1;
        if (Excess(lo) <= 0) return 0;
        for (int i = 0; i < 400 && hi - lo > 4e-16 * hi; i++)
        {
            double mid = lo < 1e-8 * hi ? Math.Sqrt(lo * hi) : (lo + hi) / 2;
            if (Excess(mid) > 0) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>χ₁ = σ_w²·E[φ′(√q* z)²] (σ_w²/2 for ReLU whatever q*; σ_w² for linear).</summary>
    public static double Chi1(MeanFieldActivation phi, double weightVariance, double biasVariance)
    {
        CheckParameters(weightVariance, biasVariance);
        if (phi != MeanFieldActivation.Tanh) return Chi(phi, weightVariance, 0);
        return Chi(phi, weightVariance, QStar(phi, weightVariance, biasVariance));
    }

    /// <summary>
    /// The stable fixed point c* of the correlation map at q*: 1 when χ₁ ≤ 1 (ordered: all inputs converge); in the
    /// chaotic phase (tanh with χ₁ &gt; 1) the root below 1 of c = c-map(c), by bisection. ReLU and linear networks
    /// have no chaotic phase with a finite q*: c* = 1 (with q* = ∞ the map tends to c ↦ 2k(c), whose only fixed point is 1).
    /// </summary>
    public static double CStar(MeanFieldActivation phi, double weightVariance, double biasVariance)
    {
        double chi1 = Chi1(phi, weightVariance, biasVariance);
        if (phi != MeanFieldActivation.Tanh || chi1 <= 1) return 1;
        double q = QStar(phi, weightVariance, biasVariance);
        double Excess(double c) => CMap(phi, weightVariance, biasVariance, q, c) - c;
        // Near c = 1 the excess is ≈ (1 − c)(1 − χ₁) < 0; find a point where the quadrature resolves that sign.
        double hi = double.NaN;
        for (double gap = 1e-2; gap >= 1e-9; gap /= 10)
            if (Excess(1 - gap) < 0) { hi = 1 - gap; break; }
        if (double.IsNaN(hi)) return 1;
        double lo = -1;
        for (int i = 0; i < 200 && hi - lo > 1e-15; i++)
        {
            double mid = (lo + hi) / 2;
            if (Excess(mid) > 0) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>
    /// The order-to-chaos line: the σ_w² at which χ₁ = 1 for this σ_b². ReLU: 2 for every σ_b² (χ₁ = σ_w²/2; with
    /// σ_b² &gt; 0 the variance then grows without bound, so (2, 0) is ReLU's only critical point); linear: 1; tanh:
    /// by bisection on χ₁(σ_w²) − 1, which is 1 at σ_w² = 1 when σ_b² = 0 and rises with σ_b².
    /// </summary>
    public static double CriticalWeightVariance(MeanFieldActivation phi, double biasVariance)
    {
        CheckParameters(1, biasVariance);
        if (phi == MeanFieldActivation.Relu) return 2;
        if (phi == MeanFieldActivation.Linear) return 1;
        // With σ_b² = 0, χ₁ − 1 is of second order in σ_w² − 1 around the transition at σ_w² = 1 (Poole et al. §3),
        // so bisection on it would find the line only to √ε; the value is exact.
        if (biasVariance == 0) return 1;
        double lo = 0, hi = 2;
        while (Chi1(phi, hi, biasVariance) < 1)
        {
            lo = hi;
            hi *= 2;
            if (hi > 1e6) return double.PositiveInfinity;
        }
        for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; i++)
        {
            double mid = (lo + hi) / 2;
            if (Chi1(phi, mid, biasVariance) < 1) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>Everything the fixed-point analysis says about (φ, σ_w², σ_b²); see <see cref="MeanFieldPoint"/>.</summary>
    public static MeanFieldPoint Analyze(MeanFieldActivation phi, double weightVariance, double biasVariance)
    {
        CheckParameters(weightVariance, biasVariance);
        double q = QStar(phi, weightVariance, biasVariance);
        double chi1 = Chi1(phi, weightVariance, biasVariance);
        double c = CStar(phi, weightVariance, biasVariance);
        bool finite = double.IsFinite(q);
        double chiC = c == 1 ? (phi == MeanFieldActivation.Tanh || finite ? chi1 : 1) : ChiC(phi, weightVariance, q, c);
        double slope = phi == MeanFieldActivation.Tanh ? QMapSlope(phi, weightVariance, q) : QMapSlope(phi, weightVariance, 0);
        return new MeanFieldPoint(phi, weightVariance, biasVariance, q, c, chi1, chiC, slope,
            DepthScale(slope), DepthScale(chiC), CriticalWeightVariance(phi, biasVariance));
    }

    /// <summary>ξ = −1/ln(slope): the depth over which a deviation shrinking by <paramref name="slope"/> per layer falls by e; +∞ for slope ≥ 1.</summary>
    public static double DepthScale(double slope) =>
        double.IsNaN(slope) ? double.NaN : slope >= 1 ? double.PositiveInfinity : slope <= 0 ? 0 : -1 / Math.Log(slope);

    // ---- layer-by-layer propagation --------------------------------------------------------------------

    /// <summary>
    /// Runs the recursion through <paramref name="layers"/> for a pair of inputs a, b whose second moments are
    /// <paramref name="xaa"/> = ‖x_a‖²/n₀, <paramref name="xbb"/> and <paramref name="xab"/> = x_a·x_b/n₀. Forward, layer l
    /// takes the moments of the previous layer's activations (of the input for l = 1) to
    /// q^l = σ_w²·m + σ_b² and its correlation c^l; backward, a cotangent of unit variance on the last layer's
    /// activation gives E[(∂/∂h^L)²] = E[φ′(h^L)²] and E[(∂/∂h^l)²] = σ_w,l+1²·(n_{l+1}/n_l)·E[φ′(h^l)²]·E[(∂/∂h^(l+1))²]
    /// (Schoenholz et al. §5, under the usual independence of forward and backward weights). The Jacobian gain of
    /// layer l is Π_{k ≤ l} σ_w,k²·(n_k/n_(k−1))·E[φ′_(k−1)(h^(k−1))²].
    /// </summary>
    public static MeanFieldLayerPrediction[] Propagate(IReadOnlyList<MeanFieldLayer> layers, double xaa, double xbb, double xab)
    {
        ArgumentNullException.ThrowIfNull(layers);
        CheckVariance(xaa, nameof(xaa));
        CheckVariance(xbb, nameof(xbb));
        if (!double.IsFinite(xab) || Math.Abs(xab) > Math.Sqrt(xaa * xbb) * (1 + 1e-12) + 1e-300)
            throw new ArgumentOutOfRangeException(nameof(xab), xab, "MeanField.Propagate: the cross moment must satisfy |x_ab| ≤ √(x_aa·x_bb) (Cauchy–Schwarz)");
        int n = layers.Count;
        var qa = new double[n];
        var qb = new double[n];
        var c = new double[n];
        var jac = new double[n];
        double ma = xaa, mb = xbb, mab = xab, slopeSq = 1, gain = 1;
        for (int l = 0; l < n; l++)
        {
            var layer = layers[l];
            CheckParameters(layer.WeightVariance, layer.BiasVariance);
            if (!(layer.WidthRatio > 0) || !double.IsFinite(layer.WidthRatio))
                throw new ArgumentOutOfRangeException(nameof(layers), layer.WidthRatio, $"MeanField.Propagate: layer {l + 1}'s width ratio must be positive and finite");
            qa[l] = layer.WeightVariance * ma + layer.BiasVariance;
            qb[l] = layer.WeightVariance * mb + layer.BiasVariance;
            double qab = layer.WeightVariance * mab + layer.BiasVariance;
            c[l] = qa[l] == 0 || qb[l] == 0 ? 1 : Math.Clamp(qab / Math.Sqrt(qa[l] * qb[l]), -1, 1);
            gain *= layer.WidthRatio * layer.WeightVariance * slopeSq;
            jac[l] = gain;
            ma = SecondMoment(layer.Activation, qa[l]);
            mb = SecondMoment(layer.Activation, qb[l]);
            mab = PairMoment(layer.Activation, qa[l], qb[l], c[l]);
            slopeSq = (SlopeSecondMoment(layer.Activation, qa[l]) + SlopeSecondMoment(layer.Activation, qb[l])) / 2;
        }
        var result = new MeanFieldLayerPrediction[n];
        double grad = 1;
        for (int l = n - 1; l >= 0; l--)
        {
            var phi = layers[l].Activation;
            double chi = (SlopeSecondMoment(phi, qa[l]) + SlopeSecondMoment(phi, qb[l])) / 2;
            if (l < n - 1) chi *= layers[l + 1].WeightVariance * layers[l + 1].WidthRatio;
            grad *= chi;
            double active = (ActiveFraction(phi, qa[l]) + ActiveFraction(phi, qb[l])) / 2;
            result[l] = new MeanFieldLayerPrediction(qa[l], qb[l], c[l], active, chi, grad, jac[l]);
        }
        return result;
    }

    /// <summary>
    /// <see cref="Propagate(IReadOnlyList{MeanFieldLayer}, double, double, double)"/> through <paramref name="depth"/> identical layers of width n from inputs with
    /// ‖x‖²/n₀ = <paramref name="inputSecondMoment"/> and correlation <paramref name="inputCorrelation"/>.
    /// </summary>
    public static MeanFieldLayerPrediction[] Propagate(MeanFieldActivation phi, double weightVariance, double biasVariance, int depth,
        double inputSecondMoment, double inputCorrelation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        if (!(Math.Abs(inputCorrelation) <= 1))
            throw new ArgumentOutOfRangeException(nameof(inputCorrelation), inputCorrelation, "MeanField.Propagate: the inputs' correlation must lie in [−1, 1]");
        var layers = Enumerable.Repeat(new MeanFieldLayer(phi, weightVariance, biasVariance), depth).ToArray();
        return Propagate(layers, inputSecondMoment, inputSecondMoment, inputCorrelation * inputSecondMoment);
    }

    // ---- quadrature ------------------------------------------------------------------------------------

    private static double TanhSlope(double h)
    {
        double t = Math.Tanh(h);
        return 1 - t * t;
    }

    // Expectations are integrals of f(h)·N(h; 0, q) over the real line, done by the trapezoid rule, which converges
    // geometrically for integrands analytic in a strip around the axis (Trefethen and Weideman 2014, SIAM Review
    // 56(3), §5): the error is ~exp(−2πa/Δ) for a strip of half-width a. tanh and its derivatives have their nearest
    // poles at ±iπ/2, so Δ ≤ 0.12 gives exp(−82); Δ ≤ √q/3 resolves the Gaussian itself (error ~exp(−2π²·9)); the
    // range ±9.5√q leaves out a tail mass below 1e-20. Gauss–Hermite's node spacing is fixed in units of √q,
    // so it loses accuracy as q grows, while this keeps full double accuracy at every q (GH with 256 nodes is already 1e-6 off for E[tanh′²] at q = 5).
    private static double Expect1(double q, Func<double, double> f) => ExpectNormal(0, Math.Sqrt(q), f);

    private static double ExpectNormal(double mean, double sd, Func<double, double> f)
    {
        if (sd == 0) return f(mean);
        double step = Math.Min(0.12, sd / 3);
        int n = (int)Math.Ceiling(9.5 * sd / step);
        double sum = f(mean), total = 1;
        for (int k = 1; k <= n; k++)
        {
            double d = k * step, w = Math.Exp(-0.5 * (d / sd) * (d / sd));
            sum += w * (f(mean - d) + f(mean + d));
            total += 2 * w;
        }
        return sum / total;
    }

    // E[f(u_a)·g(u_b)]: the outer integral over u_a ~ N(0, q_a), the inner over u_b given u_a, which is
    // N(c·√(q_b/q_a)·u_a, q_b·(1 − c²)); both by the rule above, so the pair is resolved even as c → ±1.
    private static double Expect2(double qa, double qb, double c, Func<double, double> f)
    {
        double sa = Math.Sqrt(qa), sb = Math.Sqrt(qb), conditionalSd = sb * Math.Sqrt(Math.Max(0, 1 - c * c));
        if (sa == 0) return f(0) * ExpectNormal(0, sb, f);
        double slope = c * sb / sa;
        return ExpectNormal(0, sa, ua => f(ua) * ExpectNormal(slope * ua, conditionalSd, f));
    }

    // ---- argument checks -------------------------------------------------------------------------------

    private static void CheckParameters(double weightVariance, double biasVariance)
    {
        if (!(weightVariance >= 0) || !double.IsFinite(weightVariance))
            throw new ArgumentOutOfRangeException(nameof(weightVariance), weightVariance, "MeanField: σ_w² must be a finite number ≥ 0");
        if (!(biasVariance >= 0) || !double.IsFinite(biasVariance))
            throw new ArgumentOutOfRangeException(nameof(biasVariance), biasVariance, "MeanField: σ_b² must be a finite number ≥ 0");
    }

    private static void CheckVariance(double q, string name)
    {
        if (!(q >= 0) || double.IsNaN(q) || double.IsPositiveInfinity(q))
            throw new ArgumentOutOfRangeException(name, q, "MeanField: a variance must be a finite number ≥ 0");
    }

    private static void CheckPair(double qa, double qb, double c)
    {
        CheckVariance(qa, nameof(qa));
        CheckVariance(qb, nameof(qb));
        if (!(Math.Abs(c) <= 1)) throw new ArgumentOutOfRangeException(nameof(c), c, "MeanField: a correlation must lie in [−1, 1]");
    }
}
