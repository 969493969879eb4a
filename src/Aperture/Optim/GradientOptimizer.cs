namespace Aperture.Optim;

/// <summary>
/// An optimizer that moves each parameter using its own gradient (<see cref="Tensor.Grad"/>) and state: SGD, Adam
/// and the rest. <see cref="Step"/> validates every group's hyper-parameters, then, under
/// <see cref="Autodiff.NoGrad"/>, applies <see cref="Update"/> to each trainable parameter that has a gradient and
/// rounds it to the weight storage format of the current <see cref="NumericsPolicy"/>
/// (<see cref="NumericsPolicy.RoundWeights"/>). Parameters that do not require grad (frozen) or have no gradient are
/// left alone.
/// </summary>
/// <remarks>
/// Updates are written as explicit elementwise loops in the parameter's own precision, one element at a time in
/// index order, with no fused multiply-adds: the same bits on every machine and thread count, and untouched by the
/// policy's activation rounding.
/// </remarks>
public abstract class GradientOptimizer : Optimizer
{
    /// <inheritdoc/>
    protected GradientOptimizer(IEnumerable<ParamGroup> groups, IReadOnlyDictionary<string, double> defaults) : base(groups, defaults) { }

    /// <inheritdoc/>
    public override void Step()
    {
        ValidateChangedGroups();
        using (Autodiff.NoGrad())
        {
            // Index loops: enumerating the interfaces would allocate an enumerator per step.
            var groups = ParamGroups;
            for (int gi = 0; gi < groups.Count; gi++)
            {
                var group = groups[gi];
                var parameters = group.Parameters;
                BeginGroup(group);
                for (int pi = 0; pi < parameters.Count; pi++)
                {
                    var p = parameters[pi];
                    if (!p.RequiresGrad) continue;
                    if (p.Grad is not { } grad)
                    {
                        if (p.RowSparseGrad is not { } rows) continue;
                        var sparseState = StateOf(p);
                        sparseState.Step++;
                        UpdateRowSparse(group, p, rows, sparseState);
                        p.BumpVersion(_stepName ??= Name + ".Step");
                        NumericsPolicy.RoundWeights(p);
                        continue;
                    }
                    if (!Shapes.Equal(grad.Shape, p.Shape) || grad.DType != p.DType)
                        throw new ShapeMismatchException(
                            $"{Name}: a parameter of shape {Shapes.Format(p.Shape)} ({p.DType.Name()}) has a gradient of shape {Shapes.Format(grad.Shape)} ({grad.DType.Name()})");
                    var state = StateOf(p);
                    state.Step++;
                    Update(group, p, grad.IsContiguous ? grad : StridedCopy.ToContiguous(grad), state);
                    // A graph that saved p before this step can no longer backpropagate through it (a GAN-style loop
                    // that steps between a forward pass and its backward): the version change makes Backward say so.
                    p.BumpVersion(_stepName ??= Name + ".Step");
                    NumericsPolicy.RoundWeights(p);
                }
            }
        }
        StepCount++;
    }

    private string? _stepName;

    /// <summary>
    /// Updates one parameter in place from a row-sparse gradient (an <see cref="NN.Embedding"/> with
    /// <c>sparse: true</c>); <paramref name="state"/>.Step is already incremented. The default refuses, as PyTorch's
    /// optimizers without sparse support do.
    /// </summary>
    protected virtual void UpdateRowSparse(ParamGroup group, Tensor parameter, RowSparseGradient grad, ParameterState state) =>
        throw new NotSupportedException(
            $"{Name} does not support row-sparse gradients (a parameter of shape {Shapes.Format(parameter.Shape)} from an Embedding with sparse: true); " +
            "use SGD without momentum or weight decay, or Adam, or create the Embedding with sparse: false");

    /// <summary>
    /// Called by <see cref="Step"/> before the updates of <paramref name="group"/>'s parameters: an optimizer reads the
    /// group's options here once, rather than by name for every parameter.
    /// </summary>
    private protected virtual void BeginGroup(ParamGroup group) { }

    /// <summary>Updates one parameter in place from its (contiguous) gradient; <paramref name="state"/>.Step is already incremented.</summary>
    protected abstract void Update(ParamGroup group, Tensor parameter, Tensor grad, ParameterState state);

    /// <summary>The elements of a contiguous float tensor.</summary>
    private protected static Span<T> Data<T>(Tensor t) where T : unmanaged => t.ContiguousSpan<T>();
}
