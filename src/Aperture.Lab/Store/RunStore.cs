using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Aperture.Lab.Store;

/// <summary>A run's lifecycle state.</summary>
public enum RunStatus
{
    /// <summary>
    /// Started and not finished: in progress under a live lease, or its process was killed (its lease then expires
    /// and the next sweep redoes it).
    /// </summary>
    Running,
    /// <summary>Finished: its measurements are stored and it is never run again.</summary>
    Finished,
    /// <summary>Threw an exception; the next sweep retries it.</summary>
    Failed,
}

/// <summary>What <see cref="RunStore.Claim"/> found.</summary>
public enum RunClaim
{
    /// <summary>The run is now this store's: running under its lease.</summary>
    Claimed,
    /// <summary>The run is already finished; nothing was changed.</summary>
    Finished,
    /// <summary>Another live owner holds the run's lease; nothing was changed.</summary>
    Leased,
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
/// A running run is held under a lease (an owner id and an expiry, renewed by a heartbeat while it runs): another
/// sweep takes it over only once the lease has expired or its owner's process is gone, so two sweeps on one store
/// never compute the same run twice.
/// </summary>
public sealed partial class RunStore : IDisposable
{
    /// <summary>The environment variable that overrides the default store path.</summary>
    public const string PathVariable = "APERTURE_STORE";

    // Version 3 added the lease columns (lease_owner, lease_expires), version 4 the sweep tables; an older store (from
    // version 2) is upgraded in place when opened for writing. Version 1 stores lack the data and code provenance of
    // every run and are refused.
    private const int SchemaVersion = 4;
    private const int OldestUpgradable = 2;
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();
    private readonly bool _readOnly;

    private static readonly IReadOnlyList<string> Tables = ["schema_info", "experiments", "runs", "params", "metrics", "results", "artifacts", "verdicts", "stages", "sweeps", "sweep_points", "sweep_tasks", "sweep_jobs"];

    /// <summary>
    /// Opens the store at <paramref name="path"/>, creating it if the file does not exist (a version 2 store is
    /// upgraded in place to version 3); its artifacts live in a folder beside it. An existing file that is not a
    /// whole run store (empty, not SQLite, of another schema, missing a table) is an <see cref="InvalidDataException"/>
    /// naming the file, what is wrong and what to do.
    /// </summary>
    public RunStore(string path) : this(path, create: true) { }

    /// <summary>
    /// Opens an existing store for reading (queries and reports): never creates or upgrades one. A missing file is a
    /// <see cref="FileNotFoundException"/>; a file that is not a whole run store an <see cref="InvalidDataException"/>.
    /// </summary>
    public static RunStore OpenExisting(string path) => new(path, create: false);

    private RunStore(string path, bool create)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("the run store needs a file path", nameof(path));
        Path = System.IO.Path.GetFullPath(path);
        string? dir = System.IO.Path.GetDirectoryName(Path);
        ArtifactRoot = System.IO.Path.Combine(dir ?? ".", System.IO.Path.GetFileNameWithoutExtension(Path) + ".artifacts");
        if (Directory.Exists(Path)) throw new InvalidDataException($"run store '{Path}' is a directory, not an SQLite file");
        bool existed = File.Exists(Path);
        if (!existed && !create) throw new FileNotFoundException($"no run store at '{Path}'", Path);
        if (existed) RefuseEmptyFile();
        else if (dir is not null) Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
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
            OpenSchema(create);
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new InvalidDataException(
                $"run store '{Path}' cannot be opened ({e.Message.TrimEnd('.')}): if it is damaged, restore it " +
                "from a backup, or move it aside and pass --store NEW.db to start a new store", e);
        }
        catch
        {
            _db.Dispose();
            throw;
        }
        _readOnly = !create;
        LeaseOwner = $"{Environment.MachineName}/{Environment.ProcessId}/{ProcessStart}/{Guid.NewGuid():N}";
    }

    // SQLite takes a 0-byte file for an empty database and would quietly make a new store of it, hiding that the file
    // the user named was truncated or is not a store. A store being created by another process is 0 bytes for a few
    // milliseconds, so give it a moment before refusing.
    private void RefuseEmptyFile()
    {
        for (int attempt = 0; ; attempt++)
        {
            var info = new FileInfo(Path);
            var wal = new FileInfo(Path + "-wal");
            if (!info.Exists || info.Length > 0 || (wal.Exists && wal.Length > 0)) return;
            if (attempt == 20)
                throw new InvalidDataException($"run store '{Path}' is an empty file (0 bytes), not a run store: delete it to start a new store " +
                                               "there, or pass --store NEW.db");
            Thread.Sleep(100);
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

    // A new file gets the whole schema; an existing one must already be a whole store of this version (or one this
    // build upgrades), with every table: nothing is silently re-created in a damaged store.
    private void OpenSchema(bool create)
    {
        if (create)
        {
            InTransaction(tx =>
            {
                if (TablesPresent(tx).Count == 0)
                {
                    CreateTables(tx);
                    Exec($"INSERT INTO schema_info (version) VALUES ({SchemaVersion})", tx);
                }
                int version = CheckSchema(tx);
                if (version < SchemaVersion) Upgrade(version, tx);
            });
        }
        else
        {
            lock (_lock)
            {
                using var tx = _db.BeginTransaction(deferred: true);
                CheckSchema(tx);
            }
        }
    }

    private HashSet<string> TablesPresent(SqliteTransaction tx)
    {
        using var cmd = Command("SELECT name FROM sqlite_master WHERE type = 'table'", tx);
        using var r = cmd.ExecuteReader();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read()) names.Add(r.GetString(0));
        return names;
    }

    // Returns the version found when this build can read it (possibly after an upgrade); throws otherwise.
    private int CheckSchema(SqliteTransaction tx)
    {
        var present = TablesPresent(tx);
        if (present.Count == 0)
            throw new InvalidDataException($"'{Path}' is an SQLite database with no tables, not a run store: delete it, or pass --store NEW.db");
        if (!present.Contains("schema_info") || !present.Contains("runs"))
            throw new InvalidDataException($"'{Path}' is an SQLite database but not an Aperture run store (it has no schema_info or runs table): " +
                                           "pass --store with the path of a run store, or a new file name");
        using var cmd = Command("SELECT version FROM schema_info", tx);
        var found = cmd.ExecuteScalar();
        if (found is null or DBNull || !int.TryParse(Convert.ToString(found, CultureInfo.InvariantCulture), NumberStyles.Integer, CultureInfo.InvariantCulture, out int version))
            throw new InvalidDataException($"run store '{Path}' has no valid schema version ({found ?? "none"}): it is damaged; move it aside and pass --store NEW.db");
        if (version > SchemaVersion)
            throw new InvalidDataException($"run store '{Path}' has schema version {version}, written by a newer Aperture; this build reads versions " +
                                           $"{OldestUpgradable}–{SchemaVersion}: use a newer build, or pass --store NEW.db");
        if (version < OldestUpgradable)
            throw new InvalidDataException(
                $"run store '{Path}' has schema version {version}; this build reads version {SchemaVersion}, whose runs carry the " +
                "hash of the data they read and the code that made them. Its runs cannot be reused: move the file aside or pass --store NEW.db");
        // The sweep tables came with version 4: an older store opened for reading has none (and no sweeps).
        HasSweeps = version >= 4;
        var missing = Tables.Where(t => !present.Contains(t) && (HasSweeps || !t.StartsWith("sweep", StringComparison.Ordinal))).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"run store '{Path}' lacks its {string.Join(", ", missing.Select(t => $"'{t}'"))} table{(missing.Count > 1 ? "s" : "")}: " +
                                           "it is damaged; restore it from a backup, or move it aside and pass --store NEW.db");
        // Values the schema constrains but a hand edit (or ignore_check_constraints) can break: found here, on opening,
        // rather than half-way through a sweep or a report.
        // SQLite keeps text in an INTEGER column, and reading it as a number gives 0: a silently wrong seed.
        using (var bad = Command("""
            SELECT run_id, status, tier, seed, attempts FROM runs
            WHERE status NOT IN ('running', 'finished', 'failed') OR tier NOT IN ('quick', 'full')
               OR typeof(seed) <> 'integer' OR typeof(attempts) <> 'integer' LIMIT 1
            """, tx))
        using (var r = bad.ExecuteReader())
            if (r.Read())
            {
                string Text(int i) => Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture) ?? "";
                throw new InvalidDataException($"run store '{Path}' has a damaged row in its 'runs' table: run {Text(0)} has status '{Text(1)}', " +
                                               $"tier '{Text(2)}', seed '{Text(3)}', attempts '{Text(4)}' (expected running, finished or failed; quick or full; " +
                                               "integers): repair or delete that row, or move the store aside and pass --store NEW.db");
            }
        return version;
    }

    // Version 2 → 3: the lease columns. Rows left 'running' by a version 2 process get no lease, so they are taken
    // over as before.
    private void Upgrade(int from, SqliteTransaction tx)
    {
        if (from == 2)
        {
            Exec("ALTER TABLE runs ADD COLUMN lease_owner TEXT; ALTER TABLE runs ADD COLUMN lease_expires INTEGER;", tx);
            Exec("UPDATE schema_info SET version = 3", tx);
            UpgradedFrom = 2;
            from = 3;
        }
        if (from == 3)
        {
            Exec(SweepTables, tx);
            Exec("UPDATE schema_info SET version = 4", tx);
            HasSweeps = true;
            UpgradedFrom ??= 3;
        }
    }

    /// <summary>Whether the store holds the sweep tables (a version 3 store opened for reading does not).</summary>
    public bool HasSweeps { get; private set; }

    /// <summary>The schema version this store was upgraded from when it was opened, or null if it was not.</summary>
    public int? UpgradedFrom { get; private set; }

    private void CreateTables(SqliteTransaction tx) =>
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
                error          TEXT,
                lease_owner    TEXT,
                lease_expires  INTEGER);
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
            """ + SweepTables, tx);

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
            return cmd.ExecuteScalar() is string s ? Row("runs", () => ParseStatus(s)) : null;
        }
    }

    /// <summary>
    /// Marks a run as started by this store (inserting it, or re-starting a failed one or a running one whose lease
    /// has expired, with one more attempt) and takes its lease. Returns false, changing nothing, if the run is
    /// finished or another live owner holds its lease. Same as <see cref="Claim"/> == <see cref="RunClaim.Claimed"/>.
    /// </summary>
    public bool BeginRun(RunSpec spec, long experimentId) => Claim(spec, experimentId) == RunClaim.Claimed;

    /// <summary>
    /// Tries to take run <paramref name="spec"/> for this store: <see cref="RunClaim.Claimed"/> (it is now running
    /// under this store's lease, which <see cref="RenewLease"/> must keep alive), <see cref="RunClaim.Finished"/>, or
    /// <see cref="RunClaim.Leased"/> (another owner's lease is live: leave the run to it).
    /// </summary>
    public RunClaim Claim(RunSpec spec, long experimentId) => InTransaction(tx =>
    {
        using (var st = Command("SELECT status, lease_owner, lease_expires FROM runs WHERE run_id = $id", tx))
        {
            st.Parameters.AddWithValue("$id", spec.RunId);
            using var r = st.ExecuteReader();
            if (r.Read())
            {
                string status = r.GetString(0);
                if (status == "finished") return RunClaim.Finished;
                if (status == "running" && !r.IsDBNull(1) && r.GetString(1) != LeaseOwner
                    && LeaseIsLive(r.GetString(1), r.IsDBNull(2) ? 0 : r.GetInt64(2)))
                    return RunClaim.Leased;
            }
        }
        using (var up = Command("""
            INSERT INTO runs (run_id, experiment_id, phenomenon, tier, arm, arm_json, seed, config_hash, config_json, protocol_version,
                              code_version, data_fingerprint, data_source, host, pid, status, attempts, start_time, lease_owner, lease_expires)
            VALUES ($id, $exp, $ph, $tier, $arm, $aj, $seed, $ch, $cfg, $cv, $sv, $df, $ds, $host, $pid, 'running', 1, $t, $owner, $expires)
            ON CONFLICT (run_id) DO UPDATE SET status = 'running', attempts = attempts + 1, start_time = $t,
                end_time = NULL, duration_s = NULL, error = NULL, host = $host, pid = $pid, lease_owner = $owner, lease_expires = $expires
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
            up.Parameters.AddWithValue("$owner", LeaseOwner);
            up.Parameters.AddWithValue("$expires", LeaseExpiry());
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
        return RunClaim.Claimed;
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
            using var fin = Command("UPDATE runs SET status = 'finished', end_time = $t, duration_s = $d, error = NULL, " +
                                    "lease_owner = NULL, lease_expires = NULL WHERE run_id = $id", tx);
            fin.Parameters.AddWithValue("$id", runId);
            fin.Parameters.AddWithValue("$t", Now());
            fin.Parameters.AddWithValue("$d", seconds);
            fin.ExecuteNonQuery();
            return true;
        });
    }

    /// <summary>
    /// Marks a run failed with its error and releases its lease, unless another process finished it meanwhile or took
    /// it over (this store's lease lapsed): then that process's attempt stands.
    /// </summary>
    public void FailRun(string runId, string error, double seconds) => InTransaction(tx =>
    {
        using var cmd = Command("UPDATE runs SET status = 'failed', end_time = $t, duration_s = $d, error = $e, lease_owner = NULL, lease_expires = NULL " +
                                "WHERE run_id = $id AND status <> 'finished' AND (lease_owner IS NULL OR lease_owner = $owner)", tx);
        cmd.Parameters.AddWithValue("$owner", LeaseOwner);
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

    // ---- leases ----

    /// <summary>This store's lease owner id: host / process id / process start time / a unique id per open store.</summary>
    public string LeaseOwner { get; }

    /// <summary>
    /// How long a lease lives without renewal (default 60 s). A run whose owner stops renewing (a killed process on
    /// another machine, a frozen one) is taken over this long after its last heartbeat; on this machine a lease whose
    /// process is gone is taken over at once.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    private long LeaseExpiry() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + (long)LeaseDuration.TotalMilliseconds;

    private static readonly long ProcessStart = StartMark(Environment.ProcessId) ?? 0;

    // When process `pid` started, as a number that is the same whoever reads it: on Linux the start time in clock
    // ticks since boot from /proc/PID/stat (Process.StartTime is derived from the boot time, which varies between
    // readers by a few milliseconds); elsewhere the start time in whole seconds. Null when no such process runs.
    private static long? StartMark(int pid)
    {
        try
        {
            string stat = $"/proc/{pid}/stat";
            if (File.Exists(stat))
            {
                // The command name (field 2) is in parentheses and may hold spaces; starttime is field 22.
                string text = File.ReadAllText(stat);
                var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
                return long.Parse(fields[19], CultureInfo.InvariantCulture);
            }
            if (OperatingSystem.IsLinux()) return null;
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return p.HasExited ? null : p.StartTime.ToUniversalTime().Ticks / TimeSpan.TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException
                                      or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;   // the process ended while we looked
        }
    }

    // A lease is live until it expires, unless its owner ran on this machine and that process is gone (its id unused,
    // or reused by a process started at another time).
    private static bool LeaseIsLive(string owner, long expiresMs)
    {
        if (expiresMs <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) return false;
        var parts = owner.Split('/');
        if (parts.Length == 4 && parts[0] == Environment.MachineName
            && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid)
            && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long started))
            return StartMark(pid) == started;
        return true;
    }

    /// <summary>
    /// Renews this store's lease on a running run (the heartbeat). Returns false when the lease is no longer this
    /// store's: the run finished, failed, or was taken over after the lease lapsed.
    /// </summary>
    public bool RenewLease(string runId) => InTransaction(tx =>
    {
        using var cmd = Command("UPDATE runs SET lease_expires = $e WHERE run_id = $id AND status = 'running' AND lease_owner = $owner", tx);
        cmd.Parameters.AddWithValue("$id", runId);
        cmd.Parameters.AddWithValue("$owner", LeaseOwner);
        cmd.Parameters.AddWithValue("$e", LeaseExpiry());
        return cmd.ExecuteNonQuery() == 1;
    });

    /// <summary>
    /// Keeps this store's lease on <paramref name="runId"/> alive until disposed: renewed every quarter of
    /// <see cref="LeaseDuration"/> on a timer thread.
    /// </summary>
    public IDisposable HoldLease(string runId) => new Heartbeat(this, runId);

    private sealed class Heartbeat : IDisposable
    {
        private readonly Timer _timer;

        public Heartbeat(RunStore store, string runId)
        {
            var period = store.LeaseDuration / 4;
            _timer = new Timer(_ =>
            {
                // A failed renewal (the store busy beyond its timeout, a disk error) is tried again at the next beat;
                // the lease outlives three missed beats.
                try { store.RenewLease(runId); }
                catch (Exception e) when (e is SqliteException or ObjectDisposedException or InvalidOperationException) { }
            }, null, period, period);
        }

        public void Dispose()
        {
            using var done = new ManualResetEvent(false);
            // Wait for a beat in flight, so none runs after the run is finished or failed.
            if (_timer.Dispose(done)) done.WaitOne();
        }
    }

    /// <summary>The lease of run <paramref name="runId"/>: its owner and expiry, or nulls when it holds none.</summary>
    public (string? Owner, DateTimeOffset? Expires) LeaseOf(string runId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT lease_owner, lease_expires FROM runs WHERE run_id = $id");
            cmd.Parameters.AddWithValue("$id", runId);
            using var r = cmd.ExecuteReader();
            if (!r.Read() || r.IsDBNull(0)) return (null, null);
            return (r.GetString(0), r.IsDBNull(1) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)));
        }
    }

    /// <summary>Closes the database, first releasing the leases this store still holds (its runs are then taken over at once).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_db.State == System.Data.ConnectionState.Open && !_readOnly)
            {
                try
                {
                    using var cmd = Command("UPDATE runs SET lease_expires = 0 WHERE lease_owner = $owner AND status = 'running'");
                    cmd.Parameters.AddWithValue("$owner", LeaseOwner);
                    cmd.ExecuteNonQuery();
                }
                catch (SqliteException)
                {
                    // Closing must not fail: an unreleased lease only delays the takeover until it expires.
                }
            }
            _db.Dispose();
        }
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
        _ => throw new InvalidDataException($"unknown run status '{s}' in the run store: expected running, finished or failed"),
    };

    private static IEnumerable<(string Key, string Value)> FlattenConfig(string json)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var p in doc.RootElement.EnumerateObject())
            yield return (p.Name, p.Value.ValueKind == System.Text.Json.JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
    }
}
