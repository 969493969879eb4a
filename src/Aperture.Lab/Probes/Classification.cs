using Aperture.Data;
using Aperture.NN;

namespace Aperture.Lab.Probes;

/// <summary>
/// A classifier's predictions and accuracy on a dataset, from one forward pass over all of it in evaluation mode
/// without recording a graph (the model's mode is restored afterwards). The prediction is the arg-max of the logits
/// (<see cref="Ops.ArgMax"/>: the first maximum wins); accuracy is <see cref="Metrics.Accuracy"/>, where a row of
/// logits holding a NaN counts as wrong.
/// </summary>
public static class Classification
{
    /// <summary>The logits of <paramref name="model"/> on every input of <paramref name="data"/>, [n, classes].</summary>
    public static Tensor Logits(Module model, TensorDataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var _ = Autodiff.NoGrad();
            return model.Forward(data.Inputs);
        }
        finally
        {
            model.Train(wasTraining);
        }
    }

    /// <summary>The predicted class of every example of <paramref name="data"/> (arg-max of the logits; a NaN counts as the largest, as in <see cref="Ops.ArgMax"/>).</summary>
    public static long[] Predictions(Module model, TensorDataset data) => Ops.ArgMax(Logits(model, data), 1).ToArray<long>();

    /// <summary>The fraction of <paramref name="data"/>'s examples (int64 targets) classified correctly; a row of logits holding a NaN counts as wrong.</summary>
    public static double Accuracy(Module model, TensorDataset data)
    {
        var logits = Logits(model, data);
        return Metrics.Accuracy(logits, data.Targets);
    }

    /// <summary>Predictions and accuracy from one forward pass: <see cref="Predictions"/> and <see cref="Accuracy"/> together.</summary>
    public static (long[] Predictions, double Accuracy) Evaluate(Module model, TensorDataset data)
    {
        var logits = Logits(model, data);
        return (Ops.ArgMax(logits, 1).ToArray<long>(), Metrics.Accuracy(logits, data.Targets));
    }
}
