using System.Diagnostics;
using System.Text.Json;
using Aperture.Lab.Store;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>A sweep killed with SIGKILL half-way loses no finished run and duplicates none when rerun.</summary>
public class SigkillTests(ITestOutputHelper output)
{
    // Eight seeds × two arms; each gradient-descent run (κ up to 10⁴) takes a few tenths of a second, each heavy-ball
    // run a few hundredths, so the sweep lasts a few seconds.
    private static readonly string[] Sweep =
        ["lab", "run", "momentum-acceleration", "--seeds", "8", "--set", "dimension=64", "--set", "kappas=10,100,1000,10000"];

    // 8 seeds × 4 arms, in a discovery block and a replication block.
    private const int Runs = 64;

    [Fact]
    public void KilledSweepResumesWithoutLossOrDuplicates()
    {
        using var dir = new TempDir();
        string db = dir.File("sweep.db");

        // Start the real command and kill -9 it once a few runs have finished.
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var first = Start(db, []))
        {
            // Drain its output as it comes, so a full pipe can never stall it.
            first.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
            first.BeginOutputReadLine();
            var clock = Stopwatch.StartNew();
            int finished = 0;
            // Kill in the middle of a long run (a gradient-descent one), so the store holds a run marked running:
            // killed between two runs, there would be none to redo.
            while (clock.Elapsed < TimeSpan.FromSeconds(120) && !first.HasExited)
            {
                finished = CountFinished(db);
                if (finished >= 3 && IsRunning(db, "gradient-descent")) break;
                Thread.Sleep(5);
            }
            Assert.False(first.HasExited, $"the sweep ended before it could be killed: {string.Join("\n", log)}");
            first.Kill(entireProcessTree: true);   // SIGKILL on Unix: no handler runs
            first.WaitForExit();
            output.WriteLine($"killed after {finished} finished runs ({clock.Elapsed.TotalSeconds:F1} s)");
        }

        Dictionary<string, RunRow> before;
        using (var store = new RunStore(db))
            before = store.ListRuns().ToDictionary(r => r.RunId);
        var finishedBefore = before.Values.Where(r => r.Status == RunStatus.Finished).ToList();
        Assert.InRange(finishedBefore.Count, 3, Runs - 1);
        Assert.Contains(before.Values, r => r.Status == RunStatus.Running);   // the run it was killed in

        // Rerun the same command to the end.
        string json = dir.File("result.json");
        using (var second = Start(db, ["--json", json]))
        {
            string text = second.StandardOutput.ReadToEnd();
            Assert.True(second.WaitForExit(300_000), "the rerun did not finish");
            output.WriteLine(text);
            Assert.Equal(0, second.ExitCode);
        }

        using (var store = new RunStore(db))
        {
            var after = store.ListRuns();
            Assert.Equal(Runs, after.Count);
            Assert.Equal(Runs, after.Select(r => r.RunId).Distinct().Count());
            Assert.All(after, r => Assert.Equal(RunStatus.Finished, r.Status));
            // Every run finished before the kill is untouched: same end time, one attempt, same results.
            foreach (var old in finishedBefore)
            {
                var now = after.Single(r => r.RunId == old.RunId);
                Assert.Equal(old.EndTime, now.EndTime);
                Assert.Equal(1, now.Attempts);
            }
            // The run that was killed was redone, once.
            Assert.All(after.Where(r => before.TryGetValue(r.RunId, out var b) && b.Status == RunStatus.Running), r => Assert.Equal(2, r.Attempts));
            // The replication block (seeds 8–15) is judged last.
            var verdict = store.LatestVerdicts()["momentum-acceleration"];
            Assert.Equal(8, verdict.Seeds);
            Assert.Equal(8, verdict.SeedBase);
            Assert.Equal(Runs / 2, verdict.RunIds.Count);
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("aperture.lab-run/2", doc.RootElement.GetProperty("schema").GetString());
        var record = doc.RootElement.GetProperty("results").EnumerateArray().Single();
        Assert.Equal("momentum-acceleration", record.GetProperty("id").GetString());
        Assert.Equal("quick", record.GetProperty("tier").GetString());
        Assert.Equal("none", record.GetProperty("data").GetProperty("sha256").GetString());
        Assert.StartsWith(Aperture.Lab.Store.RunStore.CodeVersion, record.GetProperty("code").GetProperty("version").GetString());
        foreach (var (block, seedBase) in new[] { ("discovery", 0), ("replication", 8) })
        {
            var b = record.GetProperty(block);
            Assert.Equal(8, b.GetProperty("seeds").GetInt32());
            Assert.Equal(seedBase, b.GetProperty("seed_base").GetInt32());
            Assert.Contains(b.GetProperty("verdict").GetString(), new[] { "held", "did not hold", "inconclusive" });
            var effect = b.GetProperty("effect");
            Assert.True(effect.GetProperty("ci_low").GetDouble() <= effect.GetProperty("value").GetDouble());
            Assert.Equal(Runs / 2, b.GetProperty("run_ids").GetArrayLength());
        }
        Assert.Equal(record.GetProperty("discovery").GetProperty("verdict").GetString() == record.GetProperty("replication").GetProperty("verdict").GetString(),
            record.GetProperty("replicated").GetBoolean());
    }

    private static Process Start(string db, string[] extra)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        foreach (var a in (string[])[Tiny.CliDll, .. Sweep, "--store", db, .. extra]) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the aperture command");
    }

    private static int CountFinished(string db) => Count(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished'");

    private static bool IsRunning(string db, string arm) =>
        Count(db, $"SELECT COUNT(*) FROM runs WHERE status = 'running' AND arm = '{arm}'") > 0;

    private static int Count(string db, string sql)
    {
        if (!File.Exists(db)) return 0;
        try
        {
            using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            return Convert.ToInt32(cmd.ExecuteScalar());
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return 0;   // the schema is not there yet
        }
    }
}
