namespace Aperture.NN;

/// <summary>
/// A 2-d convolution layer, like <c>nn.Conv2d</c>: input [N, C, H, W] (or [C, H, W]), weight
/// [out, in/groups, kH, kW], bias [out]; see <see cref="Ops.Conv2d"/> for the output size. By default the weight is
/// drawn from U(−1/√fan_in, 1/√fan_in) with fan_in = in/groups·kH·kW (PyTorch's <c>kaiming_uniform(a=√5)</c>), and
/// the bias from the same range.
/// </summary>
public sealed class Conv2d : Module
{
    /// <summary>Creates the layer, drawing the weight and then the bias from <paramref name="generator"/>.</summary>
    /// <param name="inChannels">Input channels C.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernelSize">The kernel's height and width (an int for both).</param>
    /// <param name="stride">The step between windows (default 1).</param>
    /// <param name="padding">Zeros added on each side (default 0).</param>
    /// <param name="dilation">The spacing of kernel taps (default 1).</param>
    /// <param name="groups">Independent channel groups (both channel counts must be divisible by it).</param>
    /// <param name="bias">Whether to add a learned bias per output channel.</param>
    /// <param name="weightInit">The weight's initializer (default <c>Init.KaimingUniform(a: √5)</c>).</param>
    /// <param name="biasInit">The bias's initializer, given the weight's fans (default <see cref="Init.UniformFanIn"/>).</param>
    /// <param name="generator">The source of the random initial values.</param>
    /// <param name="dtype">float32 (default) or float64.</param>
    public Conv2d(int inChannels, int outChannels, Size2d kernelSize, Size2d? stride = null, Size2d? padding = null, Size2d? dilation = null,
        int groups = 1, bool bias = true, Initializer? weightInit = null, Initializer? biasInit = null, Generator? generator = null,
        DType dtype = DType.Float32)
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "Conv2d: inChannels must be at least 1");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "Conv2d: outChannels must be at least 1");
        if (kernelSize.H < 1 || kernelSize.W < 1) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "Conv2d: the kernel size must be positive");
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: groups = {groups} must be positive and divide both inChannels ({inChannels}) and outChannels ({outChannels})", nameof(groups));
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride ?? 1;
        Padding = padding ?? 0;
        Dilation = dilation ?? 1;
        Groups = groups;
        HasBias = bias;
        int[] shape = [outChannels, inChannels / groups, kernelSize.H, kernelSize.W];
        var fans = Fans.Of(shape);
        InitParameter("weight", shape, weightInit ?? Linear.DefaultWeightInit, fans, generator, dtype);
        if (bias) InitParameter("bias", [outChannels], biasInit ?? Init.UniformFanIn(), fans, generator, dtype);
        else RegisterAbsentParameter("bias");
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>The kernel's height and width.</summary>
    public Size2d KernelSize { get; }

    /// <summary>The step between windows.</summary>
    public Size2d Stride { get; }

    /// <summary>Zero padding on each side.</summary>
    public Size2d Padding { get; }

    /// <summary>The spacing of kernel taps.</summary>
    public Size2d Dilation { get; }

    /// <summary>Independent channel groups.</summary>
    public int Groups { get; }

    /// <summary>Whether the layer has a bias.</summary>
    public bool HasBias { get; }

    /// <summary>The weight, [out, in/groups, kH, kW].</summary>
    public Tensor Weight => Param("weight")!;

    /// <summary>The bias, [out], or null.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    protected override string ExtraRepr
    {
        get
        {
            var s = $"{InChannels} → {OutChannels}, kernel {KernelSize}";
            if (Stride != new Size2d(1, 1)) s += $", stride {Stride}";
            if (Padding != new Size2d(0, 0)) s += $", padding {Padding}";
            if (Dilation != new Size2d(1, 1)) s += $", dilation {Dilation}";
            if (Groups != 1) s += $", groups {Groups}";
            return HasBias ? s : s + ", bias: false";
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckInput(input);
        return Ops.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);
    }

    /// <summary>
    /// ReLU(conv(x) + b) in one call, for a <see cref="Sequential"/> that runs this layer and then a ReLU, neither with
    /// hooks (<see cref="Ops.Conv2dRelu"/>: the bits of the two modules, one output tensor and no pass of its own for
    /// the ReLU or the bias). Null, leaving the modules to run one by one, under anomaly detection (whose checks name
    /// each op) or a policy that rounds activations or gradients (the two modules round the pre-activation too).
    /// </summary>
    internal Tensor? TryForwardRelu(Tensor input)
    {
        if (!NoHooks || Anomaly.Enabled) return null;
        var policy = NumericsPolicy.Current;
        if (policy.Activations != StorageFormat.Native || policy.Gradients != StorageFormat.Native) return null;
        CheckInput(input);
        return Ops.Conv2dRelu(input, Weight, Bias, Stride, Padding, Dilation, Groups);
    }

    /// <summary>The layer's checks of an input, naming the layer.</summary>
    private void CheckInput(Tensor input)
    {
        CheckRank(input, "a 4-d [N, C, H, W] or 3-d [C, H, W] input", 3, 4);
        int c = input.Shape[^3];
        if (c != InChannels)
            throw new ShapeMismatchException($"{Describe()}: input has {c} channels, expected {InChannels} (input shape {Shapes.Format(input.Shape)})");
        CheckDType(input, Weight.DType);
        int h = input.Shape[^2] + 2 * Padding.H, w = input.Shape[^1] + 2 * Padding.W;
        int eh = Dilation.H * (KernelSize.H - 1) + 1, ew = Dilation.W * (KernelSize.W - 1) + 1;
        if (eh > h || ew > w)
            throw new ShapeMismatchException(
                $"{Describe()}: the input's {input.Shape[^2]}×{input.Shape[^1]} plane (padded: {h}×{w}) is smaller than the {eh}×{ew} kernel window (input shape {Shapes.Format(input.Shape)})");
    }
}

/// <summary>Max pooling over kH×kW windows of every channel, like <c>nn.MaxPool2d</c> (see <see cref="Ops.MaxPool2d"/>); the stride defaults to the kernel size.</summary>
public sealed class MaxPool2d(Size2d kernelSize, Size2d? stride = null, Size2d? padding = null, Size2d? dilation = null, bool ceilMode = false) : Module
{
    /// <summary>The window's height and width.</summary>
    public Size2d KernelSize { get; } = kernelSize;

    /// <summary>The step between windows.</summary>
    public Size2d Stride { get; } = stride ?? kernelSize;

    /// <summary>−∞ padding on each side.</summary>
    public Size2d Padding { get; } = padding ?? 0;

    /// <summary>The spacing of window taps.</summary>
    public Size2d Dilation { get; } = dilation ?? 1;

    /// <summary>Whether the output size rounds up.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"kernel {KernelSize}, stride {Stride}{(Padding != new Size2d(0, 0) ? $", padding {Padding}" : "")}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckRank(input, "a 4-d [N, C, H, W] or 3-d [C, H, W] input", 3, 4);
        return Ops.MaxPool2d(input, KernelSize, Stride, Padding, Dilation, CeilMode);
    }
}

/// <summary>Average pooling over kH×kW windows of every channel, like <c>nn.AvgPool2d</c> (see <see cref="Ops.AvgPool2d"/>); the stride defaults to the kernel size.</summary>
public sealed class AvgPool2d(Size2d kernelSize, Size2d? stride = null, Size2d? padding = null, bool ceilMode = false, bool countIncludePad = true) : Module
{
    /// <summary>The window's height and width.</summary>
    public Size2d KernelSize { get; } = kernelSize;

    /// <summary>The step between windows.</summary>
    public Size2d Stride { get; } = stride ?? kernelSize;

    /// <summary>Zero padding on each side.</summary>
    public Size2d Padding { get; } = padding ?? 0;

    /// <summary>Whether the output size rounds up.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <summary>Whether padded positions count in the divisor.</summary>
    public bool CountIncludePad { get; } = countIncludePad;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"kernel {KernelSize}, stride {Stride}{(Padding != new Size2d(0, 0) ? $", padding {Padding}" : "")}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckRank(input, "a 4-d [N, C, H, W] or 3-d [C, H, W] input", 3, 4);
        return Ops.AvgPool2d(input, KernelSize, Stride, Padding, CeilMode, CountIncludePad);
    }
}

/// <summary>Average pooling to a fixed output size, like <c>nn.AdaptiveAvgPool2d</c>; (1, 1) is global average pooling.</summary>
public sealed class AdaptiveAvgPool2d(Size2d outputSize) : Module
{
    /// <summary>The output's height and width.</summary>
    public Size2d OutputSize { get; } = outputSize;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"{OutputSize}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckRank(input, "a 4-d [N, C, H, W] or 3-d [C, H, W] input", 3, 4);
        return Ops.AdaptiveAvgPool2d(input, OutputSize);
    }
}
