namespace Aperture.Optim;

/// <summary>How <see cref="LevenbergMarquardt"/> builds the Jacobian of the residuals.</summary>
public enum JacobianMode
{
    /// <summary>Forward mode when there are no more parameters than residuals, reverse mode otherwise.</summary>
    Auto,
    /// <summary>One Jacobian-vector product (a forward-mode pass) per parameter element: the columns.</summary>
    Forward,
    /// <summary>One vector-Jacobian product (a backward pass through one recorded graph) per residual: the rows.</summary>
    Reverse,
}

/// <summary>The damping matrix D of the Levenberg–Marquardt system.</summary>
public enum DampingMatrix
{
    /// <summary>D = I (Levenberg 1944): well defined even when JᵀJ is singular, as for over-parameterized models.</summary>
    Identity,
    /// <summary>D = diag(JᵀJ) (Marquardt 1963), scale invariant; zero diagonal entries are raised to 1e-12 of the largest (or 1).</summary>
    Diagonal,
}

/// <summary>
/// The Levenberg–Marquardt (damped Gauss–Newton) method for least-squares models: minimizes ‖r(θ)‖² for a residual
/// function r (the model's outputs minus the targets). Each <see cref="Step(Func{Tensor})"/> builds the Jacobian J of r
/// (from Jacobian-vector or vector-Jacobian products, <see cref="JacobianMode"/>), solves
/// (JᵀJ + λ·D)·δ = −Jᵀr by Cholesky factorization in float64, and tries θ + δ. The gain ratio
/// ρ = (‖r(θ)‖² − ‖r(θ + δ)‖²)/(δᵀ(λ·D·δ − Jᵀr)) — actual over predicted decrease — decides: ρ &gt; 0 accepts the step and
/// sets λ = λ·max(1/3, 1 − (2ρ − 1)³), ν = 2; otherwise the step is undone and λ = λ·ν, ν = 2ν (Nielsen 1999; Madsen,
/// Nielsen and Tingleff, "Methods for non-linear least squares problems", 2004). A system that is not positive
/// definite in floating point counts as a rejected step.
/// </summary>
/// <remarks>
/// Costs per step: n forward passes (forward mode) or one forward and m backward passes (reverse mode), n the number
/// of trainable parameter elements and m the number of residuals; and an n×n solve. Meant for small models (up to
/// a few thousand parameters). Frozen parameters (RequiresGrad false) are held fixed. The residual function is
/// evaluated many times per step and must give the same function each time: put a model with dropout or batch norm
/// in evaluation mode (<c>model.Eval()</c>) first. The state saved by
/// <see cref="Optimizer.StateDict"/> holds λ and ν.
/// </remarks>
public sealed class LevenbergMarquardt : Optimizer
{
    /// <summary>The smallest damping used: λ never shrinks below it.</summary>
    public const double MinLambda = 1e-30;

    /// <summary>
    /// The largest damping used. At a minimum every step is rejected and λ grows without bound (ν doubles each time);
    /// the cap keeps λ·D finite so the solve stays well defined.
    /// </summary>
    public const double MaxLambda = 1e300;

    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    /// <param name="parameters">The parameters θ.</param>
    /// <param name="residuals">r(θ): evaluates the model with its current parameters and returns the residuals (any shape).</param>
    /// <param name="lambda">The initial damping λ &gt; 0.</param>
    /// <param name="damping">The damping matrix D.</param>
    /// <param name="jacobian">How to build J.</param>
    public LevenbergMarquardt(IEnumerable<Tensor> parameters, Func<Tensor>? residuals = null, double lambda = 1e-3,
        DampingMatrix damping = DampingMatrix.Identity, JacobianMode jacobian = JacobianMode.Auto)
        : base(OneGroup(parameters), new Dictionary<string, double>())
    {
        if (!(lambda > 0) || !double.IsFinite(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "LevenbergMarquardt: lambda must be positive and finite");
        if (!Enum.IsDefined(damping)) throw new ArgumentOutOfRangeException(nameof(damping), damping, "LevenbergMarquardt: unknown damping");
        if (!Enum.IsDefined(jacobian)) throw new ArgumentOutOfRangeException(nameof(jacobian), jacobian, "LevenbergMarquardt: unknown Jacobian mode");
        Residuals = residuals;
        Lambda = lambda;
        Damping = damping;
        Mode = jacobian;
        ValidateGroups();
    }

    /// <summary>The residual function <see cref="Step()"/> uses.</summary>
    public Func<Tensor>? Residuals { get; set; }

    /// <summary>The current damping λ.</summary>
    public double Lambda { get; private set; }

    /// <summary>The factor λ grows by at the next rejected step.</summary>
    public double Nu { get; private set; } = 2;

    /// <summary>The damping matrix.</summary>
    public DampingMatrix Damping { get; }

    /// <summary>How J is built.</summary>
    public JacobianMode Mode { get; }

    /// <summary>‖r‖² at the parameters after the last step (NaN before the first).</summary>
    public double Loss { get; private set; } = double.NaN;

    /// <summary>Whether the last step was accepted.</summary>
    public bool LastStepAccepted { get; private set; }

    /// <summary>The gain ratio ρ of the last step (NaN when the system could not be solved).</summary>
    public double LastGainRatio { get; private set; } = double.NaN;

    /// <summary>LM has no per-group options.</summary>
    protected override void Validate(ParamGroup group, int index) { }

    /// <summary>One step with <see cref="Residuals"/>.</summary>
    public override void Step() => Step(Residuals ?? throw new InvalidOperationException(
        "LevenbergMarquardt.Step: no residual function; pass one to the constructor (residuals: () => model.Forward(x) - y) or to Step(residuals)"));

    /// <summary>One step on the residual function <paramref name="residuals"/>; returns ‖r‖² at the parameters after it.</summary>
    public double Step(Func<Tensor> residuals)
    {
        ArgumentNullException.ThrowIfNull(residuals);
        var ps = Parameters().Where(p => p.RequiresGrad).ToArray();
        if (ps.Length == 0) throw new InvalidOperationException("LevenbergMarquardt.Step: every parameter is frozen");
        var r0 = EvaluateResiduals(residuals);
        double l0 = SumOfSquares(r0);
        var j = JacobianRows(residuals, ps, Mode, r0.Length);
        int m = r0.Length, n = ps.Sum(p => p.Numel);

        // A = JᵀJ and g = Jᵀr, accumulated over residuals in increasing order.
        var a = new double[n * n];
        var g = new double[n];
        for (int i = 0; i < m; i++)
        {
            var row = j.AsSpan(i * n, n);
            for (int c = 0; c < n; c++)
            {
                double rc = row[c];
                if (rc == 0) continue;
                g[c] += rc * r0[i];
                for (int d = 0; d <= c; d++) a[c * n + d] += rc * row[d];
            }
        }
        var diag = new double[n];
        double maxDiag = 0;
        for (int c = 0; c < n; c++) maxDiag = Math.Max(maxDiag, a[c * n + c]);
        for (int c = 0; c < n; c++)
            diag[c] = Damping == DampingMatrix.Identity ? 1 : Math.Max(a[c * n + c], maxDiag > 0 ? 1e-12 * maxDiag : 1);

        var system = new double[n * n];
        for (int c = 0; c < n; c++)
            for (int d = 0; d <= c; d++) system[c * n + d] = a[c * n + d] + (c == d ? Lambda * diag[c] : 0);
        var delta = new double[n];
        for (int c = 0; c < n; c++) delta[c] = -g[c];
        try
        {
            Linalg.CholeskyInPlace(system, n, "LevenbergMarquardt");
            Linalg.SolveFactored(system, n, delta);
        }
        catch (NotPositiveDefiniteException)
        {
            Reject(l0, double.NaN);
            return Loss;
        }

        var saved = ps.Select(p => StridedCopy.ToContiguous(p)).ToArray();
        AddToParameters(ps, delta);
        var r1 = EvaluateResiduals(residuals);
        if (r1.Length != m)
            throw new InvalidOperationException($"LevenbergMarquardt: the residual function returned {r1.Length} residuals after {m} before; it must return a fixed number");
        double l1 = SumOfSquares(r1);
        double predicted = 0;
        for (int c = 0; c < n; c++) predicted += delta[c] * (Lambda * diag[c] * delta[c] - g[c]);
        double rho = (l0 - l1) / predicted;
        if (double.IsFinite(l1) && predicted > 0 && rho > 0)
        {
            double t = 2 * rho - 1;
            Lambda = Math.Max(Lambda * Math.Max(1.0 / 3, 1 - t * t * t), MinLambda);
            Nu = 2;
            Loss = l1;
            LastStepAccepted = true;
            LastGainRatio = rho;
        }
        else
        {
            using (Autodiff.NoGrad())
                for (int k = 0; k < ps.Length; k++) Ops.CopyInPlace(ps[k], saved[k]);
            Reject(l0, rho);
        }
        StepCount++;
        return Loss;
    }

    private void Reject(double l0, double rho)
    {
        Lambda = Math.Min(Lambda * Nu, MaxLambda);
        Nu = Math.Min(Nu * 2, 1e15);
        Loss = l0;
        LastStepAccepted = false;
        LastGainRatio = rho;
    }

    private static void AddToParameters(Tensor[] ps, double[] delta)
    {
        using var _ = Autodiff.NoGrad();
        int offset = 0;
        foreach (var p in ps)
        {
            int len = p.Numel;
            if (p.DType == DType.Float32)
            {
                var s = p.ContiguousSpan<float>();
                for (int i = 0; i < len; i++) s[i] += (float)delta[offset + i];
            }
            else
            {
                var s = p.ContiguousSpan<double>();
                for (int i = 0; i < len; i++) s[i] += delta[offset + i];
            }
            offset += len;
            p.BumpVersion("LevenbergMarquardt.Step");
            NumericsPolicy.RoundWeights(p);
        }
    }

    private static double[] EvaluateResiduals(Func<Tensor> residuals)
    {
        Tensor r;
        using (Autodiff.NoGrad()) r = residuals();
        CheckResiduals(r);
        return r.ToDoubleArray();
    }

    private static void CheckResiduals(Tensor r)
    {
        if (r is null) throw new InvalidOperationException("LevenbergMarquardt: the residual function returned null");
        if (!r.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"LevenbergMarquardt: residuals must be float32 or float64, got {r.DType.Name()}");
    }

    private static double SumOfSquares(double[] r)
    {
        double s = 0;
        foreach (double x in r) s += x * x;
        return s;
    }

    /// <summary>
    /// The Jacobian of the residuals (flattened, m of them) with respect to the parameters (flattened and concatenated
    /// in order, n elements), as a float64 tensor [m, n]. The parameters are not changed.
    /// </summary>
    public static Tensor Jacobian(Func<Tensor> residuals, IReadOnlyList<Tensor> parameters, JacobianMode mode = JacobianMode.Auto)
    {
        ArgumentNullException.ThrowIfNull(residuals);
        ArgumentNullException.ThrowIfNull(parameters);
        var ps = parameters.ToArray();
        foreach (var p in ps)
            if (!p.DType.IsFloatingPoint()) throw new DTypeMismatchException($"Jacobian: parameters must be float32 or float64, got {p.DType.Name()}");
        int m = EvaluateResiduals(residuals).Length, n = ps.Sum(p => p.Numel);
        return Tensor.FromArray(JacobianRows(residuals, ps, mode, m), [m, n]);
    }

    /// <summary>J as a row-major m×n array.</summary>
    private static double[] JacobianRows(Func<Tensor> residuals, Tensor[] ps, JacobianMode mode, int m)
    {
        int n = ps.Sum(p => p.Numel);
        var j = new double[m * n];
        bool forward = mode == JacobianMode.Forward || (mode == JacobianMode.Auto && n <= m);
        if (forward)
        {
            int col = 0;
            foreach (var p in ps)
                for (int e = 0; e < p.Numel; e++, col++)
                {
                    var tangent = Tensor.ZerosLike(p);
                    tangent.SetRaw(e, 1);
                    Tensor column;
                    using (var level = ForwardMode.Enter())
                    {
                        ForwardMode.Attach(p, level.Id, tangent);
                        try
                        {
                            Tensor r;
                            using (Autodiff.NoGrad()) r = residuals();
                            CheckResiduals(r);
                            column = ForwardMode.TangentOf(r, level);
                        }
                        finally
                        {
                            ForwardMode.Detach(p, level.Id);
                        }
                    }
                    var values = column.ToDoubleArray();
                    if (values.Length != m)
                        throw new InvalidOperationException($"LevenbergMarquardt: the residual function returned {values.Length} residuals after {m} before; it must return a fixed number");
                    for (int i = 0; i < m; i++) j[i * n + col] = values[i];
                }
        }
        else
        {
            foreach (var p in ps)
                if (!p.RequiresGrad) throw new ArgumentException($"Jacobian: reverse mode needs parameters that require grad; one of shape {Shapes.Format(p.Shape)} does not");
            Tensor r;
            using (Autodiff.EnableGrad()) r = residuals();
            CheckResiduals(r);
            if (r.Numel != m)
                throw new InvalidOperationException($"LevenbergMarquardt: the residual function returned {r.Numel} residuals after {m} before; it must return a fixed number");
            if (!r.RequiresGrad) return j; // the residuals do not depend on the parameters
            for (int i = 0; i < m; i++)
            {
                var seed = Tensor.ZerosLike(r);
                seed.SetRaw(i, 1);
                var grads = Autodiff.Grad([r], ps, [seed], retainGraph: true, allowUnused: true);
                int col = 0;
                foreach (var (p, grad) in ps.Zip(grads))
                {
                    if (grad is not null)
                    {
                        var values = grad.ToDoubleArray();
                        for (int e = 0; e < values.Length; e++) j[i * n + col + e] = values[e];
                    }
                    col += p.Numel;
                }
            }
        }
        return j;
    }

    /// <inheritdoc/>
    protected override void SaveExtra(StateSnapshot state)
    {
        state.Scalars["lambda"] = Lambda;
        state.Scalars["nu"] = Nu;
        state.Scalars["loss"] = Loss;
    }

    /// <inheritdoc/>
    protected override void CheckExtra(StateSnapshot state, List<string> errors)
    {
        if (!state.Scalars.TryGetValue("lambda", out var l) || !(l > 0 && double.IsFinite(l))) errors.Add("missing or invalid 'lambda' (a finite number > 0)");
        if (!state.Scalars.TryGetValue("nu", out var nu) || !(nu >= 2 && double.IsFinite(nu))) errors.Add("missing or invalid 'nu' (a finite number ≥ 2)");
    }

    /// <inheritdoc/>
    protected override bool IsExtraScalar(string key) => key is "lambda" or "nu" or "loss";

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string>? StateBufferNames => [];

    /// <inheritdoc/>
    protected override void LoadExtra(StateSnapshot state)
    {
        Lambda = state.Scalars["lambda"];
        Nu = state.Scalars["nu"];
        Loss = state.Scalars.TryGetValue("loss", out var loss) ? loss : double.NaN;
    }
}
