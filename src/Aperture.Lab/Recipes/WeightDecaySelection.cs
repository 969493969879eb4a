using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>One weight decay's fit in <see cref="WeightDecaySelection.Fit"/>.</summary>
/// <param name="WeightDecay">The L2 coefficient λ (Adam adds λ·w to each gradient, so the fit minimizes loss + λ‖w‖²/2).</param>
/// <param name="TrainLoss">The clean training loss after the last epoch (without the penalty).</param>
/// <param name="TrainLossChange">|loss at the end − loss 10% of the epochs earlier| / the latter: how far from converged.</param>
/// <param name="TrainAccuracy">Training accuracy after the last epoch.</param>
/// <param name="ValidationAccuracy">Validation accuracy after the last epoch.</param>
/// <param name="ValidationLoss">Validation loss after the last epoch (breaks ties in accuracy).</param>
/// <param name="TestAccuracy">Test accuracy after the last epoch: never used to choose.</param>
public sealed record DecayFit(double WeightDecay, double TrainLoss, double TrainLossChange, double TrainAccuracy,
    double ValidationAccuracy, double ValidationLoss, double TestAccuracy);

/// <summary>The fits of <see cref="WeightDecaySelection.Fit"/> and the one validation chose.</summary>
/// <param name="Fits">One per weight decay, in the order given.</param>
/// <param name="Chosen">The index of the fit with the best validation accuracy (ties: the lower validation loss).</param>
public sealed record DecaySelection(IReadOnlyList<DecayFit> Fits, int Chosen)
{
    /// <summary>The chosen fit.</summary>
    public DecayFit Best => Fits[Chosen];
}

/// <summary>
/// Trains a model's trainable parameters to convergence under each of several L2 weight decays, from the same
/// initial state and with the same minibatch orders, and chooses the decay on a validation set. The test set is
/// evaluated for every fit but chooses nothing. The model is left with the chosen fit's weights.
/// </summary>
public static class WeightDecaySelection
{
    /// <summary>
    /// For each of <paramref name="decays"/>: restore <paramref name="model"/>'s initial state, train it with Adam
    /// (<paramref name="learningRate"/>, L2 <c>weight_decay</c>) for <paramref name="epochs"/> epochs of shuffled
    /// minibatches (the order forked from <paramref name="order"/>, one stream per decay in order), then evaluate.
    /// </summary>
    public static DecaySelection Fit(Module model, TensorDataset train, TensorDataset validation, TensorDataset test,
        IReadOnlyList<double> decays, int epochs, int batchSize, double learningRate, Generator order, Action<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(decays);
        ArgumentNullException.ThrowIfNull(order);
        if (decays.Count == 0 || epochs < 1) throw new ArgumentException("WeightDecaySelection.Fit: at least one decay and one epoch");
        var initial = model.StateDict();
        var streams = decays.Select(_ => order.Fork()).ToList();
        var fits = new List<DecayFit>();
        var states = new List<Dictionary<string, Tensor>>();
        int check = Math.Max(1, epochs - Math.Max(1, epochs / 10));
        for (int k = 0; k < decays.Count; k++)
        {
            model.LoadStateDict(initial);
            var step = new TrainStep(model, new Adam(model.Parameters().Where(t => t.RequiresGrad), lr: learningRate, weightDecay: decays[k]),
                (o, t) => Losses.CrossEntropy(o, t));
            var loader = new DataLoader(train, batchSize, shuffle: true, generator: streams[k]);
            double earlier = double.NaN;
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                model.Train();
                foreach (var (x, y) in loader) step.Run(x, y);
                if (epoch == check) earlier = Loss(model, train);
                progress?.Invoke((k * epochs + epoch) / (double)(decays.Count * epochs));
            }
            double loss = Loss(model, train);
            fits.Add(new DecayFit(decays[k], loss, Math.Abs(loss - earlier) / earlier, Classification.Accuracy(model, train),
                Classification.Accuracy(model, validation), Loss(model, validation), Classification.Accuracy(model, test)));
            states.Add(model.StateDict());
        }
        int chosen = Enumerable.Range(0, fits.Count).OrderByDescending(i => fits[i].ValidationAccuracy).ThenBy(i => fits[i].ValidationLoss).First();
        model.LoadStateDict(states[chosen]);
        return new DecaySelection(fits, chosen);
    }

    private static double Loss(Module model, TensorDataset data)
    {
        using var _ = Autodiff.NoGrad();
        return Losses.CrossEntropy(Classification.Logits(model, data), data.Targets).Item();
    }

    /// <summary>
    /// The validation accuracy of every candidate weight decay, logged by each run under <paramref name="key"/> at the
    /// candidate's index: each arm's mean over seeds with its 95% interval against the decay itself (a log axis when
    /// the candidates are positive), not against its index in the protocol's list.
    /// </summary>
    public static Figure ValidationFigure(string key, IReadOnlyList<double> decays, RunSet runs, IEnumerable<string> arms)
    {
        ArgumentNullException.ThrowIfNull(runs);
        bool log = decays.Count > 1 && decays.All(d => d > 0);
        var series = arms.SelectMany(arm => runs.Seeds.Select(s => runs.Get(arm, s)).Where(r => r.Metrics.ContainsKey(key))
            .Select(r => new Series(arm, [.. r.Metrics[key].Where(q => q.Step >= 0 && q.Step < decays.Count).Select(q => decays[(int)q.Step])],
                [.. r.Metrics[key].Where(q => q.Step >= 0 && q.Step < decays.Count).Select(q => q.Value)], SeriesStyle.LineAndMarkers)));
        return new Figure("validation-accuracy-by-decay", "Validation accuracy against the weight decay, per arm", "weight decay λ", "validation accuracy",
            Series.MeansOverSeeds(series, keepSeeds: false, range: ValueRange.Fraction), LogX: log,
            Caption: "Each arm's mean over seeds with its 95% interval; the decay with the best validation accuracy is the one each run keeps.")
        { Metrics = [key], YRange = ValueRange.Fraction };
    }
}
