namespace Aperture.NN;

/// <summary>
/// Compact ways to say common architectures. Every factory takes one <see cref="Generator"/> (seed 0 when none is
/// given, so <c>Models.Mlp(784, [256, 256], 10)</c> is reproducible as written): the layers draw their initial values
/// from it in order, first to last, and each dropout layer gets its own generator forked from it after all
/// initial values are drawn. The same seed therefore gives the same network and the same masks, and a network with
/// dropout starts from the same weights as the same network without it.
/// </summary>
public static class Models
{
    /// <summary>
    /// A multilayer perceptron: Linear(inputs → hidden[0]), activation, …, Linear(hidden[^1] → outputs), as a
    /// <see cref="Sequential"/> whose parameters are named <c>0.weight</c>, <c>0.bias</c>, <c>2.weight</c>, ….
    /// </summary>
    /// <param name="inputs">Input features.</param>
    /// <param name="hidden">The widths of the hidden layers (may be empty: a linear model).</param>
    /// <param name="outputs">Output features.</param>
    /// <param name="activation">relu, leaky_relu, tanh, sigmoid, gelu, softplus or identity (a deep linear network).</param>
    /// <param name="dropout">Dropout probability after each hidden activation (0: none).</param>
    /// <param name="dropoutKind">"dropout" (Bernoulli), "gaussian" (<see cref="GaussianDropout"/>) or "dropconnect" (the hidden Linear layers become <see cref="DropConnect"/> layers).</param>
    /// <param name="batchNorm">Insert <see cref="BatchNorm1d"/> between each hidden Linear layer and its activation.</param>
    /// <param name="weightInit">The weights' initializer (default: PyTorch's Linear default).</param>
    /// <param name="biasInit">The biases' initializer (default: PyTorch's Linear default).</param>
    /// <param name="bias">Whether the Linear layers have biases.</param>
    /// <param name="generator">The source of initial values and of the dropout generators.</param>
    /// <param name="dtype">The parameters' dtype.</param>
    public static Sequential Mlp(int inputs, IReadOnlyList<int> hidden, int outputs, string activation = "relu", double dropout = 0,
        string dropoutKind = "dropout", bool batchNorm = false, Initializer? weightInit = null, Initializer? biasInit = null, bool bias = true,
        Generator? generator = null, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(activation);
        Activations.Create(activation); // validates the name before anything is drawn
        if (dropoutKind is not ("dropout" or "gaussian" or "dropconnect"))
            throw new ArgumentException($"Models.Mlp: dropoutKind must be \"dropout\", \"gaussian\" or \"dropconnect\", got \"{dropoutKind}\"", nameof(dropoutKind));
        var g = generator ?? new Generator(0);
        var layers = new List<Module>();
        var dropoutSlots = new List<int>();
        var dropConnects = new List<(int Index, int In, int Out)>();
        int width = inputs;
        foreach (int h in hidden)
        {
            if (dropout > 0 && dropoutKind == "dropconnect")
            {
                // Draw the initial values now, in order, into a Linear; it is swapped for a DropConnect below.
                dropConnects.Add((layers.Count, width, h));
            }
            layers.Add(new Linear(width, h, bias, weightInit, biasInit, g, dtype));
            if (batchNorm) layers.Add(new BatchNorm1d(h, dtype: dtype));
            layers.Add(Activations.Create(activation));
            if (dropout > 0 && dropoutKind != "dropconnect")
            {
                dropoutSlots.Add(layers.Count);
                layers.Add(new Identity()); // placeholder, replaced once every initial value is drawn
            }
            width = h;
        }
        layers.Add(new Linear(width, outputs, bias, weightInit, biasInit, g, dtype));

        foreach (int slot in dropoutSlots)
            layers[slot] = dropoutKind == "gaussian" ? new GaussianDropout(dropout, g.Fork()) : new Dropout(dropout, g.Fork());
        foreach (var (index, fanIn, fanOut) in dropConnects)
        {
            var linear = (Linear)layers[index];
            var dc = new DropConnect(fanIn, fanOut, dropout, bias, Init.Zeros(), Init.Zeros(), maskGenerator: g.Fork(), dtype: dtype);
            dc.LoadStateDict(linear.StateDict(), strict: false);
            layers[index] = dc;
        }
        return new Sequential(layers);
    }

    /// <summary>
    /// LeNet-5 (LeCun et al. 1998) for square single- or multi-channel images, in the common modern form:
    /// Conv2d(in → 6, 5×5) → activation → pool 2×2 → Conv2d(6 → 16, 5×5) → activation → pool 2×2 → Flatten →
    /// Linear(16·s·s → 120) → activation → Linear(120 → 84) → activation → Linear(84 → classes). Images smaller than
    /// LeNet's 32×32 get padding 2 in the first convolution, so 28×28 Fashion-MNIST gives s = 5 as in the original.
    /// </summary>
    /// <param name="classes">Output classes.</param>
    /// <param name="inChannels">Image channels.</param>
    /// <param name="imageSize">The images' height and width.</param>
    /// <param name="activation">The activation after every layer but the last (relu by default; tanh is closer to the original).</param>
    /// <param name="pooling">"max" (default) or "avg" (the original's subsampling, without its learned scale).</param>
    /// <param name="generator">The source of initial values (seed 0 when none is given).</param>
    /// <param name="dtype">The parameters' dtype.</param>
    public static Sequential LeNet5(int classes = 10, int inChannels = 1, int imageSize = 28, string activation = "relu", string pooling = "max",
        Generator? generator = null, DType dtype = DType.Float32)
    {
        Activations.Create(activation);
        if (pooling is not ("max" or "avg"))
            throw new ArgumentException($"Models.LeNet5: pooling must be \"max\" or \"avg\", got \"{pooling}\"", nameof(pooling));
        int pad = imageSize < 32 ? 2 : 0;
        int s = ((imageSize + 2 * pad - 4) / 2 - 4) / 2;
        if (s < 1)
            throw new ArgumentException($"Models.LeNet5: {imageSize}×{imageSize} images are too small for two 5×5 convolutions and two 2×2 poolings", nameof(imageSize));
        var g = generator ?? new Generator(0);
        Module Pool() => pooling == "max" ? new MaxPool2d(2) : new AvgPool2d(2);
        return new Sequential(
            new Conv2d(inChannels, 6, 5, padding: pad, generator: g, dtype: dtype), Activations.Create(activation), Pool(),
            new Conv2d(6, 16, 5, generator: g, dtype: dtype), Activations.Create(activation), Pool(),
            new Flatten(),
            new Linear(16 * s * s, 120, generator: g, dtype: dtype), Activations.Create(activation),
            new Linear(120, 84, generator: g, dtype: dtype), Activations.Create(activation),
            new Linear(84, classes, generator: g, dtype: dtype));
    }

    /// <summary>
    /// A deep linear network: <paramref name="widths"/>.Length − 1 bias-free Linear layers with identity activations
    /// between them (widths [d0, d1, …, dL] map d0 → dL), for the dynamics of products of matrices.
    /// </summary>
    public static Sequential DeepLinear(IReadOnlyList<int> widths, Initializer? weightInit = null, Generator? generator = null, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(widths);
        if (widths.Count < 2) throw new ArgumentException($"Models.DeepLinear: needs at least two widths (input and output), got {widths.Count}", nameof(widths));
        return Mlp(widths[0], widths.Skip(1).Take(widths.Count - 2).ToArray(), widths[^1], "identity", weightInit: weightInit, bias: false, generator: generator, dtype: dtype);
    }
}
