namespace Aperture.Lab;

/// <summary>A mental model of how deep learning works, stated so an experiment can support or contradict it.</summary>
/// <param name="Id">A short stable name.</param>
/// <param name="Name">The model in a few words.</param>
/// <param name="Statement">What the model says, in one or two sentences.</param>
public sealed record MentalModel(string Id, string Name, string Statement)
{
    /// <summary>States what this model predicts for a phenomenon's claim, and why.</summary>
    public ModelBearing Predicts(Outcome outcome, string why) => new(this, outcome, why);
}

/// <summary>What a mental model predicts for one phenomenon's claim.</summary>
/// <param name="Model">The model.</param>
/// <param name="Predicts">The outcome the model predicts for the claim (held or did not hold).</param>
/// <param name="Why">The model's reasoning, in one sentence.</param>
public sealed record ModelBearing(MentalModel Model, Outcome Predicts, string Why)
{
    /// <summary>Whether a measured outcome supports (true), contradicts (false) or says nothing about (null) the model.</summary>
    public bool? SupportedBy(Outcome measured) =>
        measured == Outcome.Inconclusive || Predicts == Outcome.Inconclusive ? null : measured == Predicts;
}

/// <summary>
/// The mental models the lab's phenomena bear on. One catalogue, so that one model's record across phenomena can be
/// read off the scorecard, the way optics checks ray, wave and quantum models against the same effects.
/// </summary>
public static class MentalModels
{
    /// <summary>Near a minimum the loss is a quadratic; its Hessian's spectrum sets how first-order methods converge.</summary>
    public static readonly MentalModel LocalQuadratic = new("local-quadratic", "The loss is locally quadratic",
        "Near a minimum the loss is a quadratic form; the condition number κ of its Hessian sets how fast first-order methods converge, and linear-systems theory (Chebyshev polynomials) predicts their rates.");

    /// <summary>Momentum helps by averaging out gradient noise.</summary>
    public static readonly MentalModel MomentumAveragesNoise = new("momentum-averages-noise", "Momentum averages out gradient noise",
        "Momentum is a running average of noisy minibatch gradients; its benefit is lower variance, so without noise it should not change how the iteration count scales.");

    /// <summary>A ReLU net is a piecewise-linear interpolant of what it memorized.</summary>
    public static readonly MentalModel PiecewiseLinearInterpolation = new("piecewise-linear-interpolation", "ReLU nets interpolate linearly between hinges",
        "A ReLU net is a piecewise-linear function: it predicts by interpolating linearly between hinge points placed during training and extrapolates linearly outside its data.");

    /// <summary>A net is a smooth universal approximator whose behaviour off the data is unconstrained.</summary>
    public static readonly MentalModel UniversalApproximator = new("universal-approximator", "Nets are universal approximators, like polynomials",
        "A wide enough net can fit any continuous function on the data's range; like a high-degree polynomial it says nothing about what happens off that range, where it may bend freely.");

    /// <summary>Adam-like optimizers precondition the problem and so cope with ill-conditioning.</summary>
    public static readonly MentalModel AdaptiveStepsPrecondition = new("adaptive-steps-precondition", "Adaptive optimizers undo ill-conditioning",
        "Adam and its kin divide each coordinate's step by the running size of its gradient, a diagonal preconditioner, so they should make fast progress on badly conditioned problems on which plain gradient descent crawls.");

    /// <summary>Floating point is a faithful stand-in for the reals; rounding is negligible noise.</summary>
    public static readonly MentalModel NumericsAreTransparent = new("numerics-are-transparent", "Floating point is as good as real numbers",
        "Rounding errors are noise at the 10⁻⁷ (float32) or 10⁻¹⁶ (float64) level that averages out, so how a value is stored, rounded or summed does not change what training does.");

    /// <summary>SGD training is unstable: rounding-sized perturbations grow until runs are as different as different seeds.</summary>
    public static readonly MentalModel TrainingIsChaotic = new("training-is-chaotic", "Training amplifies tiny perturbations",
        "Training by stochastic gradient descent is an unstable dynamical system: a perturbation the size of one rounding error grows until two runs differ as much as runs from different seeds (Summers and Dinneen 2021).");

    /// <summary>Every model in the catalogue.</summary>
    public static IReadOnlyList<MentalModel> All { get; } =
    [
        LocalQuadratic, MomentumAveragesNoise, PiecewiseLinearInterpolation, UniversalApproximator,
        AdaptiveStepsPrecondition, NumericsAreTransparent, TrainingIsChaotic,
    ];
}
