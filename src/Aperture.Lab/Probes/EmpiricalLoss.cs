using Aperture.Data;
using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>How batch normalization layers behave while a curvature or landscape measurement evaluates the loss.</summary>
public enum BatchNormMode
{
    /// <summary>Running statistics (the function the model computes at test time).</summary>
    Eval,

    /// <summary>Each batch's own statistics (the function gradient descent differentiates); the running statistics are restored afterwards.</summary>
    Train,
}

/// <summary>A named set of parameters measured together: a layer's weight and bias, or the whole model.</summary>
/// <param name="Name">The group's name: the owning module's dotted path, or "model" for all trainable parameters.</param>
/// <param name="ParameterNames">The dotted names of its parameters, in registration order.</param>
public sealed record ParameterGroup(string Name, IReadOnlyList<string> ParameterNames);

/// <summary>
/// The empirical loss of a model over data, L(θ) = Σ_b (n_b/N)·ℓ(f_θ(x_b), y_b), as a function of its trainable
/// parameters: the object curvature, sharpness and landscape measurements are taken of. The data is either one fixed
/// subset held in memory or a whole <see cref="Dataset"/> read batch by batch in order (no shuffling), each batch
/// weighted by its size, so the loss, gradient and Hessian are those of the full set whatever the batch size (exactly
/// so when <see cref="BatchNormMode.Eval"/>; in <see cref="BatchNormMode.Train"/> each batch is normalized by its own
/// statistics, so the batching is part of the function). The per-batch loss ℓ must be a mean over the batch.
/// </summary>
/// <remarks>
/// While a measurement runs, every module is put in evaluation mode (dropout off: a stochastic loss has no fixed
/// Hessian) and then batch norm layers in the chosen <see cref="BatchNormMode"/>; afterwards the modules' modes and all
/// buffers (batch norm's running statistics, which training-mode passes update) are restored, even on failure. The
/// parameters' <c>.Grad</c> are never touched.
/// </remarks>
public sealed class EmpiricalLoss
{
    private readonly Dataset _data;
    private readonly Func<Tensor, Tensor, Tensor> _loss;
    private readonly List<(string Name, Tensor Parameter)> _parameters;

    /// <summary>The loss of <paramref name="model"/> over one fixed subset (<paramref name="inputs"/>, <paramref name="targets"/>), in batches of <paramref name="batchSize"/> (all at once when null).</summary>
    public EmpiricalLoss(Module model, Tensor inputs, Tensor targets, BatchNormMode batchNorm, Func<Tensor, Tensor, Tensor>? loss = null, int? batchSize = null)
        : this(model, new TensorDataset(inputs ?? throw new ArgumentNullException(nameof(inputs)), targets ?? throw new ArgumentNullException(nameof(targets))),
            batchSize ?? inputs.Shape[0], batchNorm, loss)
    {
    }

    /// <summary>The loss of <paramref name="model"/> over all of <paramref name="data"/>, read in order in batches of <paramref name="batchSize"/> (the last may be smaller).</summary>
    public EmpiricalLoss(Module model, Dataset data, int batchSize, BatchNormMode batchNorm, Func<Tensor, Tensor, Tensor>? loss = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count < 1) throw new ArgumentException("EmpiricalLoss: the data set is empty", nameof(data));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "EmpiricalLoss: the batch size must be at least 1");
        if (!Enum.IsDefined(batchNorm)) throw new ArgumentOutOfRangeException(nameof(batchNorm), batchNorm, "EmpiricalLoss: batch norm mode must be Eval or Train");
        Model = model;
        _data = data;
        BatchSize = Math.Min(batchSize, data.Count);
        BatchNorm = batchNorm;
        _loss = loss ?? ((o, t) => Losses.CrossEntropy(o, t));
        _parameters = [.. model.NamedParameters().Where(p => p.Parameter.RequiresGrad)];
        if (_parameters.Count == 0) throw new ArgumentException("EmpiricalLoss: the model has no trainable parameters (all are frozen)", nameof(model));
    }

    /// <summary>The model whose parameters the loss is a function of.</summary>
    public Module Model { get; }

    /// <summary>How batch norm layers normalize during the measurement (recorded with every result).</summary>
    public BatchNormMode BatchNorm { get; }

    /// <summary>The number of examples N.</summary>
    public int Examples => _data.Count;

    /// <summary>The batch size the data is read in.</summary>
    public int BatchSize { get; }

    /// <summary>The number of batches per evaluation.</summary>
    public int Batches => (Examples + BatchSize - 1) / BatchSize;

    /// <summary>The trainable parameters, with their dotted names, in registration order.</summary>
    public IReadOnlyList<(string Name, Tensor Parameter)> Parameters => _parameters;

    /// <summary>The total number of trainable parameters P.</summary>
    public int ParameterCount => _parameters.Sum(p => p.Parameter.Numel);

    /// <summary>All trainable parameters as one group named "model".</summary>
    public ParameterGroup Whole => new("model", [.. _parameters.Select(p => p.Name)]);

    /// <summary>One group per module that owns trainable parameters directly (a layer: its weight and bias), in order.</summary>
    public IReadOnlyList<ParameterGroup> Layers()
    {
        var groups = new List<ParameterGroup>();
        foreach (var (name, _) in _parameters)
        {
            int dot = name.LastIndexOf('.');
            string owner = dot < 0 ? "" : name[..dot];
            if (groups.Count > 0 && groups[^1].Name == owner) ((List<string>)groups[^1].ParameterNames).Add(name);
            else groups.Add(new ParameterGroup(owner, new List<string> { name }));
        }
        return groups;
    }

    /// <summary>The parameter tensors of a group (all trainable parameters when null), checking every name.</summary>
    public IReadOnlyList<Tensor> Select(ParameterGroup? group)
    {
        if (group is null) return [.. _parameters.Select(p => p.Parameter)];
        var result = new List<Tensor>();
        foreach (var name in group.ParameterNames)
        {
            int i = _parameters.FindIndex(p => p.Name == name);
            if (i < 0)
                throw new ArgumentException($"EmpiricalLoss: group \"{group.Name}\" names parameter \"{name}\", which is not a trainable parameter of the model (it has {string.Join(", ", _parameters.Select(p => p.Name))})", nameof(group));
            result.Add(_parameters[i].Parameter);
        }
        if (result.Count == 0) throw new ArgumentException($"EmpiricalLoss: group \"{group.Name}\" is empty", nameof(group));
        return result;
    }

    /// <summary>The loss L(θ) at the current parameters (no graph is recorded).</summary>
    public double Value()
    {
        using var _ = new MeasurementScope(this);
        using var __ = Autodiff.NoGrad();
        double total = 0;
        foreach (var (x, y, w) in BatchesWeighted())
        {
            using var scope = TensorScope.Begin();
            total += w * _loss(Model.Forward(x), y).Item();
        }
        return total;
    }

    /// <summary>L(θ) and its gradient with respect to <paramref name="parameters"/>, flattened in their order, accumulated in float64.</summary>
    public (double Value, double[] Gradient) ValueAndGradient(IReadOnlyList<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var _ = new MeasurementScope(this);
        var g = new double[Count(parameters)];
        double total = 0;
        foreach (var (x, y, w) in BatchesWeighted())
        {
            // The batch's temporaries are recycled (the values are copied out before the scope ends).
            using var scope = TensorScope.Begin();
            Tensor value;
            using (Autodiff.EnableGrad()) value = _loss(Model.Forward(x), y);
            total += w * value.Item();
            var grads = Autodiff.Grad([value], parameters, allowUnused: true);
            Accumulate(g, grads, w);
        }
        return (total, g);
    }

    /// <summary>
    /// The Hessian ∇²L restricted to <paramref name="parameters"/> (the diagonal block of those parameters) as a
    /// symmetric operator on flat float64 vectors of length <see cref="Count"/>(parameters). Each application is one
    /// <see cref="Autodiff.Hvp(Func{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/> per batch (forward-over-reverse),
    /// weighted by batch size and summed in float64 in batch order.
    /// </summary>
    public SymmetricOperator Hessian(IReadOnlyList<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var ps = parameters.ToArray();
        return (x, y) =>
        {
            var v = Unflatten(x, ps);
            y.Clear();
            using var _ = new MeasurementScope(this);
            foreach (var (xb, yb, w) in BatchesWeighted())
            {
                // The batch's temporaries are recycled (an HVP makes several times a gradient's): the products are
                // copied into y before the scope ends.
                using var scope = TensorScope.Begin();
                var hv = Autodiff.Hvp(() => _loss(Model.Forward(xb), yb), ps, v);
                int offset = 0;
                foreach (var t in hv)
                {
                    var d = t.ToDoubleArray();
                    for (int i = 0; i < d.Length; i++) y[offset + i] += w * d[i];
                    offset += d.Length;
                }
            }
        };
    }

    /// <summary>The total number of elements of <paramref name="parameters"/>.</summary>
    public static int Count(IReadOnlyList<Tensor> parameters) => checked(parameters.Sum(p => p.Numel));

    /// <summary>The parameters' current values, concatenated in order, as float64.</summary>
    public static double[] Flatten(IReadOnlyList<Tensor> parameters)
    {
        var r = new double[Count(parameters)];
        int offset = 0;
        foreach (var p in parameters)
        {
            var d = p.ToDoubleArray();
            d.CopyTo(r, offset);
            offset += d.Length;
        }
        return r;
    }

    /// <summary>Overwrites the parameters (in place, outside the graph) with consecutive slices of <paramref name="values"/>, converted to each one's dtype.</summary>
    public static void Load(IReadOnlyList<Tensor> parameters, ReadOnlySpan<double> values)
    {
        int n = Count(parameters);
        if (values.Length != n) throw new ShapeMismatchException($"EmpiricalLoss.Load: {values.Length} values for {n} parameter elements");
        var tensors = Unflatten(values, parameters);
        using var _ = Autodiff.NoGrad();
        for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], tensors[i]);
    }

    /// <summary>Splits a flat vector into tensors shaped and typed like <paramref name="parameters"/>.</summary>
    public static Tensor[] Unflatten(ReadOnlySpan<double> values, IReadOnlyList<Tensor> parameters)
    {
        var r = new Tensor[parameters.Count];
        int offset = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            int n = parameters[i].Numel;
            if (offset + n > values.Length) throw new ShapeMismatchException($"EmpiricalLoss: a vector of {values.Length} values is too short for the parameters ({Count(parameters)} elements)");
            r[i] = Tensor.FromArray(values.Slice(offset, n), parameters[i].ShapeArray()).To(parameters[i].DType);
            offset += n;
        }
        if (offset != values.Length) throw new ShapeMismatchException($"EmpiricalLoss: a vector of {values.Length} values for parameters of {offset} elements");
        return r;
    }

    private static void Accumulate(double[] g, Tensor?[] grads, double w)
    {
        int offset = 0;
        foreach (var t in grads)
        {
            if (t is null) throw new InvalidOperationException("EmpiricalLoss: a parameter's gradient was not computed");
            var d = t.ToDoubleArray();
            for (int i = 0; i < d.Length; i++) g[offset + i] += w * d[i];
            offset += d.Length;
        }
    }

    private IEnumerable<(Tensor X, Tensor Y, double Weight)> BatchesWeighted()
    {
        int n = Examples;
        for (int start = 0; start < n; start += BatchSize)
        {
            int count = Math.Min(BatchSize, n - start);
            var idx = new int[count];
            for (int i = 0; i < count; i++) idx[i] = start + i;
            var (x, y) = _data.GetBatch(idx);
            yield return (x, y, (double)count / n);
        }
    }

    /// <summary>Puts the model in the measurement's modes and restores its modes and buffers on dispose.</summary>
    private readonly struct MeasurementScope : IDisposable
    {
        private readonly Module _model;
        private readonly (Module Module, bool Training)[] _modes;
        private readonly (Tensor Buffer, Tensor Saved)[] _buffers;

        public MeasurementScope(EmpiricalLoss owner)
        {
            _model = owner.Model;
            _modes = [.. _model.Modules().Select(m => (m, m.Training))];
            _buffers = [.. _model.NamedBuffers().Select(b => (b.Buffer, b.Buffer.Clone()))];
            _model.Eval();
            if (owner.BatchNorm == BatchNormMode.Train)
                foreach (var m in _model.Modules().OfType<BatchNorm>()) m.Train();
        }

        public void Dispose()
        {
            // Pre-order: a module's Train sets its descendants, which then set their own modes.
            foreach (var (m, training) in _modes) m.Train(training);
            using var _ = Autodiff.NoGrad();
            foreach (var (buffer, saved) in _buffers) Ops.CopyInPlace(buffer, saved);
        }
    }
}
