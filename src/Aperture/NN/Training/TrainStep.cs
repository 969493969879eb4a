using Aperture.Optim;

namespace Aperture.NN;

/// <summary>What one optimizer step saw.</summary>
/// <param name="Loss">The batch's mean loss, before the step.</param>
/// <param name="Correct">For classification ([N, C] scores, int64 targets [N]): examples whose arg-max was the target; otherwise −1.</param>
/// <param name="Examples">Examples in the batch.</param>
/// <param name="LearningRate">The first parameter group's learning rate used by the step.</param>
public readonly record struct StepOutcome(double Loss, long Correct, int Examples, double LearningRate);

/// <summary>
/// One step of training, the only one in Aperture: zero the gradients, run the model, compute the loss, backpropagate
/// (under <see cref="Backward"/>'s numerics when set), clip, step the optimizer and, when given, the per-step
/// schedule. <see cref="Trainer"/> runs it for every batch; a hand-written loop (two networks in lockstep, a probe
/// between steps) calls it directly and gets the same bits. The step's temporaries are recycled when it returns.
/// </summary>
/// <param name="model">The model.</param>
/// <param name="optimizer">The optimizer.</param>
/// <param name="loss">(output, target) → the batch's mean loss.</param>
public sealed class TrainStep(Module model, GradientOptimizer optimizer, Func<Tensor, Tensor, Tensor> loss)
{
    /// <summary>The model trained.</summary>
    public Module Model { get; } = model ?? throw new ArgumentNullException(nameof(model));

    /// <summary>The optimizer.</summary>
    public GradientOptimizer Optimizer { get; } = optimizer ?? throw new ArgumentNullException(nameof(optimizer));

    /// <summary>The loss: (output, target) → mean loss of the batch.</summary>
    public Func<Tensor, Tensor, Tensor> Loss { get; } = loss ?? throw new ArgumentNullException(nameof(loss));

    /// <summary>A schedule advanced after every step (null: none).</summary>
    public LRScheduler? Scheduler { get; set; }

    /// <summary>When set, gradients are clipped to this joint 2-norm before each step.</summary>
    public double? ClipGradNorm { get; set; }

    /// <summary>When set, each gradient element is clamped to ±this value before each step.</summary>
    public double? ClipGradValue { get; set; }

    /// <summary>The numerics of the backward pass (reduction order, accumulation); null: the ambient policy.</summary>
    public NumericsPolicy? Backward { get; set; }

    /// <summary>Optimizer steps taken through this object.</summary>
    public long Steps { get; private set; }

    /// <summary>Takes one step on the batch (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public StepOutcome Run(Tensor x, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        double value;
        long correct = -1;
        using (TensorScope.Begin())
        {
            Optimizer.ZeroGrad();
            var output = Model.Forward(x);
            var l = Loss(output, y);
            if (l.Numel != 1)
                throw new InvalidOperationException($"TrainStep: the loss function returned shape {Shapes.Format(l.Shape)}; it must return a scalar (the batch mean)");
            if (Backward is null) l.Backward();
            else using (NumericsPolicy.Use(Backward)) l.Backward();
            value = l.Item();
            if (IsClassification(output, y)) correct = Metrics.CountCorrect(output, y, null, null);
        }
        if (ClipGradValue is { } cv) GradClip.ClipGradValue(Model.Parameters(), cv);
        if (ClipGradNorm is { } cn) GradClip.ClipGradNorm(Model.Parameters(), cn);
        double lr = Optimizer.ParamGroups[0].LearningRate;
        Optimizer.Step();
        Steps++;
        Scheduler?.Step();
        return new StepOutcome(value, correct, x.Rank == 0 ? 1 : x.Shape[0], lr);
    }

    internal static bool IsClassification(Tensor output, Tensor target) =>
        output.Rank == 2 && target.DType == DType.Int64 && target.Rank == 1 && target.Shape[0] == output.Shape[0];
}
