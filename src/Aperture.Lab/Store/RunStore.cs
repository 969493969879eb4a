using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;

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
/// The run store: a schema an MLflow user recognises (experiments, runs, params, metrics per step, final results,
/// artifacts by path and hash) plus verdicts, in one SQLite file or in a PostgreSQL database shared by the nodes of
/// a cluster. Every write is one transaction that serialises with other writers (SQLite: WAL mode, a busy timeout and
/// immediate transactions; PostgreSQL: the rows decided on are locked with SELECT … FOR UPDATE), so many processes
/// may write at once; a run's measurements are written in the same transaction that marks it finished, so a killed
/// sweep leaves either a whole finished run or a 'running' row that the next sweep redoes.
/// A running run is held under a lease (an owner id and an expiry, renewed by a heartbeat while it runs): another
/// sweep takes it over only once the lease has expired or its owner's process is gone, so two sweeps on one store
/// never compute the same run twice.
/// </summary>
public sealed partial class RunStore : IDisposable
{
    /// <summary>The environment variable that overrides the default store (a file path or a postgresql:// URI).</summary>
    public const string PathVariable = "APERTURE_STORE";

    /// <summary>The environment variable that names the artifacts folder (a folder every node reaches, for a PostgreSQL store).</summary>
    public const string ArtifactsVariable = "APERTURE_ARTIFACTS";

    private readonly DbConnection _db;
    private readonly StoreDialect _dialect;
    private readonly StoreAddress _address;
    private readonly Lock _lock = new();
    private readonly bool _readOnly;

    /// <summary>
    /// Opens the store at <paramref name="location"/> (an SQLite file path, or a PostgreSQL database as a
    /// postgresql:// URI or an Npgsql connection string), creating it if absent (an older version is upgraded in
    /// place). An SQLite store keeps its artifacts in a folder beside its file; a PostgreSQL store needs
    /// <see cref="RunStore(string, string?)"/> with an artifacts folder. A file or database that is not a whole run
    /// store (empty, not SQLite, of another schema, missing a table) is an <see cref="InvalidDataException"/> naming
    /// it, what is wrong and what to do.
    /// </summary>
    public RunStore(string location) : this(location, null) { }

    /// <summary>
    /// Opens (or creates) the store at <paramref name="location"/> with its artifacts in <paramref name="artifactRoot"/>:
    /// for a PostgreSQL store a folder every process that writes or reads the store reaches (a cluster's shared
    /// file system); null for an SQLite store's default, a folder beside its file. A server that cannot be reached is
    /// a <see cref="StoreUnavailableException"/>; a bad address a <see cref="LabConfigException"/>.
    /// </summary>
    public RunStore(string location, string? artifactRoot) : this(Address(location), artifactRoot, create: true) { }

    /// <summary>
    /// Opens an existing store for reading (queries and reports): never creates or upgrades one. A missing file is a
    /// <see cref="FileNotFoundException"/>; a file or database that is not a whole run store an <see cref="InvalidDataException"/>.
    /// </summary>
    public static RunStore OpenExisting(string location, string? artifactRoot = null) => new(Address(location), artifactRoot, create: false);

    private static StoreAddress Address(string location)
    {
        if (string.IsNullOrWhiteSpace(location)) throw new ArgumentException("the run store needs a file path or a postgresql:// URI", nameof(location));
        return StoreAddress.Parse(location);
    }

    /// <summary>Opens the store at <paramref name="address"/>: see <see cref="RunStore(string, string?)"/> and <see cref="OpenExisting"/>.</summary>
    public RunStore(StoreAddress address, string? artifactRoot, bool create)
    {
        ArgumentNullException.ThrowIfNull(address);
        _address = address;
        _dialect = StoreDialect.For(address.Backend);
        Path = address.Display;
        if (address.Backend == StoreBackend.Sqlite)
        {
            string? dir = System.IO.Path.GetDirectoryName(Path);
            ArtifactRoot = System.IO.Path.GetFullPath(artifactRoot ?? System.IO.Path.Combine(dir ?? ".", System.IO.Path.GetFileNameWithoutExtension(Path) + ".artifacts"));
            if (Directory.Exists(Path)) throw new InvalidDataException($"run store '{Path}' is a directory, not an SQLite file");
            bool existed = File.Exists(Path);
            if (!existed && !create) throw new FileNotFoundException($"no run store at '{Path}'", Path);
            if (existed) RefuseEmptyFile();
            else if (dir is not null) Directory.CreateDirectory(dir);
        }
        else
        {
            if (string.IsNullOrWhiteSpace(artifactRoot))
                throw new LabConfigException($"the PostgreSQL store '{Path}' needs an artifacts folder that every node reaches: " +
                                             $"pass --artifacts DIR or set ${ArtifactsVariable}");
            ArtifactRoot = System.IO.Path.GetFullPath(artifactRoot);
        }
        try
        {
            _db = _dialect.Open(address, create);
        }
        catch (SqliteException e)
        {
            throw Damaged(e);
        }
        catch (NpgsqlException e)
        {
            throw Unavailable(e);
        }
        try
        {
            OpenSchema(create);
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw Damaged(e);
        }
        catch (NpgsqlException e)
        {
            _db.Dispose();
            throw Unavailable(e);
        }
        catch
        {
            _db.Dispose();
            throw;
        }
        _readOnly = !create;
        LeaseOwner = $"{Environment.MachineName}/{Environment.ProcessId}/{ProcessStart}/{Guid.NewGuid():N}";
    }

    private InvalidDataException Damaged(SqliteException e) => new(
        $"run store '{Path}' cannot be opened ({e.Message.TrimEnd('.')}): if it is damaged, restore it " +
        "from a backup, or move it aside and pass --store NEW.db to start a new store", e);

    // The server's own words say what is wrong (refused, unknown host, password, no such database, no permission);
    // what to do follows.
    private StoreUnavailableException Unavailable(NpgsqlException e)
    {
        string why = e switch
        {
            PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName } p => $"{p.MessageText}: create it (createdb) or name an existing database",
            PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification } p =>
                $"{p.MessageText}: check the user and password (in the URI, $PGPASSWORD or ~/.pgpass)",
            PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } p => $"{p.MessageText}: the user may not create the store's tables there",
            // The schema search_path names does not exist (the server only says that none was selected to create in).
            PostgresException { SqlState: PostgresErrorCodes.InvalidSchemaName } p =>
                $"{p.MessageText}: the schema that search_path names does not exist; create it (CREATE SCHEMA NAME AUTHORIZATION USER) or name an existing one",
            PostgresException p => $"{p.MessageText} (SQLSTATE {p.SqlState})",
            _ when e.InnerException is { } inner => $"{inner.Message.TrimEnd('.')}: is the server running and listening there?",
            _ => e.Message.TrimEnd('.'),
        };
        return new StoreUnavailableException($"cannot open the PostgreSQL run store '{Path}': {why}", e);
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

    /// <summary>The artifacts folder given by $APERTURE_ARTIFACTS, or null.</summary>
    public static string? DefaultArtifactRoot =>
        Environment.GetEnvironmentVariable(ArtifactsVariable) is { Length: > 0 } p ? p : null;

    /// <summary>Where the store is, safe to print: the SQLite file's full path, or the PostgreSQL URI without its password.</summary>
    public string Path { get; }

    /// <summary>Which database holds the store.</summary>
    public StoreBackend Backend => _dialect.Backend;

    /// <summary>The folder that holds artifacts, one sub-folder per run (and stages/): each referenced in the store by its path under this folder and its SHA-256.</summary>
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

    /// <summary>The experiment (one per phenomenon) named <paramref name="name"/>, created if absent.</summary>
    public long EnsureExperiment(string name, string description) => InTransaction(tx =>
    {
        using (var ins = Command("INSERT INTO experiments (name, description, creation_time) VALUES (@n, @d, @t) " +
                                 "ON CONFLICT (name) DO UPDATE SET description = excluded.description", tx))
        {
            ins.Set("n", name);
            ins.Set("d", description);
            ins.Set("t", Now());
            ins.ExecuteNonQuery();
        }
        using var sel = Command("SELECT experiment_id FROM experiments WHERE name = @n", tx);
        sel.Set("n", name);
        return Convert.ToInt64(sel.ExecuteScalar(), CultureInfo.InvariantCulture);
    });

    /// <summary>The status of run <paramref name="runId"/>, or null if it was never started.</summary>
    public RunStatus? StatusOf(string runId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT status FROM runs WHERE run_id = @id");
            cmd.Set("id", runId);
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
        // The row is read and locked first (PostgreSQL: FOR UPDATE; SQLite: the transaction is already exclusive), so
        // of two writers claiming one run the second waits for the first's decision and then sees its live lease. A
        // run nobody has begun has no row to lock: of two inserts the second finds the first's row (ON CONFLICT DO
        // NOTHING inserts nothing, after waiting for the first to commit), and looks again.
        for (int look = 0; ; look++)
        {
            bool exists = false;
            using (var st = Command($"SELECT status, lease_owner, lease_expires FROM runs WHERE run_id = @id{_dialect.ForUpdate}", tx))
            {
                st.Set("id", spec.RunId);
                using var r = st.ExecuteReader();
                if (r.Read())
                {
                    exists = true;
                    string status = r.GetString(0);
                    if (status == "finished") return RunClaim.Finished;
                    if (status == "running" && !r.IsDBNull(1) && r.GetString(1) != LeaseOwner
                        && LeaseIsLive(r.GetString(1), r.IsDBNull(2) ? 0 : r.GetInt64(2)))
                        return RunClaim.Leased;
                }
            }
            if (exists)
            {
                using var up = Command("""
                    UPDATE runs SET status = 'running', attempts = attempts + 1, start_time = @t, end_time = NULL, duration_s = NULL, error = NULL,
                                    host = @host, pid = @pid, lease_owner = @owner, lease_expires = @expires
                    WHERE run_id = @id
                    """, tx);
                up.Set("id", spec.RunId);
                up.Set("t", Now());
                up.Set("host", Environment.MachineName);
                up.Set("pid", Environment.ProcessId);
                up.Set("owner", LeaseOwner);
                up.Set("expires", LeaseExpiry());
                up.ExecuteNonQuery();
                break;
            }
            using var ins = Command("""
                INSERT INTO runs (run_id, experiment_id, phenomenon, tier, arm, arm_json, seed, config_hash, config_json, protocol_version,
                                  code_version, data_fingerprint, data_source, host, pid, status, attempts, start_time, lease_owner, lease_expires)
                VALUES (@id, @exp, @ph, @tier, @arm, @aj, @seed, @ch, @cfg, @cv, @sv, @df, @ds, @host, @pid, 'running', 1, @t, @owner, @expires)
                ON CONFLICT (run_id) DO NOTHING
                """, tx);
            ins.Set("id", spec.RunId);
            ins.Set("exp", experimentId);
            ins.Set("ph", spec.Phenomenon);
            ins.Set("tier", TierName(spec.Tier));
            ins.Set("arm", spec.Arm);
            ins.Set("aj", spec.ArmJson);
            ins.Set("seed", spec.Seed);
            ins.Set("ch", ConfigHash(spec.ConfigJson));
            ins.Set("cfg", spec.ConfigJson);
            ins.Set("cv", spec.ProtocolVersion);
            ins.Set("sv", spec.CodeVersion);
            ins.Set("df", spec.DataFingerprint);
            ins.Set("ds", spec.DataSource);
            ins.Set("host", Environment.MachineName);
            ins.Set("pid", Environment.ProcessId);
            ins.Set("t", Now());
            ins.Set("owner", LeaseOwner);
            ins.Set("expires", LeaseExpiry());
            if (ins.ExecuteNonQuery() == 1) break;
            if (look == 1) throw new InvalidOperationException($"run {spec.RunId} could neither be inserted nor found in the run store '{Path}'");
        }
        using (var del = Command("DELETE FROM params WHERE run_id = @id", tx))
        {
            del.Set("id", spec.RunId);
            del.ExecuteNonQuery();
        }
        InsertMany(tx, "params", ParamColumns, FlattenConfig(spec.ConfigJson).Select(p => new object[] { spec.RunId, p.Key, p.Value }));
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
            using (var st = Command($"SELECT status FROM runs WHERE run_id = @id{_dialect.ForUpdate}", tx))
            {
                st.Set("id", runId);
                switch (st.ExecuteScalar())
                {
                    case null: throw new InvalidOperationException($"run {runId} was never begun");
                    case "finished": return false;
                }
            }
            foreach (var table in (string[])["metrics", "results", "artifacts"])
            {
                using var del = Command($"DELETE FROM {table} WHERE run_id = @id", tx);
                del.Set("id", runId);
                del.ExecuteNonQuery();
            }
            // A step logged twice under one key keeps its last value.
            var points = new Dictionary<(string, long), double>();
            foreach (var (key, step, value) in run.Metrics) points[(key, step)] = value;
            InsertMany(tx, "metrics", MetricColumns, points.Select(kv => new[] { runId, kv.Key.Item1, kv.Key.Item2, SqlParameters.Db(kv.Value) }));
            InsertMany(tx, "results", ResultColumns, run.Results.Select(kv => new[] { runId, kv.Key, SqlParameters.Db(kv.Value) }));
            InsertMany(tx, "artifacts", ArtifactColumns, artifacts.Select(x => new object[] { runId, x.Path, x.Size, x.Sha }));
            using var fin = Command("UPDATE runs SET status = 'finished', end_time = @t, duration_s = @d, error = NULL, " +
                                    "lease_owner = NULL, lease_expires = NULL WHERE run_id = @id", tx);
            fin.Set("id", runId);
            fin.Set("t", Now());
            fin.Set("d", seconds);
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
        using var cmd = Command("UPDATE runs SET status = 'failed', end_time = @t, duration_s = @d, error = @e, lease_owner = NULL, lease_expires = NULL " +
                                "WHERE run_id = @id AND status <> 'finished' AND (lease_owner IS NULL OR lease_owner = @owner)", tx);
        cmd.Set("owner", LeaseOwner);
        cmd.Set("id", runId);
        cmd.Set("t", Now());
        cmd.Set("d", seconds);
        cmd.Set("e", error);
        return cmd.ExecuteNonQuery();
    });

    /// <summary>
    /// The stages of <paramref name="phenomenon"/> at <paramref name="protocolVersion"/> under this build's
    /// <see cref="CodeVersion"/>: shared by every process that opens the store. A stage's identity is a hash of those
    /// and the run's own stage identity (name, settings, seed, data fingerprint).
    /// </summary>
    public IStageStore StagesFor(string phenomenon, string protocolVersion) => new StageShelf(this, phenomenon, protocolVersion);

    // One lock per stage being computed in this process, so that concurrent runs sharing a stage compute it once.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lock> _stageLocks = new();

    private sealed class StageShelf(RunStore store, string phenomenon, string protocolVersion) : IStageStore
    {
        private string Id(string identity) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join('\n', phenomenon, protocolVersion, CodeVersion, identity))))[..32];

        public byte[] LoadOrCompute(string identity, string name, Func<byte[]> compute)
        {
            ArgumentNullException.ThrowIfNull(compute);
            if (TryLoad(identity) is { } found) return found;
            string id = Id(identity);
            var gate = store._stageLocks.GetOrAdd(id, _ => new Lock());
            try
            {
                lock (gate)
                {
                    // Another run of this process may have stored it while this one waited.
                    if (TryLoad(identity) is { } stored) return stored;
                    var bytes = compute();
                    Save(identity, name, bytes);
                    return bytes;
                }
            }
            finally
            {
                store._stageLocks.TryRemove(KeyValuePair.Create(id, gate));
            }
        }

        public byte[]? TryLoad(string identity)
        {
            string id = Id(identity);
            string? path, sha;
            lock (store._lock)
            {
                using var cmd = store.Command("SELECT path, sha256 FROM stages WHERE stage_id = @id");
                cmd.Set("id", id);
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
                    INSERT INTO stages (stage_id, phenomenon, name, path, size_bytes, sha256, created_time) VALUES (@id, @p, @n, @path, @size, @sha, @t)
                    ON CONFLICT (stage_id) DO UPDATE SET path = excluded.path, size_bytes = excluded.size_bytes, sha256 = excluded.sha256
                    """, tx);
                cmd.Set("id", id);
                cmd.Set("p", phenomenon);
                cmd.Set("n", name);
                cmd.Set("path", rel);
                cmd.Set("size", content.Length);
                cmd.Set("sha", Convert.ToHexStringLower(SHA256.HashData(content)));
                cmd.Set("t", Now());
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
        using var cmd = Command("UPDATE runs SET lease_expires = @e WHERE run_id = @id AND status = 'running' AND lease_owner = @owner", tx);
        cmd.Set("id", runId);
        cmd.Set("owner", LeaseOwner);
        cmd.Set("e", LeaseExpiry());
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
                catch (Exception e) when (e is DbException or ObjectDisposedException or InvalidOperationException or IOException or TimeoutException) { }
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
            using var cmd = Command("SELECT lease_owner, lease_expires FROM runs WHERE run_id = @id");
            cmd.Set("id", runId);
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
                    using var cmd = Command("UPDATE runs SET lease_expires = 0 WHERE lease_owner = @owner AND status = 'running'");
                    cmd.Set("owner", LeaseOwner);
                    cmd.ExecuteNonQuery();
                }
                catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException)
                {
                    // Closing must not fail: an unreleased lease only delays the takeover until it expires.
                }
            }
            _db.Dispose();
        }
    }

    private T InTransaction<T>(Func<DbTransaction, T> body)
    {
        lock (_lock)
        {
            for (int attempt = 1; ; attempt++)
            {
                EnsureOpen();
                using var tx = _dialect.BeginWrite(_db);
                try
                {
                    var result = body(tx);
                    tx.Commit();
                    return result;
                }
                catch (Exception e) when (_dialect.IsTransient(e) && attempt < 5)
                {
                    // A deadlock or serialisation failure rolled the transaction back whole: run it again.
                    tx.Rollback();
                    Thread.Sleep(10 * attempt);
                }
            }
        }
    }

    private void InTransaction(Action<DbTransaction> body) => InTransaction<int>(tx => { body(tx); return 0; });

    // A PostgreSQL connection that the server or the network broke (a restart, a dropped idle connection) is opened
    // again for the next statement; SQLite's never breaks.
    private void EnsureOpen()
    {
        if (_db.State is ConnectionState.Broken or ConnectionState.Closed)
        {
            _db.Close();
            _db.Open();
        }
    }

    private DbCommand Command(string sql, DbTransaction? tx = null)
    {
        if (tx is null) EnsureOpen();
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private static (string Name, DbType Type)[] ParamColumns => [("run_id", DbType.String), ("key", DbType.String), ("value", DbType.String)];
    private static (string Name, DbType Type)[] MetricColumns => [("run_id", DbType.String), ("key", DbType.String), ("step", DbType.Int64), ("value", DbType.Double)];
    private static (string Name, DbType Type)[] ResultColumns => [("run_id", DbType.String), ("key", DbType.String), ("value", DbType.Double)];
    private static (string Name, DbType Type)[] ArtifactColumns => [("run_id", DbType.String), ("path", DbType.String), ("size_bytes", DbType.Int64), ("sha256", DbType.String)];

    // Rows inserted a few hundred to a statement: one round trip per chunk rather than per row, since a run logs
    // thousands of metric points and a PostgreSQL server may be a network hop away.
    private void InsertMany(DbTransaction tx, string table, (string Name, DbType Type)[] columns, IEnumerable<object[]> rows)
    {
        const int chunk = 250;
        string head = $"INSERT INTO {table} ({string.Join(", ", columns.Select(c => c.Name))}) VALUES ";
        var batch = new List<object[]>(chunk);
        foreach (var row in rows)
        {
            batch.Add(row);
            if (batch.Count == chunk) Flush();
        }
        Flush();

        void Flush()
        {
            if (batch.Count == 0) return;
            using var cmd = Command("", tx);
            var sql = new StringBuilder(head);
            for (int r = 0; r < batch.Count; r++)
            {
                sql.Append(r == 0 ? "(" : ", (");
                for (int c = 0; c < columns.Length; c++)
                {
                    string name = string.Create(CultureInfo.InvariantCulture, $"v{r}_{c}");
                    sql.Append(c == 0 ? "@" : ", @").Append(name);
                    cmd.Param(name, columns[c].Type).Value = batch[r][c];
                }
                sql.Append(')');
            }
            cmd.CommandText = sql.ToString();
            cmd.ExecuteNonQuery();
            batch.Clear();
        }
    }

    private void Exec(string sql, DbTransaction? tx = null)
    {
        using var cmd = Command(sql, tx);
        cmd.ExecuteNonQuery();
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

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
