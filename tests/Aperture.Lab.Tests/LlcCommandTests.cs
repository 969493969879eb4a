using System.Diagnostics;
using System.Text.Json;

namespace Aperture.Lab.Tests;

/// <summary>`aperture llc`: its JSON, the same numbers twice, and bad arguments answered with a message.</summary>
public class LlcCommandTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Tiny.CliDll);
        psi.ArgumentList.Add("llc");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "aperture llc did not finish in 2 minutes");
        return (p.ExitCode, output + stderr.Result);
    }

    [Fact]
    public void Llc_prints_json_beside_the_exact_value_and_repeats_bitwise()
    {
        string[] args = ["--dln", "3,2,3", "--rank", "1", "--n", "300", "--seeds", "2", "--chains", "2", "--burn-in", "50", "--draws", "60", "--json"];
        var (code, output) = Run(args);
        Assert.True(code == 0, $"aperture llc failed ({code}): {output}");
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal("dln 3,2,3 rank 1", doc.GetProperty("model").GetString());
        // RRR M = 3, H = 2, N = 3, r = 1: 2(H + r)(M + N) − (M − N)² − (H + r)² = 36 − 0 − 9 = 27; M + H + N + r = 9 is odd: 28/8.
        Assert.Equal("7/2", doc.GetProperty("lambda_exact").GetString());
        // Aoyagi's case: M = (2, 1, 2), Σ = all three, ℓ = 2, S = 5, M̄ = 3, a = 1, so θ = a(ℓ − a) + 1 = 2, as the odd sum gives in RRR.
        Assert.Equal(2, doc.GetProperty("multiplicity").GetInt32());
        var k = doc.GetProperty("aoyagi_case");
        Assert.Equal([0, 1, 2], k.GetProperty("index_set").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal((2, 5, 3, 1), (k.GetProperty("ell").GetInt32(), k.GetProperty("sum").GetInt32(), k.GetProperty("m_bar").GetInt32(), k.GetProperty("a").GetInt32()));
        Assert.Equal(6.0, doc.GetProperty("half_dimension").GetDouble());
        Assert.Equal("true", doc.GetProperty("anchor").GetString());
        Assert.Equal("n/ln n", doc.GetProperty("sampler").GetProperty("nbeta_convention").GetString());
        Assert.Equal(2, doc.GetProperty("seeds").GetArrayLength());
        Assert.True(double.IsFinite(doc.GetProperty("lambda_hat").GetDouble()));
        var again = JsonDocument.Parse(Run(args).Output).RootElement;
        Assert.Equal(doc.GetProperty("lambda_hat").GetDouble(), again.GetProperty("lambda_hat").GetDouble());
    }

    [Fact]
    public void Llc_reports_the_tempered_value_of_a_normal_crossing()
    {
        var (code, output) = Run("--normal-crossing", "1,2", "--n", "2000", "--nbeta", "200", "--seeds", "2", "--chains", "1", "--burn-in", "20", "--draws", "30", "--json");
        Assert.True(code == 0, $"aperture llc failed ({code}): {output}");
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal("1/4", doc.GetProperty("lambda_exact").GetString());
        // λ(200) at γ = 1, by quadrature: the value the sampler converges to at this nβ (18% below λ).
        Assert.InRange(doc.GetProperty("lambda_tempered").GetDouble(), 0.204, 0.208);
        Assert.Equal(2, doc.GetProperty("ci95").GetArrayLength());
        Assert.Equal(1.0, doc.GetProperty("half_dimension").GetDouble());
        Assert.Equal(1, doc.GetProperty("multiplicity").GetInt32());
        Assert.False(doc.TryGetProperty("aoyagi_case", out _));
    }

    [Theory]
    [InlineData(new[] { "--dln", "3,x,3" }, "--dln")]
    [InlineData(new[] { "--dln", "3,2,3", "--rank", "5" }, "rank")]
    [InlineData(new[] { "--regular", "3" }, "--regular")]
    [InlineData(new[] { "--dln", "3,3", "--regular", "2,2" }, "exactly one model")]
    [InlineData(new[] { "--regular", "2,2", "--draws", "1" }, "draws")]
    public void Bad_arguments_get_a_message_not_a_stack_trace(string[] args, string mention)
    {
        var (code, output) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(mention, output);
        Assert.DoesNotContain("   at ", output);
    }
}
