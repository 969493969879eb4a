using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Aperture.Lab.Store;

/// <summary>A run's lifecycle state.</summary>
public enum RunStatus
{
    /// <summary>Started and not finished: in progress, or its process was killed (then the next sweep redoes it).</summary>
    Running,
    /// <summary>Finished: its measurements are stored and it is never run again.</summary>
    Finished,
    /// <summary>Threw an exception; the next sweep retries it.</summary>
    Failed,
}

/// <summary>
/// What identifies a run and everything needed to execute it, in this process or another: a pure function of these
/// fields. Produced by <see cref="LabRunner.Plan"/>, executed by <see cref="LabRunner.Execute"/>.
/// </summary>
/// <param name="RunId">Hash of every other identifying field: see <see cref="RunStore.RunIdentity"/>.</param>
/// <param name="Phenomenon">The phenomenon's id.</param>
/// <param name="Tier">The tier.</param>
/// <param name="Arm">The arm's name (its label).</param>
/// <param name="ArmJson">The arm's canonical JSON (<see cref="Lab.Arm.ToJson"/>).</param>
/// <param name="Seed">The seed.</param>
/// <param name="ConfigJson">The run-defining settings (<see cref="ProtocolBinding.RunConfigJson"/>).</param>
/// <param name="ProtocolVersion">The phenomenon's protocol version (<see cref="Lab.Phenomenon.Version"/>).</param>
/// <param name="CodeVersion">The version of the code that runs it: Aperture's version and commit.</param>
/// <param name="Data">Which dataset the run reads.</param>
/// <param name="DataFingerprint">The content hash of the data read ("none" for a synthetic task).</param>
/// <param name="DataSource">Which copy of the data was read, in words (not part of the identity: the hash is).</param>
public sealed record RunSpec(string RunId, string Phenomenon, Tier Tier, string Arm, string ArmJson, int Seed, string ConfigJson,
    string ProtocolVersion, string CodeVersion, LabDataset Data, string DataFingerprint, string DataSource);

/// <summary>
/// The run store: SQLite with a schema an MLflow user recognises (experiments, runs, params, metrics per step, final
/// results, artifacts by path) plus verdicts. WAL mode, a busy timeout and one immediate transaction per write make it
/// safe for several processes at once; a run's measurements are written in the same transaction that marks it
/// finished, so a killed sweep leaves either a whole finished run or a 'running' row that the next sweep redoes.
/// </summary>
public sealed partial class RunStore : IDisposable
{
    /// <summary>The environment variable that overrides the default store path.</summary>
    public const string PathVariable = "APERTURE_STORE";

    private const int SchemaVersion = 2;
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>; its artifacts live in a folder beside it.</summary>
    public RunStore(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("the run store needs a file path", nameof(path));
        Path = System.IO.Path.GetFullPath(path);
        string? dir = System.IO.Path.GetDirectoryName(Path);
        if (dir is not null) Directory.CreateDirectory(dir);
        ArtifactRoot = System.IO.Path.Combine(dir ?? ".", System.IO.Path.GetFileNameWithoutExtension(Path) + ".artifacts");
        _db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 120,
        }.ToString());
        try
        {
            _db.Open();
            Exec("PRAGMA busy_timeout = 60000;");
            Exec("PRAGMA journal_mode = WAL;");
            Exec("PRAGMA synchronous = FULL;");
            Exec("PRAGMA foreign_keys = ON;");
            CreateSchema();
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new InvalidDataException($"cannot open run store '{Path}': {e.Message}", e);
        }
    }

    /// <summary>The store given by $APERTURE_STORE, else aperture.db in the working directory.</summary>
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } p ? p : System.IO.Path.Combine(Environment.CurrentDirectory, "aperture.db");

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>The folder that holds artifacts, one sub-folder per run.</summary>
    public string ArtifactRoot { get; }

    /// <summary>The version of the code that makes a run: the lab assembly's informational version (with the commit when known).</summary>
    public static string CodeVersion { get; } =
        typeof(RunStore).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>
    /// A run's identity: the first 32 hex digits of SHA-256 over (phenomenon, tier, arm JSON, seed, config JSON,
    /// protocol version, code version, data fingerprint). A run made with other data, other code or another protocol
    /// version is another run, never reused for this one.
    /// </summary>
    public static string RunIdentity(string phenomenon, Tier tier, string armJson, int seed, string configJson, string protocolVersion,
        string codeVersion, string dataFingerprint)
    {
        string text = string.Join('\n', phenomenon, TierName(tier), armJson, seed.ToString(CultureInfo.InvariantCulture), configJson,
            protocolVersion, codeVersion, dataFingerprint);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
    }

    /// <summary>A short hash of a config's JSON (for grouping runs of one configuration).</summary>
    public static string ConfigHash(string configJson) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(configJson)))[..16];

    internal static string TierName(Tier t) => t == Tier.Full ? "full" : "quick";

    internal static Tier ParseTier(string s) => s switch
    {
        "quick" => Tier.Quick,
        "full" => Tier.Full,
        _ => throw new InvalidDataException($"unknown tier '{s}' in the run store: expected quick or full"),
    };

    private void CreateSchema() => InTransaction(tx =>
    {
        Exec("""
            CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS experiments (
                experiment_id INTEGER PRIMARY KEY,
                name          TEXT NOT NULL UNIQUE,
                description   TEXT NOT NULL,
                creation_time TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS runs (
                run_id         TEXT PRIMARY KEY,
                experiment_id  INTEGER NOT NULL REFERENCES experiments(experiment_id),
                phenomenon     TEXT NOT NULL,
                tier           TEXT NOT NULL,
                arm            TEXT NOT NULL,
                arm_json       TEXT NOT NULL,
                seed           INTEGER NOT NULL,
                config_hash    TEXT NOT NULL,
                config_json    TEXT NOT NULL,
                protocol_version TEXT NOT NULL,
                code_version   TEXT NOT NULL,
                data_fingerprint TEXT NOT NULL,
                data_source    TEXT NOT NULL,
                host           TEXT NOT NULL,
                pid            INTEGER NOT NULL,
                status         TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
                attempts       INTEGER NOT NULL,
                start_time     TEXT NOT NULL,
                end_time       TEXT,
                duration_s     REAL,
                error          TEXT);
            CREATE INDEX IF NOT EXISTS runs_by_phenomenon ON runs (phenomenon, tier, config_hash);
            CREATE TABLE IF NOT EXISTS params (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (run_id, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS metrics (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, step INTEGER NOT NULL, value REAL,
                PRIMARY KEY (run_id, key, step)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS results (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value REAL,
                PRIMARY KEY (run_id, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS artifacts (
                run_id TEXT NOT NULL REFERENCES runs(run_id), path TEXT NOT NULL, size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
                PRIMARY KEY (run_id, path)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS verdicts (
                verdict_id     INTEGER PRIMARY KEY AUTOINCREMENT,
                experiment_id  INTEGER NOT NULL REFERENCES experiments(experiment_id),
                phenomenon     TEXT NOT NULL,
                tier           TEXT NOT NULL,
                config_hash    TEXT NOT NULL,
                protocol_json  TEXT NOT NULL,
                overrides_json TEXT NOT NULL,
                seeds          INTEGER NOT NULL,
                seed_base      INTEGER NOT NULL,
                run_ids_json   TEXT NOT NULL,
                outcome        TEXT NOT NULL,
                effect_name    TEXT NOT NULL,
                effect         REAL,
                ci_low         REAL,
                ci_high        REAL,
                verdict_json   TEXT NOT NULL,
                seconds        REAL NOT NULL,
                protocol_version TEXT NOT NULL,
                code_version   TEXT NOT NULL,
                data_fingerprint TEXT NOT NULL,
                data_source    TEXT NOT NULL,
                host           TEXT NOT NULL,
                created_time   TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS verdicts_by_phenomenon ON verdicts (phenomenon, verdict_id);
            CREATE TABLE IF NOT EXISTS stages (
                stage_id     TEXT PRIMARY KEY,
                phenomenon   TEXT NOT NULL,
                name         TEXT NOT NULL,
                path         TEXT NOT NULL,
                size_bytes   INTEGER NOT NULL,
                sha256       TEXT NOT NULL,
                created_time TEXT NOT NULL);
            """, tx);
        using var cmd = Command("SELECT version FROM schema_info", tx);
        var found = cmd.ExecuteScalar();
        if (found is null) Exec($"INSERT INTO schema_info (version) VALUES ({SchemaVersion})", tx);
        else if (Convert.ToInt32(found, CultureInfo.InvariantCulture) != SchemaVersion)
            throw new InvalidDataException(
                $"run store '{Path}' has schema version {found}; this build reads version {SchemaVersion}, whose runs carry the " +
                "hash of the data they read and the code that made them. Its runs cannot be reused: move the file aside or pass --store NEW.db");
    });

    /// <summary>The experiment (one per phenomenon) named <paramref name="name"/>, created if absent.</summary>
    public long EnsureExperiment(string name, string description) => InTransaction(tx =>
    {
        using (var ins = Command("INSERT INTO experiments (name, description, creation_time) VALUES ($n, $d, $t) " +
                                 "ON CONFLICT (name) DO UPDATE SET description = excluded.description", tx))
        {
            ins.Parameters.AddWithValue("$n", name);
            ins.Parameters.AddWithValue("$d", description);
            ins.Parameters.AddWithValue("$t", Now());
            ins.ExecuteNonQuery();
        }
        using var sel = Command("SELECT experiment_id FROM experiments WHERE name = $n", tx);
        sel.Parameters.AddWithValue("$n", name);
        return Convert.ToInt64(sel.ExecuteScalar(), CultureInfo.InvariantCulture);
    });

    /// <summary>The status of run <paramref name="runId"/>, or null if it was never started.</summary>
    public RunStatus? StatusOf(string runId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT status FROM runs WHERE run_id = $id");
            cmd.Parameters.AddWithValue("$id", runId);
            return cmd.ExecuteScalar() is string s ? ParseStatus(s) : null;
        }
    }

    /// <summary>
    /// Marks a run as started (inserting it, or re-starting a 'running' or 'failed' one with one more attempt).
    /// Returns false, changing nothing, if the run is already finished.
    /// </summary>
    public bool BeginRun(RunSpec spec, long experimentId) => InTransaction(tx =>
    {
        using (var st = Command("SELECT status FROM runs WHERE run_id = $id", tx))
        {
            st.Parameters.AddWithValue("$id", spec.RunId);
            if (st.ExecuteScalar() is "finished") return false;
        }
        using (var up = Command("""
            INSERT INTO runs (run_id, experiment_id, phenomenon, tier, arm, arm_json, seed, config_hash, config_json, protocol_version,
                              code_version, data_fingerprint, data_source, host, pid, status, attempts, start_time)
            VALUES ($id, $exp, $ph, $tier, $arm, $aj, $seed, $ch, $cfg, $cv, $sv, $df, $ds, $host, $pid, 'running', 1, $t)
            ON CONFLICT (run_id) DO UPDATE SET status = 'running', attempts = attempts + 1, start_time = $t,
                end_time = NULL, duration_s = NULL, error = NULL, host = $host, pid = $pid
            """, tx))
        {
            up.Parameters.AddWithValue("$id", spec.RunId);
            up.Parameters.AddWithValue("$exp", experimentId);
            up.Parameters.AddWithValue("$ph", spec.Phenomenon);
            up.Parameters.AddWithValue("$tier", TierName(spec.Tier));
            up.Parameters.AddWithValue("$arm", spec.Arm);
            up.Parameters.AddWithValue("$aj", spec.ArmJson);
            up.Parameters.AddWithValue("$seed", spec.Seed);
            up.Parameters.AddWithValue("$ch", ConfigHash(spec.ConfigJson));
            up.Parameters.AddWithValue("$cfg", spec.ConfigJson);
            up.Parameters.AddWithValue("$cv", spec.ProtocolVersion);
            up.Parameters.AddWithValue("$sv", spec.CodeVersion);
            up.Parameters.AddWithValue("$df", spec.DataFingerprint);
            up.Parameters.AddWithValue("$ds", spec.DataSource);
            up.Parameters.AddWithValue("$host", Environment.MachineName);
            up.Parameters.AddWithValue("$pid", Environment.ProcessId);
            up.Parameters.AddWithValue("$t", Now());
            up.ExecuteNonQuery();
        }
        using (var del = Command("DELETE FROM params WHERE run_id = $id", tx))
        {
            del.Parameters.AddWithValue("$id", spec.RunId);
            del.ExecuteNonQuery();
        }
        using var par = Command("INSERT INTO params (run_id, key, value) VALUES ($id, $k, $v)", tx);
        par.Parameters.AddWithValue("$id", spec.RunId);
        var k = par.Parameters.Add("$k", SqliteType.Text);
        var v = par.Parameters.Add("$v", SqliteType.Text);
        foreach (var (key, value) in FlattenConfig(spec.ConfigJson))
        {
            k.Value = key;
            v.Value = value;
            par.ExecuteNonQuery();
        }
        return true;
    });

    /// <summary>
    /// Stores a run's measurements and marks it finished, all in one transaction (artifact files are written first,
    /// each to a temporary name and renamed). Returns false if another process finished the same run first.
    /// </summary>
    public bool FinishRun(string runId, RunContext run, double seconds)
    {
        var artifacts = new List<(string Path, long Size, string Sha)>();
        foreach (var (name, content) in run.Artifacts)
        {
            string rel = runId + "/" + name, full = System.IO.Path.Combine(ArtifactRoot, runId, name);
            byte[] bytes = Encoding.UTF8.GetBytes(content);
            Aperture.IO.AtomicFile.WriteAllBytes(full, bytes);
            artifacts.Add((rel, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes))));
        }
        return InTransaction(tx =>
        {
            using (var st = Command("SELECT status FROM runs WHERE run_id = $id", tx))
            {
                st.Parameters.AddWithValue("$id", runId);
                switch (st.ExecuteScalar())
                {
                    case null: throw new InvalidOperationException($"run {runId} was never begun");
                    case "finished": return false;
                }
            }
            foreach (var table in (string[])["metrics", "results", "artifacts"])
            {
                using var del = Command($"DELETE FROM {table} WHERE run_id = $id", tx);
                del.Parameters.AddWithValue("$id", runId);
                del.ExecuteNonQuery();
            }
            using (var m = Command("INSERT OR REPLACE INTO metrics (run_id, key, step, value) VALUES ($id, $k, $s, $v)", tx))
            {
                m.Parameters.AddWithValue("$id", runId);
                var k = m.Parameters.Add("$k", SqliteType.Text);
                var s = m.Parameters.Add("$s", SqliteType.Integer);
                var v = m.Parameters.Add("$v", SqliteType.Real);
                foreach (var (key, step, value) in run.Metrics)
                {
                    k.Value = key; s.Value = step; v.Value = DbValue(value);
                    m.ExecuteNonQuery();
                }
            }
            using (var r = Command("INSERT INTO results (run_id, key, value) VALUES ($id, $k, $v)", tx))
            {
                r.Parameters.AddWithValue("$id", runId);
                var k = r.Parameters.Add("$k", SqliteType.Text);
                var v = r.Parameters.Add("$v", SqliteType.Real);
                foreach (var (key, value) in run.Results)
                {
                    k.Value = key; v.Value = DbValue(value);
                    r.ExecuteNonQuery();
                }
            }
            using (var a = Command("INSERT INTO artifacts (run_id, path, size_bytes, sha256) VALUES ($id, $p, $n, $h)", tx))
            {
                a.Parameters.AddWithValue("$id", runId);
                var p = a.Parameters.Add("$p", SqliteType.Text);
                var n = a.Parameters.Add("$n", SqliteType.Integer);
                var h = a.Parameters.Add("$h", SqliteType.Text);
                foreach (var (path, size, sha) in artifacts)
                {
                    p.Value = path; n.Value = size; h.Value = sha;
                    a.ExecuteNonQuery();
                }
            }
            using var fin = Command("UPDATE runs SET status = 'finished', end_time = $t, duration_s = $d, error = NULL WHERE run_id = $id", tx);
            fin.Parameters.AddWithValue("$id", runId);
            fin.Parameters.AddWithValue("$t", Now());
            fin.Parameters.AddWithValue("$d", seconds);
            fin.ExecuteNonQuery();
            return true;
        });
    }

    /// <summary>Marks a run failed with its error (unless another process finished it meanwhile).</summary>
    public void FailRun(string runId, string error, double seconds) => InTransaction(tx =>
    {
        using var cmd = Command("UPDATE runs SET status = 'failed', end_time = $t, duration_s = $d, error = $e WHERE run_id = $id AND status <> 'finished'", tx);
        cmd.Parameters.AddWithValue("$id", runId);
        cmd.Parameters.AddWithValue("$t", Now());
        cmd.Parameters.AddWithValue("$d", seconds);
        cmd.Parameters.AddWithValue("$e", error);
        return cmd.ExecuteNonQuery();
    });

    /// <summary>
    /// The stages of <paramref name="phenomenon"/> at <paramref name="protocolVersion"/> under this build's
    /// <see cref="CodeVersion"/>: shared by every process that opens the store. A stage's identity is a hash of those
    /// and the run's own stage identity (name, settings, seed, data fingerprint).
    /// </summary>
    public IStageStore StagesFor(string phenomenon, string protocolVersion) => new StageShelf(this, phenomenon, protocolVersion);

    private sealed class StageShelf(RunStore store, string phenomenon, string protocolVersion) : IStageStore
    {
        private string Id(string identity) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join('\n', phenomenon, protocolVersion, CodeVersion, identity))))[..32];

        public byte[]? TryLoad(string identity)
        {
            string id = Id(identity);
            string? path, sha;
            lock (store._lock)
            {
                using var cmd = store.Command("SELECT path, sha256 FROM stages WHERE stage_id = $id");
                cmd.Parameters.AddWithValue("$id", id);
                using var r = cmd.ExecuteReader();
                if (!r.Read()) return null;
                path = r.GetString(0);
                sha = r.GetString(1);
            }
            string full = System.IO.Path.Combine(store.ArtifactRoot, path);
            if (!File.Exists(full)) return null;
            var bytes = File.ReadAllBytes(full);
            // A stage file that no longer matches its hash is recomputed rather than trusted.
            return Convert.ToHexStringLower(SHA256.HashData(bytes)) == sha ? bytes : null;
        }

        public void Save(string identity, string name, byte[] content)
        {
            string id = Id(identity), rel = "stages/" + id + ".bin";
            string full = System.IO.Path.Combine(store.ArtifactRoot, rel);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            Aperture.IO.AtomicFile.WriteAllBytes(full, content);
            store.InTransaction(tx =>
            {
                using var cmd = store.Command("""
                    INSERT INTO stages (stage_id, phenomenon, name, path, size_bytes, sha256, created_time) VALUES ($id, $p, $n, $path, $size, $sha, $t)
                    ON CONFLICT (stage_id) DO UPDATE SET path = excluded.path, size_bytes = excluded.size_bytes, sha256 = excluded.sha256
                    """, tx);
                cmd.Parameters.AddWithValue("$id", id);
                cmd.Parameters.AddWithValue("$p", phenomenon);
                cmd.Parameters.AddWithValue("$n", name);
                cmd.Parameters.AddWithValue("$path", rel);
                cmd.Parameters.AddWithValue("$size", content.Length);
                cmd.Parameters.AddWithValue("$sha", Convert.ToHexStringLower(SHA256.HashData(content)));
                cmd.Parameters.AddWithValue("$t", Now());
                cmd.ExecuteNonQuery();
            });
        }
    }

    /// <summary>Closes the database.</summary>
    public void Dispose()
    {
        lock (_lock) _db.Dispose();
    }

    private T InTransaction<T>(Func<SqliteTransaction, T> body)
    {
        lock (_lock)
        {
            // BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead of
            // deadlocking on a lock upgrade.
            using var tx = _db.BeginTransaction(deferred: false);
            var result = body(tx);
            tx.Commit();
            return result;
        }
    }

    private void InTransaction(Action<SqliteTransaction> body) => InTransaction<int>(tx => { body(tx); return 0; });

    private SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private void Exec(string sql, SqliteTransaction? tx = null)
    {
        using var cmd = Command(sql, tx);
        cmd.ExecuteNonQuery();
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    // SQLite stores a NaN as NULL; read NULL back as NaN.
    private static object DbValue(double v) => double.IsNaN(v) ? DBNull.Value : v;

    private static RunStatus ParseStatus(string s) => s switch
    {
        "running" => RunStatus.Running,
        "finished" => RunStatus.Finished,
        "failed" => RunStatus.Failed,
        _ => throw new InvalidDataException($"unknown run status '{s}' in the run store"),
    };

    private static IEnumerable<(string Key, string Value)> FlattenConfig(string json)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var p in doc.RootElement.EnumerateObject())
            yield return (p.Name, p.Value.ValueKind == System.Text.Json.JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
    }
}
