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

    /// <summary>Signals and gradients scale by a per-layer factor set by the weights' variance and the activation's slope.</summary>
    public static readonly MentalModel SignalPropagation = new("signal-propagation", "Depth multiplies a per-layer gain",
        "A deep net multiplies its forward signal and its back-propagated gradient by one random matrix and one activation slope per layer, so both grow or shrink geometrically at a rate set by the weights' variance and the nonlinearity; keep that gain at 1 (Glorot, He) or reset the scale at every layer (normalization) and depth is harmless.");

    /// <summary>Any random initialization works: scale does not matter, only breaking symmetry does.</summary>
    public static readonly MentalModel RandomInitSuffices = new("random-init-suffices", "A random initializer is good enough",
        "SGD is insensitive to how the initial weights are drawn as long as they are random: randomness is needed to break the symmetry between units, but the scale of the draw is a detail the optimizer corrects.");

    /// <summary>Batch norm helps by fixing the distribution of each layer's inputs.</summary>
    public static readonly MentalModel InternalCovariateShift = new("internal-covariate-shift", "Normalization removes internal covariate shift",
        "Training is slow because each layer's input distribution shifts as the layers below change; fixing every layer's input mean and variance (Ioffe and Szegedy) lets each layer learn with larger steps.");

    /// <summary>Batch norm helps by smoothing the loss landscape.</summary>
    public static readonly MentalModel SmootherLandscape = new("smoother-landscape", "Normalization smooths the landscape",
        "Normalization makes the loss and its gradient more Lipschitz along the training path (Santurkar et al.), so gradients stay predictive over longer steps and larger learning rates are stable.");
    /// <summary>A model class generalizes because it is too small to fit noise (uniform convergence).</summary>
    public static readonly MentalModel CapacityControlsGeneralization = new("capacity-controls-generalization", "Limited capacity makes a model generalize",
        "Classical learning theory: a model class generalizes when its capacity (VC dimension, Rademacher complexity) is small next to the data, that is, when it cannot fit arbitrary labels; a class that can fit noise has no such guarantee.");

    /// <summary>Gradient descent learns shared patterns first and memorizes exceptions last.</summary>
    public static readonly MentalModel PatternsBeforeMemorization = new("patterns-before-memorization", "Nets learn patterns first, memorize later",
        "Gradient descent fits the structure shared by many examples before it memorizes individual ones; what is learned first is what carries over to new data, and memorizing examples with no shared structure is slower.");

    /// <summary>Any injected noise of matched strength regularizes alike.</summary>
    public static readonly MentalModel NoiseIsRegularization = new("noise-is-regularization", "Injected noise is a penalty; its form matters little",
        "Training with noise (on inputs, units or weights) acts like an explicit, data-dependent penalty (Bishop 1995, Wager et al. 2013); randomizations of matched strength should regularize about equally.");

    /// <summary>Dropout works by dropping whole units: no co-adaptation, an ensemble of thinned networks.</summary>
    public static readonly MentalModel DropoutPreventsCoadaptation = new("dropout-prevents-coadaptation", "Dropping units prevents co-adaptation",
        "Dropping whole hidden units at random stops features from relying on one another and trains an ensemble of thinned networks that share weights; that, not noise as such, is why dropout helps, so it should beat randomizations that do not drop units.");

    /// <summary>A net's lower layers learn generic features that carry over to related tasks.</summary>
    public static readonly MentalModel GenericFeatures = new("generic-features", "Lower layers learn reusable features",
        "The first layers of a trained net detect generic structure (edges, textures, strokes) rather than anything specific to its labels, so they can be reused for a related task, where they save most when that task has few labelled examples (Yosinski et al. 2014).");

    /// <summary>A trained net's last hidden layer is a space in which the target is linear, so distance there is similarity for the task.</summary>
    public static readonly MentalModel LatentSimilarity = new("latent-similarity", "Latent distance is task similarity",
        "On its last hidden layer a net is a linear model, so inputs whose codes are close are inputs the net treats alike: neighbours there share what predicts the target and ignore what does not, unlike neighbours in the raw inputs or in a random net's features.");

    /// <summary>Words that occur in similar contexts have similar meanings, and a relation shared by many word pairs is one direction in a space built from contexts.</summary>
    public static readonly MentalModel DistributionalHypothesis = new("distributional-hypothesis", "Meaning is distribution; relations are offsets",
        "A word is characterised by the company it keeps (Harris 1954; Firth 1957); vectors fitted to co-occurrence statistics place a relation shared by many pairs (singular → plural) along one offset, so vector arithmetic answers analogies (Mikolov et al. 2013).");

    /// <summary>Analogy benchmarks reward similarity, not relational structure (Linzen 2016's critique).</summary>
    public static readonly MentalModel AnalogiesAreNeighbours = new("analogies-are-neighbours", "Analogy success is nearest-neighbour similarity",
        "What vector arithmetic finds is mostly the nearest neighbour of b or c, since the answer is usually similar to both; the offset adds little beyond similarity (Linzen 2016).");

    /// <summary>Every model in the catalogue.</summary>
    public static IReadOnlyList<MentalModel> All { get; } =
    [
        LocalQuadratic, MomentumAveragesNoise, PiecewiseLinearInterpolation, UniversalApproximator,
        AdaptiveStepsPrecondition, NumericsAreTransparent, TrainingIsChaotic,
        SignalPropagation, RandomInitSuffices, InternalCovariateShift, SmootherLandscape,
        CapacityControlsGeneralization, PatternsBeforeMemorization, NoiseIsRegularization, DropoutPreventsCoadaptation,
        GenericFeatures, LatentSimilarity, DistributionalHypothesis, AnalogiesAreNeighbours,
    ];
}
