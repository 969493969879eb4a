namespace Aperture;

/// <summary>
/// The autodiff entry points: grad-mode scopes, <c>torch.autograd.grad</c>-style gradients of tensors, and
/// JAX-style function transforms (<see cref="Grad(Func{Tensor, Tensor}, Tensor)"/>, <see cref="Vjp"/>,
/// <see cref="Jvp(Func{Tensor, Tensor}, Tensor, Tensor)"/>, <see cref="Hvp(Func{Tensor, Tensor}, Tensor, Tensor)"/>) that compose with each other.
/// </summary>
public static class Autodiff
{
    [ThreadStatic] private static int t_depth;

    // Inside Hvp's backward pass: the parameters whose gradients are read only for their tangents, at this level.
    [ThreadStatic] private static IReadOnlyList<Tensor>? t_tangentOnly;
    [ThreadStatic] private static int t_tangentOnlyLevel;

    /// <summary>
    /// Whether the gradient of <paramref name="w"/> is wanted only for its tangent at forward-mode level
    /// <paramref name="level"/>: inside the backward pass of <see cref="Hvp(Func{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/>,
    /// for one of its parameters, a leaf, whose gradient goes nowhere but into the result, which keeps only the
    /// tangent. A node's backward rule may then leave that gradient's primal value at zero instead of computing it.
    /// </summary>
    /// <remarks>
    /// Only Hvp attaches tangents to leaves in place and then runs an unrecorded backward pass over them, so the checks
    /// of its parameter list and level change nothing today; they keep the rule from spreading to a future caller
    /// whose leaf gradients are read.
    /// </remarks>
    internal static bool OnlyTangentWanted(Tensor w, int level)
    {
        if (t_tangentOnly is not { } list || t_tangentOnlyLevel != level || !w.IsLeaf) return false;
        for (int i = 0; i < list.Count; i++)
            if (ReferenceEquals(list[i], w)) return true;
        return false;
    }

    /// <summary>Disables graph recording until the returned scope is disposed (<c>torch.no_grad()</c>).</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Enables graph recording until the returned scope is disposed (<c>torch.enable_grad()</c>).</summary>
    public static GradModeScope EnableGrad() => new(true);

    // ---- gradients of tensors ---------------------------------------------------------------------------

    /// <summary>
    /// The gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/> (each seeded by
    /// <paramref name="gradOutputs"/>, or 1 for scalars), without touching any <see cref="Tensor.Grad"/>.
    /// With <paramref name="createGraph"/> the result is differentiable (for higher-order derivatives).
    /// An input the outputs do not depend on gives null when <paramref name="allowUnused"/>, an error otherwise.
    /// </summary>
    public static Tensor?[] Grad(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor?>? gradOutputs = null,
        bool createGraph = false, bool? retainGraph = null, bool allowUnused = false)
    {
        if (gradOutputs is not null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Grad: {gradOutputs.Count} gradient seeds for {outputs.Count} outputs");
        return BackwardEngine.Grad(outputs, gradOutputs, inputs, retainGraph ?? createGraph, createGraph, allowUnused);
    }

    /// <summary>The gradient of one output with respect to one input.</summary>
    public static Tensor Grad(Tensor output, Tensor input, Tensor? gradOutput = null, bool createGraph = false, bool? retainGraph = null) =>
        Grad([output], [input], [gradOutput], createGraph, retainGraph)[0]!;

    // ---- function transforms ----------------------------------------------------------------------------

    /// <summary>∇f(x) for a scalar-valued <paramref name="f"/>. Nested transforms compose (a gradient of a gradient works).</summary>
    public static Tensor Grad(Func<Tensor, Tensor> f, Tensor x) => ValueAndGrad(f, x).Grad;

    /// <summary>The gradients of a scalar function of several tensors.</summary>
    public static Tensor[] Grad(Func<Tensor[], Tensor> f, params Tensor[] xs) => ValueAndGrad(f, xs).Grads;

    /// <summary>f(x) and ∇f(x) in one pass.</summary>
    public static (Tensor Value, Tensor Grad) ValueAndGrad(Func<Tensor, Tensor> f, Tensor x)
    {
        var (v, g) = ValueAndGrad(xs => f(xs[0]), [x]);
        return (v, g[0]);
    }

    /// <summary>f(xs) and its gradient with respect to each of xs.</summary>
    public static (Tensor Value, Tensor[] Grads) ValueAndGrad(Func<Tensor[], Tensor> f, params Tensor[] xs)
    {
        t_depth++;
        try
        {
            bool create = CreateGraphFor(xs);
            var inputs = xs.Select(Input).ToArray();
            Tensor y;
            using (EnableGrad()) y = f(inputs);
            if (y.Numel != 1)
                throw new ArgumentException($"Grad: the function must return a scalar (one element), got shape {Shapes.Format(y.Shape)}; use Vjp for non-scalar outputs");
            if (!y.RequiresGrad) return (y, inputs.Select(Tensor.ZerosLike).ToArray());
            var grads = BackwardEngine.Grad([y], null, inputs, retainGraph: create, createGraph: create, allowUnused: true);
            return (y, grads.Select((g, i) => g ?? Tensor.ZerosLike(xs[i])).ToArray());
        }
        finally
        {
            t_depth--;
        }
    }

    /// <summary>f(x) and the vector-Jacobian product vᵀ·∂f/∂x (reverse mode), for v of f(x)'s shape.</summary>
    public static (Tensor Output, Tensor Vjp) Vjp(Func<Tensor, Tensor> f, Tensor x, Tensor v)
    {
        t_depth++;
        try
        {
            bool create = CreateGraphFor([x]);
            var input = Input(x);
            Tensor y;
            using (EnableGrad()) y = f(input);
            if (!Shapes.Equal(y.Shape, v.Shape))
                throw new ShapeMismatchException($"Vjp: v has shape {Shapes.Format(v.Shape)} but f(x) has shape {Shapes.Format(y.Shape)}");
            if (!y.RequiresGrad) return (y, Tensor.ZerosLike(x));
            var g = BackwardEngine.Grad([y], [v], [input], retainGraph: create, createGraph: create, allowUnused: true)[0];
            return (y, g ?? Tensor.ZerosLike(x));
        }
        finally
        {
            t_depth--;
        }
    }

    /// <summary>f(x) and the Jacobian-vector product ∂f/∂x·v (forward mode), for v of x's shape.</summary>
    public static (Tensor Output, Tensor Jvp) Jvp(Func<Tensor, Tensor> f, Tensor x, Tensor v)
    {
        var (y, t) = Jvp(xs => f(xs[0]), [x], [v]);
        return (y, t);
    }

    /// <summary>f(xs) and Σᵢ ∂f/∂xᵢ·vᵢ (forward mode).</summary>
    public static (Tensor Output, Tensor Jvp) Jvp(Func<Tensor[], Tensor> f, Tensor[] xs, Tensor[] vs)
    {
        if (xs.Length != vs.Length) throw new ArgumentException($"Jvp: {vs.Length} tangents for {xs.Length} inputs");
        t_depth++;
        try
        {
            using var level = ForwardMode.Enter();
            var duals = new Tensor[xs.Length];
            for (int i = 0; i < xs.Length; i++) duals[i] = ForwardMode.MakeDual(xs[i], vs[i], level);
            var y = f(duals);
            return (y, ForwardMode.TangentOf(y, level));
        }
        finally
        {
            t_depth--;
        }
    }

    /// <summary>
    /// The Hessian-vector product ∇²f(x)·v of a scalar function, by forward-over-reverse (the JVP of the
    /// gradient): about the cost of two gradient evaluations, with no Hessian formed.
    /// </summary>
    public static Tensor Hvp(Func<Tensor, Tensor> f, Tensor x, Tensor v) => Jvp(xx => Grad(f, xx), x, v).Jvp;

    /// <summary>
    /// The Hessian-vector product of a loss with respect to parameters held elsewhere (a model's weights):
    /// <paramref name="loss"/> is evaluated with each parameter carrying the tangent <paramref name="v"/>[i], and the
    /// tangent of its gradient is returned. Parameters must be leaves that require grad; they are not modified.
    /// </summary>
    public static Tensor[] Hvp(Func<Tensor> loss, IReadOnlyList<Tensor> parameters, IReadOnlyList<Tensor> v)
    {
        if (parameters.Count != v.Count) throw new ArgumentException($"Hvp: {v.Count} directions for {parameters.Count} parameters");
        for (int i = 0; i < parameters.Count; i++)
            if (!parameters[i].RequiresGrad)
                throw new ArgumentException($"Hvp: parameter {i} (shape {Shapes.Format(parameters[i].Shape)}) does not require grad");
        t_depth++;
        var level = ForwardMode.Enter();
        try
        {
            for (int i = 0; i < parameters.Count; i++) ForwardMode.Attach(parameters[i], level.Id, v[i]);
            Tensor l;
            using (EnableGrad()) l = loss();
            if (l.Numel != 1) throw new ArgumentException($"Hvp: the loss must be a scalar, got shape {Shapes.Format(l.Shape)}");
            // Only the gradients' tangents are returned, so a parameter's own gradient product (a Linear layer's gᵀ·x,
            // the largest product of the pass) need not be computed: see OnlyTangentWanted.
            var (outerList, outerLevel) = (t_tangentOnly, t_tangentOnlyLevel);
            (t_tangentOnly, t_tangentOnlyLevel) = (parameters, level.Id);
            Tensor?[] grads;
            try
            {
                grads = BackwardEngine.Grad([l], null, parameters, retainGraph: false, createGraph: false, allowUnused: true);
            }
            finally
            {
                (t_tangentOnly, t_tangentOnlyLevel) = (outerList, outerLevel);
            }
            var result = new Tensor[parameters.Count];
            for (int i = 0; i < result.Length; i++)
                result[i] = grads[i] is { } g ? ForwardMode.TangentOf(g, level) : Tensor.ZerosLike(parameters[i]);
            return result;
        }
        finally
        {
            foreach (var p in parameters) ForwardMode.Detach(p, level.Id);
            level.Dispose();
            t_depth--;
        }
    }

    /// <summary>The full Jacobian ∂f/∂x, shape [..f(x).shape, ..x.shape], built column by column in forward mode.</summary>
    public static Tensor JacobianForward(Func<Tensor, Tensor> f, Tensor x)
    {
        int n = x.Numel;
        Tensor? y0 = null;
        var columns = new List<Tensor>(n);
        for (int j = 0; j < n; j++)
        {
            var e = Tensor.ZerosInternal(x.Shape, x.DType);
            e.SetRaw(j, 1);
            var (y, t) = Jvp(f, x, e);
            y0 ??= y;
            columns.Add(Ops.Reshape(t, [-1]));
        }
        if (y0 is null) return Tensor.ZerosInternal([.. f(x).Shape, .. x.Shape], x.DType);
        return Ops.Reshape(Ops.Stack(columns, 1), [.. y0.Shape, .. x.Shape]);
    }

    /// <summary>The full Jacobian ∂f/∂x, shape [..f(x).shape, ..x.shape], built row by row in reverse mode.</summary>
    public static Tensor JacobianReverse(Func<Tensor, Tensor> f, Tensor x)
    {
        Tensor y;
        using (NoGrad()) y = f(x);
        int m = y.Numel;
        var rows = new List<Tensor>(m);
        for (int i = 0; i < m; i++)
        {
            var e = Tensor.ZerosInternal(y.Shape, y.DType);
            e.SetRaw(i, 1);
            rows.Add(Ops.Reshape(Vjp(f, x, e).Vjp, [-1]));
        }
        if (m == 0) return Tensor.ZerosInternal([.. y.Shape, .. x.Shape], x.DType);
        return Ops.Reshape(Ops.Stack(rows, 0), [.. y.Shape, .. x.Shape]);
    }

    /// <summary>A fresh input for a transform: a leaf that requires grad, keeping any outer graph or tangents.</summary>
    private static Tensor Input(Tensor x)
    {
        if (!x.DType.IsFloatingPoint())
            throw new DTypeMismatchException($"autodiff: inputs must be float32 or float64, got {x.DType.Name()}");
        if (x.RequiresGrad && GradMode.Enabled)
        {
            using (EnableGrad()) return Ops.Identity(x);
        }
        var leaf = x.Detach();
        leaf._tangents = x._tangents;
        leaf.RequiresGrad = true;
        return leaf;
    }

    /// <summary>A transform records its backward pass when an enclosing transform or graph may differentiate it again.</summary>
    private static bool CreateGraphFor(Tensor[] xs) =>
        GradMode.Enabled && (t_depth > 1 || xs.Any(x => x.RequiresGrad));
}
