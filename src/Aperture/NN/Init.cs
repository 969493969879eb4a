namespace Aperture.NN;

/// <summary>
/// The fan-in and fan-out an initializer scales by. For a weight of shape [out, in, k1, k2, …] (PyTorch's layout)
/// fan-in is in·k1·k2·… and fan-out is out·k1·k2·…. A bias is initialized with its layer's weight's fans.
/// </summary>
public readonly record struct Fans(int FanIn, int FanOut)
{
    /// <summary>The fans of a weight of this shape (at least 2-d), as <c>torch.nn.init._calculate_fan_in_and_fan_out</c> computes them.</summary>
    public static Fans Of(ReadOnlySpan<int> shape)
    {
        if (shape.Length < 2)
            throw new ArgumentException($"Fans: fan-in and fan-out need a tensor of at least 2 dimensions, got shape {Shapes.Format(shape)}; pass the layer's weight fans for a bias");
        int receptive = 1;
        for (int i = 2; i < shape.Length; i++) receptive *= shape[i];
        return new Fans(shape[1] * receptive, shape[0] * receptive);
    }
}

/// <summary>Which fan a variance-scaling initializer (He/Kaiming) keeps constant.</summary>
public enum FanMode
{
    /// <summary>Preserves the variance of activations in the forward pass (the default).</summary>
    FanIn,
    /// <summary>Preserves the variance of gradients in the backward pass.</summary>
    FanOut,
}

/// <summary>
/// A way to fill a new parameter: a distribution (or constant) that may depend on the tensor's fans.
/// Random initializers draw from the <see cref="Generator"/> they are given and from nothing else.
/// </summary>
public abstract class Initializer
{
    /// <summary>A short name for messages (e.g. <c>xavier_uniform</c>).</summary>
    public abstract string Name { get; }

    /// <summary>False for constant initializers, which need no generator.</summary>
    public virtual bool IsRandom => true;

    /// <summary>A new tensor of <paramref name="shape"/> and <paramref name="dtype"/> drawn with the given fans.</summary>
    public abstract Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator);

    /// <summary>Draws a new tensor, taking the fans from its own shape.</summary>
    public Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Generator? generator) => Sample(shape, dtype, Fans.Of(shape), generator);

    /// <summary>Overwrites <paramref name="tensor"/> in place with a fresh draw (fans from its shape unless given).</summary>
    public void Apply(Tensor tensor, Generator? generator, Fans? fans = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var value = Sample(tensor.Shape, tensor.DType, fans ?? Fans.Of(tensor.Shape), generator);
        using (Autodiff.NoGrad()) Ops.CopyInPlace(tensor, value);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>The generator, or an error naming the initializer when a random one was given none.</summary>
    protected Generator Require(Generator? generator) => generator ?? throw new ArgumentNullException(nameof(generator),
        $"the {Name} initializer draws random numbers: pass a seeded Generator (new Generator(seed))");
}

/// <summary>
/// The initializers of <c>torch.nn.init</c>: Xavier/Glorot, He/Kaiming, LeCun, orthogonal, constants, plain
/// uniform and normal. Each returns an <see cref="Initializer"/> that layers take (<c>weightInit:</c>) and that can
/// also fill an existing tensor (<see cref="Initializer.Apply"/>).
/// </summary>
public static class Init
{
    /// <summary>
    /// The recommended gain for a nonlinearity (<c>torch.nn.init.calculate_gain</c>): 1 for linear, identity,
    /// sigmoid and convolutions; 5/3 for tanh; √2 for relu; √(2/(1+slope²)) for leaky_relu (slope 0.01 unless
    /// <paramref name="param"/>); 3/4 for selu.
    /// </summary>
    public static double Gain(string nonlinearity, double? param = null)
    {
        ArgumentNullException.ThrowIfNull(nonlinearity);
        switch (nonlinearity.ToLowerInvariant())
        {
            case "linear": case "identity": case "sigmoid": case "conv1d": case "conv2d": case "conv3d":
                return 1;
            case "tanh": return 5.0 / 3;
            case "relu": return Math.Sqrt(2.0);
            case "leaky_relu":
                double slope = param ?? 0.01;
                return Math.Sqrt(2.0 / (1 + slope * slope));
            case "selu": return 0.75;
            default:
                throw new ArgumentException($"Init.Gain: unknown nonlinearity '{nonlinearity}'; expected linear, identity, sigmoid, conv2d, tanh, relu, leaky_relu or selu", nameof(nonlinearity));
        }
    }

    /// <summary>U(−a, a) with a = gain·√(6/(fan_in + fan_out)) (Glorot and Bengio 2010).</summary>
    public static Initializer XavierUniform(double gain = 1) => new UniformScaled("xavier_uniform", f => gain * Math.Sqrt(6.0 / (f.FanIn + f.FanOut)));

    /// <summary>N(0, σ²) with σ = gain·√(2/(fan_in + fan_out)).</summary>
    public static Initializer XavierNormal(double gain = 1) => new NormalScaled("xavier_normal", f => gain * Math.Sqrt(2.0 / (f.FanIn + f.FanOut)));

    /// <summary>
    /// U(−b, b) with b = gain·√(3/fan) (He et al. 2015), gain = <see cref="Gain"/>(<paramref name="nonlinearity"/>, <paramref name="a"/>).
    /// PyTorch's default for Linear and Conv2d weights is <c>KaimingUniform(a: √5)</c>, i.e. U(−1/√fan_in, 1/√fan_in).
    /// </summary>
    public static Initializer KaimingUniform(double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu")
    {
        double gain = Gain(nonlinearity, a);
        return new UniformScaled("kaiming_uniform", f => gain * Math.Sqrt(3.0 / Fan(f, mode, "kaiming_uniform")));
    }

    /// <summary>N(0, σ²) with σ = gain/√fan (He et al. 2015).</summary>
    public static Initializer KaimingNormal(double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu")
    {
        double gain = Gain(nonlinearity, a);
        return new NormalScaled("kaiming_normal", f => gain / Math.Sqrt(Fan(f, mode, "kaiming_normal")));
    }

    /// <summary>He initialization for ReLU networks: <see cref="KaimingNormal"/> with gain √2 on fan-in.</summary>
    public static Initializer HeNormal(FanMode mode = FanMode.FanIn) => KaimingNormal(0, mode, "relu");

    /// <summary>He initialization, uniform: <see cref="KaimingUniform"/> with gain √2 on fan-in.</summary>
    public static Initializer HeUniform(FanMode mode = FanMode.FanIn) => KaimingUniform(0, mode, "relu");

    /// <summary>N(0, 1/fan_in) (LeCun et al. 1998; the initialization SELU networks assume).</summary>
    public static Initializer LeCunNormal() => new NormalScaled("lecun_normal", f => Math.Sqrt(1.0 / Fan(f, FanMode.FanIn, "lecun_normal")));

    /// <summary>U(−b, b) with b = √(3/fan_in): the uniform distribution with LeCun's variance.</summary>
    public static Initializer LeCunUniform() => new UniformScaled("lecun_uniform", f => Math.Sqrt(3.0 / Fan(f, FanMode.FanIn, "lecun_uniform")));

    /// <summary>
    /// U(−1/√fan_in, 1/√fan_in): PyTorch's default for the biases of Linear and Conv2d (with the weight's fans).
    /// </summary>
    public static Initializer UniformFanIn() => new UniformScaled("uniform_fan_in", f => f.FanIn > 0 ? 1 / Math.Sqrt(f.FanIn) : 0);

    /// <summary>
    /// A (semi-)orthogonal matrix times <paramref name="gain"/> (Saxe et al. 2013): the tensor is viewed as
    /// [shape[0], rest]; a standard normal matrix of that shape is drawn in float64 and replaced by the Q of its QR
    /// decomposition (sign-corrected by R's diagonal, so Q is Haar-distributed), as <c>torch.nn.init.orthogonal_</c>.
    /// </summary>
    public static Initializer Orthogonal(double gain = 1) => new OrthogonalInit(gain);

    /// <summary>Every element equal to <paramref name="value"/>.</summary>
    public static Initializer Constant(double value) => new ConstantInit(value, $"constant({value})");

    /// <summary>Zeros.</summary>
    public static Initializer Zeros() => new ConstantInit(0, "zeros");

    /// <summary>Ones.</summary>
    public static Initializer Ones() => new ConstantInit(1, "ones");

    /// <summary>U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Initializer Uniform(double low = 0, double high = 1)
    {
        if (!(low <= high)) throw new ArgumentException($"Init.Uniform: low ({low}) must not exceed high ({high})");
        return new UniformRange(low, high);
    }

    /// <summary>N(<paramref name="mean"/>, <paramref name="std"/>²).</summary>
    public static Initializer Normal(double mean = 0, double std = 1)
    {
        if (!(std >= 0)) throw new ArgumentOutOfRangeException(nameof(std), std, "Init.Normal: std must be non-negative");
        return new NormalScaled($"normal({mean}, {std})", _ => std, mean);
    }

    private static int Fan(Fans f, FanMode mode, string name)
    {
        int fan = mode == FanMode.FanIn ? f.FanIn : f.FanOut;
        if (fan <= 0) throw new ArgumentException($"{name}: the {(mode == FanMode.FanIn ? "fan-in" : "fan-out")} is {fan}; it needs a tensor with no zero-sized dimension");
        return fan;
    }

    private sealed class UniformScaled(string name, Func<Fans, double> bound) : Initializer
    {
        public override string Name => name;

        public override Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator)
        {
            double b = bound(fans);
            return Tensor.Uniform(shape, -b, b, Require(generator), dtype);
        }
    }

    private sealed class UniformRange(double low, double high) : Initializer
    {
        public override string Name => $"uniform({low}, {high})";

        public override Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator) =>
            Tensor.Uniform(shape, low, high, Require(generator), dtype);
    }

    private sealed class NormalScaled(string name, Func<Fans, double> std, double mean = 0) : Initializer
    {
        public override string Name => name;

        public override Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator) =>
            Tensor.Normal(shape, mean, std(fans), Require(generator), dtype);
    }

    private sealed class ConstantInit(double value, string name) : Initializer
    {
        public override string Name => name;
        public override bool IsRandom => false;

        public override Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator) => Tensor.Full(shape, value, dtype);
    }

    private sealed class OrthogonalInit(double gain) : Initializer
    {
        public override string Name => "orthogonal";

        public override Tensor Sample(ReadOnlySpan<int> shape, DType dtype, Fans fans, Generator? generator)
        {
            if (shape.Length < 2)
                throw new ArgumentException($"orthogonal: needs a tensor of at least 2 dimensions, got shape {Shapes.Format(shape)}");
            int rows = shape[0], cols = Shapes.Numel(shape) / Math.Max(rows, 1);
            var g = Require(generator);
            var flat = Tensor.Randn([rows, cols], g, DType.Float64).ToDoubleArray();
            bool tall = rows >= cols;
            int m = tall ? rows : cols, n = tall ? cols : rows;
            var a = tall ? flat : Transpose(flat, rows, cols);
            var (q, r) = Linalg.Qr(a, m, n); // q: m×n
            for (int j = 0; j < n; j++)
            {
                double sign = r[j * n + j] < 0 ? -1 : 1;
                for (int i = 0; i < m; i++) q[i * n + j] *= sign * gain;
            }
            var result = tall ? q : Transpose(q, m, n);
            return Tensor.FromArray(result, shape).To(dtype);
        }

        private static double[] Transpose(double[] a, int rows, int cols)
        {
            var t = new double[a.Length];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
            return t;
        }
    }
}
