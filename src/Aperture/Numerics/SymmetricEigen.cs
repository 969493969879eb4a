namespace Aperture;

/// <summary>The eigenvalues (ascending) and, when asked for, rows of the eigenvector matrix of a symmetric matrix.</summary>
/// <param name="Values">The eigenvalues, ascending.</param>
/// <param name="Vectors">
/// Row-major [rows, n]: entry (r, j) is component r of the unit eigenvector of <c>Values[j]</c> (column j is the
/// eigenvector itself when all n rows were asked for). Empty when no rows were asked for.
/// </param>
public sealed record SymmetricEigenResult(double[] Values, double[] Vectors);

public static partial class Linalg
{
    /// <summary>
    /// The eigendecomposition of a symmetric <paramref name="a"/> [n, n] by the cyclic Jacobi method (Jacobi, 1846;
    /// Golub and Van Loan §8.5): eigenvalues float64 [n] ascending, and eigenvectors float64 [n, n] as columns.
    /// Only the upper triangle is read. O(n³) per sweep and about ten sweeps, so meant for n up to a few hundred
    /// (a dense Hessian of a small model, a reference for the iterative solvers); accurate to a few ulps of ‖a‖.
    /// </summary>
    public static (Tensor Values, Tensor Vectors) SymmetricEigen(Tensor a)
    {
        int n = CheckSquare("SymmetricEigen", a);
        var r = SymmetricEigenJacobi(a.ToDoubleArray(), n);
        return (Tensor.Wrap(r.Values, [n]), Tensor.Wrap(r.Vectors, [n, n]));
    }

    /// <summary>
    /// The eigenvalues and eigenvectors of the symmetric tridiagonal matrix with diagonal <paramref name="diagonal"/>
    /// [n] and off-diagonal <paramref name="offDiagonal"/> [n − 1], by the implicit QL method with Wilkinson shifts
    /// (the EISPACK routine tql2; Bowdler, Martin, Reinsch and Wilkinson, 1968). Returns the eigenvalues ascending
    /// and the full eigenvector matrix (column j belongs to value j). O(n²) for the values, O(n³) with the vectors.
    /// </summary>
    public static SymmetricEigenResult TridiagonalEigen(ReadOnlySpan<double> diagonal, ReadOnlySpan<double> offDiagonal)
    {
        int n = diagonal.Length;
        var rows = new int[n];
        for (int i = 0; i < n; i++) rows[i] = i;
        return TridiagonalEigen(diagonal, offDiagonal, rows);
    }

    /// <summary>
    /// Like <see cref="TridiagonalEigen(ReadOnlySpan{double}, ReadOnlySpan{double})"/>, but tracks only the given
    /// <paramref name="rows"/> of the eigenvector matrix: O(n² + n·rows) work. Stochastic Lanczos quadrature needs only
    /// row 0 (the first components, whose squares are the Gauss quadrature weights, Golub and Welsch 1969), and
    /// Lanczos's convergence test only row n − 1 (the last components, which scale the Ritz residuals).
    /// </summary>
    public static SymmetricEigenResult TridiagonalEigen(ReadOnlySpan<double> diagonal, ReadOnlySpan<double> offDiagonal, ReadOnlySpan<int> rows)
    {
        int n = diagonal.Length;
        if (n == 0) throw new ArgumentException("TridiagonalEigen: the matrix is empty (diagonal of length 0)", nameof(diagonal));
        if (offDiagonal.Length != n - 1)
            throw new ShapeMismatchException($"TridiagonalEigen: the off-diagonal must have {n - 1} entries for a diagonal of {n}, got {offDiagonal.Length}");
        foreach (double v in diagonal) if (!double.IsFinite(v)) throw new ArgumentException("TridiagonalEigen: the diagonal holds a non-finite value", nameof(diagonal));
        foreach (double v in offDiagonal) if (!double.IsFinite(v)) throw new ArgumentException("TridiagonalEigen: the off-diagonal holds a non-finite value", nameof(offDiagonal));
        int r = rows.Length;
        var z = new double[r * n];
        for (int k = 0; k < r; k++)
        {
            if ((uint)rows[k] >= (uint)n) throw new ArgumentOutOfRangeException(nameof(rows), rows[k], $"TridiagonalEigen: row {rows[k]} is outside 0..{n - 1}");
            z[k * n + rows[k]] = 1;
        }
        var d = diagonal.ToArray();
        var e = new double[n];
        offDiagonal.CopyTo(e);
        ImplicitQl(d, e, z, r, n);

        // Sort ascending, carrying the tracked rows along (Array.Sort is deterministic for a given input).
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(d, order);
        var sorted = new double[r * n];
        for (int k = 0; k < r; k++)
            for (int j = 0; j < n; j++) sorted[k * n + j] = z[k * n + order[j]];
        return new SymmetricEigenResult(d, sorted);
    }

    /// <summary>
    /// The implicit QL iteration on d (diagonal) and e (e[i] couples i and i + 1; e[n − 1] unused), accumulating the
    /// rotations into the r tracked rows z [r, n]. After it, d holds the (unsorted) eigenvalues.
    /// </summary>
    private static void ImplicitQl(double[] d, double[] e, double[] z, int r, int n)
    {
        if (n > 0) e[n - 1] = 0;
        for (int l = 0; l < n; l++)
        {
            int iterations = 0;
            int m;
            do
            {
                // Find a negligible off-diagonal element to split the matrix at.
                for (m = l; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= double.Epsilon || Math.Abs(e[m]) <= 1.1102230246251565e-16 * dd) break;
                }
                if (m == l) break;
                if (iterations++ == 60)
                    throw new ArithmeticException($"TridiagonalEigen: the QL iteration did not converge for eigenvalue {l} of {n} after 60 sweeps");
                // Wilkinson's shift from the leading 2×2 block.
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double rr = Hypot(g, 1);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? Math.Abs(rr) : -Math.Abs(rr)));
                double s = 1, c = 1, p = 0;
                int i;
                bool underflow = false;
                for (i = m - 1; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    rr = Hypot(f, g);
                    e[i + 1] = rr;
                    if (rr == 0)
                    {
                        // Recover from underflow: deflate and start the sweep again.
                        d[i + 1] -= p;
                        e[m] = 0;
                        underflow = true;
                        break;
                    }
                    s = f / rr;
                    c = g / rr;
                    g = d[i + 1] - p;
                    rr = (d[i] - g) * s + 2 * c * b;
                    p = s * rr;
                    d[i + 1] = g + p;
                    g = c * rr - b;
                    for (int k = 0; k < r; k++)
                    {
                        int row = k * n;
                        f = z[row + i + 1];
                        z[row + i + 1] = s * z[row + i] + c * f;
                        z[row + i] = c * z[row + i] - s * f;
                    }
                }
                if (underflow) continue;
                d[l] -= p;
                e[l] = g;
                e[m] = 0;
            } while (true);
        }
    }

    /// <summary>√(a² + b²) without destructive overflow or underflow.</summary>
    private static double Hypot(double a, double b)
    {
        double x = Math.Abs(a), y = Math.Abs(b);
        if (x < y) (x, y) = (y, x);
        if (x == 0) return 0;
        double t = y / x;
        return x * Math.Sqrt(1 + t * t);
    }

    /// <summary>Cyclic Jacobi on a row-major symmetric n×n matrix: eigenvalues ascending, eigenvectors as columns.</summary>
    internal static SymmetricEigenResult SymmetricEigenJacobi(double[] input, int n)
    {
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) a[i * n + j] = a[j * n + i] = input[i * n + j];
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, total = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double x = a[i * n + j] * a[i * n + j];
                    total += x;
                    if (i != j) off += x;
                }
            if (off <= 1e-32 * total || off == 0) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p * n + q];
                    if (apq == 0) continue;
                    double app = a[p * n + p], aqq = a[q * n + q];
                    // The rotation that zeroes a[p, q] (Rutishauser's stable form).
                    double theta = (aqq - app) / (2 * apq);
                    double t = (theta >= 0 ? 1 : -1) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                    a[p * n + q] = a[q * n + p] = 0;
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k * n + p], vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
        }
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = a[i * n + i];
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort((double[])values.Clone(), order);
        var sortedValues = new double[n];
        var sortedVectors = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            sortedValues[j] = values[order[j]];
            for (int k = 0; k < n; k++) sortedVectors[k * n + j] = v[k * n + order[j]];
        }
        return new SymmetricEigenResult(sortedValues, sortedVectors);
    }
}
