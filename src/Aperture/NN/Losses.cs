namespace Aperture.NN;

/// <summary>How a loss combines the per-element (or per-example) losses.</summary>
public enum Reduction
{
    /// <summary>The mean (the default).</summary>
    Mean,
    /// <summary>The sum.</summary>
    Sum,
    /// <summary>No reduction: one loss per element or example.</summary>
    None,
}

/// <summary>
/// Loss functions, like <c>torch.nn.functional</c>'s: each takes the model's output first and the target second,
/// and returns a differentiable scalar (or per-example losses with <see cref="Reduction.None"/>).
/// </summary>
public static class Losses
{
    /// <summary>Mean squared error: mean((input − target)²). The shapes must be equal.</summary>
    public static Tensor Mse(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("mse_loss", input, target);
        if (reduction != Reduction.None && input.DType == target.DType) return Ops.MseLoss(input, target, reduction == Reduction.Mean);
        return Reduce(Ops.Square(Ops.Sub(input, target)), reduction);
    }

    /// <summary>
    /// Cross-entropy from unnormalized logits [N, C] or [N, C, d1, …] (class scores along dimension 1, like PyTorch;
    /// a single example [C] takes a 0-d target), through log-softmax (stable for any logit size, e.g. 1e4).
    /// With int64 class indices [N] (or [N, d1, …]) the loss of element i is −w[target_i]·log softmax(logits_i)[target_i];
    /// with float class probabilities of the logits' shape it is −Σ_c w_c·target_ic·log softmax(logits_i)_c.
    /// </summary>
    /// <param name="logits">Unnormalized class scores, float32 or float64.</param>
    /// <param name="target">Class indices (int64) or class probabilities (the logits' dtype and shape).</param>
    /// <param name="reduction">
    /// <see cref="Reduction.Mean"/> divides the summed loss by the summed weights of the targets that count
    /// (Σ_i w[target_i] over non-ignored i; the number of them without <paramref name="weight"/>), exactly as PyTorch's
    /// weighted mean, so a batch whose every target is ignored gives NaN as PyTorch does. With probability targets
    /// the mean is over elements. <see cref="Reduction.None"/> gives one loss per element (0 where ignored).
    /// </param>
    /// <param name="labelSmoothing">ε: the target distribution becomes (1 − ε)·target + ε/C (Szegedy et al. 2016), as in PyTorch.</param>
    /// <param name="weight">Optional per-class weights [C] (the logits' dtype).</param>
    /// <param name="ignoreIndex">A class-index target equal to this value adds no loss and no gradient, and does not count in the mean (PyTorch's default −100).</param>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean, double labelSmoothing = 0,
        Tensor? weight = null, long ignoreIndex = -100)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "cross_entropy: labelSmoothing must be in [0, 1]");
        CheckReduction(reduction);
        CheckLogits("cross_entropy", logits);
        if (logits.Rank == 1) return Squeezed(CrossEntropy(Ops.Unsqueeze(logits, 0), BatchOfOne(logits, target), reduction, labelSmoothing, weight, ignoreIndex));
        int c = logits.Shape[1];
        CheckWeight("cross_entropy", weight, logits, c);
        // The common case is one fused primitive with the same bits (and allocates nothing in a recycled step).
        if (labelSmoothing == 0 && reduction != Reduction.None && weight is null && logits.Rank == 2
            && target.DType == DType.Int64 && target.Rank == 1 && target.Shape[0] == logits.Shape[0] && AllClasses(target, c, ignoreIndex))
            return Ops.CrossEntropy(logits, target, reduction == Reduction.Mean);
        var logp = ClassesLast(Ops.LogSoftmax(logits, 1));            // [M, C]
        if (target.DType.IsFloatingPoint())
        {
            CheckSameShape("cross_entropy (probability targets)", logits, target);
            if (target.DType != logits.DType) throw new DTypeMismatchException($"cross_entropy: target is {target.DType.Name()} but logits are {logits.DType.Name()}");
            var t = ClassesLast(target);
            if (labelSmoothing > 0) t = Ops.Add(Ops.Mul(t, 1 - labelSmoothing), labelSmoothing / c);
            if (weight is not null) t = Ops.Mul(t, weight);
            var perElement = Ops.Reshape(Ops.Neg(Ops.Sum(Ops.Mul(logp, t), 1)), ElementShape(logits));
            return Reduce(perElement, reduction);
        }
        var (picked, counted) = PickTargets("cross_entropy", logp, target, logits, weight, ignoreIndex);
        if (labelSmoothing == 0) return WeightedReduce(picked, counted, reduction, ElementShape(logits));
        // −Σ_c w_c·log p_c per element (0 where ignored), reduced like the main term: PyTorch's label smoothing.
        var smooth = Ops.Neg(Ops.Sum(weight is null ? logp : Ops.Mul(logp, weight), 1));
        smooth = Ops.Mul(smooth, Ops.To(Ops.Ne(counted, 0), smooth.DType));
        var main = WeightedReduce(picked, counted, reduction, ElementShape(logits));
        var spread = WeightedReduce(smooth, counted, reduction, ElementShape(logits));
        return Ops.Add(Ops.Mul(main, 1 - labelSmoothing), Ops.Mul(spread, labelSmoothing / c));
    }

    /// <summary>
    /// Negative log-likelihood of log-probabilities [N, C] or [N, C, d1, …] at int64 class indices [N] (or [N, d1, …]):
    /// −w[target_i]·logProbs[i, target_i], with the same <paramref name="weight"/>, <paramref name="ignoreIndex"/> and
    /// weighted-mean rules as <see cref="CrossEntropy"/>.
    /// </summary>
    public static Tensor Nll(Tensor logProbs, Tensor target, Reduction reduction = Reduction.Mean, Tensor? weight = null, long ignoreIndex = -100)
    {
        CheckReduction(reduction);
        CheckLogits("nll_loss", logProbs);
        if (logProbs.Rank == 1) return Squeezed(Nll(Ops.Unsqueeze(logProbs, 0), BatchOfOne(logProbs, target), reduction, weight, ignoreIndex));
        CheckWeight("nll_loss", weight, logProbs, logProbs.Shape[1]);
        var (picked, counted) = PickTargets("nll_loss", ClassesLast(logProbs), target, logProbs, weight, ignoreIndex);
        return WeightedReduce(picked, counted, reduction, ElementShape(logProbs));
    }

    // A single example [C] with a 0-d target is a batch of one; its unreduced [1] loss is returned as a 0-d tensor.
    // (Plain methods, not a lambda: a closure over the arguments would be allocated on every call, the fused path's too.)
    private static Tensor BatchOfOne(Tensor scores, Tensor target)
    {
        if (target.DType == DType.Int64 && target.Rank != 0)
            throw new ShapeMismatchException($"cross_entropy: a single example of shape {Shapes.Format(scores.Shape)} takes a 0-d class index, got shape {Shapes.Format(target.Shape)}");
        return Ops.Unsqueeze(target, 0);
    }

    private static Tensor Squeezed(Tensor loss) => loss.Rank == 1 ? Ops.Reshape(loss, []) : loss;

    /// <summary>True when every target is a class in [0, C) and none is ignored (read in place: the fused path must not allocate).</summary>
    private static bool AllClasses(Tensor target, int c, long ignoreIndex)
    {
        if (!target.IsContiguous) return false;
        var labels = new ReadOnlySpan<long>(target.Buffer<long>(), target._offset, target.Numel);
        foreach (long l in labels)
            if ((ulong)l >= (ulong)c || l == ignoreIndex) return false;
        return true;
    }

    /// <summary>[N, C, d1, …] → [N·d1·…, C]: one row of class scores per element.</summary>
    private static Tensor ClassesLast(Tensor x)
    {
        if (x.Rank == 2) return x;
        var perm = new int[x.Rank];
        perm[0] = 0;
        for (int d = 2; d < x.Rank; d++) perm[d - 1] = d;
        perm[^1] = 1;
        return Ops.Reshape(Ops.Permute(x, perm), [-1, x.Shape[1]]);
    }

    /// <summary>The shape of the per-element losses: the input's shape without the class dimension.</summary>
    private static int[] ElementShape(Tensor x)
    {
        var s = new int[x.Rank - 1];
        s[0] = x.Shape[0];
        for (int d = 2; d < x.Rank; d++) s[d - 1] = x.Shape[d];
        return s;
    }

    /// <summary>
    /// The per-element losses −w[t_i]·logp[i, t_i] (0 where t_i is ignored) and the weights that count, w[t_i] or 0
    /// (a constant): the numerator and the denominator of PyTorch's weighted mean.
    /// </summary>
    private static (Tensor Picked, Tensor Counted) PickTargets(string op, Tensor logp, Tensor target, Tensor input, Tensor? weight, long ignoreIndex)
    {
        int m = logp.Shape[0], c = logp.Shape[1];
        if (target.DType != DType.Int64)
            throw new DTypeMismatchException($"{op}: class targets must be int64 indices, got {target.DType.Name()} (for probability targets pass floats of the logits' shape)");
        var want = ElementShape(input);
        if (!Shapes.Equal(target.Shape, want))
            throw new ShapeMismatchException($"{op}: targets must be {Shapes.Format(want)} for input of shape {Shapes.Format(input.Shape)}, got {Shapes.Format(target.Shape)}");
        var t = target.ToArray<long>();
        var safe = new long[m];
        var counts = new double[m];
        var w = weight?.ToDoubleArray();
        for (int i = 0; i < m; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((ulong)t[i] >= (ulong)c)
                throw new IndexOutOfRangeException($"{op}: target {t[i]} of {(input.Rank == 2 ? "example" : "element")} {i} is out of range for {c} classes (and is not the ignore index {ignoreIndex})");
            safe[i] = t[i];
            counts[i] = w is null ? 1 : w[t[i]];
        }
        var counted = Tensor.FromArray(counts).To(logp.DType);
        var picked = Ops.Reshape(Ops.Gather(logp, 1, Tensor.FromArray(safe, [m, 1])), [m]);
        // A weight that requires grad gets its gradient through the product, as in PyTorch.
        var coef = weight is { RequiresGrad: true } ? Ops.Mul(Ops.IndexSelect(weight, 0, Tensor.FromArray(safe)), Ops.To(Ops.Ne(counted, 0), logp.DType)) : counted;
        return (Ops.Neg(Ops.Mul(picked, coef)), counted);
    }

    private static Tensor WeightedReduce(Tensor perElement, Tensor counted, Reduction reduction, int[] elementShape) => reduction switch
    {
        Reduction.Mean => Ops.Div(Ops.Sum(perElement), Ops.Sum(counted)),
        Reduction.Sum => Ops.Sum(perElement),
        _ => Ops.Reshape(perElement, elementShape),
    };

    private static void CheckWeight(string op, Tensor? weight, Tensor input, int c)
    {
        if (weight is null) return;
        if (weight.Rank != 1 || weight.Shape[0] != c)
            throw new ShapeMismatchException($"{op}: weight must have one entry per class, [{c}], got shape {Shapes.Format(weight.Shape)}");
        if (weight.DType != input.DType)
            throw new DTypeMismatchException($"{op}: weight is {weight.DType.Name()} but the input is {input.DType.Name()}");
    }

    private static void CheckReduction(Reduction reduction)
    {
        if (reduction is not (Reduction.Mean or Reduction.Sum or Reduction.None))
            throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "unknown reduction");
    }

    /// <summary>
    /// Binary cross-entropy from logits, −[w·y·log σ(x) + (1 − y)·log(1 − σ(x))], computed as
    /// w·y·softplus(−x) + (1 − y)·softplus(x), which neither overflows nor loses the gradient σ(x) − y at x = 0.
    /// <paramref name="target"/> holds probabilities in [0, 1] of the logits' shape; <paramref name="posWeight"/> w
    /// (broadcast over the last dimension, default 1) weighs the positive term.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean, Tensor? posWeight = null)
    {
        CheckSameShape("binary_cross_entropy_with_logits", logits, target);
        if (target.DType != logits.DType)
            throw new DTypeMismatchException($"binary_cross_entropy_with_logits: target is {target.DType.Name()} but logits are {logits.DType.Name()}; targets are probabilities of the logits' dtype");
        Tensor loss;
        if (posWeight is null)
            loss = Ops.Sub(Ops.Softplus(logits), Ops.Mul(logits, target)); // y·sp(−x) + (1−y)·sp(x) = sp(x) − x·y
        else
            loss = Ops.Add(Ops.Mul(Ops.Mul(posWeight, target), Ops.Softplus(Ops.Neg(logits))), Ops.Mul(Ops.Sub(1.0, target), Ops.Softplus(logits)));
        return Reduce(loss, reduction);
    }

    private static void CheckLogits(string op, Tensor x)
    {
        if (x.Rank == 0)
            throw new ShapeMismatchException($"{op}: expected input of shape [N, C] or [N, C, d1, ...] (class scores along dimension 1) or [C], got a 0-d tensor");
        if (x.Shape[x.Rank == 1 ? 0 : 1] < 1) throw new ShapeMismatchException($"{op}: input of shape {Shapes.Format(x.Shape)} has no classes");
        Ops.RequireFloat(op, x);
    }

    private static void CheckSameShape(string op, Tensor input, Tensor target)
    {
        if (!Shapes.Equal(input.Shape, target.Shape))
            throw new ShapeMismatchException($"{op}: input has shape {Shapes.Format(input.Shape)} but target has shape {Shapes.Format(target.Shape)}; they must match");
    }

    private static Tensor Reduce(Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.Mean => Ops.Mean(loss),
        Reduction.Sum => Ops.Sum(loss),
        Reduction.None => loss,
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "unknown reduction"),
    };
}
