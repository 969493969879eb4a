using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Recipes;

/// <summary>One epoch of <see cref="EarlyStoppedTraining.Fit"/>: the mean loss the optimizer saw and the validation accuracy after it.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="TrainLoss">The mean minibatch loss of the epoch, as the optimizer saw it (noise included).</param>
/// <param name="ValidationAccuracy">Accuracy on the validation set after the epoch, in evaluation mode.</param>
public sealed record StoppingEpoch(int Epoch, double TrainLoss, double ValidationAccuracy);

/// <summary>What <see cref="EarlyStoppedTraining.Fit"/> measured.</summary>
/// <param name="Epochs">Every epoch's record, in order.</param>
/// <param name="BestEpoch">The epoch chosen on validation: the first with the highest validation accuracy.</param>
/// <param name="ValidationAccuracy">The validation accuracy at <paramref name="BestEpoch"/>.</param>
/// <param name="TrainAccuracy">Accuracy on the clean training set with the weights of <paramref name="BestEpoch"/>.</param>
/// <param name="TestAccuracy">Test accuracy with the weights of <paramref name="BestEpoch"/>: never used to choose anything.</param>
/// <param name="LastTestAccuracy">Test accuracy with the last epoch's weights, for comparison.</param>
public sealed record EarlyStoppedResult(IReadOnlyList<StoppingEpoch> Epochs, int BestEpoch, double ValidationAccuracy,
    double TrainAccuracy, double TestAccuracy, double LastTestAccuracy);

/// <summary>
/// Minibatch training for a fixed number of epochs with the stopping point chosen on a validation split: after every
/// epoch the model is evaluated on the validation set and the weights of the best epoch so far are kept; at the end
/// those weights are tested. The test set is read twice, after the choice is made, and never steers it.
/// </summary>
public static class EarlyStoppedTraining
{
    /// <summary>
    /// Trains <paramref name="step"/>'s model on <paramref name="train"/> (which may add noise to its examples) for
    /// <paramref name="epochs"/> epochs of shuffled minibatches drawn from <paramref name="order"/>, and returns the
    /// early-stopped result. <paramref name="cleanTrain"/> is the training set without noise, for the training accuracy.
    /// The model is left with the chosen epoch's weights.
    /// </summary>
    public static EarlyStoppedResult Fit(TrainStep step, Dataset train, TensorDataset cleanTrain, TensorDataset validation,
        TensorDataset test, int epochs, int batchSize, Generator order, Action<StoppingEpoch>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (epochs < 1) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "EarlyStoppedTraining.Fit: at least one epoch");
        var model = step.Model;
        var loader = new DataLoader(train, batchSize, shuffle: true, generator: order);
        var records = new List<StoppingEpoch>();
        Dictionary<string, Tensor>? best = null;
        int bestEpoch = 0;
        double bestAccuracy = double.NegativeInfinity;
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            model.Train();
            double sum = 0;
            int n = 0;
            foreach (var (x, y) in loader)
            {
                var outcome = step.Run(x, y);
                sum += outcome.Loss * outcome.Examples;
                n += outcome.Examples;
            }
            var record = new StoppingEpoch(epoch, sum / Math.Max(n, 1), Classification.Accuracy(model, validation));
            records.Add(record);
            onEpoch?.Invoke(record);
            if (record.ValidationAccuracy > bestAccuracy)
            {
                (bestAccuracy, bestEpoch) = (record.ValidationAccuracy, epoch);
                best = model.StateDict();
            }
        }
        double lastTest = Classification.Accuracy(model, test);
        model.LoadStateDict(best!);
        return new EarlyStoppedResult(records, bestEpoch, bestAccuracy, Classification.Accuracy(model, cleanTrain),
            Classification.Accuracy(model, test), lastTest);
    }
}
