using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>How to train a tanh MLP whose weights all start at one constant.</summary>
/// <param name="HiddenLayers">Hidden layers.</param>
/// <param name="Width">Units per hidden layer.</param>
/// <param name="Value">The value every weight starts at (biases start at 0).</param>
/// <param name="Steps">Minibatch SGD steps.</param>
/// <param name="LearningRate">SGD's learning rate.</param>
/// <param name="BatchSize">Examples per step (the last partial batch of an epoch is dropped).</param>
public sealed record ConstantInitSettings(int HiddenLayers, int Width, double Value, int Steps, double LearningRate, int BatchSize);

/// <summary>What <see cref="ConstantInitTraining.Train"/> measured.</summary>
/// <param name="MaxWeightUnitDifference">The largest difference between two units of a hidden layer (incoming weights, bias) at any measured step.</param>
/// <param name="MaxActivationUnitDifference">The largest difference between two units' activations on the training sample after training.</param>
/// <param name="DistinctUnits">The most distinct units (bit patterns of incoming weights and bias) in any hidden layer after training.</param>
/// <param name="MaxWeightChange">The largest change of any hidden weight in training (0: nothing was trained, so nothing was tested).</param>
/// <param name="InitialLoss">Cross-entropy on the training sample before training.</param>
/// <param name="FinalLoss">Cross-entropy on the training sample after training.</param>
public sealed record ConstantInitOutcome(double MaxWeightUnitDifference, double MaxActivationUnitDifference, int DistinctUnits,
    double MaxWeightChange, double InitialLoss, double FinalLoss)
{
    /// <summary>
    /// The exact claim on this seed: the weights moved, yet every hidden layer's units stayed bitwise identical (one
    /// distinct unit per layer) and no difference between units, in weights or activations, was ever non-zero.
    /// </summary>
    public bool StayedSymmetric => MaxWeightChange > 0 && DistinctUnits == 1 && MaxWeightUnitDifference == 0 && MaxActivationUnitDifference == 0;
}

/// <summary>
/// Trains a tanh MLP from a constant initialization with minibatch SGD (no dropout or other per-unit noise, so that
/// nothing but the initialization could tell two hidden units apart) and measures whether its hidden units stay
/// identical (<see cref="UnitSymmetry"/>), every 10 steps and at the end.
/// </summary>
public static class ConstantInitTraining
{
    /// <summary>
    /// Trains on <paramref name="train"/> (flat inputs [N, features], int64 labels); the shuffles come from a fork of
    /// <paramref name="generator"/>. <paramref name="log"/> receives (key, step, value) for the loss and the unit
    /// difference; <paramref name="progress"/> the fraction done.
    /// </summary>
    public static ConstantInitOutcome Train(TensorDataset train, int classes, ConstantInitSettings settings, Generator generator,
        Action<string, long, double>? log = null, Action<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(generator);
        var net = NN.Models.Mlp(train.Inputs.Shape[1], [.. Enumerable.Repeat(settings.Width, settings.HiddenLayers)], classes, "tanh",
            weightInit: Init.Constant(settings.Value), biasInit: Init.Zeros(), generator: generator);
        var hidden = UnitSymmetry.HiddenLayers(net);
        var initial = hidden.Select(l => l.GetParameter("weight").ToDoubleArray()).ToList();
        var loader = new DataLoader(train, settings.BatchSize, shuffle: true, generator: generator.Fork(), dropLast: true);
        var step = new TrainStep(net, new SGD(net.Parameters(), lr: settings.LearningRate), (o, t) => Losses.CrossEntropy(o, t));

        double worst = 0;
        void Measure(int t)
        {
            double d = hidden.Max(UnitSymmetry.UnitDifference);
            log?.Invoke("max_unit_difference", t, d);
            worst = Math.Max(worst, d);
        }
        double initialLoss = Loss(net, train);
        Measure(0);
        for (int t = 0; t < settings.Steps;)
        {
            foreach (var (x, y) in loader)
            {
                log?.Invoke("train_loss", t, step.Run(x, y).Loss);
                t++;
                if (t % 10 == 0 || t == settings.Steps) Measure(t);
                if (t % 20 == 0) progress?.Invoke(t / (double)settings.Steps);
                if (t >= settings.Steps) break;
            }
        }
        double moved = 0;
        for (int i = 0; i < hidden.Count; i++)
        {
            var w = hidden[i].GetParameter("weight").ToDoubleArray();
            for (int j = 0; j < w.Length; j++) moved = Math.Max(moved, Math.Abs(w[j] - initial[i][j]));
        }
        return new ConstantInitOutcome(worst, UnitSymmetry.ActivationDifference(net, train), hidden.Max(UnitSymmetry.DistinctUnits),
            moved, initialLoss, Loss(net, train));
    }

    private static double Loss(Module net, TensorDataset data)
    {
        using var _ = Autodiff.NoGrad();
        return Losses.CrossEntropy(net.Forward(data.Inputs), data.Targets).Item();
    }
}
