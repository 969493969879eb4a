using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

/// <summary>
/// The exact oracles against values and formulas printed in the literature, each test citing where the value was
/// read. The sources, and how they were reached:
/// <list type="bullet">
/// <item>[PLR] S. Pepin Lehalleur and R. Rimányi, "Geometry of the fibers of the multiplication map of deep linear neural
/// networks", arXiv:2411.19920. Read from its LaTeX source as stored in the public repository
/// edmund-ukaisi/geometry-of-dln-fibre, path paper-sources/lehalleur-rimanyi-2024-geometry-of-dln-fibre/source/main.tex,
/// commit 983b7dde3eedeb6481c314cbb8872838e57ff22d. Theorem and example numbers below follow the source's shared
/// per-section counter (Theorem 6.1 = label thm:QIP, Theorem 7.10 = thm:main-codim, Theorem 8.6 = thm:aoyagi-rlct).
/// Theorem 8.6 proves λ = codim mult⁻¹(B)/2 for the deep linear network at a true map B of rank r, so every printed
/// codimension C is a printed learning coefficient C/2.</item>
/// <item>[A23] M. Aoyagi, "Consideration on the learning efficiency of multiple-layered neural networks with linear units",
/// SSRN 4404877 (2023 preprint of Neural Networks 172 (2024) 106132). The preprint itself was not reachable; its
/// statements are read from a page-image-checked transcription in the same repository,
/// theory/aoyagi-2023-reproduction/aoyagi-2023-worked.tex (commit 0002ff849d0886b525cf86ee53f125d568f8c141),
/// verify-arith-groundtruth.md (commit a4b46d63d5c2247f800454f21efa963c42ff0773) and verify-def3-underspec.md
/// (commit 22e5448c8cc47aae8d92d0fe3ba9f7ef1f92cf59). In the preprint the reduced-rank case is Theorem 1 and the
/// general case Theorem 2 (Theorem 1 of the published version).</item>
/// <item>Implementations whose values the oracle must reproduce: devinterp's reduced-rank regression test
/// (timaeus-research/devinterp, tests/slt/rrr_test.py, commit 08b560b909cf6710cd56e71df5d7a1758cb21643) and the sBIC R
/// package (Lucaweihs/sBIC, R/ReducedRankRegressions.R, commit 562cd2b3be3853623b2f44a5e4e46274778d7ba0). Lau et al.'s
/// deep-linear-network code (edmundlth/validating_lambdahat, dln.py, commit 0436c136744c8869a491ec67e75ea777f9beb308)
/// prints no values; it selects Σ by the same three conditions as the oracle and returns θ = a(ℓ − a) + 1.</item>
/// </list>
/// </summary>
public class PublishedLearningCoefficientTests
{
    private static Rational R(long p, long q = 1) => new(p, q);

    [Fact]
    public void PepinLehalleurRimanyiPrintedCodimensionsAreTwiceTheCoefficient()
    {
        // [PLR] codimensions C of Σ⁰_d = {A_N⋯A_1 = 0} (rank 0, so C = codim mult⁻¹(0) and λ = C/2 by Theorem 8.6),
        // with the number of top-dimensional components where the source prints it (not the multiplicity; see
        // PepinLehalleurRimanyiMultiplicityIsOneShortOfAoyagisOrder).
        (int[] Widths, long Codimension, string Where)[] printed =
        [
            ([2, 2, 2], 3, "Example 4.3 (three components, the top one of codimension 3) and Example 5.6: Q⁰ = q³ + 6q⁴ + …"),
            ([2, 3, 2], 4, "Example 4.3 and Example 5.6: Q⁰ = 2q⁴ + 7q⁵ + …"),
            ([2, 4, 2], 4, "Example 4.3 and Example 5.6: Q⁰ = q⁴ + 4q⁵ + …"),
            ([3, 3, 3], 7, "Example 5.6: Q⁰ = 2q⁷ + 8q⁸ + …"),
            ([5, 5, 6, 6, 6, 6], 19, "Example 4.3: five codimension-19 components"),
            ([4, 4, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6], 12, "Example 5.6: Q⁰ = 28q¹² + 508q¹³ + …"),
            ([2, 2, 3], 4, "Example 6.2 (QIP minimum 4, attained twice)"),
            ([8, 8, 11, 11, 11, 13, 13, 13, 15], 55, "Example 6.3 (QIP minimum 55 at four points)"),
            ([7, 7, 8, 9, 12, 13], 39, "Example 7.7 (closest lattice points, G_opt = 39)"),
        ];
        foreach (var (widths, codimension, where) in printed)
            Assert.True(ExactLearningCoefficients.DeepLinear(widths, 0).Lambda == R(codimension, 2),
                $"[PLR] {where}: widths {string.Join(",", widths)} rank 0 has C = {codimension}, λ = {codimension}/2; oracle {ExactLearningCoefficients.DeepLinear(widths, 0).Lambda}");

        // [PLR] Corollary 5.10 and Remark 5.11: C is invariant under permutations of d (codim Σ⁰ is 4 for (2,3,2),
        // (2,2,3) and (3,2,2) although Rep has dimension 12, 10, 10). At rank 0 the regular prefactor r(H₀ + H_L) is
        // zero, so λ itself is permutation invariant.
        foreach (var widths in new[] { new[] { 2, 3, 2 }, [2, 2, 3], [3, 2, 2] })
            Assert.Equal(R(2), ExactLearningCoefficients.DeepLinear(widths, 0).Lambda);
    }

    [Fact]
    public void PepinLehalleurRimanyiConstantDimensionVector()
    {
        // [PLR] Example 7.12: for d = (d, …, d) ∈ ℕ^(N+1) at rank 0,
        // codim Σ⁰ = (N/2)·{d/N}(1 − {d/N}) + (N + 1)d²/(2N), and = d(d + 1)/2 once N > d (independent of depth).
        for (int d = 1; d <= 7; d++)
            for (int depth = 1; depth <= 14; depth++)
            {
                var fraction = R(d % depth, depth);
                var codimension = R(depth, 2) * fraction * (R(1) - fraction) + R((long)(depth + 1) * d * d, 2L * depth);
                Assert.Equal(codimension / 2, ExactLearningCoefficients.DeepLinear(Enumerable.Repeat(d, depth + 1).ToArray(), 0).Lambda);
                if (depth > d) Assert.Equal(R((long)d * (d + 1), 2), codimension);
            }
    }

    [Fact]
    public void QuadraticIntegerProgramReproducesThePrintedExamples()
    {
        // The QIP below is written from [PLR] Theorem 6.1; these are the source's own worked instances of it, so they
        // check this file's transcription before the next test relies on it.
        Assert.Equal((4L, 2), QuadraticIntegerProgram([2, 2, 3]));                          // Example 6.2
        Assert.Equal((55L, 4), QuadraticIntegerProgram([8, 8, 11, 11, 11, 13, 13, 13, 15]));  // Example 6.3
        Assert.Equal((39L, 3), QuadraticIntegerProgram([7, 7, 8, 9, 12, 13]));              // Example 7.7 (k = 3)
        Assert.Equal((19L, 5), QuadraticIntegerProgram([5, 5, 6, 6, 6, 6]));                // Example 4.3: 5 components
        Assert.Equal((12L, 28), QuadraticIntegerProgram([4, 4, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6]));  // Example 5.6: 28q¹²
        Assert.Equal((7L, 2), QuadraticIntegerProgram([3, 3, 3]));                          // Example 5.6: 2q⁷
        Assert.Equal((4L, 2), QuadraticIntegerProgram([2, 3, 2]));                          // permutation invariance
    }

    [Fact]
    public void QuadraticIntegerProgramAgreesWithAoyagiOnEveryArchitecture()
    {
        // An independent route to λ for every architecture and rank, sharing nothing with Aoyagi's case selection:
        // [PLR] Theorem 6.1 (codim Σ⁰_d = min of the QIP over e ∈ ℕ^N, Σe_i = d'_0, d' sorted), Lemma 4.5
        // (codim Σ^r_d = codim Σ⁰_{d−r}), Lemma 4.6 (codim mult⁻¹(B) = codim Σ^r_d + r(d_0 + d_N − r)) and Theorem 8.6
        // (λ = codim mult⁻¹(B)/2).
        int count = 0;
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, depth < 4 ? 5 : 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var (c, _) = QuadraticIntegerProgram(widths.Select(w => w - r).ToArray());
                    var lambda = R(c + (long)r * (widths[0] + widths[^1] - r), 2);
                    var oracle = ExactLearningCoefficients.DeepLinear(widths, r).Lambda;
                    Assert.True(lambda == oracle, $"widths {string.Join(",", widths)} r={r}: QIP gives {lambda}, oracle {oracle}");
                    count++;
                }
        Assert.True(count > 4000);
    }

    [Fact]
    public void EllIsPepinLehalleurRimanyisM()
    {
        // [PLR] Definition 7.2: m = max{l : Σ_{i≤l} d'_i ≥ l·d'_l} over the sorted reduced widths d', and in the proof
        // of Theorem 8.6 Aoyagi's M = ⌈S̃/m⌉ and a = S̃ − m⌈S̃/m⌉ + m with S̃ = Σ_{i≤m} d'_i. The oracle's ℓ, M̄ and a are
        // these on every architecture: its Σ (the rule Lau et al.'s dln.py also uses) is PLR's.
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, depth < 4 ? 6 : 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var d = widths.Select(w => (long)(w - r)).Order().ToArray();
                    int m = 0;
                    long prefix = d[0];
                    for (int l = 1; l < d.Length; l++)
                    {
                        prefix += d[l];
                        if (prefix >= l * d[l]) m = l;
                    }
                    long sTilde = d.Take(m + 1).Sum();
                    long ceiling = (sTilde + m - 1) / m;
                    var (_, k) = ExactLearningCoefficients.DeepLinearWithCase(widths, r);
                    Assert.True((k.Ell, k.Sum, k.MBar, k.A) == (m, sTilde, ceiling, sTilde - m * ceiling + m),
                        $"widths {string.Join(",", widths)} r={r}: oracle (ℓ, S, M̄, a) = ({k.Ell}, {k.Sum}, {k.MBar}, {k.A}); PLR m = {m}, S̃ = {sTilde}");
                }
    }

    [Fact]
    public void PepinLehalleurRimanyiMultiplicityIsOneShortOfAoyagisOrder()
    {
        // [PLR] Theorem 8.6 states rlcm = m²·{S̃/m}(1 − {S̃/m}) as its translation of Aoyagi's order, and its proof shows
        // that this equals a(ℓ − a). Aoyagi's order, which the oracle returns, is a(ℓ − a) + 1: the two differ by one
        // everywhere. The oracle is right. For the chain y = w₂w₁x (widths 1,1,1, rank 0) K ∝ w₁²w₂², so
        // ζ(z) = ∫∫|w₁|^(2z)|w₂|^(2z)φ dw = (∫|w|^(2z)dw)²·(smooth) has a double pole at z = −1/2: m = 2. Here ℓ = 2, S̃ = 3,
        // a = 1, so a(ℓ − a) + 1 = 2 while PLR's expression gives 4·(1/2)·(1/2) = 1. And wherever m divides S̃ PLR's
        // expression is 0, which no order of a pole can be (one layer, the regular model, is such a case).
        Assert.Equal(new LearningCoefficient(R(1, 2), 2), ExactLearningCoefficients.DeepLinear([1, 1, 1], 0));
        Assert.Equal(1, ExactLearningCoefficients.DeepLinear([3, 4], 0).Multiplicity);
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var (c, k) = ExactLearningCoefficients.DeepLinearWithCase(widths, r);
                    var fraction = R(k.Sum % k.Ell, k.Ell);
                    var plr = R((long)k.Ell * k.Ell) * fraction * (R(1) - fraction);
                    Assert.Equal(R(k.A * (k.Ell - k.A)), plr);
                    Assert.Equal(plr + 1, R(c.Multiplicity!.Value));
                }
    }

    [Fact]
    public void AoyagiEqualWidthExample()
    {
        // [A23] the Example after Theorem 2 (preprint p. 9, transcribed in aoyagi-2023-worked.tex §2.2 and checked in
        // verify-arith-groundtruth.md Check 2): if M⁽¹⁾ = ⋯ = M⁽ᴸ⁺¹⁾ = M (= H − r) then ℓ = L,
        // M̄ − 1 < (L + 1)M/L ≤ M̄, a = (L + 1)M − (M̄ − 1)L and
        // λ = (−r² + 2rH)/2 + a(L − a)/(4L) + (L + 1)M²/(4L), θ = a(L − a) + 1.
        for (int h = 1; h <= 7; h++)
            for (int r = 0; r <= h; r++)
                for (int depth = 1; depth <= 12; depth++)
                {
                    long m = h - r, total = (depth + 1) * m;
                    long mBar = (total + depth - 1) / depth;
                    long a = total - (mBar - 1) * depth;
                    var lambda = R(-(long)r * r + 2L * r * h, 2) + R(a * (depth - a), 4L * depth) + R((depth + 1) * m * m, 4L * depth);
                    Assert.Equal(new LearningCoefficient(lambda, (int)(a * (depth - a) + 1)),
                        ExactLearningCoefficients.DeepLinear(Enumerable.Repeat(h, depth + 1).ToArray(), r));
                }
        // The transcription's ground-truth table (aoyagi-2023-worked.tex §5, verify-arith-groundtruth.md Checks 2 and
        // 2b), values of Aoyagi's formula: widths (2,2,2) → 3/2, θ = 1; (2,2,2,2) → 3/2, θ = 3; (2,1,2) → 1, θ = 2;
        // (1,1,3) → 1/2, θ = 1; all at rank 0.
        Assert.Equal(new LearningCoefficient(R(3, 2), 1), ExactLearningCoefficients.DeepLinear([2, 2, 2], 0));
        Assert.Equal(new LearningCoefficient(R(3, 2), 3), ExactLearningCoefficients.DeepLinear([2, 2, 2, 2], 0));
        Assert.Equal(new LearningCoefficient(R(1), 2), ExactLearningCoefficients.DeepLinear([2, 1, 2], 0));
        Assert.Equal(new LearningCoefficient(R(1, 2), 1), ExactLearningCoefficients.DeepLinear([1, 1, 3], 0));
        // The same transcription's exact resolutions of single architectures (aoyagi-2023-worked.tex §3.3, from
        // Newton-polytope computations of ½·min codim over rank profiles): (3,3,4) → 4, (3,3,2,2) → 2, (4,4,2,2) → 2,
        // (3,2,2,2) → 3/2 and (2,3,2,2) → 3/2, all at rank 0; and (2,2,3) → 2 (seat2-aoyagi-mining.md, F1).
        (int[] Widths, Rational Lambda)[] resolved =
            [([3, 3, 4], R(4)), ([3, 3, 2, 2], R(2)), ([4, 4, 2, 2], R(2)), ([3, 2, 2, 2], R(3, 2)), ([2, 3, 2, 2], R(3, 2)), ([2, 2, 3], R(2))];
        foreach (var (widths, lambda) in resolved)
            Assert.Equal(lambda, ExactLearningCoefficients.DeepLinear(widths, 0).Lambda);
    }

    [Fact]
    public void AoyagisOwnSelectionGivesTheSameValues()
    {
        // [A23] selects Σ by conditions that differ from the oracle's at boundaries. Theorem 1 (L = 2): Σ = {1,2,3} if
        // every M⁽ˢ⁾ < ½ΣM; else {1,2} if M⁽³⁾ ≥ M⁽¹⁾ + M⁽²⁾, {1,3} if M⁽²⁾ ≥ M⁽¹⁾ + M⁽³⁾, {2,3} if M⁽¹⁾ ≥ M⁽²⁾ + M⁽³⁾.
        // Definition 3 (general L; verify-def3-underspec.md): (i) members strictly below non-members, (ii) S > ℓ·M for
        // members, (iii) printed S ≤ (ℓ − 1)·M for non-members, which the transcription flags as a misprint (at ℓ = 1 it
        // would need S ≤ 0); read here as S ≤ ℓ·M, the form that makes Definition 3 agree with Theorem 1. The oracle
        // (like [PLR] Definition 7.2 and Lau et al.'s code) uses S ≥ ℓ·max and S < ℓ·min instead, so at S = ℓ·M⁽ᵏ⁾ it
        // takes M⁽ᵏ⁾ into Σ where Aoyagi leaves it out. Both give the same λ and θ: with M⁽ᵏ⁾ = S/ℓ, adding it makes
        // S' = S(ℓ + 1)/ℓ, ℓ' = ℓ + 1, so S'/ℓ' = S/ℓ = M⁽ᵏ⁾ is an integer and a' = ℓ', a = ℓ (θ = 1 both ways); and
        // −ℓ'(ℓ' − 1)/4·(S'/ℓ')² + ½Σ'pairs = −ℓ(ℓ + 1)/4·M⁽ᵏ⁾² + ½Σpairs + ½M⁽ᵏ⁾·S = −ℓ(ℓ − 1)/4·(S/ℓ)² + ½Σpairs.
        for (int m1 = 1; m1 <= 7; m1++)
            for (int h = 1; h <= 7; h++)
                for (int n = 1; n <= 7; n++)
                    for (int r = 0; r <= Math.Min(m1, Math.Min(h, n)); r++)
                    {
                        int[] widths = [m1, h, n];
                        long a1 = m1 - r, a2 = h - r, a3 = n - r, sum = a1 + a2 + a3;
                        int[] set = 2 * a1 < sum && 2 * a2 < sum && 2 * a3 < sum ? [0, 1, 2]
                            : a3 >= a1 + a2 ? [0, 1] : a2 >= a1 + a3 ? [0, 2] : [1, 2];
                        Assert.Equal(AoyagiValue(widths, r, set), ExactLearningCoefficients.DeepLinear(widths, r));
                    }
        // The boundary in its smallest form: widths 1,1,2 at rank 0. Theorem 1 takes {1,2} (2 ≥ 1 + 1: ℓ = 1), the oracle
        // all three (S = 4 = 2·2: ℓ = 2, a = ℓ); both give λ = 1/2, θ = 1, which K ∝ s²·|b|² (s the 1×1 first layer, b ∈ ℝ²
        // the second) confirms: poles −1/2 (simple, from s) and −1 (from b).
        var (coefficient, kase) = ExactLearningCoefficients.DeepLinearWithCase([1, 1, 2], 0);
        Assert.Equal((2, 2L), (kase.Ell, kase.A));
        Assert.Equal(new LearningCoefficient(R(1, 2), 1), coefficient);
        Assert.Equal(coefficient, AoyagiValue([1, 1, 2], 0, [0, 1]));

        // Definition 3 with (iii) read as S ≤ ℓ·M, every architecture of depth ≤ 4: when every reduced width is positive
        // exactly one Σ qualifies and it gives the oracle's λ and θ; when some reduced width is 0 (r = the smallest
        // width) no Σ qualifies: the zero width must be a member by (i), the other ℓ members then sum to at most
        // ℓ·max, and (ii) fails for the largest — the oracle's non-strict rule covers that case.
        int unique = 0;
        for (int depth = 1; depth <= 4; depth++)
            foreach (var widths in Architectures(depth + 1, 4))
                for (int r = 0; r <= widths.Min(); r++)
                {
                    var reduced = widths.Select(w => (long)(w - r)).ToArray();
                    var found = new List<int[]>();
                    for (int mask = 1; mask < 1 << reduced.Length; mask++)
                    {
                        var inSet = Enumerable.Range(0, reduced.Length).Where(j => (mask >> j & 1) == 1).ToArray();
                        var outSet = Enumerable.Range(0, reduced.Length).Where(j => (mask >> j & 1) == 0).ToArray();
                        long ell = inSet.Length - 1, s = inSet.Sum(j => reduced[j]);
                        if (ell == 0) continue;
                        if (outSet.Length > 0 && inSet.Max(j => reduced[j]) >= outSet.Min(j => reduced[j])) continue;
                        if (!inSet.All(j => s > ell * reduced[j])) continue;
                        if (!outSet.All(j => s <= ell * reduced[j])) continue;
                        found.Add(inSet);
                    }
                    if (reduced.Min() == 0)
                    {
                        Assert.Empty(found);
                        continue;
                    }
                    Assert.True(found.Count == 1, $"widths {string.Join(",", widths)} r={r}: {found.Count} index sets under Aoyagi's conditions");
                    Assert.Equal(ExactLearningCoefficients.DeepLinear(widths, r), AoyagiValue(widths, r, found[0]));
                    unique++;
                }
        Assert.True(unique > 300);
    }

    [Fact]
    public void DevinterpReducedRankRegressionCases()
    {
        // devinterp tests/slt/rrr_test.py (commit 08b560b9…) parametrizes (M, H, N) = (5,3,5) "case 1, odd",
        // (5,4,5) "case 1, even", (4,3,8) "case 2", (8,3,4) "case 3", (3,8,4) "case 4" and computes true_lc from
        // Aoyagi–Watanabe at rank 0: (1 + 2MN + 2HN + 2MH − N² − M² − H²)/8 = 52/8, (2MN + 2HN + 2MH − N² − M² − H²)/8
        // = 64/8, MH/2 = 6, HN/2 = 6, MN/2 = 6.
        (int M, int H, int N, Rational Lambda, int Multiplicity)[] cases =
            [(5, 3, 5, R(13, 2), 2), (5, 4, 5, R(8), 1), (4, 3, 8, R(6), 1), (8, 3, 4, R(6), 1), (3, 8, 4, R(6), 1)];
        foreach (var (m, h, n, lambda, multiplicity) in cases)
        {
            Assert.Equal(new LearningCoefficient(lambda, multiplicity), ExactLearningCoefficients.ReducedRankRegression(m, h, n, 0));
            Assert.Equal(new LearningCoefficient(lambda, multiplicity), ExactLearningCoefficients.DeepLinear([m, h, n], 0));
        }
    }

    [Fact]
    public void SbicRankModelDimensionIsTwiceTheCoefficientAtItsOwnRank()
    {
        // sBIC R/ReducedRankRegressions.R (commit 562cd2b…): learnCoef(H, r) implements Aoyagi and Watanabe's four cases
        // with the multiplicity (m = 2 only in case 1 with M + H + N + r odd), and getDimension(H) = 2·learnCoef(H, H),
        // the dimension H(M + N − H) of the manifold of rank-H N×M matrices — reduced-rank regression is regular at a
        // true map of its own full rank. The oracle must give the same.
        for (int m = 1; m <= 9; m++)
            for (int n = 1; n <= 9; n++)
                for (int h = 1; h <= Math.Min(m, n); h++)
                    Assert.Equal(new LearningCoefficient(R((long)h * (m + n - h), 2), 1), ExactLearningCoefficients.ReducedRankRegression(m, h, n, h));
    }

    /// <summary>
    /// [PLR] Theorem 6.1: with d' the widths sorted ascending, the codimension of Σ⁰_d is the minimum of
    /// G(e) = Σ_{1≤j≤i≤N} e_i(e_j + d'_j − d'_{j−1}) over e ∈ ℕ^N with Σe_i = d'_0, and the number of top-dimensional
    /// components is the number of minimizers. Enumerated exhaustively.
    /// </summary>
    private static (long Minimum, int Minimizers) QuadraticIntegerProgram(int[] widths)
    {
        var d = widths.Select(w => (long)w).Order().ToArray();
        int n = d.Length - 1;
        long best = long.MaxValue;
        int count = 0;
        var e = new long[n + 1];                                  // e[1..N]
        void Place(int i, long left)
        {
            if (i == n)
            {
                e[n] = left;
                long g = 0;
                for (int a = 1; a <= n; a++)
                    for (int b = 1; b <= a; b++)
                        g += e[a] * (e[b] + d[b] - d[b - 1]);
                if (g < best) (best, count) = (g, 1);
                else if (g == best) count++;
                return;
            }
            for (long v = 0; v <= left; v++)
            {
                e[i] = v;
                Place(i + 1, left - v);
            }
        }
        if (n == 0) return (0, 1);
        Place(1, d[0]);
        return (best, count);
    }

    /// <summary>Aoyagi's λ and θ (the printed formula of [A23] Theorem 2) evaluated on a given index set.</summary>
    private static LearningCoefficient AoyagiValue(int[] widths, int rank, int[] indexSet)
    {
        long r = rank, ell = indexSet.Length - 1;
        long s = indexSet.Sum(j => (long)(widths[j] - rank));
        long mBar = (s + ell - 1) / ell;
        long a = s - (mBar - 1) * ell;
        long pairs = 0;
        for (int i = 0; i < indexSet.Length; i++)
            for (int j = i + 1; j < indexSet.Length; j++)
                pairs += (long)(widths[indexSet[i]] - rank) * (widths[indexSet[j]] - rank);
        var lambda = R(-r * r + r * (widths[0] + widths[^1]), 2) + R(a * (ell - a), 4 * ell)
            - R(ell * (ell - 1), 4) * R(s, ell) * R(s, ell) + R(pairs, 2);
        return new(lambda, (int)(a * (ell - a) + 1));
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
