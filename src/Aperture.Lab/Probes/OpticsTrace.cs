using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>A measured quantity beside its mean-field prediction (NaN when theory has none for this layer).</summary>
/// <param name="Measured">What the network did.</param>
/// <param name="Predicted">What the mean-field recursion says it should do.</param>
public readonly record struct OpticsValue(double Measured, double Predicted)
{
    /// <summary>Measured/predicted (NaN without a prediction).</summary>
    public double Ratio => Measured / Predicted;
}

/// <summary>
/// One traced layer: what it does to the signal going forward and to the gradient coming back, beside the mean-field
/// prediction. Quantities are averaged over the traced batch (the correlation over its pairs).
/// </summary>
/// <param name="Name">The layer's dotted name in the module.</param>
/// <param name="Width">Units per example (the layer's output features).</param>
/// <param name="Activation">The activation found after the layer (null when it is not one mean-field theory covers; then there are no predictions).</param>
/// <param name="WeightVariance">σ_w² the prediction used for this layer (given, or fan-in × the mean squared weight).</param>
/// <param name="BiasVariance">σ_b² the prediction used (given, or the mean squared bias).</param>
/// <param name="Q">q^l: the mean square of the layer's pre-activations, ‖h^l‖²/n_l per example.</param>
/// <param name="C">c^l: the correlation h_a·h_b/(‖h_a‖‖h_b‖) between the pre-activations of each input pair.</param>
/// <param name="ActiveFraction">The fraction of units whose slope φ′(h) is at least half the activation's slope at the origin (<see cref="MeanField.ActiveFraction"/>).</param>
/// <param name="SignalGain">√(q^l/q^(l−1)): the gain of the signal's RMS through the layer (the input's for l = 1).</param>
/// <param name="GradientVariance">The mean square of ∂(v·y)/∂h^l for a standard normal cotangent v on the output y.</param>
/// <param name="GradientGain">GradientVariance^l/GradientVariance^(l+1) (for the last layer, over the cotangent's mean square): χ at this layer.</param>
public sealed record OpticsLayer(
    string Name, int Width, MeanFieldActivation? Activation, double WeightVariance, double BiasVariance,
    OpticsValue Q, OpticsValue C, OpticsValue ActiveFraction, OpticsValue SignalGain, OpticsValue GradientVariance, OpticsValue GradientGain);

/// <summary>
/// The input–output Jacobian J = ∂y/∂x at one input, probed without forming it: its largest (and smallest) singular
/// values by Lanczos on JᵀJ (each product one JVP and one VJP, full reorthogonalization), and its mean squared singular
/// value tr(JᵀJ)/n_in by Hutchinson's estimator (one JVP per probe). Dynamical isometry (Pennington et al. 2017,
/// arXiv 1711.04735) is all singular values near 1; mean-field theory predicts the mean square, Π_l χ_l.
/// </summary>
/// <param name="RitzSingularValues">√ of the Ritz values of JᵀJ after the Lanczos steps, largest first: the first converge to
/// J's largest singular values; the last is an upper bound on its smallest (exact once the steps reach n_in).</param>
/// <param name="MeanSquaredSingularValue">tr(JᵀJ)/n_in estimated from Gaussian probes, beside its mean-field prediction.</param>
/// <param name="MeanSquaredStandardError">The standard error of that estimate over the probes.</param>
/// <param name="Probes">How many Hutchinson probes were drawn.</param>
public sealed record OpticsJacobian(double[] RitzSingularValues, OpticsValue MeanSquaredSingularValue, double MeanSquaredStandardError, int Probes)
{
    /// <summary>The largest singular value found.</summary>
    public double Largest => RitzSingularValues.Length > 0 ? RitzSingularValues[0] : double.NaN;

    /// <summary>The smallest Ritz singular value (an upper bound on J's smallest singular value).</summary>
    public double Smallest => RitzSingularValues.Length > 0 ? RitzSingularValues[^1] : double.NaN;
}

/// <summary>What <see cref="OpticsTrace.Measure"/> does beyond its defaults.</summary>
/// <param name="Theory">σ_w², σ_b² for every traced layer's prediction; null to read them off each layer's weights
/// (fan-in × mean squared weight, mean squared bias), which predicts a trained network from its own statistics.</param>
/// <param name="Layers">The dotted names of the layers to trace; null for every <see cref="Linear"/> layer in order.</param>
/// <param name="LanczosSteps">Lanczos steps on JᵀJ (capped at n_in); 0 skips the Jacobian.</param>
/// <param name="JacobianProbes">Hutchinson probes for the Jacobian's mean squared singular value.</param>
/// <param name="Seed">Seeds the backward pass's cotangent, the Lanczos start and the probes.</param>
public sealed record OpticsOptions((double WeightVariance, double BiasVariance)? Theory = null, IReadOnlyList<string>? Layers = null,
    int LanczosSteps = 24, int JacobianProbes = 8, ulong Seed = 0);

/// <summary>
/// The optics trace: each layer's action on signal and gradient, measured on a module through forward hooks and set
/// beside the mean-field recursion of <see cref="MeanField"/> (Poole et al. 2016; Schoenholz et al. 2016).
/// </summary>
/// <param name="Layers">The traced layers, input side first.</param>
/// <param name="InputQ">q⁰ = ‖x‖²/n₀, averaged over the batch.</param>
/// <param name="InputC">c⁰, the input pairs' mean correlation.</param>
/// <param name="Pairs">How many input pairs (2k, 2k+1) the correlations average over.</param>
/// <param name="Predicted">Whether the module was recognized as a chain of Linear layers and covered activations, so that predictions exist.</param>
/// <param name="Jacobian">The Jacobian at the batch's first input (null when skipped).</param>
public sealed record OpticsTrace(IReadOnlyList<OpticsLayer> Layers, double InputQ, double InputC, int Pairs, bool Predicted, OpticsJacobian? Jacobian)
{
    /// <summary>
    /// Traces <paramref name="net"/> on <paramref name="inputs"/> ([B, …] with B even: pairs (0, 1), (2, 3), …).
    /// Forward hooks record each traced layer's output h^l (its pre-activations); one backward pass from a standard
    /// normal cotangent on the output gives ∂/∂h^l; the Jacobian is probed at the first input. Predictions are made
    /// when the module is a chain — its leaf modules are the traced Linear layers, each followed by at most one of
    /// Tanh, ReLU or Identity (a Flatten may come first), inside Sequentials only — by running
    /// <see cref="MeanField.Propagate(IReadOnlyList{MeanFieldLayer}, double, double, double)"/> from each pair's own
    /// input moments. The module runs in its current mode; parameters and their <c>.Grad</c> are not touched.
    /// </summary>
    public static OpticsTrace Measure(Module net, Tensor inputs, OpticsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new OpticsOptions();
        if (inputs.Rank < 2 || inputs.Size(0) < 2 || inputs.Size(0) % 2 != 0)
            throw new ArgumentException($"OpticsTrace: inputs must be a batch [B, …] with B even (pairs (0, 1), (2, 3), …), got shape {Shapes.Format(inputs.Shape)}", nameof(inputs));
        if (!inputs.DType.IsFloatingPoint())
            throw new ArgumentException($"OpticsTrace: inputs must be float32 or float64, got {inputs.DType.Name()}", nameof(inputs));
        if (options.LanczosSteps < 0 || options.JacobianProbes < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "OpticsTrace: LanczosSteps and JacobianProbes must be ≥ 0");
        if (options.Theory is { } th && (!(th.WeightVariance >= 0) || !(th.BiasVariance >= 0) || !double.IsFinite(th.WeightVariance) || !double.IsFinite(th.BiasVariance)))
            throw new ArgumentOutOfRangeException(nameof(options), $"OpticsTrace: σ_w² and σ_b² must be finite and ≥ 0, got {th.WeightVariance} and {th.BiasVariance}");

        var named = net.NamedModules().ToList();
        var traced = SelectLayers(named, options.Layers);
        var (chain, activations) = RecognizeChain(net, traced);
        int batch = inputs.Size(0), pairs = batch / 2;

        // ---- forward with hooks, then one backward pass -----------------------------------------------------
        var pre = new Tensor?[traced.Count];
        var handles = new List<HookHandle>();
        double[][] h;
        double[][] grads;
        double cotangentMeanSquare;
        try
        {
            for (int i = 0; i < traced.Count; i++)
            {
                int at = i;
                handles.Add(traced[i].Module.RegisterForwardHook((_, _, output) => { pre[at] = output; return null; }));
            }
            Tensor y;
            using (Autodiff.EnableGrad()) y = net.Forward(inputs.Detach());
            for (int i = 0; i < traced.Count; i++)
                if (pre[i] is null) throw new ArgumentException($"OpticsTrace: layer '{traced[i].Name}' did not run in the forward pass", nameof(options));
            var v = Tensor.Randn(y.Shape, new Generator(options.Seed, 1), y.DType);
            cotangentMeanSquare = MeanSquare(v.ToDoubleArray());
            h = [.. pre.Select(t => t!.ToDoubleArray())];
            if (!y.RequiresGrad || pre.Any(t => !t!.RequiresGrad))
                throw new ArgumentException("OpticsTrace: the traced layers' outputs carry no gradient (do the parameters require grad?)", nameof(net));
            grads = [.. Autodiff.Grad([y], [.. pre.Select(t => t!)], [v]).Select((g, i) => g?.ToDoubleArray() ?? new double[h[i].Length])];
        }
        finally
        {
            foreach (var handle in handles) handle.Dispose();
        }

        // ---- the input's moments, per example and per pair -------------------------------------------------
        var x = inputs.ToDoubleArray();
        int n0 = x.Length / batch;
        var (xq, xc, xm) = Moments(x, batch, n0);

        // ---- predictions --------------------------------------------------------------------------------------
        var widths = traced.Select((t, i) => h[i].Length / batch).ToArray();
        var theory = new MeanFieldLayer[traced.Count];
        var sw2 = new double[traced.Count];
        var sb2 = new double[traced.Count];
        for (int i = 0; i < traced.Count; i++)
        {
            var lin = (Linear)traced[i].Module;
            (sw2[i], sb2[i]) = options.Theory ?? (lin.InFeatures * MeanSquare(lin.Weight.ToDoubleArray()), lin.Bias is { } b ? MeanSquare(b.ToDoubleArray()) : 0);
            int fanIn = i == 0 ? n0 : widths[i - 1];
            theory[i] = new MeanFieldLayer(activations[i] ?? MeanFieldActivation.Linear, sw2[i], sb2[i], (double)widths[i] / fanIn);
        }
        var predictions = new MeanFieldLayerPrediction[pairs][];
        if (chain)
            for (int p = 0; p < pairs; p++)
                predictions[p] = MeanField.Propagate(theory, xm[2 * p, 0], xm[2 * p + 1, 0], xm[2 * p, 1]);
        double Predict(Func<MeanFieldLayerPrediction, double> f, int layer) =>
            chain ? predictions.Average(p => f(p[layer])) : double.NaN;

        // ---- per-layer measurements --------------------------------------------------------------------------
        var layers = new List<OpticsLayer>();
        double prevQ = xq.Average(), prevQPred = prevQ;
        var gradVar = grads.Select(MeanSquare).ToArray();
        for (int i = 0; i < traced.Count; i++)
        {
            int n = widths[i];
            var (q, c, _) = Moments(h[i], batch, n);
            double qMeasured = q.Average(), cMeasured = c.Average();
            double active = activations[i] is { } act ? h[i].Count(v => MeanField.IsActive(act, v)) / (double)h[i].Length : double.NaN;
            double qPred = Predict(p => p.Q, i);
            double gPred = Predict(p => p.GradientVariance, i);
            double gainPred = Predict(p => p.Chi, i);
            double gainMeasured = gradVar[i] / (i + 1 < traced.Count ? gradVar[i + 1] : cotangentMeanSquare);
            layers.Add(new OpticsLayer(traced[i].Name, n, activations[i], sw2[i], sb2[i],
                new OpticsValue(qMeasured, qPred),
                new OpticsValue(cMeasured, Predict(p => p.C, i)),
                new OpticsValue(active, Predict(p => p.ActiveFraction, i)),
                new OpticsValue(Math.Sqrt(qMeasured / prevQ), Math.Sqrt(qPred / prevQPred)),
                new OpticsValue(gradVar[i], gPred),
                new OpticsValue(gainMeasured, gainPred)));
            prevQ = qMeasured;
            prevQPred = qPred;
        }

        // ---- the Jacobian at the first input -----------------------------------------------------------------
        OpticsJacobian? jacobian = null;
        if (options.LanczosSteps > 0 || options.JacobianProbes > 0)
        {
            double predicted = double.NaN;
            if (chain)
            {
                var self = MeanField.Propagate(theory, xm[0, 0], xm[0, 0], xm[0, 0]);
                var last = self[^1];
                predicted = last.JacobianGain * MeanField.SlopeSecondMoment(theory[^1].Activation, last.Qa);
            }
            jacobian = ProbeJacobian(net, inputs, options, predicted);
        }
        return new OpticsTrace(layers, xq.Average(), xc.Average(), pairs, chain, jacobian);
    }

    // ---- the Jacobian ----------------------------------------------------------------------------------------

    private static OpticsJacobian ProbeJacobian(Module net, Tensor inputs, OpticsOptions options, double predicted)
    {
        var x0 = Ops.Slice(inputs.Detach(), 0, 0, 1).Contiguous();
        int n = x0.Numel;
        var shape = x0.ShapeArray();
        var dtype = x0.DType;
        Tensor Jvp(double[] u) => Autodiff.Jvp(net.Forward, x0, Tensor.FromArray(u, shape).To(dtype)).Jvp;
        double[] JtJ(double[] u)
        {
            var ju = Jvp(u);
            return Autodiff.Vjp(net.Forward, x0, ju).Vjp.ToDoubleArray();
        }

        // Hutchinson: E‖Ju‖² = tr(JᵀJ) for u ~ N(0, I).
        var gen = new Generator(options.Seed, 2);
        var samples = new double[options.JacobianProbes];
        for (int k = 0; k < samples.Length; k++)
        {
            var u = Tensor.Randn(shape, gen, DType.Float64).ToDoubleArray();
            var ju = Jvp(u).ToDoubleArray();
            samples[k] = ju.Sum(e => e * e) / n;
        }
        double mean = samples.Length > 0 ? samples.Average() : double.NaN;
        double se = samples.Length > 1 ? Math.Sqrt(samples.Sum(s => (s - mean) * (s - mean)) / (samples.Length - 1) / samples.Length) : double.NaN;

        var ritz = options.LanczosSteps > 0 ? Lanczos(JtJ, n, Math.Min(options.LanczosSteps, n), new Generator(options.Seed, 3)) : [];
        return new OpticsJacobian([.. ritz.Select(l => Math.Sqrt(Math.Max(0, l)))], new OpticsValue(mean, predicted), se, samples.Length);
    }

    /// <summary>
    /// The Ritz values (largest first) of a symmetric positive semi-definite operator after <paramref name="steps"/>
    /// steps of the engine's Lanczos (full reorthogonalization) from a Gaussian start; it stops early on an invariant
    /// subspace. With steps = n the Ritz values are the eigenvalues.
    /// </summary>
    internal static double[] Lanczos(Func<double[], double[]> apply, int n, int steps, Generator generator)
    {
        var start = Tensor.Randn([n], generator, DType.Float64).ToDoubleArray();
        var t = global::Aperture.Lanczos.Tridiagonalize((x, y) => apply(x.ToArray()).CopyTo(y), n, start, steps);
        var values = Linalg.TridiagonalEigen(t.Alpha, t.Beta).Values;
        Array.Reverse(values);
        return values;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static List<(string Name, Module Module)> SelectLayers(List<(string Name, Module Module)> named, IReadOnlyList<string>? names)
    {
        if (names is null)
        {
            var linears = named.Where(m => m.Module is Linear).ToList();
            if (linears.Count == 0) throw new ArgumentException("OpticsTrace: the module has no Linear layer to trace");
            return linears;
        }
        if (names.Count == 0) throw new ArgumentException("OpticsTrace: Layers names no layer", nameof(names));
        var result = new List<(string, Module)>();
        foreach (var name in names)
        {
            var hit = named.FirstOrDefault(m => m.Name == name);
            if (hit.Module is null)
                throw new ArgumentException($"OpticsTrace: no layer named '{name}'; the module's layers are: {string.Join(", ", named.Where(m => m.Module is Linear).Select(m => m.Name))}");
            if (hit.Module is not Linear)
                throw new ArgumentException($"OpticsTrace: layer '{name}' is a {hit.Module.GetType().Name}; only Linear layers can be traced");
            result.Add(hit);
        }
        return result;
    }

    // The module is a chain when its leaves, in order, are [Flatten] (Linear [activation])* with every Linear traced
    // and every container a Sequential: then layer l's input is layer l−1's activation and mean-field theory applies.
    private static (bool Chain, MeanFieldActivation?[] Activations) RecognizeChain(Module net, List<(string Name, Module Module)> traced)
    {
        var acts = new MeanFieldActivation?[traced.Count];
        var leaves = net.Modules().Where(m => !m.Children().Any()).ToList();
        var index = traced.Select(t => leaves.IndexOf(t.Module)).ToArray();
        for (int i = 0; i < traced.Count; i++)
        {
            int next = index[i] + 1;
            acts[i] = next >= leaves.Count || leaves[next] is Linear ? MeanFieldActivation.Linear : leaves[next] switch
            {
                Tanh => MeanFieldActivation.Tanh,
                ReLU => MeanFieldActivation.Relu,
                Identity => MeanFieldActivation.Linear,
                _ => null,
            };
        }
        bool chain = net.Modules().All(m => !m.Children().Any() || m is Sequential) && acts.All(a => a is not null);
        int pos = 0;
        if (pos < leaves.Count && leaves[pos] is Flatten) pos++;
        for (int i = 0; chain && i < traced.Count; i++)
        {
            if (pos >= leaves.Count || !ReferenceEquals(leaves[pos], traced[i].Module)) { chain = false; break; }
            pos++;
            if (pos < leaves.Count && leaves[pos] is Tanh or ReLU or Identity) pos++;
        }
        return (chain && pos == leaves.Count, acts);
    }

    // Per example the mean square ‖x‖²/n; per pair the correlation; and per example the moments Propagate takes:
    // [e, 0] = ‖x_e‖²/n and, for the first of a pair, [e, 1] = x_e·x_(e+1)/n.
    private static (double[] Q, double[] C, double[,] M) Moments(double[] data, int batch, int n)
    {
        var q = new double[batch];
        var m = new double[batch, 2];
        for (int e = 0; e < batch; e++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += data[e * n + j] * data[e * n + j];
            q[e] = s / n;
            m[e, 0] = q[e];
        }
        var c = new double[batch / 2];
        for (int p = 0; p < batch / 2; p++)
        {
            int a = 2 * p, b = a + 1;
            double s = 0;
            for (int j = 0; j < n; j++) s += data[a * n + j] * data[b * n + j];
            m[a, 1] = s / n;
            c[p] = q[a] == 0 || q[b] == 0 ? 1 : s / n / Math.Sqrt(q[a] * q[b]);
        }
        return (q, c, m);
    }

    private static double MeanSquare(double[] v) => v.Length == 0 ? 0 : v.Sum(e => e * e) / v.Length;
}
