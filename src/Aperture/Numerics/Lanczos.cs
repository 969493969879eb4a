namespace Aperture;

/// <summary>
/// A symmetric linear operator on float64 vectors of a fixed length: writes A·<paramref name="x"/> into
/// <paramref name="y"/> (same length, already allocated; the operator overwrites every entry). A Hessian-vector
/// product, a dense matrix or any matrix-free symmetric map.
/// </summary>
public delegate void SymmetricOperator(ReadOnlySpan<double> x, Span<double> y);

/// <summary>
/// A Lanczos tridiagonalization Qᵀ·A·Q = T of a symmetric operator, run for <see cref="Steps"/> steps.
/// </summary>
/// <param name="Alpha">T's diagonal [m].</param>
/// <param name="Beta">T's off-diagonal [m − 1]: Beta[i] couples rows i and i + 1 (0 where the iteration restarted after an invariant subspace).</param>
/// <param name="Residual">‖r_m‖, the norm of the part of A·q_m outside the basis: the Ritz residual of a Ritz pair (θ, Q·s) is Residual·|s_m|.</param>
/// <param name="Basis">The orthonormal Lanczos vectors q_0 … q_{m−1}, each of the operator's length.</param>
/// <param name="MatrixVectorProducts">How many times the operator was applied.</param>
public sealed record LanczosDecomposition(double[] Alpha, double[] Beta, double Residual, double[][] Basis, int MatrixVectorProducts)
{
    /// <summary>The number of Lanczos steps m (T is m×m).</summary>
    public int Steps => Alpha.Length;
}

/// <summary>Extreme eigenvalues of a symmetric operator found by Lanczos, with their Ritz residuals.</summary>
/// <param name="Values">The eigenvalue estimates (Ritz values), from the extreme inwards: largest first for the top, most negative first for the bottom.</param>
/// <param name="Vectors">The unit Ritz vectors, one per value (empty when not asked for).</param>
/// <param name="Residuals">‖A·y − θ·y‖ for each Ritz pair (θ, y): a rigorous bound on the distance from θ to an eigenvalue of A.</param>
/// <param name="MatrixVectorProducts">How many times the operator was applied.</param>
/// <param name="Converged">Whether every residual met the tolerance before the iteration limit.</param>
public sealed record ExtremeEigenvalues(double[] Values, double[][] Vectors, double[] Residuals, int MatrixVectorProducts, bool Converged);

/// <summary>
/// The Lanczos method (Lanczos, 1950) for symmetric operators, with full reorthogonalization: every new vector is
/// orthogonalized twice against all previous ones ("twice is enough", Parlett), so no spurious copies of converged
/// eigenvalues appear, at the price of storing the basis (m vectors of length n, 8·m·n bytes). Every loop runs in a
/// fixed order, so for a deterministic operator and generator the results are bitwise reproducible.
/// </summary>
public static class Lanczos
{
    /// <summary>
    /// Runs <paramref name="steps"/> Lanczos steps of <paramref name="a"/> (length <paramref name="n"/>) from
    /// <paramref name="start"/> (normalized here). When the Krylov space becomes invariant (the new direction's norm
    /// falls below 1e-12 of the largest |α|, |β| seen) before <paramref name="steps"/>, the iteration stops early unless
    /// <paramref name="restart"/> is given, in which case it continues from a fresh random vector orthogonal to the
    /// basis (drawn from that generator, with a zero coupling in T), so T's spectrum then covers more of A's.
    /// </summary>
    public static LanczosDecomposition Tridiagonalize(SymmetricOperator a, int n, ReadOnlySpan<double> start, int steps, Generator? restart = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (start.Length != n) throw new ShapeMismatchException($"Lanczos: the start vector has length {start.Length}, the operator {n}");
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var state = new State(a, n, Math.Min(steps, n));
        var q0 = start.ToArray();
        if (!(Normalize(q0) > 0)) throw new ArgumentException("Lanczos: the start vector is zero or not finite", nameof(start));
        state.Begin(q0);
        while (state.Steps < Math.Min(steps, n))
            if (!state.Step(restart)) break;
        return state.Result();
    }

    /// <summary>
    /// The <paramref name="k"/> largest (algebraically) eigenvalues of <paramref name="a"/>, by Lanczos from a
    /// Gaussian start vector drawn from <paramref name="generator"/>, with restarts past invariant subspaces. It stops
    /// once each of the top k Ritz pairs has a residual ≤ <paramref name="tolerance"/>·max|θ| (relative to the
    /// operator's norm estimate; an eigenvalue's error is at most its residual and usually about residual²/gap),
    /// when the basis spans the whole space (the values are then exact up to rounding), or after
    /// <paramref name="maxSteps"/> steps (then <see cref="ExtremeEigenvalues.Converged"/> is false).
    /// </summary>
    /// <param name="a">The symmetric operator.</param>
    /// <param name="n">Its dimension.</param>
    /// <param name="k">How many eigenvalues (1 ≤ k ≤ n).</param>
    /// <param name="generator">The source of the start vector and of any restart vectors.</param>
    /// <param name="tolerance">The relative residual at which a Ritz pair counts as converged.</param>
    /// <param name="maxSteps">The most Lanczos steps (= operator applications, = stored vectors); default min(n, max(60, 8k + 40)).</param>
    /// <param name="vectors">Whether to return the Ritz vectors.</param>
    public static ExtremeEigenvalues Largest(SymmetricOperator a, int n, int k, Generator generator, double tolerance = 1e-8, int? maxSteps = null, bool vectors = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"Lanczos: k must be in 1..{n} (the operator's dimension)");
        if (!(tolerance > 0)) throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "Lanczos: the tolerance must be positive");
        int limit = Math.Min(n, maxSteps ?? Math.Max(60, 8 * k + 40));
        if (limit < k) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, $"Lanczos: maxSteps must be at least k = {k}");
        var state = new State(a, n, limit);
        var q0 = new double[n];
        for (int i = 0; i < n; i++) q0[i] = generator.NextNormal();
        Normalize(q0);
        state.Begin(q0);
        bool converged = false;
        while (true)
        {
            if (!state.Step(generator)) { converged = true; break; } // the basis spans the whole space
            // Right after an invariant subspace the residual is 0 for every old Ritz pair, but the new block has not
            // been explored: eigenvalues repeated in A (found only by the restart) would be missed, so wait a step.
            if (state.Steps >= k && !state.Restarted && ShouldCheck(state.Steps, limit) && TopConverged(state, k, tolerance)) { converged = true; break; }
            if (state.Steps >= limit) break;
        }
        return Extract(state, k, vectors, converged);
    }

    /// <summary>
    /// The <paramref name="k"/> most negative (algebraically smallest) eigenvalues of <paramref name="a"/>, by Lanczos
    /// on the shifted operator σ·I − A with σ = <paramref name="shift"/> (by default the largest eigenvalue, found
    /// first to 1e-6): the wanted eigenvalues become the largest, and the convergence test is relative to the spread
    /// σ − λ_min rather than to |λ_min|, which may be tiny next to λ_max (a Hessian's near-zero bulk).
    /// Values are returned most negative first.
    /// </summary>
    public static ExtremeEigenvalues Smallest(SymmetricOperator a, int n, int k, Generator generator, double tolerance = 1e-8, int? maxSteps = null,
        bool vectors = false, double? shift = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(generator);
        int used = 0;
        double sigma;
        if (shift is { } s)
        {
            if (!double.IsFinite(s)) throw new ArgumentOutOfRangeException(nameof(shift), s, "Lanczos: the shift must be finite");
            sigma = s;
        }
        else
        {
            var top = Largest(a, n, 1, generator, 1e-6, maxSteps);
            sigma = top.Values[0];
            used = top.MatrixVectorProducts;
        }
        var y = new double[n];
        void Shifted(ReadOnlySpan<double> x, Span<double> result)
        {
            a(x, y);
            for (int i = 0; i < x.Length; i++) result[i] = sigma * x[i] - y[i];
        }
        var r = Largest(Shifted, n, k, generator, tolerance, maxSteps, vectors);
        return r with
        {
            Values = [.. r.Values.Select(v => sigma - v)],
            MatrixVectorProducts = r.MatrixVectorProducts + used,
        };
    }

    // Checking convergence costs an O(m²) tridiagonal solve; do it every step while m is small, then every few steps.
    private static bool ShouldCheck(int steps, int limit) => steps < 50 || steps % 5 == 0 || steps == limit;

    private static bool TopConverged(State state, int k, double tolerance)
    {
        int m = state.Steps;
        var eig = Linalg.TridiagonalEigen(state.Alpha.AsSpan(0, m), state.Beta.AsSpan(0, m - 1), [m - 1]);
        double scale = Math.Max(Math.Abs(eig.Values[0]), Math.Abs(eig.Values[m - 1]));
        for (int j = 0; j < k; j++)
        {
            int idx = m - 1 - j;
            if (state.Residual * Math.Abs(eig.Vectors[idx]) > tolerance * scale) return false;
        }
        return true;
    }

    private static ExtremeEigenvalues Extract(State state, int k, bool vectors, bool converged)
    {
        int m = state.Steps;
        k = Math.Min(k, m);
        var eig = vectors
            ? Linalg.TridiagonalEigen(state.Alpha.AsSpan(0, m), state.Beta.AsSpan(0, m - 1))
            : Linalg.TridiagonalEigen(state.Alpha.AsSpan(0, m), state.Beta.AsSpan(0, m - 1), [m - 1]);
        int lastRow = vectors ? m - 1 : 0;
        var values = new double[k];
        var residuals = new double[k];
        var ritz = new double[vectors ? k : 0][];
        for (int j = 0; j < k; j++)
        {
            int idx = m - 1 - j;
            values[j] = eig.Values[idx];
            residuals[j] = state.Residual * Math.Abs(eig.Vectors[lastRow * m + idx]);
            if (vectors)
            {
                var y = new double[state.N];
                for (int i = 0; i < m; i++)
                {
                    double c = eig.Vectors[i * m + idx];
                    var q = state.Basis[i];
                    for (int t = 0; t < y.Length; t++) y[t] += c * q[t];
                }
                Normalize(y);
                ritz[j] = y;
            }
        }
        return new ExtremeEigenvalues(values, ritz, residuals, state.Products, converged && residuals.All(double.IsFinite));
    }

    /// <summary>Divides v by its norm and returns the norm (0 or NaN leave v as it was).</summary>
    internal static double Normalize(Span<double> v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        if (norm > 0 && double.IsFinite(norm))
            for (int i = 0; i < v.Length; i++) v[i] /= norm;
        return norm;
    }

    /// <summary>A dot product in a fixed order (four interleaved partial sums, then combined), so it is reproducible.</summary>
    internal static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= a.Length; i += 4)
        {
            s0 += a[i] * b[i];
            s1 += a[i + 1] * b[i + 1];
            s2 += a[i + 2] * b[i + 2];
            s3 += a[i + 3] * b[i + 3];
        }
        for (; i < a.Length; i++) s0 += a[i] * b[i];
        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>y ← y − c·x.</summary>
    private static void SubtractScaled(Span<double> y, double c, ReadOnlySpan<double> x)
    {
        for (int i = 0; i < y.Length; i++) y[i] -= c * x[i];
    }

    /// <summary>The running iteration: basis, T's entries, and the pending residual vector.</summary>
    private sealed class State(SymmetricOperator a, int n, int capacity)
    {
        public readonly int N = n;
        public readonly double[] Alpha = new double[capacity];
        public readonly double[] Beta = new double[Math.Max(capacity, 1)];
        public readonly List<double[]> Basis = new(capacity);
        public int Steps;
        public int Products;
        public double Residual;
        public bool Restarted;
        private double _scale;

        public void Begin(double[] q0)
        {
            Basis.Add(q0);
        }

        /// <summary>
        /// Applies A to the newest basis vector, fills α, orthogonalizes, and appends the next basis vector when the
        /// capacity allows. Returns false when the basis already spans the whole space (nothing left to add).
        /// </summary>
        public bool Step(Generator? restart)
        {
            int j = Steps;
            var q = Basis[j];
            var w = new double[N];
            a(q, w);
            Products++;
            foreach (double v in w)
                if (!double.IsFinite(v)) throw new ArithmeticException($"Lanczos: the operator returned a non-finite value at step {j + 1}");
            double alpha = Dot(q, w);
            Alpha[j] = alpha;
            SubtractScaled(w, alpha, q);
            if (j > 0) SubtractScaled(w, Beta[j - 1], Basis[j - 1]);
            Reorthogonalize(w, j + 1);
            double beta = Math.Sqrt(Dot(w, w));
            _scale = Math.Max(_scale, Math.Max(Math.Abs(alpha), j > 0 ? Beta[j - 1] : 0));
            Steps = j + 1;
            Residual = beta;
            Restarted = false;
            if (Steps >= N) { Residual = 0; return false; }
            if (Steps >= Alpha.Length) return true; // at capacity: keep the residual for the error bounds, add nothing
            if (beta > 1e-12 * _scale && beta > 0)
            {
                for (int i = 0; i < N; i++) w[i] /= beta;
                Beta[j] = beta;
                Basis.Add(w);
                return true;
            }
            // The Krylov space is invariant: T's eigenvalues are exact eigenvalues of A.
            Residual = 0;
            if (restart is null) return false;
            var fresh = new double[N];
            for (int attempt = 0; attempt < 3; attempt++)
            {
                for (int i = 0; i < N; i++) fresh[i] = restart.NextNormal();
                Reorthogonalize(fresh, Steps);
                if (Normalize(fresh) > 1e-8) break;
            }
            Beta[j] = 0;
            Basis.Add(fresh);
            Restarted = true;
            return true;
        }

        private void Reorthogonalize(Span<double> w, int count)
        {
            for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < count; i++) SubtractScaled(w, Dot(Basis[i], w), Basis[i]);
        }

        public LanczosDecomposition Result() =>
            new(Alpha[..Steps], Beta[..Math.Max(Steps - 1, 0)], Residual, [.. Basis.Take(Steps)], Products);
    }
}
