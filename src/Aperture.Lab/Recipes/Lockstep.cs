using Aperture.Data;
using Aperture.Lab.Probes;

namespace Aperture.Lab.Recipes;

/// <summary>
/// Trains two <see cref="SgdMlp"/> networks in lockstep, one minibatch each per step, and compares them as they go:
/// their weights bit for bit at every step while identical (then every few steps), their distance (logged as
/// <c>weight_distance</c>), and their test predictions every few epochs (<c>test_disagreement</c>,
/// <c>test_accuracy_original</c>, <c>test_accuracy_second</c>). Records at the end: <c>identical</c>,
/// <c>first_difference_step</c> (−1 when never), <c>max_distance</c>, <c>final_distance</c>,
/// <c>final_relative_distance</c>, <c>disagreement</c>, <c>disagreement_three_quarters</c> (after three quarters of the
/// epochs: with the final value, whether the disagreement has levelled off), <c>accuracy_original</c>,
/// <c>accuracy_second</c>, <c>abs_accuracy_difference</c> and <c>steps</c>.
/// </summary>
public static class Lockstep
{
    /// <summary>Trains <paramref name="a"/> (the original) and <paramref name="b"/> for <paramref name="epochs"/> epochs, recording into <paramref name="run"/>.</summary>
    public static void Train(SgdMlp a, SgdMlp b, int epochs, int evaluateEvery, TensorDataset test, RunContext run)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(run);
        var tracker = new DivergenceTracker(run);
        tracker.Compare(0, a.Weights.Take(), b.Weights.Take());
        int threeQuarters = Math.Max(1, (int)Math.Round(0.75 * epochs));
        long step = 0;
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            using var ea = a.Loader.GetEnumerator();
            using var eb = b.Loader.GetEnumerator();
            while (ea.MoveNext() && eb.MoveNext())
            {
                a.Step.Run(ea.Current.Inputs, ea.Current.Targets);
                b.Step.Run(eb.Current.Inputs, eb.Current.Targets);
                step++;
                bool log = step <= 20 || step % 5 == 0 || step == a.TotalSteps;
                if (tracker.Identical || log) tracker.Compare(step, a.Weights.Take(), b.Weights.Take(), log);
                if (step % 20 == 0) run.ReportProgress(step / (double)a.TotalSteps);
            }
            if (epoch % evaluateEvery != 0 && epoch != epochs && epoch != threeQuarters) continue;
            var (pa, accA) = Classification.Evaluate(a.Model, test);
            var (pb, accB) = Classification.Evaluate(b.Model, test);
            double disagreement = RunComparison.Disagreement(pa, pb);
            run.Log("test_disagreement", epoch, disagreement);
            run.Log("test_accuracy_original", epoch, accA);
            run.Log("test_accuracy_second", epoch, accB);
            if (epoch == threeQuarters) run.Record("disagreement_three_quarters", disagreement);
            if (epoch != epochs) continue;
            run.Record("disagreement", disagreement);
            run.Record("accuracy_original", accA);
            run.Record("accuracy_second", accB);
            run.Record("abs_accuracy_difference", Math.Abs(accB - accA));
        }
        var (wa, wb) = (a.Weights.Take(), b.Weights.Take());
        double distance = RunComparison.Distance(wa, wb), norm = Math.Sqrt(wa.Sum(v => (double)v * v));
        run.Record("identical", tracker.Identical ? 1 : 0);
        run.Record("first_difference_step", tracker.FirstDifference);
        run.Record("max_distance", tracker.MaxDistance);
        run.Record("final_distance", distance);
        run.Record("final_relative_distance", distance / norm);
        run.Record("steps", step);
    }
}
