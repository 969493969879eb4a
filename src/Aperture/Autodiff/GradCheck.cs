using System.Text;

namespace Aperture;

/// <summary>The outcome of a <see cref="GradCheck"/>: the largest errors of each mode against finite differences.</summary>
public sealed record GradCheckResult(double ReverseError, double ForwardError, double Tolerance, string? Detail)
{
    /// <summary>True when both modes agree with the finite differences within the tolerance.</summary>
    public bool Passed => ReverseError <= Tolerance && ForwardError <= Tolerance;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{(Passed ? "passed" : "FAILED")}: reverse error {ReverseError:E2}, forward error {ForwardError:E2} (tolerance {Tolerance:E0}){(Detail is null ? "" : "; " + Detail)}";
}

/// <summary>
/// Checks derivatives against central finite differences in float64, like <c>torch.autograd.gradcheck</c> — but
/// both modes: the Jacobian built from reverse mode (one VJP per output element) and from forward mode (one JVP
/// per input element) are each compared with the numerical Jacobian. The error of an entry is
/// |analytic − numeric| / max(1, |numeric|), so it is relative for large entries and absolute for small ones.
/// </summary>
public static class GradCheck
{
    /// <summary>Checks <paramref name="f"/> at <paramref name="inputs"/> (float64 tensors; they are not modified).</summary>
    public static GradCheckResult Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, double tolerance = 1e-6)
    {
        foreach (var x in inputs)
            if (x.DType != DType.Float64)
                throw new DTypeMismatchException($"GradCheck: inputs must be float64 for a meaningful check, got {x.DType.Name()} (shape {Shapes.Format(x.Shape)})");
        var xs = inputs.Select(x => Ops.Clone(x.Detach())).ToArray();
        Tensor y0;
        using (Autodiff.NoGrad()) y0 = f(xs);
        if (y0.DType != DType.Float64)
            throw new DTypeMismatchException($"GradCheck: the function returned {y0.DType.Name()}, expected float64");
        int m = y0.Numel;

        // Numerical Jacobian, one input element at a time: J[i, j] = (f(x + eps e_j) - f(x - eps e_j))_i / 2eps.
        var numeric = new List<double[,]>();
        foreach (var x in xs)
        {
            int n = x.Numel;
            var jac = new double[m, n];
            var data = x.Buffer<double>();
            for (int j = 0; j < n; j++)
            {
                double saved = data[x._offset + j];
                double[] plus, minus;
                using (Autodiff.NoGrad())
                {
                    // Each perturbation is a write like any other: counted, so nothing cached on x outlives it.
                    data[x._offset + j] = saved + eps;
                    x.BumpVersion("GradCheck");
                    plus = f(xs).ToDoubleArray();
                    data[x._offset + j] = saved - eps;
                    x.BumpVersion("GradCheck");
                    minus = f(xs).ToDoubleArray();
                }
                data[x._offset + j] = saved;
                x.BumpVersion("GradCheck");
                for (int i = 0; i < m; i++) jac[i, j] = (plus[i] - minus[i]) / (2 * eps);
            }
            numeric.Add(jac);
        }

        // Reverse mode: row i is the VJP with the i-th unit seed.
        var reverse = numeric.Select(j => new double[j.GetLength(0), j.GetLength(1)]).ToArray();
        for (int i = 0; i < m; i++)
        {
            var leaves = xs.Select(x => x.Detach().RequiresGrad_()).ToArray();
            Tensor y;
            using (Autodiff.EnableGrad()) y = f(leaves);
            if (!y.RequiresGrad) break; // constant function: the analytic Jacobian is zero
            var seed = Tensor.ZerosInternal(y.Shape, DType.Float64);
            seed.SetRaw(i, 1);
            var grads = BackwardEngine.Grad([y], [seed], leaves, retainGraph: false, createGraph: false, allowUnused: true);
            for (int k = 0; k < xs.Length; k++)
            {
                if (grads[k] is not { } g) continue;
                var gd = g.ToDoubleArray();
                for (int j = 0; j < gd.Length; j++) reverse[k][i, j] = gd[j];
            }
        }

        // Forward mode: column j of input k is the JVP with the j-th unit tangent on input k.
        var forward = numeric.Select(j => new double[j.GetLength(0), j.GetLength(1)]).ToArray();
        for (int k = 0; k < xs.Length; k++)
            for (int j = 0; j < xs[k].Numel; j++)
            {
                var tangents = xs.Select(x => Tensor.ZerosInternal(x.Shape, DType.Float64)).ToArray();
                tangents[k].SetRaw(j, 1);
                Tensor t;
                using (Autodiff.NoGrad()) t = Autodiff.Jvp(f, xs, tangents).Jvp;
                var td = t.ToDoubleArray();
                for (int i = 0; i < m; i++) forward[k][i, j] = td[i];
            }

        var (revErr, revAt) = MaxError(numeric, reverse);
        var (fwdErr, fwdAt) = MaxError(numeric, forward);
        string? detail = null;
        if (revErr > tolerance) detail = "reverse worst at " + revAt;
        if (fwdErr > tolerance) detail = (detail is null ? "" : detail + "; ") + "forward worst at " + fwdAt;
        return new GradCheckResult(revErr, fwdErr, tolerance, detail);
    }

    /// <summary>Checks a function of one tensor.</summary>
    public static GradCheckResult Check(Func<Tensor, Tensor> f, Tensor input, double eps = 1e-6, double tolerance = 1e-6) =>
        Check(xs => f(xs[0]), [input], eps, tolerance);

    /// <summary>
    /// Checks the second derivatives: the gradient of Σ(f(x)·w) for a fixed random w, itself differentiated in
    /// both modes (like <c>torch.autograd.gradgradcheck</c>).
    /// </summary>
    public static GradCheckResult CheckSecondOrder(Func<Tensor[], Tensor> f, Tensor[] inputs, ulong seed = 0, double eps = 1e-6, double tolerance = 1e-6)
    {
        Tensor y0;
        using (Autodiff.NoGrad()) y0 = f(inputs);
        var w = Tensor.Randn(y0.Shape, new Generator(seed), DType.Float64);
        Tensor GradOf(Tensor[] xs) =>
            Ops.Concat(Autodiff.Grad(ys => Ops.Sum(Ops.Mul(f(ys), w)), xs).Select(g => Ops.Reshape(g, [-1])).ToArray());
        return Check(GradOf, inputs, eps, tolerance);
    }

    private static (double, string) MaxError(List<double[,]> numeric, double[][,] analytic)
    {
        double worst = 0;
        var where = new StringBuilder();
        for (int k = 0; k < numeric.Count; k++)
        {
            var n = numeric[k];
            var a = analytic[k];
            for (int i = 0; i < n.GetLength(0); i++)
                for (int j = 0; j < n.GetLength(1); j++)
                {
                    double err = Math.Abs(a[i, j] - n[i, j]) / Math.Max(1, Math.Abs(n[i, j]));
                    if (double.IsNaN(err)) err = double.PositiveInfinity;
                    if (err > worst)
                    {
                        worst = err;
                        where.Clear().Append($"input {k}, output {i}, element {j}: analytic {a[i, j]:G9}, numeric {n[i, j]:G9}");
                    }
                }
        }
        return (worst, where.ToString());
    }
}
