using System.Diagnostics;
using System.Text.Json;
using Aperture.Data;

namespace Aperture.Lab.Tests;

/// <summary>`aperture train`: the JSON record it writes, and the same command giving the same numbers twice.</summary>
public class TrainCommandTests
{
    [Fact]
    public void Train_writes_its_record_and_repeats_bitwise()
    {
        using var dir = new TempDir();
        string subset = FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the built-in Fashion-MNIST subset is missing");
        JsonElement Run(string name)
        {
            string json = dir.File(name);
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[Tiny.CliDll, "train", "--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset,
                         "--epochs", "1", "--seed", "3", "--batch-size", "256", "--json", json])
                psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(120_000), "aperture train did not finish in 2 minutes");
            Assert.True(p.ExitCode == 0, $"aperture train failed ({p.ExitCode}): {output}");
            Assert.Contains("test accuracy", output);
            return JsonDocument.Parse(File.ReadAllText(json)).RootElement.Clone();
        }

        var first = Run("a.json");
        var second = Run("b.json");
        foreach (var key in new[] { "model", "data", "epochs", "seed", "train_loss", "test_accuracy", "seconds" })
            Assert.True(first.TryGetProperty(key, out _), $"the record lacks '{key}'");
        Assert.Equal("mlp", first.GetProperty("model").GetString());
        Assert.Equal(3UL, first.GetProperty("seed").GetUInt64());
        Assert.Equal(first.GetProperty("train_loss").GetDouble(), second.GetProperty("train_loss").GetDouble());
        Assert.Equal(first.GetProperty("test_accuracy").GetDouble(), second.GetProperty("test_accuracy").GetDouble());
        Assert.InRange(first.GetProperty("test_accuracy").GetDouble(), 0.6, 1.0);   // one epoch on 6000 images already learns
    }
}
