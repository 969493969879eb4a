using Aperture.Lab.Phenomena;
using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

/// <summary>A temporary folder removed when disposed.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "aperture-lab-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Tiny protocols that keep the lab tests fast, and paths into the repository.</summary>
internal static class Tiny
{
    public static readonly MomentumAcceleration Momentum = new();

    /// <summary>The quick tier's data: the shipped Fashion-MNIST subset, read by index from whichever copy is installed.</summary>
    public static readonly LabData Subset = new LabDataSource().Resolve(LabDataset.FashionMnistSubset);
    public static readonly ReluPiecewiseLinear Relu = new();

    public static LabProtocol MomentumProtocol(int seeds, params (string Key, string Value)[] more) =>
        LabRunner.Resolve(Momentum, Tier.Quick,
            [KeyValuePair.Create("dimension", "10"), KeyValuePair.Create("kappas", "10,100,1000"), .. more.Select(m => KeyValuePair.Create(m.Key, m.Value))],
            seeds);

    public static LabProtocol ReluProtocol(int seeds) =>
        LabRunner.Resolve(Relu, Tier.Quick,
            [KeyValuePair.Create("width", "8"), KeyValuePair.Create("steps", "150"), KeyValuePair.Create("learning_rate", "0.02")], seeds);

    public static readonly RandomLabels Memorization = new();
    public static readonly DropoutVsRandomization Randomization = new();

    // 50 training and 50 test images, a 16-unit MLP, three epochs: seconds, and every code path of a real run.
    public static LabProtocol MemorizationProtocol(int seeds, params (string Key, string Value)[] more) =>
        Resolve(Memorization, seeds, [("train_per_class", "5"), ("test_per_class", "5"), ("hidden", "16"), ("batch_size", "10"),
            ("max_epochs", "3"), .. more]);

    public static LabProtocol RandomizationProtocol(int seeds) =>
        Resolve(Randomization, seeds, [("train_per_class", "5"), ("validation_per_class", "3"), ("test_per_class", "5"), ("hidden", "16,16"),
            ("batch_size", "10"), ("epochs", "3")]);

    /// <summary>Every catalogued phenomenon with a protocol small enough for a test (seconds); a new phenomenon adds itself here.</summary>
    public static IReadOnlyList<(Phenomenon Phenomenon, LabProtocol Protocol)> All(int seeds) =>
    [
        (Momentum, MomentumProtocol(seeds)),
        (Relu, ReluProtocol(seeds)),
        (InitScaleTests.Phenomenon, InitScaleTests.TinyProtocol(seeds)),
        (BatchNormSpeedupTests.Phenomenon, BatchNormSpeedupTests.TinyProtocol(seeds)),
        (Memorization, MemorizationProtocol(seeds)),
        (Randomization, RandomizationProtocol(seeds)),
        (LeastSquares, Resolve(LeastSquares, seeds, [("first_order_steps", "200"), ("lm_iterations", "60"),
            ("gd_learning_rates", "0.01,0.2"), ("adam_learning_rates", "0.1,1")])),
        (Beta2Rounding, Resolve(Beta2Rounding, seeds, [("train_per_class", "6"), ("test_per_class", "5"), ("hidden", "8"),
            ("batch_size", "20"), ("epochs", "2")])),
        (Accumulation, Resolve(Accumulation, seeds, [("train_per_class", "6"), ("validation_per_class", "2"), ("test_per_class", "5"), ("hidden", "8"),
            ("batch_size", "10"), ("epochs", "5")])),
        (Transfer, TransferProtocol(seeds)),
        (LatentNeighboursTests.Phenomenon, LatentNeighboursTests.TinyProtocol(seeds)),
        (LearningCoefficientTests.Phenomenon, LearningCoefficientTests.TinyProtocol(seeds)),
        (WordAnalogiesTests.Phenomenon, WordAnalogiesTests.TinyProtocol(seeds)),
    ];

    public static readonly TransferLearning Transfer = new();

    // 20 source images per class, one pretraining epoch, 3 + 2 target images per class, four target epochs.
    public static LabProtocol TransferProtocol(int seeds) =>
        Resolve(Transfer, seeds, [("source_per_class", "20"), ("source_epochs", "1"), ("target_per_class", "3"), ("validation_per_class", "2"),
            ("test_per_class", "5"), ("target_epochs", "4"), ("batch_size", "5")]);

    public static readonly IllConditionedLeastSquares LeastSquares = new();
    public static readonly AdamBeta2Rounding Beta2Rounding = new();
    public static readonly AccumulationOrder Accumulation = new();

    public static LabProtocol Resolve(Phenomenon p, int seeds, IEnumerable<(string Key, string Value)> settings) =>
        LabRunner.Resolve(p, Tier.Quick, settings.Select(s => KeyValuePair.Create(s.Key, s.Value)), seeds);

    /// <summary>The repository root (the folder holding Aperture.slnx).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (System.IO.File.Exists(System.IO.Path.Combine(d.FullName, "Aperture.slnx"))) return d.FullName;
            throw new InvalidOperationException($"no Aperture.slnx above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>The built `aperture` command (Aperture.Cli.dll) of the same configuration as these tests.</summary>
    public static string CliDll
    {
        get
        {
            // The tests run from tests/Aperture.Lab.Tests/bin/<Configuration>/<framework>/.
            var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(System.IO.Path.DirectorySeparatorChar));
            string configuration = framework.Parent!.Name;
            string dll = System.IO.Path.Combine(RepoRoot, "src", "Aperture.Cli", "bin", configuration, framework.Name, "Aperture.Cli.dll");
            if (!System.IO.File.Exists(dll)) throw new FileNotFoundException($"the aperture command is not built at {dll}");
            return dll;
        }
    }

    public static RunStore NewStore(TempDir dir, string name = "runs.db") => new(dir.File(name));
}

/// <summary>
/// A test phenomenon with the catalogue's descriptive members filled in and two seeds in both tiers, so a fixture
/// states only what its test is about: its id, arms, runs and judgement.
/// </summary>
internal abstract class TestPhenomenon<TProtocol> : Phenomenon<TProtocol, NamedArm> where TProtocol : LabProtocol, new()
{
    public override string Title => "t";
    public override string Claim => "c";
    public override string Method => "m";
    public override IReadOnlyList<Source> Sources => [new("s")];
    public override IReadOnlyList<ModelBearing> Models => [];
    public override TProtocol Quick => new() { Seeds = 2 };
    public override TProtocol Full => Quick;
}
