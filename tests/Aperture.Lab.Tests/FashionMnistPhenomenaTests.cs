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

    private static RandomLabels.Arm LabelArm(double f, RandomLabels.Architecture a = RandomLabels.Architecture.Shallow) => new(RandomLabels.Corruption.Labels, f, a);

    [Fact]
    public void RandomLabelsRunsEveryArmAndJudgesFromTheStore()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Memorization, Tier.Quick, TinyMemorization());
        var p = (RandomLabels.Protocol)outcome.Protocol;
        Assert.Equal(["true-labels", "labels-0.5", "random-labels", "true-labels deep", "labels-0.5 deep", "random-labels deep", "shuffled-pixels", "random-pixels", "gaussian"],
            Memorization.Arms(p).Select(a => a.Name));
        Assert.Equal((18, 0), (outcome.RunsExecuted, outcome.RunsReused));
        // Nine arms fit; per architecture: true labels generalize, random labels at chance, fitting slows; the permutation.
        Assert.Equal(9 + 2 * 3 + 1, outcome.Verdict.Checks.Count);
        Assert.Contains(outcome.Verdict.Checks, c => c.Estimate.Method.StartsWith("exact binomial on the pooled count", StringComparison.Ordinal));
        Assert.StartsWith("share of seeds where fitting slows", outcome.Verdict.Effect.Name);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name == "epochs to fit, random-labels deep (Kaplan–Meier median)");
        Assert.NotEmpty(Memorization.Figures(p, store.LoadRunSet(store.ListRuns().Select(r => r.RunId))));
    }

    [Fact]
    public void RandomLabelsCorruptsWhatEachArmSays()
    {
        var p = (RandomLabels.Protocol)TinyMemorization();
        RunContext Run(RandomLabels.Arm arm, int seed = 0)
        {
            var run = new RunContext(arm, seed, Tier.Quick, Tiny.Subset);
            Memorization.Run(p, arm, run);
            return run;
        }
        var clean = Run(LabelArm(0));
        var half = Run(LabelArm(0.5));
        var random = Run(LabelArm(1));
        var shuffled = Run(new RandomLabels.Arm(RandomLabels.Corruption.ShuffledPixels, 0, RandomLabels.Architecture.Shallow));
        Assert.Equal(0, clean.Results["labels_changed"]);
        Assert.Equal(0, shuffled.Results["labels_changed"]);
        // Half the labels are redrawn, a tenth of those to their own class: about 45% change (25 of 50 drawn).
        Assert.InRange(half.Results["labels_changed"], 0.3, 0.5);
        Assert.InRange(random.Results["labels_changed"], 0.75, 1.0);
        // A run is a function of its seed and arm.
        Assert.Equal(clean.Results, Run(LabelArm(0)).Results);
        foreach (var run in new[] { clean, half, random, shuffled })
        {
            Assert.InRange(run.Results["epochs_to_fit"], 1, p.MaxEpochs);
            Assert.Equal(50, run.Results["test_count"]);
            Assert.Contains(run.Metrics, m => m.Key == "train_accuracy" && m.Step == (long)run.Results["epochs_to_fit"]);
        }
        // Seeds of a block are tested on disjoint folds of the test set.
        var test0 = Aperture.Lab.Recipes.FashionMnistClassification.TestFold(Tiny.Subset.FashionMnist.Test, 5, 0, "t").Inputs.ToDoubleArray();
        var test1 = Aperture.Lab.Recipes.FashionMnistClassification.TestFold(Tiny.Subset.FashionMnist.Test, 5, 1, "t").Inputs.ToDoubleArray();
        Assert.NotEqual(test0, test1);
    }

    [Fact]
    public void FittingSlowsOnlyWhenEveryStepUpInPIsStrictlySlowerAsFarAsCensoringTells()
    {
        var p = (RandomLabels.Protocol)Tiny.MemorizationProtocol(2, ("label_corruption", "0,0.5,1"), ("input_corruptions", "false"), ("max_epochs", "40"));
        // Seed 0: 10, 20, then not fitted by the cap (slower); seed 1: 10, 10 (a tie), 30; seed 2: 10, 40 and 40 both unfitted (unordered).
        (double Epochs, bool Fitted)[][] runs = [[(10, true), (20, true), (40, false)], [(10, true), (10, true), (30, true)], [(10, true), (40, false), (40, false)]];
        var stored = new List<StoredRun>();
        for (int seed = 0; seed < 3; seed++)
            for (int i = 0; i < 3; i++)
                stored.Add(new StoredRun($"{seed}{i}".PadRight(32, '0'), LabelArm(p.LabelCorruption[i]).Name, seed, 1,
                    new Dictionary<string, double> { ["epochs_to_fit"] = runs[seed][i].Epochs, ["fitted"] = runs[seed][i].Fitted ? 1 : 0 },
                    new Dictionary<string, IReadOnlyList<(long, double)>>(), new Dictionary<string, string>()));
        var set = new RunSet(stored);
        Assert.True(RandomLabels.SlowsOnSeed(p, set, RandomLabels.Architecture.Shallow, 0));
        Assert.False(RandomLabels.SlowsOnSeed(p, set, RandomLabels.Architecture.Shallow, 1));
        Assert.False(RandomLabels.SlowsOnSeed(p, set, RandomLabels.Architecture.Shallow, 2));
    }

    [Fact]
    public void ProtocolsRefuseWhatTheVerdictCannotUse()
    {
        var e = Assert.Throws<LabConfigException>(() => Tiny.MemorizationProtocol(2, ("label_corruption", "0.2,0.5")));
        Assert.Contains("include 0 (true labels) and 1 (random labels)", e.Message);
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
        Assert.Contains("only 100 images of some class", e.Message);
    }
}
