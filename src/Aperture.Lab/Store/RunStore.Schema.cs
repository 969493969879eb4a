using System.Data.Common;
using System.Globalization;

namespace Aperture.Lab.Store;

/// <summary>
/// One version of the store's schema: what changes from the version before. A new store applies every migration in
/// order; an older store applies those above its version, all in one transaction with the version it reaches.
/// </summary>
/// <param name="Version">The version this migration brings the store to: one more than the migration before it.</param>
/// <param name="Description">What it adds, in words.</param>
/// <param name="Tables">The tables it creates (a store of this version or later must have them).</param>
/// <param name="Apply">The change, through <see cref="MigrationStep.Exec"/>.</param>
internal sealed record Migration(int Version, string Description, IReadOnlyList<string> Tables, Action<MigrationStep> Apply);

/// <summary>What a migration runs in: the store's transaction and the database's dialect.</summary>
internal sealed class MigrationStep(DbConnection db, DbTransaction tx, StoreDialect dialect)
{
    /// <summary>Which database the store is in, for a change that must differ between them.</summary>
    public StoreBackend Backend => dialect.Backend;

    /// <summary>
    /// Runs statements (separated by semicolons) in the migration's transaction, with the dialect's type tokens
    /// replaced: {rowid}, {serial}, {bigint}, {real}, {blob}, {without_rowid} (see <see cref="StoreDialect.Ddl"/>).
    /// </summary>
    public void Exec(string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = dialect.Ddl(sql);
        cmd.ExecuteNonQuery();
    }
}

public sealed partial class RunStore
{
    /// <summary>
    /// The schema's versions in order: append a migration to change the schema (its version one more than the last),
    /// never edit one that has shipped (a property, not a field: the lab keeps no static state that could be changed). Version 1 stores (no data or code provenance) are refused; version 2 is the
    /// oldest a store is upgraded from.
    /// </summary>
    internal static IReadOnlyList<Migration> Migrations =>
    [
        new(2, "experiments, runs with their data and code provenance, params, metrics, results, artifacts, verdicts, stages",
            ["schema_info", "experiments", "runs", "params", "metrics", "results", "artifacts", "verdicts", "stages"], m => m.Exec("""
            CREATE TABLE schema_info (version INTEGER NOT NULL);
            CREATE TABLE experiments (
                experiment_id {rowid},
                name          TEXT NOT NULL UNIQUE,
                description   TEXT NOT NULL,
                creation_time TEXT NOT NULL);
            CREATE TABLE runs (
                run_id         TEXT PRIMARY KEY,
                experiment_id  {bigint} NOT NULL REFERENCES experiments(experiment_id),
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
                duration_s     {real},
                error          TEXT);
            CREATE INDEX runs_by_phenomenon ON runs (phenomenon, tier, config_hash);
            CREATE TABLE params (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (run_id, key)){without_rowid};
            CREATE TABLE metrics (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, step {bigint} NOT NULL, value {real},
                PRIMARY KEY (run_id, key, step)){without_rowid};
            CREATE TABLE results (
                run_id TEXT NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value {real},
                PRIMARY KEY (run_id, key)){without_rowid};
            CREATE TABLE artifacts (
                run_id TEXT NOT NULL REFERENCES runs(run_id), path TEXT NOT NULL, size_bytes {bigint} NOT NULL, sha256 TEXT NOT NULL,
                PRIMARY KEY (run_id, path)){without_rowid};
            CREATE TABLE verdicts (
                verdict_id     {serial},
                experiment_id  {bigint} NOT NULL REFERENCES experiments(experiment_id),
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
                effect         {real},
                ci_low         {real},
                ci_high        {real},
                verdict_json   TEXT NOT NULL,
                seconds        {real} NOT NULL,
                protocol_version TEXT NOT NULL,
                code_version   TEXT NOT NULL,
                data_fingerprint TEXT NOT NULL,
                data_source    TEXT NOT NULL,
                host           TEXT NOT NULL,
                created_time   TEXT NOT NULL);
            CREATE INDEX verdicts_by_phenomenon ON verdicts (phenomenon, verdict_id);
            CREATE TABLE stages (
                stage_id     TEXT PRIMARY KEY,
                phenomenon   TEXT NOT NULL,
                name         TEXT NOT NULL,
                path         TEXT NOT NULL,
                size_bytes   {bigint} NOT NULL,
                sha256       TEXT NOT NULL,
                created_time TEXT NOT NULL)
            """)),
        // Rows left 'running' by a version 2 process get no lease, so they are taken over as before.
        new(3, "leases: the owner of a running run and when its lease expires", [], m => m.Exec("""
            ALTER TABLE runs ADD COLUMN lease_owner TEXT;
            ALTER TABLE runs ADD COLUMN lease_expires {bigint}
            """)),
        new(4, "sweeps: a grid sweep's spec, its points with their verdicts, its tasks (run specs by array index) and its scheduler jobs",
            ["sweeps", "sweep_points", "sweep_tasks", "sweep_jobs"], m => m.Exec(SweepTables)),
        // Builds before this version created run_tags and run_notes on a store's first tag or note, so a version 4
        // store may already hold them (with these columns): IF NOT EXISTS keeps their rows.
        new(5, "annotations: tags and notes on runs, tags on sweeps",
            ["run_tags", "run_notes", "sweep_tags"], m => m.Exec(AnnotationTables)),
    ];

    /// <summary>The schema version this build writes: the last migration's.</summary>
    internal static int SchemaVersion => Migrations[^1].Version;

    private static int OldestUpgradable => Migrations[0].Version;

    // Every table any version creates: on PostgreSQL, a database whose current schema holds none of them is empty
    // for the store (other programs' tables may share it).
    private static IEnumerable<string> AllTables => Migrations.SelectMany(m => m.Tables);

    private static IEnumerable<string> TablesOf(int version) => Migrations.Where(m => m.Version <= version).SelectMany(m => m.Tables);

    /// <summary>The schema version this store was upgraded from when it was opened, or null if it was not.</summary>
    public int? UpgradedFrom { get; private set; }

    /// <summary>The store's schema version (after any upgrade on opening).</summary>
    public int Version { get; private set; }

    // A new store gets the whole schema; an existing one must already be a whole store of this version (or one this
    // build upgrades), with every table: nothing is silently re-created in a damaged store.
    private void OpenSchema(bool create)
    {
        if (create)
        {
            InTransaction(tx =>
            {
                _dialect.LockSchema(_db, tx);
                var present = TablesPresent(tx);
                int found = present.Overlaps(AllTables) ? CheckSchema(tx) : 0;
                if (found == 0 && _dialect.Backend == StoreBackend.Sqlite && present.Count > 0)
                    CheckSchema(tx);   // throws: an SQLite file with other tables is not a store
                foreach (var m in Migrations.Where(m => m.Version > found))
                {
                    m.Apply(new MigrationStep(_db, tx, _dialect));
                    Exec("DELETE FROM schema_info", tx);
                    using var v = Command("INSERT INTO schema_info (version) VALUES (@v)", tx);
                    v.Set("v", m.Version);
                    v.ExecuteNonQuery();
                }
                if (found > 0 && found < SchemaVersion) UpgradedFrom = found;
                Version = CheckSchema(tx);
            });
        }
        else
        {
            lock (_lock)
            {
                using var tx = _db.BeginTransaction();
                Version = CheckSchema(tx);
            }
        }
    }

    private HashSet<string> TablesPresent(DbTransaction tx)
    {
        using var cmd = Command(_dialect.TablesQuery, tx);
        using var r = cmd.ExecuteReader();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read()) names.Add(r.GetString(0));
        return names;
    }

    private string Kind => _dialect.Backend == StoreBackend.Sqlite ? "an SQLite database" : "a PostgreSQL database";

    private string NewStoreHint => _dialect.Backend == StoreBackend.Sqlite ? "pass --store NEW.db" : "pass --store with another database or search_path";

    // Returns the version found when this build can read it; throws otherwise.
    private int CheckSchema(DbTransaction tx)
    {
        var present = TablesPresent(tx);
        if (_dialect.Backend == StoreBackend.PostgreSql && !present.Overlaps(AllTables))
            throw new InvalidDataException($"{Kind} '{Path}' holds no run store (none of its tables are in the connection's schema): " +
                                           "run `aperture lab run --store …` to create one there, or name the database that holds the store");
        if (present.Count == 0)
            throw new InvalidDataException($"'{Path}' is {Kind} with no tables, not a run store: delete it, or {NewStoreHint}");
        if (!present.Contains("schema_info") || !present.Contains("runs"))
            throw new InvalidDataException($"'{Path}' is {Kind} but not an Aperture run store (it has no schema_info or runs table): " +
                                           "pass --store with the path of a run store, or a new file name");
        using var cmd = Command("SELECT version FROM schema_info", tx);
        var found = cmd.ExecuteScalar();
        if (found is null or DBNull || !int.TryParse(Convert.ToString(found, CultureInfo.InvariantCulture), NumberStyles.Integer, CultureInfo.InvariantCulture, out int version))
            throw new InvalidDataException($"run store '{Path}' has no valid schema version ({found ?? "none"}): it is damaged; move it aside and {NewStoreHint}");
        if (version > SchemaVersion)
            throw new InvalidDataException($"run store '{Path}' has schema version {version}, written by a newer Aperture; this build reads versions " +
                                           $"{OldestUpgradable}–{SchemaVersion}: use a newer build, or {NewStoreHint}");
        if (version < OldestUpgradable)
            throw new InvalidDataException(
                $"run store '{Path}' has schema version {version}; this build reads version {SchemaVersion}, whose runs carry the " +
                $"hash of the data they read and the code that made them. Its runs cannot be reused: move the file aside or {NewStoreHint}");
        var missing = TablesOf(version).Where(t => !present.Contains(t)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"run store '{Path}' lacks its {string.Join(", ", missing.Select(t => $"'{t}'"))} table{(missing.Count > 1 ? "s" : "")}: " +
                                           $"it is damaged; restore it from a backup, or move it aside and {NewStoreHint}");
        // Values the schema constrains but a hand edit (or ignore_check_constraints) can break: found here, on opening,
        // rather than half-way through a sweep or a report.
        // SQLite keeps text in an INTEGER column, and reading it as a number gives 0: a silently wrong seed.
        using (var bad = Command($"""
            SELECT run_id, status, tier, seed, attempts FROM runs
            WHERE status NOT IN ('running', 'finished', 'failed') OR tier NOT IN ('quick', 'full'){_dialect.DamagedRunTypes} LIMIT 1
            """, tx))
        using (var r = bad.ExecuteReader())
            if (r.Read())
            {
                string Text(int i) => Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture) ?? "";
                throw new InvalidDataException($"run store '{Path}' has a damaged row in its 'runs' table: run {Text(0)} has status '{Text(1)}', " +
                                               $"tier '{Text(2)}', seed '{Text(3)}', attempts '{Text(4)}' (expected running, finished or failed; quick or full; " +
                                               $"integers): repair or delete that row, or move the store aside and {NewStoreHint}");
            }
        return version;
    }
}
