namespace Aperture.Lab.Tests;

/// <summary>A phenomenon file is its card, protocol, arms, a short Run, Judge and Figures: machinery lives in probes and recipes.</summary>
public class CatalogueShapeTests
{
    [Fact]
    public void EveryPhenomenonFileIsAtMost250Lines()
    {
        string folder = Path.Combine(Tiny.RepoRoot, "src", "Aperture.Lab", "Phenomena");
        var files = Directory.GetFiles(folder, "*.cs");
        Assert.Equal(Catalogue.All.Count, files.Length);
        foreach (var f in files)
        {
            int lines = File.ReadAllLines(f).Length;
            Assert.True(lines <= 250, $"{Path.GetFileName(f)} has {lines} lines; move measurements to Lab/Probes and training setups to Lab/Recipes");
        }
    }

    [Fact]
    public void EveryPhenomenonDeclaresItsDataAndTypedArms()
    {
        foreach (var p in Catalogue.All)
        {
            var quick = p.Defaults(Tier.Quick);
            Assert.NotEqual(typeof(NamedArm), p.ArmType);
            var arms = p.ArmsFor(quick);
            Assert.Equal(arms.Count, arms.Select(a => a.ToJson()).Distinct().Count());
            // The canonical JSON reads back into the same arm.
            Assert.All(arms, a => Assert.Equal(a, p.ReadArm(a.ToJson())));
            // A quick tier never needs the full dataset.
            Assert.NotEqual(LabDataset.FashionMnistFull, p.DataFor(quick, Tier.Quick));
        }
    }
}
