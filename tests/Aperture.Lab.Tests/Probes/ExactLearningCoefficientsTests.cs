using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

/// <summary>
/// The exact oracles. The worked examples are derived independently here from the definition of λ as the largest
/// pole of ζ(z) = ∫K(w)^z dw (Watanabe 2009, "Algebraic geometry and statistical learning theory", ch. 2), so they
/// check the closed forms rather than restate them.
/// </summary>
public class ExactLearningCoefficientsTests
{
    private static Rational R(long p, long q = 1) => new(p, q);

    [Fact]
    public void NormalCrossingIsOneOverTwiceTheLargestPower()
    {
        // K ∝ Π w_i^(2k_i): ∫ Π |w_i|^(2k_i z) dw has poles at z = −1/(2k_i), each as often as k_i repeats.
        Assert.Equal(new LearningCoefficient(R(1, 2), 1), ExactLearningCoefficients.NormalCrossing([1]));
        Assert.Equal(new LearningCoefficient(R(1, 4), 1), ExactLearningCoefficients.NormalCrossing([1, 2]));
        Assert.Equal(new LearningCoefficient(R(1, 4), 2), ExactLearningCoefficients.NormalCrossing([2, 2]));
        Assert.Equal(new LearningCoefficient(R(1, 6), 1), ExactLearningCoefficients.NormalCrossing([0, 3]));   // devinterp's [0, 3] case: 1/6, not 0.166
        Assert.Equal(new LearningCoefficient(R(1, 2), 3), ExactLearningCoefficients.NormalCrossing([1, 1, 1]));
        Assert.Throws<ArgumentException>(() => ExactLearningCoefficients.NormalCrossing([0, 0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactLearningCoefficients.NormalCrossing([1, -1]));
    }

    [Fact]
    public void RegularIsHalfTheDimension()
    {
        Assert.Equal(new LearningCoefficient(R(7, 2), 1), ExactLearningCoefficients.Regular(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactLearningCoefficients.Regular(0));
    }

    [Fact]
    public void ReducedRankRegressionWorkedExamples()
    {
        // M = H = N = 1, r = 0: y = b·a·x, K ∝ a²b², the normal crossing (1, 1): λ = 1/2 with multiplicity 2.
        Assert.Equal(new LearningCoefficient(R(1, 2), 2), ExactLearningCoefficients.ReducedRankRegression(1, 1, 1, 0));
        // Hidden width 1 at r = 0: K = |a|²|b|² with a ∈ R^M, b ∈ R^N; in polar coordinates ρ_a²ρ_b² against the
        // volume ρ_a^(M−1)ρ_b^(N−1): poles at −M/2 and −N/2, so λ = min(M, N)/2, doubled when M = N.
        Assert.Equal(new LearningCoefficient(R(3, 2), 1), ExactLearningCoefficients.ReducedRankRegression(3, 1, 5, 0));
        Assert.Equal(new LearningCoefficient(R(3, 2), 1), ExactLearningCoefficients.ReducedRankRegression(5, 1, 3, 0));
        Assert.Equal(new LearningCoefficient(R(3, 2), 2), ExactLearningCoefficients.ReducedRankRegression(3, 1, 3, 0));
        // Square and full rank (M = H = N = r): near an invertible true product the set {BA = C} is a smooth manifold
        // of dimension r² in 2r² parameters, so the model is regular in the r² transverse directions: λ = r²/2.
        Assert.Equal(new LearningCoefficient(R(9, 2), 1), ExactLearningCoefficients.ReducedRankRegression(3, 3, 3, 3));
        // True rank min(M, N) and H ≥ it: the product is a submersion onto all N×M matrices, λ = MN/2.
        Assert.Equal(new LearningCoefficient(R(3), 1), ExactLearningCoefficients.ReducedRankRegression(2, 5, 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactLearningCoefficients.ReducedRankRegression(2, 2, 2, 3));
    }

    [Fact]
    public void DeepLinearWorkedExamples()
    {
        // One layer is linear regression: λ = H₀H₁/2 whatever the rank.
        Assert.Equal(new LearningCoefficient(R(6), 1), ExactLearningCoefficients.DeepLinear([4, 3], 0));
        Assert.Equal(new LearningCoefficient(R(6), 1), ExactLearningCoefficients.DeepLinear([4, 3], 2));
        // A chain of scalars at r = 0 is the normal crossing x·w₁⋯w_L: λ = 1/2 with multiplicity L.
        for (int depth = 2; depth <= 6; depth++)
            Assert.Equal(new LearningCoefficient(R(1, 2), depth), ExactLearningCoefficients.DeepLinear(Enumerable.Repeat(1, depth + 1).ToArray(), 0));
        // A chain of scalars at r = 1: the true set {w₁⋯w_L = c ≠ 0} is a smooth hypersurface, λ = 1/2.
        Assert.Equal(R(1, 2), ExactLearningCoefficients.DeepLinear([1, 1, 1, 1], 1).Lambda);
        // Equal widths at full rank: the product is a submersion onto GL(H), λ = H²/2 at any depth.
        Assert.Equal(R(8), ExactLearningCoefficients.DeepLinear([4, 4, 4, 4, 4], 4).Lambda);
        // True rank min(H₀, H_L) with wider hidden layers: a submersion onto all H_L×H₀ matrices, λ = H₀H_L/2.
        Assert.Equal(R(3), ExactLearningCoefficients.DeepLinear([2, 5, 4, 3], 2).Lambda);
    }

    [Fact]
    public void DeepLinearCaseSelectionOnAWorkedExample()
    {
        // Widths 10,10,10,10 at r = 0 (the issue's example): M = (10,10,10,10), all tied, so Σ = all four, ℓ = 3,
        // S = 40, M̄ = ⌈40/3⌉ = 14, a = 40 − 13·3 = 1; λ = 1·2/12 − (3·2/4)(40/3)² + ½·6·100 = 1/6 − 800/3 + 300 = 67/2.
        var (c, k) = ExactLearningCoefficients.DeepLinearWithCase([10, 10, 10, 10], 0);
        Assert.Equal([0, 1, 2, 3], k.IndexSet);
        Assert.Equal((3, 40L, 14L, 1L), (k.Ell, k.Sum, k.MBar, k.A));
        Assert.Equal(new LearningCoefficient(R(67, 2), 3), c);                      // θ = a(ℓ − a) + 1 = 1·2 + 1
        // Widths 8,2,8 at r = 0: M = (8,2,8). {1} alone would need S < 0; {1, one 8} splits the tie 8 = 8; so
        // Σ = all three, ℓ = 2, S = 18 ≥ 2·8. It must agree with reduced-rank regression.
        var (c2, k2) = ExactLearningCoefficients.DeepLinearWithCase([8, 2, 8], 0);
        Assert.Equal(2, k2.Ell);
        Assert.Equal(ExactLearningCoefficients.ReducedRankRegression(8, 2, 8, 0), c2);
        // Widths 3,1,5,1,4 at r = 0: M = (3,1,5,1,4); the two 1s form Σ (ℓ = 1, S = 2 ≥ 1, 2 < 1·3), λ = ½·1·1.
        var (c3, k3) = ExactLearningCoefficients.DeepLinearWithCase([3, 1, 5, 1, 4], 0);
        Assert.Equal([1, 3], k3.IndexSet);
        Assert.Equal(R(1, 2), c3.Lambda);
    }

    [Fact]
    public void DeepLinearMultiplicityIsAoyagisOrder()
    {
        // Aoyagi (2024) gives the order of the pole at −λ as θ = a(ℓ − a) + 1. Every case below is derived
        // independently from ζ(z) = ∫K(w)^z dw, where K factors into functions of disjoint groups of weights, so
        // ζ is a product and the orders of a shared pole add.
        //
        // (p, 1, …, 1, q) with k = L − 2 scalar layers between a row a ∈ R^p and a column b ∈ R^q, r = 0:
        // K ∝ s₁²⋯s_k²·|a|²·|b|², poles −1/2 (k times), −p/2 and −q/2; for p, q ≥ 3 λ = 1/2 with m = k.
        // Aoyagi: Σ = the L − 1 hidden widths (M = 1 each), ℓ = L − 2, S = L − 1, M̄ = 2, a = 1, θ = ℓ.
        for (int depth = 3; depth <= 7; depth++)
        {
            int[] widths = [3, .. Enumerable.Repeat(1, depth - 1), 4];
            var (c, k) = ExactLearningCoefficients.DeepLinearWithCase(widths, 0);
            Assert.Equal((depth - 2, 1L), (k.Ell, k.A));
            Assert.Equal(new LearningCoefficient(R(1, 2), depth - 2), c);
        }
        // (1, …, 1, q): L − 1 scalars and a column b ∈ R^q, q ≥ 2: K ∝ s₁²⋯s_{L−1}²·|b|², λ = 1/2 with m = L − 1.
        for (int depth = 2; depth <= 6; depth++)
            Assert.Equal(new LearningCoefficient(R(1, 2), depth - 1), ExactLearningCoefficients.DeepLinear([.. Enumerable.Repeat(1, depth), 2], 0));
        // 3,1,5,1,4 at r = 0: the product is b·(u·v)·a with a ∈ R³, u, v ∈ R⁵, b ∈ R⁴; K ∝ |a|²(u·v)²|b|². u·v is a
        // nondegenerate quadratic form in 10 variables, so (u·v)² has poles −1/2 (its smooth zero set) and −10/4 (the
        // origin); with −3/2 and −2 from a and b the largest pole −1/2 is simple: λ = 1/2, m = 1 (Σ = {1, 3}, a = ℓ = 1).
        Assert.Equal(new LearningCoefficient(R(1, 2), 1), ExactLearningCoefficients.DeepLinear([3, 1, 5, 1, 4], 0));
        // 2,1,1,2 at r = 0: b·s·a with a, b ∈ R²: K ∝ s²|a|²|b|², poles −1/2 once and −1 twice: λ = 1/2, m = 1.
        // Here Σ is all four layers (ℓ = 3, S = 6, M̄ = 2) and a = ℓ, so θ = 1: the case a = ℓ at depth 3.
        var (c4, k4) = ExactLearningCoefficients.DeepLinearWithCase([2, 1, 1, 2], 0);
        Assert.Equal((3, 6L, 2L, 3L), (k4.Ell, k4.Sum, k4.MBar, k4.A));
        Assert.Equal(new LearningCoefficient(R(1, 2), 1), c4);
        // 2,2,2,2,2 at r = 0: Σ = all five (M = 2 each), ℓ = 4, S = 10, M̄ = 3, a = 2, so
        // λ = 2·2/16 − (4·3/4)(10/4)² + ½·10·4 = 1/4 − 75/4 + 20 = 3/2 and θ = 2·2 + 1 = 5: a case with a ∉ {1, ℓ − 1, ℓ},
        // where θ rests on Aoyagi's theorem alone (no independent derivation here reaches it).
        var (c5, k5) = ExactLearningCoefficients.DeepLinearWithCase([2, 2, 2, 2, 2], 0);
        Assert.Equal((4, 10L, 3L, 2L), (k5.Ell, k5.Sum, k5.MBar, k5.A));
        Assert.Equal(new LearningCoefficient(R(3, 2), 5), c5);
        // Every architecture gets a multiplicity, 1 ≤ θ ≤ ℓ²/4 + 1 (the maximum of a(ℓ − a) + 1 over a).
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var (c, k) = ExactLearningCoefficients.DeepLinearWithCase(widths, r);
                    Assert.True(c.Multiplicity is { } m && m >= 1 && 4 * (m - 1) <= k.Ell * k.Ell, $"widths {string.Join(",", widths)} r={r}: θ = {c.Multiplicity}, ℓ = {k.Ell}");
                }
    }

    [Fact]
    public void EqualWidthsHaveACoefficientBoundedInDepth()
    {
        // Aoyagi (2024, Neural Networks 172, 106132; abstract and conclusion): the learning coefficients of deep linear
        // networks stay bounded as the number of layers grows. For L layers of equal width H at rank r, M_j = H − r =: K
        // for all L + 1 indices, Σ = all of them, ℓ = L, S = (L + 1)K; once L ≥ K, M̄ = K + 1 and a = K, and the formula
        // collapses to λ = r(2H − r)/2 + K(K + 1)/4, the same at every depth (K = 2, r = 0: 3/2 at L = 4, as above),
        // against d/2 = L·H²/2. The order θ = K(L − K) + 1 grows with L instead (K = 1: the chain of scalars, θ = L).
        for (int h = 1; h <= 6; h++)
            for (int r = 0; r <= h; r++)
            {
                int k = h - r;
                for (int depth = Math.Max(k, 1); depth <= 24; depth++)
                {
                    var (c, kase) = ExactLearningCoefficients.DeepLinearWithCase(Enumerable.Repeat(h, depth + 1).ToArray(), r);
                    Assert.Equal(R(r * (2 * h - r), 2) + R(k * (k + 1), 4), c.Lambda);
                    if (k > 0) Assert.Equal((depth, (long)k), (kase.Ell, kase.A));
                    Assert.Equal(k * (depth - k) + 1, c.Multiplicity);
                }
            }
    }

    [Fact]
    public void TwoLayersAgreeWithReducedRankRegressionEverywhere()
    {
        // Aoyagi (2024) with L = 2 must reproduce Aoyagi and Watanabe (2005) in all four of its cases.
        for (int m = 1; m <= 7; m++)
            for (int h = 1; h <= 7; h++)
                for (int n = 1; n <= 7; n++)
                    for (int r = 0; r <= Math.Min(m, Math.Min(h, n)); r++)
                        Assert.True(ExactLearningCoefficients.ReducedRankRegression(m, h, n, r) == ExactLearningCoefficients.DeepLinear([m, h, n], r),
                            $"M={m} H={h} N={n} r={r}: RRR {ExactLearningCoefficients.ReducedRankRegression(m, h, n, r)} vs DLN {ExactLearningCoefficients.DeepLinear([m, h, n], r)}");
    }

    [Fact]
    public void ExactlyOneIndexSetMeetsAoyagisConditions()
    {
        // Enumerate every subset of {0..L} (not only the prefixes the oracle tries) for every architecture with
        // widths 1..5 and depth 1..4: exactly one subset satisfies the three conditions, and it is the oracle's.
        int checkedCount = 0;
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, 5))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var m = widths.Select(w => (long)(w - r)).ToArray();
                    var found = new List<int[]>();
                    for (int mask = 1; mask < 1 << m.Length; mask++)
                    {
                        var inSet = Enumerable.Range(0, m.Length).Where(j => (mask >> j & 1) == 1).ToArray();
                        var outSet = Enumerable.Range(0, m.Length).Where(j => (mask >> j & 1) == 0).ToArray();
                        long ell = inSet.Length - 1, sum = inSet.Sum(j => m[j]), max = inSet.Max(j => m[j]);
                        if (ell == 0) continue;
                        bool separated = outSet.Length == 0 || max < outSet.Min(j => m[j]);
                        bool lower = sum >= ell * max;
                        bool upper = outSet.Length == 0 || sum < ell * outSet.Min(j => m[j]);
                        if (separated && lower && upper) found.Add(inSet);
                    }
                    Assert.True(found.Count == 1, $"widths {string.Join(",", widths)} r={r}: {found.Count} index sets");
                    Assert.Equal(found[0], ExactLearningCoefficients.DeepLinearWithCase(widths, r).Case.IndexSet);
                    checkedCount++;
                }
        Assert.True(checkedCount > 3000);
    }

    [Fact]
    public void DeepLinearValuesAreNeverAboveHalfTheDimension()
    {
        // λ ≤ d/2 always (Watanabe 2009, Theorem 7.2 bounds the RLCT by half the dimension).
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    long d = 0;
                    for (int l = 0; l < depth; l++) d += (long)widths[l] * widths[l + 1];
                    Assert.True(ExactLearningCoefficients.DeepLinear(widths, r).Lambda <= new Rational(d, 2), $"widths {string.Join(",", widths)} r={r}");
                }
    }

    [Fact]
    public void BadArchitecturesAreRejectedWithTheReason()
    {
        Assert.Contains("two widths", Assert.Throws<ArgumentException>(() => ExactLearningCoefficients.DeepLinear([3], 0)).Message);
        Assert.Contains("0..2", Assert.Throws<ArgumentOutOfRangeException>(() => ExactLearningCoefficients.DeepLinear([3, 2, 4], 3)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactLearningCoefficients.DeepLinear([3, 0, 4], 0));
    }

    private static IEnumerable<int[]> Architectures(int count, int maxWidth)
    {
        var w = Enumerable.Repeat(1, count).ToArray();
        while (true)
        {
            yield return (int[])w.Clone();
            int i = 0;
            while (i < count && w[i] == maxWidth) w[i++] = 1;
            if (i == count) yield break;
            w[i]++;
        }
    }
}
