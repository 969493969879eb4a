using System.Diagnostics;
using System.Text.Json;

namespace Aperture.Lab.Tests;

/// <summary>`aperture optics`: the prediction and measurements it writes as JSON, and its errors.</summary>
public class OpticsCommandTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Tiny.CliDll);
        psi.ArgumentList.Add("optics");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd() + stderr.Result;
        Assert.True(p.WaitForExit(120_000), "aperture optics did not finish in 2 minutes");
        return (p.ExitCode, output);
    }

    [Fact]
    public void Optics_prints_and_writes_the_prediction_beside_measurements()
    {
        using var dir = new TempDir();
        string json = dir.File("optics.json");
        var (code, output) = Run("--activation", "tanh", "--sw2", "2.5", "--sb2", "0.05", "--depth", "4", "--measure", "--width", "64",
            "--seeds", "2", "--pairs", "2", "--lanczos-steps", "4", "--json", json);
        Assert.True(code == 0, output);
        Assert.Contains("chaotic", output);
        Assert.Contains("critical σ_w²", output);
        var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal("tanh", root.GetProperty("activation").GetString());
        Assert.InRange(root.GetProperty("critical_sw2").GetDouble(), 1.755, 1.765);   // Schoenholz et al. 2016, Fig. 1
        Assert.Equal(MeanField.QStar(MeanFieldActivation.Tanh, 2.5, 0.05), root.GetProperty("q_star").GetDouble(), 12);
        Assert.Equal(4, root.GetProperty("predicted").GetArrayLength());
        var measured = root.GetProperty("measured");
        Assert.Equal(2, measured.GetProperty("seeds").GetInt32());
        var layer = measured.GetProperty("layers")[3];
        Assert.True(layer.GetProperty("q").GetProperty("mean").GetDouble() > 0);
        Assert.Equal(root.GetProperty("predicted")[3].GetProperty("gradient_gain").GetDouble(),
            layer.GetProperty("gradient_gain").GetProperty("predicted").GetDouble(), 1);
        Assert.Equal(2, measured.GetProperty("jacobian_largest_singular_value").GetArrayLength());

        // Non-finite values are null: ReLU at its critical point has no single q*.
        var (code2, output2) = Run("--activation", "relu", "--sw2", "2", "--depth", "3", "--json", json);
        Assert.True(code2 == 0, output2);
        var relu = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(JsonValueKind.Null, relu.GetProperty("q_star").ValueKind);
        Assert.Equal(1, relu.GetProperty("chi1").GetDouble());
        Assert.False(relu.TryGetProperty("measured", out _));
    }

    [Fact]
    public void Optics_names_the_option_that_is_out_of_range()
    {
        var (code, output) = Run("--sw2", "-1");
        Assert.Equal(2, code);
        Assert.Contains("--sw2", output);
        Assert.DoesNotContain("   at ", output);
        var (code2, output2) = Run("--sw2", "1", "--measure", "--width", "0");
        Assert.Equal(2, code2);
        Assert.Contains("--width", output2);
    }
}
