namespace Aperture.NN;

/// <summary>
/// Batch normalization (Ioffe and Szegedy 2015) over the channel dimension 1, like PyTorch's BatchNorm layers.
/// In training each channel is normalized with the batch's mean and biased variance, and the running statistics
/// are updated: running = (1 − momentum)·running + momentum·batch, with the unbiased variance n/(n − 1)·var for
/// running_var (momentum null: a cumulative average, momentum = 1/num_batches_tracked). In evaluation the running
/// statistics are used. Then y = γ·x̂ + β when affine.
/// </summary>
public abstract class BatchNorm : Module
{
    private protected BatchNorm(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats, DType dtype,
        Initializer? weightInit, Initializer? biasInit, Generator? generator)
    {
        if (numFeatures < 1) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, $"{GetType().Name}: numFeatures must be at least 1");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, $"{GetType().Name}: eps must be positive");
        if (momentum is { } m && !(m >= 0 && m <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, $"{GetType().Name}: momentum must be in [0, 1] (or null for a cumulative average)");
        if (!dtype.IsFloatingPoint()) throw new DTypeMismatchException($"{GetType().Name}: dtype must be float32 or float64, got {dtype.Name()}");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        if (affine)
        {
            var fans = new Fans(numFeatures, numFeatures);
            InitParameter("weight", [numFeatures], weightInit ?? Init.Ones(), fans, generator, dtype);
            InitParameter("bias", [numFeatures], biasInit ?? Init.Zeros(), fans, generator, dtype);
        }
        else
        {
            RegisterAbsentParameter("weight");
            RegisterAbsentParameter("bias");
        }
        if (trackRunningStats)
        {
            RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype));
            RegisterBuffer("running_var", Tensor.Ones([numFeatures], dtype));
            RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int64));
        }
    }

    /// <summary>The number of channels C.</summary>
    public int NumFeatures { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }

    /// <summary>The weight of the newest batch in the running statistics; null for a cumulative average.</summary>
    public double? Momentum { get; }

    /// <summary>Whether γ and β are learned.</summary>
    public bool Affine { get; }

    /// <summary>Whether running statistics are kept (and used in evaluation).</summary>
    public bool TrackRunningStats { get; }

    private DType? ParameterType => Weight?.DType ?? RunningMean?.DType;

    /// <summary>γ, [C], or null when not affine.</summary>
    public Tensor? Weight => Param("weight");

    /// <summary>β, [C], or null when not affine.</summary>
    public Tensor? Bias => Param("bias");

    /// <summary>The running mean, [C] (null without running statistics).</summary>
    public Tensor? RunningMean => TrackRunningStats ? Buffer("running_mean") : null;

    /// <summary>The running (unbiased) variance, [C] (null without running statistics).</summary>
    public Tensor? RunningVar => TrackRunningStats ? Buffer("running_var") : null;

    /// <summary>How many training batches have updated the running statistics.</summary>
    public long NumBatchesTracked => TrackRunningStats ? (long)Buffer("num_batches_tracked").Item() : 0;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"{NumFeatures}, eps: {Eps}, momentum: {(Momentum is { } m ? m.ToString(System.Globalization.CultureInfo.InvariantCulture) : "null")}{(Affine ? "" : ", affine: false")}{(TrackRunningStats ? "" : ", trackRunningStats: false")}";

    /// <summary>Checks the input's rank (the subclass's layout).</summary>
    private protected abstract void CheckInputRank(Tensor input);

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckInputRank(input);
        if (input.Shape[1] != NumFeatures)
            throw new ShapeMismatchException($"{Describe()}: input has {input.Shape[1]} channels (dimension 1 of shape {Shapes.Format(input.Shape)}), expected {NumFeatures}");
        if (ParameterType is { } dtype) CheckDType(input, dtype);
        else RequireFloat(input);
        var axes = new int[input.Rank - 1];
        axes[0] = 0;
        for (int i = 2; i < input.Rank; i++) axes[i - 1] = i;
        var statShape = new int[input.Rank];
        Array.Fill(statShape, 1);
        statShape[1] = NumFeatures;

        Tensor mean, variance;
        if (Training || !TrackRunningStats)
        {
            long n = input.Numel / NumFeatures;
            if (Training && n <= 1)
                throw new ShapeMismatchException($"{Describe()}: training needs more than one value per channel to estimate a variance, got input of shape {Shapes.Format(input.Shape)}");
            mean = Ops.Mean(input, axes, keepDim: true);
            variance = Ops.Var(input, axes, correction: 0, keepDim: true);
            if (Training && TrackRunningStats) UpdateRunningStats(mean, variance, n);
        }
        else
        {
            mean = Ops.Reshape(Buffer("running_mean"), statShape);
            variance = Ops.Reshape(Buffer("running_var"), statShape);
        }
        var y = Ops.Div(Ops.Sub(input, mean), Ops.Sqrt(Ops.Add(variance, Eps)));
        if (Affine) y = Ops.Add(Ops.Mul(y, Ops.Reshape(Weight!, statShape)), Ops.Reshape(Bias!, statShape));
        return y;
    }

    private void UpdateRunningStats(Tensor mean, Tensor variance, long n)
    {
        using var _ = Autodiff.NoGrad();
        var tracked = Buffer("num_batches_tracked");
        long count = (long)tracked.Item() + 1;
        tracked.SetAt(count);
        double f = Momentum ?? 1.0 / count;
        var batchMean = Ops.Reshape(mean.Detach(), [NumFeatures]);
        var batchVar = Ops.Mul(Ops.Reshape(variance.Detach(), [NumFeatures]), (double)n / (n - 1));
        var rm = Buffer("running_mean");
        var rv = Buffer("running_var");
        Ops.CopyInPlace(rm, Ops.Add(Ops.Mul(rm, 1 - f), Ops.Mul(batchMean, f)));
        Ops.CopyInPlace(rv, Ops.Add(Ops.Mul(rv, 1 - f), Ops.Mul(batchVar, f)));
    }
}

/// <summary>
/// Batch normalization of [N, C] or [N, C, L] inputs over N (and L), like <c>nn.BatchNorm1d</c>. γ starts at ones and
/// β at zeros unless initializers are given.
/// </summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32, Initializer? weightInit = null, Initializer? biasInit = null, Generator? generator = null)
    : BatchNorm(numFeatures, eps, momentum, affine, trackRunningStats, dtype, weightInit, biasInit, generator)
{
    private protected override void CheckInputRank(Tensor input) => CheckRank(input, "a 2-d [N, C] or 3-d [N, C, L] input", 2, 3);
}

/// <summary>
/// Batch normalization of [N, C, H, W] inputs over N, H and W, like <c>nn.BatchNorm2d</c>. γ starts at ones and β at
/// zeros unless initializers are given.
/// </summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32, Initializer? weightInit = null, Initializer? biasInit = null, Generator? generator = null)
    : BatchNorm(numFeatures, eps, momentum, affine, trackRunningStats, dtype, weightInit, biasInit, generator)
{
    private protected override void CheckInputRank(Tensor input) => CheckRank(input, "a 4-d [N, C, H, W] input", 4);
}

/// <summary>
/// Layer normalization (Ba et al. 2016), like <c>nn.LayerNorm</c>: each example is normalized over its last
/// dimensions (<c>normalizedShape</c>) with their mean and biased variance, then y = γ·x̂ + β elementwise when
/// <c>elementwiseAffine</c> (γ from ones and β from zeros unless initializers are given). The same in training and
/// evaluation.
/// </summary>
public sealed class LayerNorm : Module
{
    private readonly int[] _normalizedShape;

    /// <summary>Creates the layer for inputs whose trailing dimensions are <paramref name="normalizedShape"/>.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32,
        Initializer? weightInit = null, Initializer? biasInit = null, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d < 1))
            throw new ArgumentException($"LayerNorm: normalizedShape must be non-empty with positive sizes, got {Shapes.Format(normalizedShape)}", nameof(normalizedShape));
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "LayerNorm: eps must be positive");
        _normalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        ElementwiseAffine = elementwiseAffine;
        if (elementwiseAffine)
        {
            int size = Shapes.Numel(normalizedShape);
            var fans = new Fans(size, size);
            InitParameter("weight", _normalizedShape, weightInit ?? Init.Ones(), fans, generator, dtype);
            if (bias) InitParameter("bias", _normalizedShape, biasInit ?? Init.Zeros(), fans, generator, dtype);
            else RegisterAbsentParameter("bias");
        }
        else
        {
            RegisterAbsentParameter("weight");
            RegisterAbsentParameter("bias");
        }
    }

    /// <summary>Creates the layer for inputs whose last dimension is <paramref name="features"/>.</summary>
    public LayerNorm(int features, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32,
        Initializer? weightInit = null, Initializer? biasInit = null, Generator? generator = null)
        : this([features], eps, elementwiseAffine, bias, dtype, weightInit, biasInit, generator) { }

    /// <summary>The trailing dimensions normalized over.</summary>
    public ReadOnlySpan<int> NormalizedShape => _normalizedShape;

    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }

    /// <summary>Whether γ (and β) are learned.</summary>
    public bool ElementwiseAffine { get; }

    private DType? ParameterType => Weight?.DType;

    /// <summary>γ, of <see cref="NormalizedShape"/>, or null.</summary>
    public Tensor? Weight => Param("weight");

    /// <summary>β, of <see cref="NormalizedShape"/>, or null.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    protected override string ExtraRepr => $"{Shapes.Format(_normalizedShape)}, eps: {Eps}{(ElementwiseAffine ? "" : ", elementwiseAffine: false")}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        int k = _normalizedShape.Length;
        if (input.Rank < k || !Shapes.Equal(input.Shape[(input.Rank - k)..], _normalizedShape))
            throw new ShapeMismatchException($"{Describe()}: the input's trailing dimensions must be {Shapes.Format(_normalizedShape)}, got an input of shape {Shapes.Format(input.Shape)}");
        if (ParameterType is { } dtype) CheckDType(input, dtype);
        else RequireFloat(input);
        var axes = new int[k];
        for (int i = 0; i < k; i++) axes[i] = input.Rank - k + i;
        var mean = Ops.Mean(input, axes, keepDim: true);
        var variance = Ops.Var(input, axes, correction: 0, keepDim: true);
        var y = Ops.Div(Ops.Sub(input, mean), Ops.Sqrt(Ops.Add(variance, Eps)));
        if (Weight is { } w) y = Ops.Mul(y, w);
        if (Bias is { } b) y = Ops.Add(y, b);
        return y;
    }
}
