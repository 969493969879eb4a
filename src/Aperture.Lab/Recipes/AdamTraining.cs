using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>
/// Trains a classifier with a given <see cref="Adam"/> (one <see cref="TrainStep"/> per minibatch, cross-entropy) and
/// watches what its arithmetic does. Logs <c>train_loss</c> and <c>update_norm</c> (‖θ_t − θ_{t−1}‖) at every step, NaN
/// and infinite values included, and <c>test_accuracy</c> per epoch; records <c>zero_gradient_elements_at_step1</c>,
/// <c>nonfinite_after_step1</c>, <c>first_nonfinite_step</c> (−1 when never), <c>nonfinite_at_end</c>, <c>frozen</c>
/// (no step changed a single bit of any parameter), <c>distance_from_start</c>, <c>final_train_loss</c>,
/// <c>test_accuracy</c> (<see cref="Classification.Accuracy"/>), <c>steps</c>, and <c>v_unchanged_share</c>: the share of
/// the second-moment estimate's elements whose bits a step left unchanged, averaged over the last epoch's steps.
/// </summary>
public static class AdamTraining
{
    /// <summary>Trains <paramref name="model"/> with <paramref name="adam"/> on <paramref name="loader"/> for <paramref name="epochs"/> epochs.</summary>
    public static void Run(Module model, Adam adam, DataLoader loader, int epochs, TensorDataset test, RunContext run)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(adam);
        ArgumentNullException.ThrowIfNull(loader);
        ArgumentNullException.ThrowIfNull(run);
        var parameters = model.Parameters().ToList();
        var train = new TrainStep(model, adam, (o, t) => Losses.CrossEntropy(o, t));
        var weights = new ParameterSnapshot(parameters);
        var initial = weights.Take().ToArray();
        var previous = initial.ToArray();
        float[]? previousV = null;
        long step = 0, firstNonFinite = -1, steps = (long)epochs * loader.BatchesPerEpoch;
        double loss = double.NaN, accuracy = double.NaN, unchanged = 0;
        int unchangedSteps = 0;
        bool changed = false;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            foreach (var (x, y) in loader)
            {
                loss = train.Run(x, y).Loss;
                // Logged when NaN or infinite too: a broken arm's curve is marked where it breaks, not silently cut short.
                run.Log("train_loss", step, loss);
                // With ε stored as 0, a coordinate whose gradient is exactly 0 (a ReLU unit inactive on the whole
                // batch) has m = v = 0, and m/(√v + ε) is 0/0: count them at the first step.
                if (step == 0) run.Record("zero_gradient_elements_at_step1", parameters.Sum(t => t.Grad is null ? t.Numel : t.Grad.ToArray<float>().Count(g => g == 0)));
                step++;
                var now = weights.Take();
                changed |= !RunComparison.BitwiseEqual(now, previous);
                bool finite = RunComparison.AllFinite(now);
                if (!finite && firstNonFinite < 0) firstNonFinite = step;
                if (step == 1) run.Record("nonfinite_after_step1", finite ? 0 : 1);
                double update = RunComparison.Distance(now, previous);
                run.Log("update_norm", step, update);
                now.CopyTo(previous, 0);
                if (epoch == epochs - 1)
                {
                    var v = ParameterSnapshot.Flatten([.. parameters.Select(t => adam.State(t)!.Buffers["exp_avg_sq"])]);
                    if (previousV is not null)
                    {
                        unchanged += UnchangedShare(v, previousV);
                        unchangedSteps++;
                    }
                    previousV = v;
                }
                if (step % 10 == 0) run.ReportProgress(step / (double)steps);
            }
            accuracy = Classification.Accuracy(model, test);
            run.Log("test_accuracy", epoch + 1, accuracy);
        }
        run.Record("first_nonfinite_step", firstNonFinite);
        run.Record("nonfinite_at_end", RunComparison.AllFinite(previous) ? 0 : 1);
        run.Record("frozen", changed ? 0 : 1);
        run.Record("distance_from_start", RunComparison.Distance(previous, initial));
        run.Record("final_train_loss", loss);
        run.Record("test_accuracy", accuracy);
        run.Record("steps", step);
        run.Record("v_unchanged_share", unchangedSteps > 0 ? unchanged / unchangedSteps : double.NaN);
    }

    /// <summary>
    /// Hands β2 = 1 to <see cref="Adam"/> as written, when it is built and by changing a group before a step (with
    /// <paramref name="beta2"/> at construction), and records whether each was refused (<c>refused</c>,
    /// <c>refused_at_construction</c>, <c>refused_at_step</c>), whether the refused step left <paramref name="model"/>'s
    /// parameters as they were (<c>parameters_unchanged</c>) and whether both messages name beta2 and [0, 1)
    /// (<c>message_explains</c>); the messages are saved as <c>messages.txt</c>.
    /// </summary>
    public static void RefuseBeta2One(Module model, double learningRate, double beta2, RunContext run)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(run);
        var messages = new List<string>();
        bool Refused(Action act)
        {
            try
            {
                act();
                return false;
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == "beta2")
            {
                messages.Add(e.Message);
                return true;
            }
        }
        bool atConstruction = Refused(() => _ = new Adam(model.Parameters(), lr: learningRate, beta2: 1.0));
        var adam = new Adam(model.Parameters(), lr: learningRate, beta2: beta2);
        adam.ParamGroups[0]["beta2"] = 1.0;
        var before = new ParameterSnapshot(model).Take().ToArray();
        var step = new TrainStep(model, adam, (o, t) => Losses.CrossEntropy(o, t));
        bool atStep = Refused(() => step.Run(Tensor.Zeros([1, LabData.Pixels]), Tensor.FromArray([0L], [1])));
        run.Record("refused", atConstruction && atStep ? 1 : 0);
        run.Record("refused_at_construction", atConstruction ? 1 : 0);
        run.Record("refused_at_step", atStep ? 1 : 0);
        // A refused step must leave the parameters as they were.
        run.Record("parameters_unchanged", RunComparison.BitwiseEqual(new ParameterSnapshot(model).Take(), before) ? 1 : 0);
        run.Record("message_explains", messages.Count == 2 && messages.All(m => m.Contains("beta2", StringComparison.Ordinal) && m.Contains("[0, 1)", StringComparison.Ordinal)) ? 1 : 0);
        run.SaveArtifact("messages.txt", string.Join(Environment.NewLine, messages));
        run.ReportProgress(1);
    }

    /// <summary>The share of positions at which <paramref name="a"/> and <paramref name="b"/> hold the same bits.</summary>
    public static double UnchangedShare(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"AdamTraining.UnchangedShare: lengths differ ({a.Length} and {b.Length})");
        int same = 0;
        for (int i = 0; i < a.Length; i++) if (BitConverter.SingleToInt32Bits(a[i]) == BitConverter.SingleToInt32Bits(b[i])) same++;
        return a.Length == 0 ? double.NaN : same / (double)a.Length;
    }
}
