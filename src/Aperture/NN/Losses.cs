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
    /// Cross-entropy from unnormalized logits [N, C], through log-softmax (stable for any logit size, e.g. 1e4):
    /// with int64 class indices [N] the loss of example i is −log softmax(logits_i)[target_i]; with float class
    /// probabilities [N, C] it is −Σ_c target_ic·log softmax(logits_i)_c. With <paramref name="labelSmoothing"/> ε the
    /// target distribution becomes (1 − ε)·target + ε/C (Szegedy et al. 2016), as in PyTorch.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean, double labelSmoothing = 0)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "cross_entropy: labelSmoothing must be in [0, 1]");
        CheckLogits("cross_entropy", logits);
        int c = logits.Shape[1];
        if (labelSmoothing == 0 && reduction != Reduction.None && target.DType == DType.Int64)
            return Ops.CrossEntropy(logits, target, reduction == Reduction.Mean);   // one fused primitive, same bits
        var logp = Ops.LogSoftmax(logits, 1);
        if (target.DType.IsFloatingPoint())
        {
            CheckSameShape("cross_entropy (probability targets)", logits, target);
            if (target.DType != logits.DType) throw new DTypeMismatchException($"cross_entropy: target is {target.DType.Name()} but logits are {logits.DType.Name()}");
            var t = labelSmoothing > 0 ? Ops.Add(Ops.Mul(target, 1 - labelSmoothing), labelSmoothing / c) : target;
            return Reduce(Ops.Neg(Ops.Sum(Ops.Mul(logp, t), 1)), reduction);
        }
        var nll = PickTargets("cross_entropy", logp, target);
        if (labelSmoothing == 0) return Reduce(nll, reduction);
        var uniform = Ops.Neg(Ops.Mean(logp, 1)); // −(1/C)·Σ_c log p_c
        return Reduce(Ops.Add(Ops.Mul(nll, 1 - labelSmoothing), Ops.Mul(uniform, labelSmoothing)), reduction);
    }

    /// <summary>Negative log-likelihood of log-probabilities [N, C] at int64 class indices [N]: −logProbs[i, target_i].</summary>
    public static Tensor Nll(Tensor logProbs, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckLogits("nll_loss", logProbs);
        return Reduce(PickTargets("nll_loss", logProbs, target), reduction);
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

    private static Tensor PickTargets(string op, Tensor logp, Tensor target)
    {
        int n = logp.Shape[0], c = logp.Shape[1];
        if (target.DType != DType.Int64)
            throw new DTypeMismatchException($"{op}: class targets must be int64 indices, got {target.DType.Name()} (for probability targets pass floats of the logits' shape)");
        if (target.Rank != 1 || target.Shape[0] != n)
            throw new ShapeMismatchException($"{op}: targets must be [{n}] for input of shape {Shapes.Format(logp.Shape)}, got {Shapes.Format(target.Shape)}");
        var t = target.ToArray<long>();
        for (int i = 0; i < t.Length; i++)
            if ((ulong)t[i] >= (ulong)c)
                throw new IndexOutOfRangeException($"{op}: target {t[i]} of example {i} is out of range for {c} classes");
        return Ops.Neg(Ops.Reshape(Ops.Gather(logp, 1, Ops.Reshape(target, [n, 1])), [n]));
    }

    private static void CheckLogits(string op, Tensor x)
    {
        if (x.Rank != 2)
            throw new ShapeMismatchException($"{op}: expected input of shape [N, C] (a batch of class scores), got {Shapes.Format(x.Shape)}");
        if (x.Shape[1] < 1) throw new ShapeMismatchException($"{op}: input of shape {Shapes.Format(x.Shape)} has no classes");
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
