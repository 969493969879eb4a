namespace Aperture;

/// <summary>Thrown when a matrix that must be symmetric positive definite is not (a Cholesky pivot is not positive).</summary>
public sealed class NotPositiveDefiniteException(string message) : ArgumentException(message);

/// <summary>
/// Small dense linear algebra in float64, for the optimizers and initializers that need it (Gauss–Newton systems,
/// orthogonal initialization). These work on data, not on the autodiff graph: results carry no gradient.
/// The matrices are small (hundreds of rows), so the algorithms are the plain textbook ones with a fixed loop order
/// (bitwise deterministic).
/// </summary>
public static partial class Linalg
{
    /// <summary>
    /// The lower-triangular Cholesky factor L of a symmetric positive definite <paramref name="a"/> [n, n]
    /// (a = L·Lᵀ), in a's dtype. Only the lower triangle of <paramref name="a"/> is read.
    /// Throws <see cref="NotPositiveDefiniteException"/> naming the failing pivot.
    /// </summary>
    public static Tensor Cholesky(Tensor a)
    {
        int n = CheckSquare("Cholesky", a);
        var l = a.ToDoubleArray();
        CholeskyInPlace(l, n, "Cholesky");
        return Tensor.FromArray(l, [n, n]).To(a.DType);
    }

    /// <summary>
    /// Solves a·x = b for a symmetric positive definite <paramref name="a"/> [n, n] by Cholesky factorization;
    /// <paramref name="b"/> is [n] or [n, k]. The result has b's shape and a's dtype.
    /// </summary>
    public static Tensor CholeskySolve(Tensor a, Tensor b)
    {
        int n = CheckSquare("CholeskySolve", a);
        if (b.Rank is < 1 or > 2 || b.Shape[0] != n)
            throw new ShapeMismatchException($"CholeskySolve: b must be [{n}] or [{n}, k] for a of shape {Shapes.Format(a.Shape)}, got {Shapes.Format(b.Shape)}");
        int k = b.Rank == 1 ? 1 : b.Shape[1];
        var l = a.ToDoubleArray();
        CholeskyInPlace(l, n, "CholeskySolve");
        var bb = b.ToDoubleArray();
        var x = new double[n * k];
        var col = new double[n];
        for (int c = 0; c < k; c++)
        {
            for (int i = 0; i < n; i++) col[i] = bb[i * k + c];
            SolveFactored(l, n, col);
            for (int i = 0; i < n; i++) x[i * k + c] = col[i];
        }
        return Tensor.FromArray(x, b.ShapeArray()).To(a.DType);
    }

    /// <summary>
    /// The reduced QR decomposition of <paramref name="a"/> [m, n] by Householder reflections: Q [m, r] with
    /// orthonormal columns and R [r, n] upper triangular, r = min(m, n), a = Q·R. Computed in float64; results in a's dtype.
    /// </summary>
    public static (Tensor Q, Tensor R) Qr(Tensor a)
    {
        if (a.Rank != 2) throw new ShapeMismatchException($"Qr: expected a 2-d matrix, got shape {Shapes.Format(a.Shape)}");
        if (!a.DType.IsFloatingPoint()) throw new DTypeMismatchException($"Qr: expected float32 or float64, got {a.DType.Name()}");
        int m = a.Shape[0], n = a.Shape[1];
        var (q, r) = Qr(a.ToDoubleArray(), m, n);
        int k = Math.Min(m, n);
        return (Tensor.FromArray(q, [m, k]).To(a.DType), Tensor.FromArray(r, [k, n]).To(a.DType));
    }

    /// <summary>
    /// A Haar-random orthogonal matrix, float64 [n, n]: the Q of a Gaussian matrix's QR factorization with R's
    /// diagonal made positive (Mezzadri, 2007), by Gram–Schmidt run twice per column. Draws n·n standard normals from
    /// <paramref name="generator"/> (one <c>Tensor.Randn([n, n])</c>), so the same generator state gives the same matrix.
    /// </summary>
    public static Tensor RandomOrthogonal(int n, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return Tensor.Wrap(RandomOrthogonalArray(n, generator), [n, n]);
    }

    /// <summary>
    /// The singular values of <paramref name="a"/> [m, n] (float32 or float64), float64 [min(m, n)], largest first,
    /// by the one-sided Jacobi method (Hestenes, 1958), which finds even the smallest ones to high relative accuracy.
    /// </summary>
    public static Tensor SingularValues(Tensor a)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (a.Rank != 2) throw new ShapeMismatchException($"SingularValues: expected a 2-d matrix, got shape {Shapes.Format(a.Shape)}");
        if (!a.DType.IsFloatingPoint()) throw new DTypeMismatchException($"SingularValues: expected float32 or float64, got {a.DType.Name()}");
        var s = SingularValues(a.ToDoubleArray(), a.Shape[0], a.Shape[1]);
        return Tensor.Wrap(s, [s.Length]);
    }

    // ---- span-level routines (row-major double arrays) ----------------------------------------------------

    /// <summary>
    /// Overwrites the lower triangle of the row-major n×n <paramref name="a"/> with its Cholesky factor (the upper
    /// triangle is zeroed). Throws <see cref="NotPositiveDefiniteException"/> when a pivot is not positive.
    /// </summary>
    internal static void CholeskyInPlace(double[] a, int n, string op)
    {
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
            if (!(d > 0))
                throw new NotPositiveDefiniteException(
                    $"{op}: the matrix is not positive definite (pivot {j} of {n} is {d:G6} after elimination); " +
                    "a singular or indefinite system needs damping (add λ·I) or a least-squares solve");
            double ljj = Math.Sqrt(d);
            a[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
                a[i * n + j] = s / ljj;
            }
            for (int i = 0; i < j; i++) a[i * n + j] = 0;
        }
    }

    /// <summary>Solves L·Lᵀ·x = b in place in <paramref name="b"/>, given the factor from <see cref="CholeskyInPlace"/>.</summary>
    internal static void SolveFactored(double[] l, int n, Span<double> b)
    {
        for (int i = 0; i < n; i++)
        {
            double s = b[i];
            for (int k = 0; k < i; k++) s -= l[i * n + k] * b[k];
            b[i] = s / l[i * n + i];
        }
        for (int i = n - 1; i >= 0; i--)
        {
            double s = b[i];
            for (int k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
            b[i] = s / l[i * n + i];
        }
    }

    /// <summary>Householder QR of a row-major m×n matrix: Q (m×r) and R (r×n), r = min(m, n).</summary>
    internal static (double[] Q, double[] R) Qr(double[] a, int m, int n)
    {
        int k = Math.Min(m, n);
        var r = (double[])a.Clone();
        var vs = new double[k][];
        for (int j = 0; j < k; j++)
        {
            // The reflection I − 2vvᵀ/(vᵀv) that maps column j below the diagonal onto ±‖x‖·e_j.
            double norm = 0;
            for (int i = j; i < m; i++) norm += r[i * n + j] * r[i * n + j];
            norm = Math.Sqrt(norm);
            var v = new double[m - j];
            for (int i = j; i < m; i++) v[i - j] = r[i * n + j];
            double alpha = v[0] >= 0 ? -norm : norm; // the sign that avoids cancellation
            v[0] -= alpha;
            double vv = 0;
            foreach (double x in v) vv += x * x;
            vs[j] = v;
            if (vv == 0) continue; // the column is already zero below the diagonal
            for (int c = j; c < n; c++)
            {
                double dot = 0;
                for (int i = j; i < m; i++) dot += v[i - j] * r[i * n + c];
                double f = 2 * dot / vv;
                for (int i = j; i < m; i++) r[i * n + c] -= f * v[i - j];
            }
        }
        // Q = H_0·H_1·…·H_{k−1} applied to the first k columns of the identity.
        var q = new double[m * k];
        for (int i = 0; i < k; i++) q[i * k + i] = 1;
        for (int j = k - 1; j >= 0; j--)
        {
            var v = vs[j];
            double vv = 0;
            foreach (double x in v) vv += x * x;
            if (vv == 0) continue;
            for (int c = 0; c < k; c++)
            {
                double dot = 0;
                for (int i = j; i < m; i++) dot += v[i - j] * q[i * k + c];
                double f = 2 * dot / vv;
                for (int i = j; i < m; i++) q[i * k + c] -= f * v[i - j];
            }
        }
        var rr = new double[k * n];
        for (int i = 0; i < k; i++)
            for (int c = i; c < n; c++) rr[i * n + c] = r[i * n + c];
        return (q, rr);
    }

    /// <summary>
    /// Row-major form of <see cref="RandomOrthogonal(int, Generator)"/>: a Haar-random orthogonal n×n matrix (row-major): the Q of a Gaussian matrix's QR factorization with R's
    /// diagonal made positive (Mezzadri, 2007). Gram–Schmidt is run twice per column ("twice is enough") for orthogonality.
    /// </summary>
    internal static double[] RandomOrthogonalArray(int n, Generator generator)
    {
        var g = Tensor.Randn([n, n], generator, DType.Float64).ToArray<double>();
        var q = new double[n * n];
        var col = new double[n];
        for (int j = 0; j < n; j++)
        {
            for (int i = 0; i < n; i++) col[i] = g[i * n + j];
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++) dot += q[i * n + k] * col[i];
                    for (int i = 0; i < n; i++) col[i] -= dot * q[i * n + k];
                }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += col[i] * col[i];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++) q[i * n + j] = col[i] / norm;
        }
        return q;
    }

    /// <summary>
    /// The singular values of a rows×cols matrix (row-major), largest first, by the one-sided Jacobi method
    /// (Hestenes, 1958), which finds even the smallest ones to high relative accuracy.
    /// </summary>
    internal static double[] SingularValues(double[] a, int rows, int cols)
    {
        // Work on columns of the taller orientation, so there are min(rows, cols) of them.
        bool transpose = cols > rows;
        int m = transpose ? cols : rows, n = transpose ? rows : cols;
        var c = new double[n][];
        for (int j = 0; j < n; j++)
        {
            c[j] = new double[m];
            for (int i = 0; i < m; i++) c[j][i] = transpose ? a[j * cols + i] : a[i * cols + j];
        }
        for (int sweep = 0; sweep < 60; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++)
                    {
                        alpha += c[p][i] * c[p][i];
                        beta += c[q][i] * c[q][i];
                        gamma += c[p][i] * c[q][i];
                    }
                    if (Math.Abs(gamma) <= 1e-15 * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.Sign(zeta == 0 ? 1 : zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double cs = 1 / Math.Sqrt(1 + t * t), sn = cs * t;
                    for (int i = 0; i < m; i++)
                    {
                        double x = c[p][i], y = c[q][i];
                        c[p][i] = cs * x - sn * y;
                        c[q][i] = sn * x + cs * y;
                    }
                }
            if (!rotated) break;
        }
        var s = new double[n];
        for (int j = 0; j < n; j++)
        {
            double norm = 0;
            for (int i = 0; i < m; i++) norm += c[j][i] * c[j][i];
            s[j] = Math.Sqrt(norm);
        }
        Array.Sort(s);
        Array.Reverse(s);
        return s;
    }

    private static int CheckSquare(string op, Tensor a)
    {
        if (a.Rank != 2 || a.Shape[0] != a.Shape[1])
            throw new ShapeMismatchException($"{op}: expected a square matrix, got shape {Shapes.Format(a.Shape)}");
        if (!a.DType.IsFloatingPoint()) throw new DTypeMismatchException($"{op}: expected float32 or float64, got {a.DType.Name()}");
        return a.Shape[0];
    }
}
