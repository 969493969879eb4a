namespace Aperture.Lab.Probes;

/// <summary>Where the estimate is taken: at the true parameter, or at the training-loss minimum reached from it.</summary>
public enum LlcAnchor
{
    /// <summary>w* = the true parameter w₀ that generated the data.</summary>
    True,

    /// <summary>
    /// w* = the end of full-batch gradient descent on L_n started at w₀: a minimum of the training loss, as in
    /// practice (Lau et al. 2023 train their networks). At w₀ itself ∇L_n(w₀) = O(n^-½), and the sampler drifts to the
    /// empirical minimum: for a regular model E[λ̂] = (d/2)(1 − β) with β = 1/ln n, a 14% shortfall at n = 1000.
    /// </summary>
    Trained,
}

/// <summary>A model with a known learning coefficient, its data and its anchor: ready for <see cref="LocalLearningCoefficient.Estimate"/>.</summary>
/// <param name="Name">A short name ("dln 4,3,4 rank 1", "normal-crossing 1,2", "regular 3→2").</param>
/// <param name="Problem">The parameters (at w*), data and loss.</param>
/// <param name="Exact">The exact learning coefficient of the true parameter.</param>
/// <param name="Anchor">How w* was placed.</param>
/// <param name="AnchorGradientNorm">‖∇L_n(w*)‖ on the full training set.</param>
public sealed record LearningCoefficientModel(string Name, LlcProblem Problem, LearningCoefficient Exact, LlcAnchor Anchor, double AnchorGradientNorm);

/// <summary>
/// Models with exact learning coefficients and data drawn from them: y = f(x; w₀) + N(0, I), x ~ N(0, I), loss
/// ½·mean‖y − f(x; w)‖² (the negative log-likelihood per example up to a constant), all in float64.
/// </summary>
public static class LearningCoefficientModels
{
    /// <summary>
    /// A deep linear network x ↦ W_L⋯W_1·x with the given widths (input first) and a true map of rank r, with every
    /// layer of rank exactly r: the most singular true parameters, where the local learning coefficient is Aoyagi's
    /// global λ. (At a true parameter whose layers have higher rank, e.g. W₁ = 0 and W₂ generic at r = 0, the local
    /// coefficient is larger.) The layers are W_l = U_l·U_{l−1}ᵀ with U_l a Haar-random H_l×r matrix with orthonormal
    /// columns, so the true map U_L·U_0ᵀ has its r nonzero singular values all equal to 1 and every layer is balanced.
    /// Why not Gaussian factors: a product of Gaussian factors has singular values spread over orders of magnitude from
    /// seed to seed (at depth 4 a product of three random scalars), and a singular value near n^−½ makes the tempered
    /// posterior at finite n see a lower rank, so λ̂ varied by ±35% across seeds for reasons that are not the estimator's.
    /// </summary>
    public static LearningCoefficientModel DeepLinear(IReadOnlyList<int> widths, int rank, int sampleSize, ulong seed, LlcAnchor anchor = LlcAnchor.Trained)
    {
        var exact = ExactLearningCoefficients.DeepLinear(widths, rank);     // validates widths and rank
        CheckSampleSize(sampleSize);
        var g = new Generator(seed, 1000);
        int depth = widths.Count - 1;
        var weights = new Tensor[depth];
        var frames = rank == 0 ? null : widths.Select(h => Linalg.RandomOrthogonal(h, g).Narrow(1, 0, rank).Contiguous()).ToArray();
        for (int l = 0; l < depth; l++)
            weights[l] = frames is null ? Tensor.Zeros([widths[l + 1], widths[l]], DType.Float64) : Ops.MatMul(frames[l + 1], frames[l].Transpose(0, 1));
        var x = Tensor.Randn([sampleSize, widths[0]], g, DType.Float64);
        Tensor Forward(Tensor input, IReadOnlyList<Tensor> w)
        {
            var h = input;
            foreach (var wl in w) h = Ops.MatMul(h, wl.Transpose(0, 1));
            return h;
        }
        Tensor y;
        using (Autodiff.NoGrad()) y = Forward(x, weights) + Tensor.Randn([sampleSize, widths[^1]], g, DType.Float64);
        var parameters = weights.Select(w => w.Clone().RequiresGrad_()).ToArray();
        var problem = new LlcProblem(parameters, x, y, (xb, yb) => HalfSquaredError(Forward(xb, parameters), yb));
        string name = $"dln {string.Join(",", widths)} rank {rank}";
        return Place(name, problem, exact, anchor);
    }

    /// <summary>A regular model: linear regression x ↦ W·x with <paramref name="inputs"/> inputs and <paramref name="outputs"/> outputs (d = inputs·outputs), W₀ Gaussian.</summary>
    public static LearningCoefficientModel Regular(int inputs, int outputs, int sampleSize, ulong seed, LlcAnchor anchor = LlcAnchor.Trained)
    {
        if (inputs < 1 || outputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), $"a regular model needs inputs ≥ 1 and outputs ≥ 1; got {inputs}→{outputs}");
        CheckSampleSize(sampleSize);
        var g = new Generator(seed, 1000);
        var w0 = Tensor.Randn([outputs, inputs], g, DType.Float64);
        var x = Tensor.Randn([sampleSize, inputs], g, DType.Float64);
        var y = Ops.MatMul(x, w0.Transpose(0, 1)) + Tensor.Randn([sampleSize, outputs], g, DType.Float64);
        var w = w0.Clone().RequiresGrad_();
        var problem = new LlcProblem([w], x, y, (xb, yb) => HalfSquaredError(Ops.MatMul(xb, w.Transpose(0, 1)), yb));
        return Place($"regular {inputs}→{outputs}", problem, ExactLearningCoefficients.Regular(inputs * outputs), anchor);
    }

    /// <summary>
    /// The normal-crossing model f(x) = x·Π_i w_i^{k_i} with scalar x, at its true parameter w₀ = 0 (the true map is
    /// 0, so y is pure noise). Gradient descent cannot leave w = 0 (every partial derivative of the product vanishes
    /// there when Σk_i ≥ 2), so the anchor is always the true parameter.
    /// </summary>
    public static LearningCoefficientModel NormalCrossing(IReadOnlyList<int> powers, int sampleSize, ulong seed)
    {
        var exact = ExactLearningCoefficients.NormalCrossing(powers);        // validates the powers
        CheckSampleSize(sampleSize);
        var g = new Generator(seed, 1000);
        var x = Tensor.Randn([sampleSize, 1], g, DType.Float64);
        var y = Tensor.Randn([sampleSize, 1], g, DType.Float64);
        var w = Tensor.Zeros([powers.Count], DType.Float64).RequiresGrad_();
        var k = powers.ToArray();
        Tensor Product()
        {
            Tensor? prod = null;
            for (int i = 0; i < k.Length; i++)
            {
                if (k[i] == 0) continue;
                var f = w.Narrow(0, i, 1).Pow(k[i]);
                prod = prod is null ? f : prod * f;
            }
            return prod!;
        }
        var problem = new LlcProblem([w], x, y, (xb, yb) => HalfSquaredError(xb * Product(), yb));
        return new LearningCoefficientModel($"normal-crossing {string.Join(",", powers)}", problem, exact, LlcAnchor.True, GradientNorm(problem));
    }

    /// <summary>½·mean over examples of the squared error summed over outputs.</summary>
    public static Tensor HalfSquaredError(Tensor prediction, Tensor target) =>
        (prediction - target).Square().Sum() * (0.5 / prediction.Shape[0]);

    private static LearningCoefficientModel Place(string name, LlcProblem problem, LearningCoefficient exact, LlcAnchor anchor)
    {
        if (anchor == LlcAnchor.Trained) DescendToMinimum(problem);
        return new LearningCoefficientModel(name, problem, exact, anchor, GradientNorm(problem));
    }

    /// <summary>
    /// Full-batch gradient descent on L_n from the current parameters until ‖∇L_n‖ &lt; 1e-9 or 20,000 steps, with a
    /// step that halves whenever the loss rises (so it needs no tuning per model).
    /// </summary>
    private static void DescendToMinimum(LlcProblem problem)
    {
        var parameters = problem.Parameters;
        double lr = 0.5;
        for (int step = 0; step < 20000; step++)
        {
            var loss = problem.BatchLoss(problem.Inputs, problem.Targets);
            var grads = Autodiff.Grad([loss], parameters);
            double norm = 0;
            foreach (var gr in grads) norm += gr!.Square().Sum().Item();
            if (Math.Sqrt(norm) < 1e-9) return;
            var before = parameters.Select(p => p.Detach().Clone()).ToArray();
            double start = loss.Item();
            while (true)
            {
                using (Autodiff.NoGrad())
                    for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], before[i] - grads[i]! * lr);
                double after;
                using (Autodiff.NoGrad()) after = problem.BatchLoss(problem.Inputs, problem.Targets).Item();
                if (after <= start) break;
                lr /= 2;
                if (lr < 1e-12)
                {
                    // No step lowers the loss any more: at the minimum to within rounding.
                    using (Autodiff.NoGrad())
                        for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], before[i]);
                    return;
                }
            }
        }
    }

    private static double GradientNorm(LlcProblem problem)
    {
        var grads = Autodiff.Grad([problem.BatchLoss(problem.Inputs, problem.Targets)], problem.Parameters);
        double norm = 0;
        foreach (var gr in grads) norm += gr!.Square().Sum().Item();
        return Math.Sqrt(norm);
    }

    private static void CheckSampleSize(int n)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, "the training set needs at least 2 examples");
    }
}
