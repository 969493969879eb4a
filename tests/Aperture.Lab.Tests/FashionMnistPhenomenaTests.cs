using Aperture.Data;
using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

/// <summary>The Fashion-MNIST phenomena (random-labels, dropout-vs-randomization) and the data they share.</summary>
public class FashionMnistPhenomenaTests
{
    private static readonly RandomLabels Memorization = Tiny.Memorization;
    private static readonly DropoutVsRandomization Randomization = Tiny.Randomization;

    private static LabProtocol TinyMemorization(int seeds = 2) => Tiny.MemorizationProtocol(seeds);

    private static LabProtocol TinyRandomization(int seeds = 2) => Tiny.RandomizationProtocol(seeds);

    [Fact]
    public void RandomLabelsRunsEveryArmAndJudgesFromTheStore()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Memorization, Tier.Quick, TinyMemorization());
        var p = (RandomLabels.Protocol)outcome.Protocol;
        Assert.Equal(["true-labels", "labels-0.5", "random-labels", "shuffled-pixels", "random-pixels", "gaussian"], Memorization.ArmNames(p));
        Assert.Equal((12, 0), (outcome.RunsExecuted, outcome.RunsReused));
        // Six arms fit, true labels generalize, random labels at chance, the permutation is invisible, the slope.
        Assert.Equal(6 + 4, outcome.Verdict.Checks.Count);
        Assert.StartsWith("slope of epochs-to-fit", outcome.Verdict.Effect.Name);
        Assert.Equal(2, outcome.Verdict.Effect.N);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "epochs to fit, random-labels");
        Assert.NotEmpty(Memorization.Figures(p, store.LoadRunSet(store.ListRuns().Select(r => r.RunId))));
    }

    [Fact]
    public void RandomLabelsCorruptsWhatEachArmSays()
    {
        var p = (RandomLabels.Protocol)TinyMemorization();
        RunContext Run(string arm)
        {
            var run = new RunContext(arm, 0, Tier.Quick, Tiny.Subset);
            Memorization.Run(p, run);
            return run;
        }
        var clean = Run(RandomLabels.TrueLabels);
        var half = Run("labels-0.5");
        var random = Run(RandomLabels.RandomLabelsArm);
        var shuffled = Run(RandomLabels.ShuffledPixels);
        Assert.Equal(0, clean.Results["labels_changed"]);
        Assert.Equal(0, shuffled.Results["labels_changed"]);
        // Half the labels are redrawn, a tenth of those to their own class: about 45% change (25 of 50 drawn).
        Assert.InRange(half.Results["labels_changed"], 0.3, 0.5);
        Assert.Equal(0.5, half.Results["label_corruption"]);
        Assert.InRange(random.Results["labels_changed"], 0.75, 1.0);
        // Every arm of a seed starts from the same weights, and the label arms test on the same images: before
        // training, their test accuracies agree exactly.
        Assert.Equal(clean.Metrics.First(m => m.Key == "test_accuracy" && m.Step == 0).Value,
                     half.Metrics.First(m => m.Key == "test_accuracy" && m.Step == 0).Value);
        foreach (var run in new[] { clean, half, random, shuffled })
        {
            Assert.InRange(run.Results["epochs_to_fit"], 1, p.MaxEpochs);
            Assert.Contains(run.Metrics, m => m.Key == "train_accuracy" && m.Step == (long)run.Results["epochs_to_fit"]);
            Assert.Contains(run.Metrics, m => m.Key == "test_accuracy" && m.Step == (long)run.Results["epochs_to_fit"]);
        }
    }

    [Fact]
    public void FitSlopeIsTheLeastSquaresSlopeOverTheLabelArms()
    {
        var p = (RandomLabels.Protocol)Tiny.MemorizationProtocol(2, ("label_corruption", "0,0.5,1"), ("input_corruptions", "false"));
        // Seed 0: 10, 20, 30 epochs (slope 20); seed 1: 10, 10, 40 (slope 30).
        double[][] epochs = [[10, 20, 30], [10, 10, 40]];
        var runs = new List<StoredRun>();
        for (int seed = 0; seed < 2; seed++)
            for (int i = 0; i < 3; i++)
                runs.Add(new StoredRun($"{seed}{i}".PadRight(32, '0'), RandomLabels.LabelArm(p.LabelCorruption[i]), seed, 1,
                    new Dictionary<string, double> { ["epochs_to_fit"] = epochs[seed][i] },
                    new Dictionary<string, IReadOnlyList<(long, double)>>(), new Dictionary<string, string>()));
        var set = new RunSet(runs);
        Assert.Equal(20, RandomLabels.FitSlope(p, set, 0), 12);
        Assert.Equal(30, RandomLabels.FitSlope(p, set, 1), 12);
    }

    [Fact]
    public void ProtocolsRefuseWhatTheVerdictCannotUse()
    {
        var e = Assert.Throws<LabConfigException>(() => Tiny.MemorizationProtocol(2, ("label_corruption", "0.2,0.5")));
        Assert.Contains("must include 0 (true labels) and 1 (random labels)", e.Message);
        var d = Assert.Throws<LabConfigException>(() => Tiny.Resolve(Randomization, 2, [("drop_rates", "0.5,1")]));
        Assert.Contains("every value of drop_rates must lie in [0.01, 0.95]", d.Message);
    }

    [Fact]
    public void DropoutVsRandomizationRunsEveryArmAndJudgesFromTheStore()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Randomization, Tier.Quick, TinyRandomization());
        var p = (DropoutVsRandomization.Protocol)outcome.Protocol;
        // none, then dropout, Gaussian dropout and DropConnect at two rates each, then input noise at two levels.
        Assert.Equal(9, Randomization.Arms(p).Count);
        Assert.Equal((18, 0), (outcome.RunsExecuted, outcome.RunsReused));
        Assert.Equal(3, outcome.Verdict.Checks.Count);
        Assert.Equal("tuned test accuracy, dropout − none (paired by seed)", outcome.Verdict.Effect.Name);
        Assert.All(outcome.Verdict.Checks, c => Assert.Equal("above 0.01", c.Band));
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "tuned test accuracy, dropout − gaussian-dropout (paired by seed)");
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Single(Randomization.Figures(p, runs));
        // Tuning reads the validation accuracy only: the chosen level of each seed is one with the best validation accuracy.
        var level = Randomization.Tuned(p, runs, DropoutVsRandomization.Regularizer.Dropout, "level");
        var validation = Randomization.Tuned(p, runs, DropoutVsRandomization.Regularizer.Dropout, "validation_accuracy");
        for (int i = 0; i < runs.Seeds.Count; i++)
            foreach (var rate in p.DropRates)
                Assert.True(validation[i] >= runs.Get(new DropoutVsRandomization.Regularization(DropoutVsRandomization.Regularizer.Dropout, rate).Name, runs.Seeds[i]).Result("validation_accuracy"));
        Assert.All(level, l => Assert.Contains(l, p.DropRates));
    }

    [Fact]
    public void EveryRegularizerStartsFromTheSameNetworkAndStopsOnValidation()
    {
        var p = (DropoutVsRandomization.Protocol)TinyRandomization();
        var results = Randomization.Arms(p).ToDictionary(arm => arm.Name, arm =>
        {
            var run = new RunContext(arm, 1, Tier.Quick, Tiny.Subset);
            Randomization.Run(p, arm, run);
            return run;
        });
        // The arms differ in the noise the optimizer saw: every first-epoch loss is different.
        Assert.Equal(9, results.Values.Select(r => r.Metrics.Single(m => m.Key == "noisy_train_loss" && m.Step == 1).Value).Distinct().Count());
        foreach (var run in results.Values)
        {
            int best = (int)run.Results["best_epoch"];
            Assert.InRange(best, 1, p.Epochs);
            var curve = run.Metrics.Where(m => m.Key == "validation_accuracy").Select(m => m.Value).ToList();
            Assert.Equal(curve.Max(), run.Results["validation_accuracy"]);
            Assert.Equal(curve.IndexOf(curve.Max()) + 1, best);
        }
        // A run is a function of its seed.
        var arm = Randomization.Arms(p).First(a => a.Kind == DropoutVsRandomization.Regularizer.DropConnect);
        var again = new RunContext(arm, 1, Tier.Quick, Tiny.Subset);
        Randomization.Run(p, arm, again);
        Assert.Equal(results[arm.Name].Results, again.Results);
    }

    [Fact]
    public void FlatSamplesAreStratifiedFlatAndStandardized()
    {
        var data = Tiny.Subset.FashionMnist;
        var train = LabData.FlatSample(data.Train, 7, new Generator(3), "test: train_per_class");
        var test = LabData.FlatSample(data.Test, 3, new Generator(4), "test: test_per_class");
        Assert.Equal([70, 784], train.Inputs.Shape.ToArray());
        Assert.All(train.Targets.ToArray<long>().GroupBy(l => l), g => Assert.Equal(7, g.Count()));
        Assert.Equal(10, train.Targets.ToArray<long>().Distinct().Count());
        var (x, y) = LabData.Standardize(train, test);
        var v = x.Inputs.ToDoubleArray();
        double mean = v.Average(), std = Math.Sqrt(v.Average(e => (e - mean) * (e - mean)));
        Assert.Equal(0, mean, 5);
        Assert.Equal(1, std, 5);
        Assert.Equal([30, 784], y.Inputs.Shape.ToArray());

        var e = Assert.Throws<LabConfigException>(() => LabData.FlatSample(data.Test, 100_000, new Generator(0), "test: test_per_class"));
        Assert.Contains("test: test_per_class = 100000", e.Message);
        Assert.Contains(data.Source, e.Message);
    }
}
