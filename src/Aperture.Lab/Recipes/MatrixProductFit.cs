using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>
/// A two-layer linear network without inputs of its own: the product W1·W2 ([outputs, hidden]·[hidden, inputs]), fit to
/// a target matrix A (Rahimi and Recht's NIPS 2017 example). <see cref="Module.Forward"/> computes W1·W2·x for x
/// [inputs, k]; with x = I the output is the product itself.
/// </summary>
public sealed class MatrixProduct : Module
{
    /// <summary>Wraps the initial factors (float64 leaves; they become the module's parameters <c>w1</c> and <c>w2</c>).</summary>
    public MatrixProduct(Tensor w1, Tensor w2)
    {
        ArgumentNullException.ThrowIfNull(w1);
        ArgumentNullException.ThrowIfNull(w2);
        if (w1.Rank != 2 || w2.Rank != 2 || w1.Shape[1] != w2.Shape[0])
            throw new ShapeMismatchException($"MatrixProduct: W1 [m, h] and W2 [h, n] must share h, found {Shapes.Format(w1.Shape)} and {Shapes.Format(w2.Shape)}");
        W1 = RegisterParameter("w1", w1);
        W2 = RegisterParameter("w2", w2);
    }

    /// <summary>W1 [outputs, hidden].</summary>
    public Tensor W1 { get; }

    /// <summary>W2 [hidden, inputs].</summary>
    public Tensor W2 { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor input) => W1.MatMul(W2.MatMul(input));
}

/// <summary>
/// Fits a <see cref="MatrixProduct"/> to A on the population loss ‖W1·W2 − A‖²_F (= E‖(W1W2 − A)x‖² for x ~ N(0, I)),
/// in float64: a first-order optimizer through <see cref="TrainStep"/> on the batch (I, A), or Levenberg–Marquardt on
/// the residuals W1·W2 − A. Both report the relative loss ‖W1W2 − A‖²/‖A‖² per step to a <see cref="LossCurve"/>.
/// </summary>
public static class MatrixProductFit
{
    /// <summary>‖W1W2 − A‖²_F.</summary>
    public static Tensor SquaredError(Tensor product, Tensor a) => Ops.Sum(Ops.Square(Ops.Sub(product, a)));

    /// <summary>
    /// <paramref name="steps"/> steps of <paramref name="optimizer"/>; stops early when the loss leaves the finite
    /// numbers or grows a millionfold over its start (an unstable step size). Returns the steps taken and whether it diverged.
    /// </summary>
    public static (int Steps, bool Diverged) FirstOrder(MatrixProduct model, Tensor a, GradientOptimizer optimizer, int steps,
        LossCurve curve, Action<int>? progress = null)
    {
        var eye = Tensor.Eye(a.Shape[1], dtype: DType.Float64);
        var step = new TrainStep(model, optimizer, SquaredError);
        double start = double.NaN;
        for (int t = 0; t <= steps; t++)
        {
            double value;
            if (t == steps)
                using (Autodiff.NoGrad()) value = SquaredError(model.Forward(eye), a).Item();
            else value = step.Run(eye, a).Loss;  // the loss before step t + 1
            if (t == 0) start = value;
            curve.Observe(t, value);
            if (!double.IsFinite(value) || value > 1e6 * start) return (t, true);
            if (t % 500 == 0) progress?.Invoke(t);
        }
        return (steps, false);
    }

    /// <summary><paramref name="iterations"/> Levenberg–Marquardt iterations (identity damping); returns how many steps were accepted.</summary>
    public static int LevenbergMarquardt(MatrixProduct model, Tensor a, int iterations, LossCurve curve, Action<int>? progress = null)
    {
        var eye = Tensor.Eye(a.Shape[1], dtype: DType.Float64);
        Tensor Residuals() => Ops.Sub(model.Forward(eye), a);
        var lm = new Optim.LevenbergMarquardt(model.Parameters(), Residuals);
        using (Autodiff.NoGrad()) curve.Observe(0, SquaredError(model.Forward(eye), a).Item());
        int accepted = 0;
        for (int t = 1; t <= iterations; t++)
        {
            double loss = lm.Step(Residuals);
            if (lm.LastStepAccepted) accepted++;
            curve.Observe(t, loss);
            if (t % 10 == 0) progress?.Invoke(t);
        }
        return accepted;
    }
}

/// <summary>
/// The relative loss ‖W1·W2 − A‖²/‖A‖² over steps: logged under <see cref="Key"/> at every step when asked, otherwise at
/// every step of the first hundred and then at steps 5% apart; keeps the lowest value so far (never below 1e-300, so
/// its log is finite).
/// </summary>
/// <param name="run">Where to log.</param>
/// <param name="normA">‖A‖²_F.</param>
/// <param name="logEveryStep">Log every step (a few hundred Levenberg–Marquardt iterations).</param>
public sealed class LossCurve(RunContext run, double normA, bool logEveryStep)
{
    /// <summary>The metric's key.</summary>
    public const string Key = "relative_loss";

    private long _next;

    /// <summary>The lowest relative loss seen.</summary>
    public double Best { get; private set; } = double.MaxValue;

    /// <summary>The first logged step at which a stored run's relative loss was at or below 10^<paramref name="log10Level"/>, or null.</summary>
    public static long? FirstStepBelow(StoredRun run, double log10Level)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!run.Metrics.TryGetValue(Key, out var points)) return null;
        foreach (var (step, value) in points)
            if (value <= Math.Pow(10, log10Level)) return step;
        return null;
    }

    /// <summary>Observes the (absolute) loss at a step.</summary>
    public void Observe(long step, double loss)
    {
        double relative = loss / normA;
        if (!double.IsFinite(relative)) return;
        if (relative < Best) Best = Math.Max(relative, 1e-300);
        if (logEveryStep || step < 100 || step >= _next)
        {
            run.Log(Key, step, Math.Max(relative, 1e-300));
            _next = Math.Max(step + 1, (long)Math.Ceiling(step * 1.05));
        }
    }
}
