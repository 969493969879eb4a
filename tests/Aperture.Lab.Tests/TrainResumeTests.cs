using System.Diagnostics;
using System.Text.Json;
using Aperture.Data;
using Aperture.IO;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>
/// `aperture train --save/--resume`: the real command killed with SIGKILL at random moments and resumed each time
/// ends with the same bits as an uninterrupted run, and leaves no temporary file behind. (The engine's test
/// CheckpointResumeTests kills training in-process at 20 random sets of steps; this one checks the command end to end.)
/// </summary>
public class TrainResumeTests(ITestOutputHelper output)
{
    private static readonly string Subset = FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the built-in Fashion-MNIST subset is missing");

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[Tiny.CliDll, "train", "--model", "mlp", "--data-dir", Subset, "--epochs", "1", "--seed", "3", "--batch-size", "256", .. args])
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        var p = Process.Start(psi)!;
        // Drain both pipes as the output comes, so a full pipe never stalls the process.
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static void RunToEnd(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[Tiny.CliDll, "train", "--model", "mlp", "--data-dir", Subset, "--epochs", "1", "--seed", "3", "--batch-size", "256", .. args])
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "aperture train did not finish in 2 minutes");
        Assert.True(p.ExitCode == 0, $"aperture train {string.Join(' ', args)} failed ({p.ExitCode}): {stdout}{stderr.Result}");
    }

    /// <summary>
    /// Trials of kill-and-resume, each against the same uninterrupted run: one in the fast suite, more through
    /// <c>APERTURE_RESUME_TRIALS</c> (docs/nn.md: <c>APERTURE_RESUME_TRIALS=20 dotnet test tests/Aperture.Lab.Tests
    /// --filter TrainResumeTests</c>). A trial whose run ends before any kill lands tests nothing and is redrawn.
    /// </summary>
    private static int Trials => int.TryParse(Environment.GetEnvironmentVariable("APERTURE_RESUME_TRIALS"), out int n) && n > 0 ? n : 1;

    [Fact]
    public void TrainKilledAtRandomMomentsResumesBitIdentical()
    {
        using var dir = new TempDir();
        // The uninterrupted run, saving as the killed ones do; how long it trains after its first save sets the range
        // the kill moments are drawn from, so that a kill lands on a fast machine as on a slow one.
        double trainSeconds = Reference(dir.File("reference.ckpt"), dir.File("reference.json"));
        output.WriteLine($"the uninterrupted run trained for {trainSeconds:F2} s after its first save");
        var expected = Checkpoint.LoadState(dir.File("reference.ckpt")).State;
        var a = JsonDocument.Parse(File.ReadAllText(dir.File("reference.json"))).RootElement;

        int passed = 0;
        for (int draw = 0; passed < Trials && draw < 3 * Trials + 2; draw++)
        {
            // Kill with SIGKILL at random moments of training; each restart resumes from whatever the last save left. The
            // moment is drawn after the run's first save (made before its first step), so that the kill lands in training
            // rather than in the process's start-up.
            string ckpt = dir.File($"run{draw}.ckpt"), json = dir.File($"run{draw}.json");
            var rng = new Random(7 + draw);
            int kills = 0;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var lastSave = File.Exists(ckpt) ? File.GetLastWriteTimeUtc(ckpt) : DateTime.MinValue;
                string[] resume = File.Exists(ckpt) ? ["--resume", ckpt] : [];
                using var p = Start(["--save", ckpt, "--save-every", "2", .. resume]);
                var clock = Stopwatch.StartNew();
                while (!p.HasExited && (!File.Exists(ckpt) || File.GetLastWriteTimeUtc(ckpt) == lastSave) && clock.Elapsed < TimeSpan.FromSeconds(60))
                    Thread.Sleep(5);
                double delay = (0.05 + 0.55 * rng.NextDouble()) * trainSeconds;
                if (p.WaitForExit(TimeSpan.FromSeconds(delay))) { Assert.Equal(0, p.ExitCode); break; }
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                kills++;
                var saved = Checkpoint.LoadState(ckpt).State;
                output.WriteLine($"trial {draw}: killed {delay:F2} s after the run's last save; the checkpoint holds step {saved.Scalar("trainer.global_step")}");
            }
            RunToEnd([.. File.Exists(ckpt) ? new[] { "--resume", ckpt } : [], "--save", ckpt, "--json", json]);
            if (kills == 0) { output.WriteLine($"trial {draw}: finished before a kill landed; redrawn"); continue; }

            var actual = Checkpoint.LoadState(ckpt).State;
            Assert.Equal(expected.Tensors.Keys.Order(), actual.Tensors.Keys.Order());
            foreach (var (key, t) in expected.Tensors)
                Assert.True(t.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits).SequenceEqual(actual.Tensors[key].ToDoubleArray().Select(BitConverter.DoubleToInt64Bits)),
                    $"trial {draw}: '{key}' differs from the uninterrupted run's");
            foreach (var (key, v) in expected.Scalars.Where(kv => !kv.Key.EndsWith(".seconds", StringComparison.Ordinal)))
                Assert.True(BitConverter.DoubleToInt64Bits(v) == BitConverter.DoubleToInt64Bits(actual.Scalars[key]), $"trial {draw}: '{key}': {v:R} uninterrupted, {actual.Scalars[key]:R} resumed");
            var b = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
            Assert.Equal(a.GetProperty("train_loss").GetDouble(), b.GetProperty("train_loss").GetDouble());
            Assert.Equal(a.GetProperty("test_accuracy").GetDouble(), b.GetProperty("test_accuracy").GetDouble());
            // Saves interrupted by a kill left temporary files; the later saves removed them.
            Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
            passed++;
            output.WriteLine($"trial {draw}: {kills} kill(s), resumed bit-identical ({passed} of {Trials})");
        }
        Assert.True(passed == Trials, $"only {passed} of {Trials} trials had a kill land before the run ended");

        // A checkpoint resumes only the run that wrote it; a refusal is one line naming the file and the option.
        string reference = dir.File("reference.ckpt");
        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["--resume", reference, "--seed", "4"], "written with --seed 3, this run has --seed 4"),
                     (["--resume", dir.File("missing.ckpt"), "--seed", "3"], "missing.ckpt"),
                     (["--resume", reference, "--seed", "3", "--batch-size", "128"], "written with --batch-size 256, this run has --batch-size 128"),
                 })
        {
            var (code, text) = RunFailing(args);
            Assert.NotEqual(0, code);
            Assert.Contains(message, text.Replace("\n", " "));
            Assert.DoesNotContain("   at ", text);
        }
    }

    /// <summary>
    /// Runs training to the end with <c>--save-every 2</c>, as the trials do; returns the seconds from its first save
    /// (made before its first step) to its exit.
    /// </summary>
    private static double Reference(string ckpt, string json)
    {
        using var p = Start("--save", ckpt, "--save-every", "2", "--json", json);
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && !File.Exists(ckpt) && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(1);
        var training = Stopwatch.StartNew();
        Assert.True(p.WaitForExit(120_000), "aperture train did not finish in 2 minutes");
        double seconds = training.Elapsed.TotalSeconds;
        Assert.True(p.ExitCode == 0, $"aperture train (the uninterrupted run) failed ({p.ExitCode})");
        Assert.True(seconds > 0.02, $"the uninterrupted run ended {seconds:F3} s after its first save: too short to kill it in training");
        return seconds;
    }

    private static (int ExitCode, string Output) RunFailing(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[Tiny.CliDll, "train", "--data-dir", Subset, "--epochs", "1", .. args])
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "400";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, text + stderr.Result);
    }
}
