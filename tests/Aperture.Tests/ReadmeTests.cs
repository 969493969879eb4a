namespace Aperture.Tests;

/// <summary>The README's engine example, kept compiling and true.</summary>
public class ReadmeTests
{
    [Fact]
    public void The_engine_example_runs_and_means_what_it_says()
    {
        var x = Tensor.FromArray([0.5, -1.0, 2.0]).RequiresGrad_();
        var y = (x * 3.0 + 1.0).Sin().Sum();
        y.Backward();
        var (_, jvp) = Aperture.Autodiff.Jvp(t => (t * 3.0 + 1.0).Sin(), x.Detach(), Tensor.OnesLike(x));
        var hv = Aperture.Autodiff.Hvp(t => t.Pow(3).Sum(), x.Detach(), Tensor.OnesLike(x));

        var xs = new[] { 0.5, -1.0, 2.0 };
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(3 * Math.Cos(3 * xs[i] + 1), x.Grad!.At(i), 14);
            Assert.Equal(3 * Math.Cos(3 * xs[i] + 1), jvp.At(i), 14);
            Assert.Equal(6 * xs[i], hv.At(i), 12);
        }
        var readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        Assert.Contains("var y = (x * 3.0 + 1.0).Sin().Sum();", readme);
        Assert.Contains("dotnet test Aperture.slnx", readme);
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Aperture.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("could not find the repository root (Aperture.slnx) above " + AppContext.BaseDirectory);
    }
}
