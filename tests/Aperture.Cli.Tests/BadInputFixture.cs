using System.IO.Compression;
using Aperture.Data;
using Aperture.Lab;
using Aperture.Lab.Store;
using Microsoft.Data.Sqlite;

namespace Aperture.Cli.Tests;

/// <summary>
/// A folder of hostile inputs, made once for the bad-input table: damaged and foreign run stores, broken data
/// folders, a file where a folder is expected, and a folder this process cannot write.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BadInputFixture : IDisposable
{
    public BadInputFixture()
    {
        Dir = Path.Combine(Path.GetTempPath(), "aperture-cli-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Dir);
        File.WriteAllText(At("afile"), "a plain file\n");

        // A folder that cannot be written. Permission bits do not stop root, so as root use a sysfs or procfs folder
        // (the kernel refuses new files there whatever the user).
        ReadOnly = At("readonly");
        Directory.CreateDirectory(ReadOnly);
        File.SetUnixFileMode(ReadOnly, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        if (CanWrite(ReadOnly))
        {
            File.SetUnixFileMode(ReadOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            ReadOnly = new[] { "/sys/kernel", "/proc/1" }.FirstOrDefault(d => Directory.Exists(d) && !CanWrite(d))
                       ?? throw new InvalidOperationException("no folder this process cannot write: running as root with a writable sysfs and procfs");
        }

        MakeStores();
        MakeDataFolders();
    }

    public string Dir { get; }

    /// <summary>A folder this process cannot create files in.</summary>
    public string ReadOnly { get; }

    /// <summary>Run ids in good.db.</summary>
    public List<string> RunIds { get; } = [];

    public string At(string name) => Path.Combine(Dir, name);

    /// <summary>The damaged stores, by file name, and what is wrong with each.</summary>
    public static readonly string[] DamagedStores =
    [
        "zero.db", "text.db", "header.db", "pages.db", "status.db", "tier.db", "seed.db", "no-runs.db", "no-results.db", "no-verdicts.db",
        "version1.db", "version99.db", "no-version.db", "foreign.db", "no-tables.db",
    ];

    private static bool CanWrite(string dir)
    {
        try
        {
            using (new FileStream(Path.Combine(dir, ".probe-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private void MakeStores()
    {
        string good = At("good.db");
        using (var store = new RunStore(good))
        {
            long exp = store.EnsureExperiment("demo", "a demo");
            for (int seed = 0; seed < 3; seed++)
            {
                string config = "{\"a\":1}";
                string id = RunStore.RunIdentity("demo", Tier.Quick, "arm", seed, config, "1", RunStore.CodeVersion, "none");
                var spec = new RunSpec(id, "demo", Tier.Quick, "arm", new NamedArm("arm").ToJson(), seed, config, "1", RunStore.CodeVersion,
                    LabDataset.None, "none", "none");
                store.BeginRun(spec, exp);
                var ctx = new RunContext("arm", seed, Tier.Quick);
                ctx.Record("value", seed);
                ctx.Log("loss", 0, 1.0);
                store.FinishRun(id, ctx, 0.1);
                RunIds.Add(id);
            }
        }
        SqliteConnection.ClearAllPools();

        File.WriteAllBytes(At("zero.db"), []);
        File.WriteAllText(At("text.db"), "this is a text file, not a database: long enough to fill a header of one hundred bytes......\n");
        var bytes = File.ReadAllBytes(good);
        var header = (byte[])bytes.Clone();
        for (int i = 0; i < 100; i++) header[i] = (byte)(0xA5 ^ i);
        File.WriteAllBytes(At("header.db"), header);
        // Every page after the first (which holds the schema) overwritten: the tables' own pages are garbage.
        var pages = (byte[])bytes.Clone();
        for (int i = 4096; i < pages.Length; i++) pages[i] = (byte)(i * 31 + 7);
        File.WriteAllBytes(At("pages.db"), pages);

        void Edit(string name, string sql)
        {
            File.Copy(good, At(name));
            using var c = new SqliteConnection($"Data Source={At(name)};Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
        const string first = "WHERE run_id = (SELECT MIN(run_id) FROM runs)";
        Edit("status.db", $"PRAGMA ignore_check_constraints = ON; UPDATE runs SET status = 'paused' {first};");
        Edit("tier.db", $"UPDATE runs SET tier = 'medium' {first};");
        Edit("seed.db", $"UPDATE runs SET seed = 'seven' {first};");
        Edit("no-runs.db", "PRAGMA foreign_keys = OFF; DROP TABLE runs;");
        Edit("no-results.db", "DROP TABLE results;");
        Edit("no-verdicts.db", "DROP TABLE verdicts;");
        Edit("version1.db", "UPDATE schema_info SET version = 1;");
        Edit("version99.db", "UPDATE schema_info SET version = 99;");
        Edit("no-version.db", "DELETE FROM schema_info;");
        using (var c = new SqliteConnection($"Data Source={At("foreign.db")};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat');";
            cmd.ExecuteNonQuery();
        }
        using (var c = new SqliteConnection($"Data Source={At("no-tables.db")};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 7;";   // writes a header page: a database with no tables
            cmd.ExecuteNonQuery();
        }
        Directory.CreateDirectory(At("folder.db"));
    }

    private void MakeDataFolders()
    {
        Directory.CreateDirectory(At("data-empty"));
        string subset = FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the built-in Fashion-MNIST subset is missing");
        var files = Directory.GetFiles(subset).Select(Path.GetFileName).ToList();

        // Garbage under every expected name.
        Directory.CreateDirectory(At("data-garbage"));
        foreach (var f in files) File.WriteAllText(Path.Combine(At("data-garbage"), f!), "not an IDX file at all\n");

        // The real files, with the training images cut short (their gzip trailer and most of their pixels gone).
        Directory.CreateDirectory(At("data-truncated"));
        foreach (var f in files) File.Copy(Path.Combine(subset, f!), Path.Combine(At("data-truncated"), f!));
        string images = Directory.GetFiles(At("data-truncated"), "train-images*").Single();
        var cut = File.ReadAllBytes(images);
        File.WriteAllBytes(images, cut[..(cut.Length / 3)]);

        // A gzip stream whose content is an IDX header promising far more images than it holds.
        Directory.CreateDirectory(At("data-short"));
        foreach (var f in files) File.Copy(Path.Combine(subset, f!), Path.Combine(At("data-short"), f!));
        string shortImages = Directory.GetFiles(At("data-short"), "train-images*").Single();
        using (var gz = new GZipStream(File.Create(shortImages), CompressionLevel.Fastest))
            gz.Write([0, 0, 8, 3, 0, 0, 0x17, 0x70, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]);
    }

    public void Dispose()
    {
        try
        {
            if (ReadOnly.StartsWith(Dir, StringComparison.Ordinal))
                File.SetUnixFileMode(ReadOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
