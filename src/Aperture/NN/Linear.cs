namespace Aperture.NN;

/// <summary>
/// A fully connected layer, y = x·Wᵀ + b, like <c>nn.Linear</c>: input [..., in], output [..., out], weight
/// [out, in], bias [out]. By default the weight is drawn from U(−1/√in, 1/√in) (PyTorch's <c>kaiming_uniform(a=√5)</c>)
/// and the bias from the same range; pass <c>weightInit</c> (e.g. <see cref="Init.XavierUniform"/>) to change it.
/// </summary>
public sealed class Linear : Module
{
    /// <summary>Creates the layer, drawing the weight and then the bias from <paramref name="generator"/>.</summary>
    /// <param name="inFeatures">The size of each input's last dimension.</param>
    /// <param name="outFeatures">The size of each output's last dimension.</param>
    /// <param name="bias">Whether to add a learned bias.</param>
    /// <param name="weightInit">The weight's initializer (default <c>Init.KaimingUniform(a: √5)</c>).</param>
    /// <param name="biasInit">The bias's initializer, given the weight's fans (default <see cref="Init.UniformFanIn"/>).</param>
    /// <param name="generator">The source of the random initial values (needed unless both initializers are constant).</param>
    /// <param name="dtype">float32 (default) or float64.</param>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Initializer? weightInit = null, Initializer? biasInit = null,
        Generator? generator = null, DType dtype = DType.Float32)
    {
        if (inFeatures < 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "Linear: inFeatures must be non-negative");
        if (outFeatures < 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "Linear: outFeatures must be non-negative");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        HasBias = bias;
        var fans = new Fans(inFeatures, outFeatures);
        InitParameter("weight", [outFeatures, inFeatures], weightInit ?? DefaultWeightInit, fans, generator, dtype);
        if (bias) InitParameter("bias", [outFeatures], biasInit ?? Init.UniformFanIn(), fans, generator, dtype);
        else RegisterAbsentParameter("bias");
    }

    /// <summary>PyTorch's default weight initialization for Linear and Conv2d: U(−1/√fan_in, 1/√fan_in).</summary>
    internal static Initializer DefaultWeightInit => Init.KaimingUniform(a: Math.Sqrt(5));

    /// <summary>The number of input features.</summary>
    public int InFeatures { get; }

    /// <summary>The number of output features.</summary>
    public int OutFeatures { get; }

    /// <summary>Whether the layer has a bias.</summary>
    public bool HasBias { get; }

    /// <summary>The weight, [out, in].</summary>
    public Tensor Weight => Param("weight")!;

    /// <summary>The bias, [out], or null.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    protected override string ExtraRepr => $"{InFeatures} → {OutFeatures}{(HasBias ? "" : ", bias: false")}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        CheckFeatures(this, input, InFeatures);
        CheckDType(input, Weight.DType);
        var weight = Weight;
        var bias = Bias;
        if (Ops.TryLinearTransposed(input, weight, bias, ref _transposed, out var y)) return y!;
        if (Ops.TryLinearThinPacked(input, weight, bias, ref _thinPacked, out y)) return y!;
        if (Ops.TryLinearPacked(input, weight, bias, ref _packed, out y)) return y!;
        return Ops.Linear(input, weight, bias);
    }

    /// <summary>
    /// ReLU(x·Wᵀ + b) in one call, for a <see cref="Sequential"/> that runs this layer and then a ReLU, neither with
    /// hooks, with the maximum applied to the fresh output in place: the bits of the two modules and none of the second
    /// one's dispatch, output tensor and pass over memory. Under autodiff, when the product records a graph node, it is
    /// <see cref="Ops.LinearRelu"/> (one node for both; not under anomaly detection, whose checks name each op, nor a
    /// policy that rounds activations or gradients). Without autodiff, where a cached inference path applies (see
    /// <see cref="TransposedWeight"/>, <see cref="ThinPackedWeight"/> and <see cref="PackedWeight"/>). Null otherwise:
    /// the modules run one by one.
    /// </summary>
    internal Tensor? TryForwardRelu(Tensor input)
    {
        if (!NoHooks) return null;
        CheckFeatures(this, input, InFeatures);
        CheckDType(input, Weight.DType);
        var weight = Weight;
        var bias = Bias;
        if (GradMode.Enabled)
        {
            var policy = NumericsPolicy.Current;
            bool node = bias is null ? Graph.NeedsNode(input, weight) : Graph.NeedsNode(input, weight) || Graph.NeedsNode(bias);
            if (!node || Anomaly.Enabled || policy.Activations != StorageFormat.Native || policy.Gradients != StorageFormat.Native) return null;
            return Ops.LinearRelu(input, weight, bias);
        }
        if (Ops.TryLinearTransposed(input, weight, bias, ref _transposed, out var y, relu: true)) return y;
        if (Ops.TryLinearThinPacked(input, weight, bias, ref _thinPacked, out y, relu: true)) return y;
        if (Ops.TryLinearPacked(input, weight, bias, ref _packed, out y, relu: true)) return y;
        return null;
    }

    /// <summary>
    /// The weight's transposed copy for batch-1 inference, as <see cref="WeightCacheSlot{TCopy}.Current"/> gives it
    /// (null on the first call at a version of the weight), for a <see cref="LinearChain"/> that runs this layer and has
    /// just looked up its <paramref name="weight"/>.
    /// </summary>
    internal TransposedWeight? TransposedCopy(Tensor weight) => _transposed.Current(weight);

    /// <summary>
    /// The weight packed into the GEMM's panels for batched inference (<see cref="PackedWeight"/>): rebuilt after the
    /// weight changes, on the second batched no-grad call at the new version. It costs a copy of the weight's memory
    /// once a layer has run batched without autodiff, and nothing otherwise.
    /// </summary>
    private WeightCacheSlot<PackedWeight> _packed;

    /// <summary>
    /// The weight packed into the thin products' panels for batched inference (<see cref="ThinPackedWeight"/>), for the
    /// shapes those kernels take (a short batch, or a short k): rebuilt after the weight changes, on the second batched
    /// no-grad call at the new version. It costs a copy of the weight's memory once a layer has run so, and nothing
    /// otherwise.
    /// </summary>
    private WeightCacheSlot<ThinPackedWeight> _thinPacked;

    /// <summary>
    /// The weight's transposed copy for batch-1 inference (<see cref="TransposedWeight"/>): rebuilt after the weight
    /// changes, on the second inference call at the new version. It costs a second copy of the weight's memory once a
    /// layer has run at batch 1 without autodiff, and nothing otherwise.
    /// </summary>
    private WeightCacheSlot<TransposedWeight> _transposed;

    /// <summary>The size check shared by the fully connected layers: the last dimension must be <paramref name="inFeatures"/>.</summary>
    internal static void CheckFeatures(Module layer, Tensor input, int inFeatures)
    {
        if (input.Rank == 0)
            throw new ShapeMismatchException($"{layer.Describe()}: input is a scalar; expected [..., {inFeatures}]");
        if (input.Shape[^1] != inFeatures)
            throw new ShapeMismatchException(
                $"{layer.Describe()}: input has {input.Shape[^1]} features, expected {inFeatures} (input shape {Shapes.Format(input.Shape)})");
    }
}

/// <summary>
/// A lookup table of <c>numEmbeddings</c> vectors of size <c>embeddingDim</c>, like <c>nn.Embedding</c>: an int64
/// input of any shape gives an output of that shape plus a last dimension of <c>embeddingDim</c>. The table is drawn
/// from N(0, 1) by default. With <c>sparse: true</c> (PyTorch's <c>sparse=True</c>) reverse mode gives the table a
/// row-sparse gradient (<see cref="Tensor.RowSparseGrad"/>: the touched rows only) instead of a dense one, which
/// <see cref="Optim.SGD"/> (without momentum or weight decay) and <see cref="Optim.Adam"/> (lazily, touched rows
/// only) apply; <c>Autodiff.Grad</c>
/// and higher-order differentiation still see the dense gradient.
/// </summary>
public sealed class Embedding : Module
{
    /// <summary>Creates the table.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, Initializer? init = null, Generator? generator = null, DType dtype = DType.Float32, bool sparse = false)
    {
        Sparse = sparse;
        if (numEmbeddings < 1) throw new ArgumentOutOfRangeException(nameof(numEmbeddings), numEmbeddings, "Embedding: numEmbeddings must be at least 1");
        if (embeddingDim < 1) throw new ArgumentOutOfRangeException(nameof(embeddingDim), embeddingDim, "Embedding: embeddingDim must be at least 1");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        InitParameter("weight", [numEmbeddings, embeddingDim], init ?? Init.Normal(), new Fans(embeddingDim, numEmbeddings), generator, dtype);
    }

    /// <summary>The number of rows of the table.</summary>
    public int NumEmbeddings { get; }

    /// <summary>Whether reverse mode gives the table a row-sparse gradient (<see cref="Tensor.RowSparseGrad"/>).</summary>
    public bool Sparse { get; }

    /// <summary>The size of each vector.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The table, [numEmbeddings, embeddingDim].</summary>
    public Tensor Weight => Param("weight")!;

    /// <inheritdoc/>
    protected override string ExtraRepr => Sparse ? $"{NumEmbeddings}, {EmbeddingDim}, sparse=True" : $"{NumEmbeddings}, {EmbeddingDim}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        if (input.DType != DType.Int64)
            throw new DTypeMismatchException($"{Describe()}: input must hold int64 indices, got {input.DType.Name()} (shape {Shapes.Format(input.Shape)})");
        // Validated in place (no copy of the indices), so the message can name this layer; the lookup then reads
        // the same elements again, which costs n comparisons against the n·d copied values.
        var flat = Ops.Reshape(input, [-1]);
        var idx = flat.IsContiguous ? flat.ContiguousSpan<long>() : flat.Contiguous().ContiguousSpan<long>();
        for (int i = 0; i < idx.Length; i++)
            if ((ulong)idx[i] >= (ulong)NumEmbeddings)
                throw new IndexOutOfRangeException($"{Describe()}: index {idx[i]} (element {i} of the input) is out of range for a table of {NumEmbeddings} rows");
        var rows = Ops.IndexSelect(Weight, 0, flat, rowSparseGrad: Sparse);
        Span<int> shape = stackalloc int[input.Rank + 1];
        input.Shape.CopyTo(shape);
        shape[^1] = EmbeddingDim;
        return Ops.Reshape(rows, shape);
    }
}
