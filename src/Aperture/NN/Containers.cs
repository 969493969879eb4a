using System.Collections;

namespace Aperture.NN;

/// <summary>
/// Modules applied one after another, like <c>nn.Sequential</c>. Children are named "0", "1", … unless names are
/// given, so their parameters are <c>0.weight</c>, <c>2.bias</c>, ….
/// </summary>
public sealed class Sequential : Module, IEnumerable<Module>
{
    private readonly List<Module> _layers = [];

    /// <summary>The batch-1 chains of this sequence's runs of Linear layers, by the index where each run starts (built on first use).</summary>
    private LinearChain?[]? _chains;

    /// <summary>A sequence of modules named by position.</summary>
    public Sequential(params IEnumerable<Module> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Append(m);
    }

    /// <summary>A sequence of named modules: <c>new Sequential([("body", body), ("head", head)])</c>.</summary>
    public Sequential(IEnumerable<(string Name, Module Module)> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var (name, m) in modules) Append(name, m);
    }

    /// <summary>Appends a module named by its position; returns this sequence.</summary>
    public Sequential Append(Module module) => Append(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);

    /// <summary>Appends a named module; returns this sequence.</summary>
    public Sequential Append(string name, Module module)
    {
        _layers.Add(RegisterModule(name, module));
        return this;
    }

    /// <summary>The number of modules.</summary>
    public int Count => _layers.Count;

    /// <summary>The module at <paramref name="index"/> (negative counts from the end).</summary>
    public Module this[int index]
    {
        get
        {
            int i = index < 0 ? index + _layers.Count : index;
            if ((uint)i >= (uint)_layers.Count)
                throw new ArgumentOutOfRangeException(nameof(index), index, $"Sequential: index {index} is out of range for {_layers.Count} modules");
            return _layers[i];
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        var x = input;
        var layers = _layers;
        for (int i = 0; i < layers.Count; i++)
        {
            // A run of Linear layers (with their ReLUs) at batch 1 without autodiff runs as one chain over their
            // transposed copies, in one parallel region (LinearChain).
            if (layers[i] is Linear && LinearChain.TryForward(layers, ref _chains, i, x, out var chained, out int covered))
            {
                x = chained!;
                i += covered - 1;
                continue;
            }
            // A Linear layer and the ReLU after it run as one call where the layer's cached inference path applies.
            if (i + 1 < layers.Count && layers[i] is Linear linear && layers[i + 1] is ReLU relu && relu.NoHooks
                && linear.TryForwardRelu(x) is { } fused)
            {
                x = fused;
                i++;
                continue;
            }
            // Likewise a Conv2d layer and its ReLU: one op that writes the activated output.
            if (i + 1 < layers.Count && layers[i] is Conv2d conv && layers[i + 1] is ReLU convRelu && convRelu.NoHooks
                && conv.TryForwardRelu(x) is { } convFused)
            {
                x = convFused;
                i++;
                continue;
            }
            x = layers[i].Forward(x);
        }
        return x;
    }

    /// <inheritdoc/>
    public IEnumerator<Module> GetEnumerator() => _layers.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// A skip connection: y = x + body(x) (He et al. 2016). The body must keep the input's shape.
/// Its parameters are named <c>body.…</c>.
/// </summary>
public sealed class Residual : Module
{
    /// <summary>Wraps <paramref name="body"/>.</summary>
    public Residual(Module body) => Body = RegisterModule("body", body);

    /// <summary>The residual branch.</summary>
    public Module Body { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        var f = Body.Forward(input);
        if (!Shapes.Equal(f.Shape, input.Shape))
            throw new ShapeMismatchException(
                $"Residual: the body {Body.Describe()} maps shape {Shapes.Format(input.Shape)} to {Shapes.Format(f.Shape)}; a residual connection needs the same shape");
        return Ops.Add(input, f);
    }
}

/// <summary>Flattens dimensions <c>startDim</c>..<c>endDim</c> into one, like <c>nn.Flatten</c> (default: all but the batch dimension).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    /// <summary>The first dimension flattened.</summary>
    public int StartDim { get; } = startDim;

    /// <summary>The last dimension flattened.</summary>
    public int EndDim { get; } = endDim;

    /// <inheritdoc/>
    protected override string ExtraRepr => $"startDim: {StartDim}, endDim: {EndDim}";

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input)
    {
        int r = Math.Max(input.Rank, 1);
        int s = StartDim < 0 ? StartDim + r : StartDim, e = EndDim < 0 ? EndDim + r : EndDim;
        if (s < 0 || e >= r || s > e)
            throw new ShapeMismatchException($"{Describe()}: cannot flatten an input of shape {Shapes.Format(input.Shape)} (dimensions {StartDim}..{EndDim})");
        return Ops.Flatten(input, StartDim, EndDim);
    }
}
