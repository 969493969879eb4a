namespace Aperture.NN;

/// <summary>
/// Dropout (Srivastava et al. 2014), like <c>nn.Dropout</c>: in training each element is zeroed with probability
/// <see cref="P"/> and the survivors are scaled by 1/(1 − p), so the expected output is the input; in evaluation
/// it is the identity. Masks are drawn from the generator the layer was given (saved in its state dict), one
/// element per input element, so a run is reproducible given the seed.
/// </summary>
public sealed class Dropout : Module
{
    /// <summary>Creates the layer; <paramref name="generator"/> is needed when p &gt; 0.</summary>
    public Dropout(double p = 0.5, Generator? generator = null)
    {
        P = CheckP(p, "Dropout", allowOne: true);
        if (p > 0) RegisterGenerator("generator", generator ?? throw MissingGenerator(Describe()));
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <inheritdoc/>
    protected override string ExtraRepr => $"p: {P}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        if (!Training || P == 0) return input;
        RequireFloat(input);
        if (P == 1) return Ops.Mul(input, 0.0);
        // The mask holds 0 or 1/(1 − p) itself, the same bits as a 0/1 mask scaled afterwards, one op fewer.
        var mask = Tensor.Empty(input.Shape, input.DType);
        RandomFill.Bernoulli(mask, 1 - P, GeneratorOf("generator"), 1 / (1 - P));
        return Ops.Mul(input, mask);
    }

    internal static double CheckP(double p, string layer, bool allowOne)
    {
        if (!(p >= 0 && (allowOne ? p <= 1 : p < 1)))
            throw new ArgumentOutOfRangeException(nameof(p), p, $"{layer}: p must be in [0, 1{(allowOne ? "]" : ")")}, got {p}");
        return p;
    }

    internal static ArgumentNullException MissingGenerator(string layer) => new("generator",
        $"{layer}: the masks are random; pass generator: new Generator(seed) (or a generator forked from the model's)");
}

/// <summary>
/// Multiplicative Gaussian noise (Srivastava et al. 2014, section 10): in training the input is multiplied
/// elementwise by N(1, σ²) with σ² = p/(1 − p), the variance of Bernoulli dropout's scaled mask; in evaluation it is
/// the identity.
/// </summary>
public sealed class GaussianDropout : Module
{
    /// <summary>Creates the layer with the noise of dropout rate <paramref name="p"/> in [0, 1).</summary>
    public GaussianDropout(double p = 0.5, Generator? generator = null)
    {
        P = Dropout.CheckP(p, "GaussianDropout", allowOne: false);
        if (p > 0) RegisterGenerator("generator", generator ?? throw Dropout.MissingGenerator(Describe()));
    }

    /// <summary>The dropout rate the noise matches.</summary>
    public double P { get; }

    /// <summary>The noise's standard deviation, √(p/(1 − p)).</summary>
    public double Std => Math.Sqrt(P / (1 - P));

    /// <inheritdoc/>
    protected override string ExtraRepr => $"p: {P}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        if (!Training || P == 0) return input;
        RequireFloat(input);
        var noise = Tensor.Normal(input.Shape, 1, Std, GeneratorOf("generator"), input.DType);
        return Ops.Mul(input, noise);
    }
}

/// <summary>
/// A fully connected layer whose weights are dropped (DropConnect, Wan et al. 2013): in training each weight is
/// zeroed with probability <see cref="P"/> and the survivors scaled by 1/(1 − p); the bias is not masked. One mask
/// is drawn per forward call, so every example of a minibatch shares it (a cheaper variant of the paper's
/// per-example masks). In evaluation the full weights are used (the mean of the masked layer, not the paper's
/// Gaussian moment-matching inference). Parameter names and shapes are those of <see cref="Linear"/>.
/// </summary>
public sealed class DropConnect : Module
{
    /// <summary>Creates the layer; the initial values come from <paramref name="generator"/>, the masks from <paramref name="maskGenerator"/> (default: the same generator, continuing after the initialization).</summary>
    public DropConnect(int inFeatures, int outFeatures, double p = 0.5, bool bias = true, Initializer? weightInit = null, Initializer? biasInit = null,
        Generator? generator = null, Generator? maskGenerator = null, DType dtype = DType.Float32)
    {
        if (inFeatures < 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "DropConnect: inFeatures must be non-negative");
        if (outFeatures < 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "DropConnect: outFeatures must be non-negative");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        P = Dropout.CheckP(p, "DropConnect", allowOne: false);
        HasBias = bias;
        var fans = new Fans(inFeatures, outFeatures);
        InitParameter("weight", [outFeatures, inFeatures], weightInit ?? Linear.DefaultWeightInit, fans, generator, dtype);
        if (bias) InitParameter("bias", [outFeatures], biasInit ?? Init.UniformFanIn(), fans, generator, dtype);
        else RegisterAbsentParameter("bias");
        if (p > 0) RegisterGenerator("generator", maskGenerator ?? generator ?? throw Dropout.MissingGenerator(Describe()));
    }

    /// <summary>The number of input features.</summary>
    public int InFeatures { get; }

    /// <summary>The number of output features.</summary>
    public int OutFeatures { get; }

    /// <summary>The probability of dropping a weight.</summary>
    public double P { get; }

    /// <summary>Whether the layer has a bias.</summary>
    public bool HasBias { get; }

    /// <summary>The weight, [out, in].</summary>
    public Tensor Weight => Param("weight")!;

    /// <summary>The bias, [out], or null.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    protected override string ExtraRepr => $"{InFeatures} → {OutFeatures}, p: {P}{(HasBias ? "" : ", bias: false")}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        Linear.CheckFeatures(this, input, InFeatures);
        CheckDType(input, Weight.DType);
        var w = Weight;
        if (Training && P > 0)
        {
            var mask = Tensor.Empty(w.Shape, w.DType);
            RandomFill.Bernoulli(mask, 1 - P, GeneratorOf("generator"), 1 / (1 - P));
            w = Ops.Mul(w, mask);
        }
        return Ops.Linear(input, w, Bias);
    }
}
