using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;

namespace Aperture.Lab.Store;

/// <summary>What <see cref="RunStore.CopyTo"/> did: for each kind of record, how many were copied and how many the target already had.</summary>
/// <param name="Runs">Finished runs copied (with their params, metrics, results and artifacts).</param>
/// <param name="RunsPresent">Finished runs the target already had (left as they were).</param>
/// <param name="RunsUnfinished">Runs of the source not copied because they are running or failed there.</param>
/// <param name="Params">Param rows copied.</param>
/// <param name="Metrics">Metric rows (one per key and step) copied.</param>
/// <param name="Results">Result rows copied.</param>
/// <param name="Artifacts">Artifact files copied (each checked against its SHA-256).</param>
/// <param name="ArtifactBytes">The artifact files' size in bytes.</param>
/// <param name="Verdicts">Verdicts copied.</param>
/// <param name="VerdictsPresent">Verdicts the target already had.</param>
/// <param name="Stages">Stages copied (with their files).</param>
/// <param name="StagesPresent">Stages the target already had.</param>
/// <param name="Sweeps">Sweep records copied (spec, grid points with their runs and verdicts, tasks, scheduler jobs).</param>
/// <param name="SweepsPresent">Sweep records the target already had (their points' missing verdicts and jobs filled in).</param>
/// <param name="Tags">Tags on runs and sweeps copied.</param>
/// <param name="TagsPresent">Tags the target already had under that key (its value stands).</param>
/// <param name="Notes">Notes on runs copied.</param>
/// <param name="NotesPresent">Notes the target already had (the same text written at the same time).</param>
public sealed record StoreCopyCounts(int Runs, int RunsPresent, int RunsUnfinished, long Params, long Metrics, long Results, long Artifacts,
    long ArtifactBytes, int Verdicts, int VerdictsPresent, int Stages, int StagesPresent,
    int Sweeps, int SweepsPresent, int Tags, int TagsPresent, int Notes, int NotesPresent);

public sealed partial class RunStore
{
    // The columns copied, with their types (so that a NULL is sent typed, and an INTEGER column read as either width).
    private static (string Name, DbType Type)[] RunCopyColumns =>
    [
        ("run_id", DbType.String), ("experiment_id", DbType.Int64), ("phenomenon", DbType.String), ("tier", DbType.String), ("arm", DbType.String),
        ("arm_json", DbType.String), ("seed", DbType.Int32), ("config_hash", DbType.String), ("config_json", DbType.String),
        ("protocol_version", DbType.String), ("code_version", DbType.String), ("data_fingerprint", DbType.String), ("data_source", DbType.String),
        ("host", DbType.String), ("pid", DbType.Int32), ("status", DbType.String), ("attempts", DbType.Int32), ("start_time", DbType.String),
        ("end_time", DbType.String), ("duration_s", DbType.Double), ("error", DbType.String),
    ];

    private static (string Name, DbType Type)[] VerdictCopyColumns =>
    [
        ("experiment_id", DbType.Int64), ("phenomenon", DbType.String), ("tier", DbType.String), ("config_hash", DbType.String),
        ("protocol_json", DbType.String), ("overrides_json", DbType.String), ("seeds", DbType.Int32), ("seed_base", DbType.Int32),
        ("run_ids_json", DbType.String), ("outcome", DbType.String), ("effect_name", DbType.String), ("effect", DbType.Double),
        ("ci_low", DbType.Double), ("ci_high", DbType.Double), ("verdict_json", DbType.String), ("seconds", DbType.Double),
        ("protocol_version", DbType.String), ("code_version", DbType.String), ("data_fingerprint", DbType.String), ("data_source", DbType.String),
        ("host", DbType.String), ("created_time", DbType.String),
    ];

    private static (string Name, DbType Type)[] StageCopyColumns =>
    [
        ("stage_id", DbType.String), ("phenomenon", DbType.String), ("name", DbType.String), ("path", DbType.String),
        ("size_bytes", DbType.Int64), ("sha256", DbType.String), ("created_time", DbType.String),
    ];

    private static (string Name, DbType Type)[] SweepCopyColumns =>
    [
        ("sweep_id", DbType.String), ("phenomenon", DbType.String), ("tier", DbType.String), ("spec_json", DbType.String),
        ("runs_per_task", DbType.Int32), ("task_count", DbType.Int32), ("run_count", DbType.Int32), ("code_version", DbType.String),
        ("created_time", DbType.String), ("cancelled_time", DbType.String),
    ];

    private static (string Name, DbType Type)[] SweepPointCopyColumns =>
    [
        ("sweep_id", DbType.String), ("point_index", DbType.Int32), ("block", DbType.Int32), ("settings_json", DbType.String),
        ("protocol_json", DbType.String), ("run_ids_json", DbType.String), ("verdict_id", DbType.Int64), ("outcome", DbType.String),
        ("effect_json", DbType.String),
    ];

    private static (string Name, DbType Type)[] SweepTaskCopyColumns =>
    [
        ("sweep_id", DbType.String), ("task_index", DbType.Int32), ("position", DbType.Int32), ("run_id", DbType.String), ("spec_json", DbType.String),
    ];

    private static (string Name, DbType Type)[] SweepJobCopyColumns =>
    [
        ("sweep_id", DbType.String), ("job_id", DbType.String), ("executor", DbType.String), ("tasks", DbType.String), ("attempt", DbType.Int32),
        ("submitted_time", DbType.String),
    ];

    /// <summary>
    /// Copies this store's finished runs (params, metrics, results, artifacts), verdicts, stages, sweep records and
    /// the tags and notes on runs and sweeps into <paramref name="target"/>, between any two backends. Idempotent: a
    /// run is identified by its id (the primary key), a stage by its id, a verdict by its phenomenon, judging time,
    /// host and runs, a sweep by its id, a tag by its run (or sweep) and key, a note by its run, text and time; what
    /// the target already has is left alone, so copying again copies nothing. A sweep the target already holds gets
    /// the verdicts its points lack there and the scheduler jobs it does not list; its other rows stay the target's. A run the target holds unfinished (failed, or running) is
    /// replaced by the finished one: a run is a pure function of its spec, so whoever finished it has the same bits.
    /// Each run is copied in one transaction of the target's (its artifact files first, each checked against its
    /// SHA-256), so an interrupted copy leaves whole runs and is finished by running it again.
    /// </summary>
    public StoreCopyCounts CopyTo(RunStore target, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (ReferenceEquals(target, this) || (target.Backend == Backend && target.Path == Path))
            throw new LabConfigException($"the store copy's source and target are the same store '{Path}'");
        if (target._readOnly) throw new InvalidOperationException("the target of a store copy must be opened for writing");

        // Experiments by name: the target's ids may differ.
        var experiments = new Dictionary<long, long>();
        foreach (var (id, name, description, created) in ReadRows("SELECT experiment_id, name, description, creation_time FROM experiments ORDER BY experiment_id",
                     r => (Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), r.GetString(1), r.GetString(2), r.GetString(3))))
            experiments[id] = target.EnsureExperimentAsOf(name, description, created);

        int runs = 0, present = 0, stages = 0, stagesPresent = 0, verdicts = 0, verdictsPresent = 0;
        long parms = 0, metrics = 0, results = 0, artifacts = 0, bytes = 0;
        var finished = ReadRows($"SELECT run_id FROM runs WHERE status = 'finished' ORDER BY run_id{_dialect.ByteOrder}", r => r.GetString(0));
        int unfinished = ReadRows("SELECT COUNT(*) FROM runs WHERE status <> 'finished'", r => Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture))[0];
        foreach (var runId in finished)
        {
            var row = ReadRows($"SELECT {string.Join(", ", RunCopyColumns.Select(c => c.Name))} FROM runs WHERE run_id = @id",
                r => RunCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray(), ("id", runId))[0];
            if (target.StatusOf(runId) == RunStatus.Finished)
            {
                present++;
                continue;
            }
            row[1] = experiments.TryGetValue((long)row[1], out var exp) ? exp
                : throw new InvalidDataException($"run store '{Path}' has a damaged row in its 'runs' table: run {runId} names experiment {row[1]}, which it lacks");
            var p = ReadRows("SELECT key, value FROM params WHERE run_id = @id", r => new object[] { r.GetString(0), r.GetString(1) }, ("id", runId));
            var m = ReadRows("SELECT key, step, value FROM metrics WHERE run_id = @id",
                r => new[] { r.GetString(0), CopyValue(r, 1, DbType.Int64), CopyValue(r, 2, DbType.Double) }, ("id", runId));
            var res = ReadRows("SELECT key, value FROM results WHERE run_id = @id", r => new[] { r.GetString(0), CopyValue(r, 1, DbType.Double) }, ("id", runId));
            var a = ReadRows("SELECT path, size_bytes, sha256 FROM artifacts WHERE run_id = @id",
                r => new[] { r.GetString(0), CopyValue(r, 1, DbType.Int64), r.GetString(2) }, ("id", runId));
            foreach (var art in a) bytes += CopyFile((string)art[0], (string)art[2], target);

            bool copied = target.InTransaction(tx =>
            {
                // Finished meanwhile (by a sweep writing into the target): theirs stands.
                using (var st = target.Command($"SELECT status FROM runs WHERE run_id = @id{target._dialect.ForUpdate}", tx))
                {
                    st.Set("id", runId);
                    if (st.ExecuteScalar() is string status)
                    {
                        if (status == "finished") return false;
                        foreach (var table in (string[])["params", "metrics", "results", "artifacts"])
                        {
                            using var del = target.Command($"DELETE FROM {table} WHERE run_id = @id", tx);
                            del.Set("id", runId);
                            del.ExecuteNonQuery();
                        }
                        using var drop = target.Command("DELETE FROM runs WHERE run_id = @id", tx);
                        drop.Set("id", runId);
                        drop.ExecuteNonQuery();
                    }
                }
                target.InsertRow(tx, "runs", RunCopyColumns, row);
                target.InsertMany(tx, "params", ParamColumns, p.Select(r => (object[])[runId, .. r]));
                target.InsertMany(tx, "metrics", MetricColumns, m.Select(r => (object[])[runId, .. r]));
                target.InsertMany(tx, "results", ResultColumns, res.Select(r => (object[])[runId, .. r]));
                target.InsertMany(tx, "artifacts", ArtifactColumns, a.Select(r => (object[])[runId, .. r]));
                return true;
            });
            if (!copied)
            {
                present++;
                continue;
            }
            runs++;
            parms += p.Count;
            metrics += m.Count;
            results += res.Count;
            artifacts += a.Count;
            if (runs % 100 == 0) progress?.Report($"{runs} runs copied");
        }

        foreach (var row in ReadRows($"SELECT {string.Join(", ", StageCopyColumns.Select(c => c.Name))} FROM stages ORDER BY stage_id{_dialect.ByteOrder}",
                     r => StageCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray()))
        {
            string id = (string)row[0];
            bool has;
            lock (target._lock)
            {
                using var cmd = target.Command("SELECT COUNT(*) FROM stages WHERE stage_id = @id");
                cmd.Set("id", id);
                has = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
            }
            if (has)
            {
                stagesPresent++;
                continue;
            }
            bytes += CopyFile((string)row[3], (string)row[5], target);
            target.InTransaction(tx =>
            {
                using var cmd = target.Command($"INSERT INTO stages ({string.Join(", ", StageCopyColumns.Select(c => c.Name))}) VALUES " +
                                               $"({string.Join(", ", StageCopyColumns.Select(c => "@" + c.Name))}) ON CONFLICT (stage_id) DO NOTHING", tx);
                for (int i = 0; i < row.Length; i++) cmd.Param(StageCopyColumns[i].Name, StageCopyColumns[i].Type).Value = row[i];
                cmd.ExecuteNonQuery();
            });
            stages++;
        }

        // Verdicts in the order they were judged, so that the latest stays the latest among those copied. Each
        // source verdict's id in the target, for the sweep points that name it.
        var verdictIds = new Dictionary<long, long>();
        foreach (var (sourceId, row) in ReadRows($"SELECT verdict_id, {string.Join(", ", VerdictCopyColumns.Select(c => c.Name))} FROM verdicts ORDER BY verdict_id",
                     r => (Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), VerdictCopyColumns.Select((c, i) => CopyValue(r, i + 1, c.Type)).ToArray())))
        {
            row[0] = experiments.TryGetValue((long)row[0], out var exp) ? exp
                : throw new InvalidDataException($"run store '{Path}' has a damaged row in its 'verdicts' table: it names experiment {row[0]}, which the store lacks");
            bool inserted = target.InTransaction(tx =>
            {
                // Serialise copies of one verdict into one store (PostgreSQL: a row lock on the phenomenon's experiment).
                using (var lockExp = target.Command($"SELECT experiment_id FROM experiments WHERE experiment_id = @e{target._dialect.ForUpdate}", tx))
                {
                    lockExp.Set("e", (long)row[0]);
                    lockExp.ExecuteScalar();
                }
                long? Same()
                {
                    using var same = target.Command("SELECT MIN(verdict_id) FROM verdicts WHERE phenomenon = @p AND created_time = @c AND host = @h AND run_ids_json = @r", tx);
                    same.Set("p", (string)row[1]);
                    same.Set("c", (string)row[21]);
                    same.Set("h", (string)row[20]);
                    same.Set("r", (string)row[8]);
                    return same.ExecuteScalar() is { } v and not DBNull ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : null;
                }
                if (Same() is { } had)
                {
                    verdictIds[sourceId] = had;
                    return false;
                }
                target.InsertRow(tx, "verdicts", VerdictCopyColumns, row);
                verdictIds[sourceId] = Same()!.Value;
                return true;
            });
            if (inserted) verdicts++;
            else verdictsPresent++;
        }

        var (sweeps, sweepsPresent) = Version >= 4 ? CopySweeps(target, verdictIds) : (0, 0);
        var (tags, tagsPresent, notes, notesPresent) = Version >= 5 ? CopyAnnotations(target) : (0, 0, 0, 0);
        return new StoreCopyCounts(runs, present, unfinished, parms, metrics, results, artifacts, bytes, verdicts, verdictsPresent, stages, stagesPresent,
            sweeps, sweepsPresent, tags, tagsPresent, notes, notesPresent);
    }

    // Each sweep record in one transaction of the target's: the sweep, its points (their verdicts mapped to the
    // target's ids), its tasks and its jobs. A sweep the target has is completed rather than replaced.
    private (int Copied, int Present) CopySweeps(RunStore target, Dictionary<long, long> verdictIds)
    {
        int copied = 0, present = 0;
        string Cols((string Name, DbType Type)[] c) => string.Join(", ", c.Select(x => x.Name));
        foreach (var sweep in ReadRows($"SELECT {Cols(SweepCopyColumns)} FROM sweeps ORDER BY created_time, sweep_id{_dialect.ByteOrder}",
                     r => SweepCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray()))
        {
            string id = (string)sweep[0];
            var points = ReadRows($"SELECT {Cols(SweepPointCopyColumns)} FROM sweep_points WHERE sweep_id = @id ORDER BY point_index, block",
                r => SweepPointCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray(), ("id", id));
            foreach (var p in points)
            {
                // A verdict the copy did not bring (none should be missing: every verdict is copied) leaves the point unjudged.
                if (p[6] is long v && verdictIds.TryGetValue(v, out long mapped)) p[6] = mapped;
                else (p[6], p[7], p[8]) = (DBNull.Value, DBNull.Value, DBNull.Value);
            }
            var tasks = ReadRows($"SELECT {Cols(SweepTaskCopyColumns)} FROM sweep_tasks WHERE sweep_id = @id ORDER BY task_index, position",
                r => SweepTaskCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray(), ("id", id));
            var jobs = ReadRows($"SELECT {Cols(SweepJobCopyColumns)} FROM sweep_jobs WHERE sweep_id = @id ORDER BY submitted_time, job_id{_dialect.ByteOrder}",
                r => SweepJobCopyColumns.Select((c, i) => CopyValue(r, i, c.Type)).ToArray(), ("id", id));
            bool isNew = target.InTransaction(tx =>
            {
                int inserted;
                using (var ins = target.Command($"INSERT INTO sweeps ({Cols(SweepCopyColumns)}) VALUES ({string.Join(", ", SweepCopyColumns.Select(c => "@" + c.Name))}) " +
                                                "ON CONFLICT (sweep_id) DO NOTHING", tx))
                {
                    for (int i = 0; i < sweep.Length; i++) ins.Param(SweepCopyColumns[i].Name, SweepCopyColumns[i].Type).Value = sweep[i];
                    inserted = ins.ExecuteNonQuery();
                }
                if (inserted == 1)
                {
                    target.InsertMany(tx, "sweep_points", SweepPointCopyColumns, points);
                    target.InsertMany(tx, "sweep_tasks", SweepTaskCopyColumns, tasks);
                }
                else
                {
                    // The target's record of this sweep (the same id: the same spec and runs) may lack verdicts it was
                    // judged to here: fill those in, leaving every point it has judged as it is.
                    using var fill = target.Command("UPDATE sweep_points SET verdict_id = @v, outcome = @o, effect_json = @e " +
                                                    "WHERE sweep_id = @id AND point_index = @i AND block = @b AND verdict_id IS NULL", tx);
                    var (pv, po, pe, pid, pi, pb) = (fill.Param("v", DbType.Int64), fill.Param("o", DbType.String), fill.Param("e", DbType.String),
                        fill.Param("id", DbType.String), fill.Param("i", DbType.Int32), fill.Param("b", DbType.Int32));
                    foreach (var p in points.Where(p => p[6] is long))
                    {
                        (pid.Value, pi.Value, pb.Value, pv.Value, po.Value, pe.Value) = (p[0], p[1], p[2], p[6], p[7], p[8]);
                        fill.ExecuteNonQuery();
                    }
                }
                using var job = target.Command($"INSERT INTO sweep_jobs ({Cols(SweepJobCopyColumns)}) VALUES ({string.Join(", ", SweepJobCopyColumns.Select(c => "@" + c.Name))}) " +
                                               "ON CONFLICT (sweep_id, job_id) DO NOTHING", tx);
                var jp = SweepJobCopyColumns.Select(c => job.Param(c.Name, c.Type)).ToArray();
                foreach (var j in jobs)
                {
                    for (int i = 0; i < j.Length; i++) jp[i].Value = j[i];
                    job.ExecuteNonQuery();
                }
                return inserted == 1;
            });
            if (isNew) copied++;
            else present++;
        }
        return (copied, present);
    }

    // Tags on runs and sweeps, and notes on runs, for the runs and sweeps the target holds (a run the source has
    // unfinished may be missing there). A tag the target has under the same key keeps the target's value; a note is
    // the same note when its text and time are, and a new one goes after the target's own.
    private (int Tags, int TagsPresent, int Notes, int NotesPresent) CopyAnnotations(RunStore target)
    {
        int tags = 0, tagsPresent = 0, notes = 0, notesPresent = 0;
        foreach (var (table, owner, ownerTable) in new[] { ("run_tags", "run_id", "runs"), ("sweep_tags", "sweep_id", "sweeps") })
        {
            foreach (var tag in ReadRows($"SELECT {owner}, key, value, created_time FROM {table} ORDER BY {owner}{_dialect.ByteOrder}, key{_dialect.ByteOrder}",
                         r => (Owner: r.GetString(0), Key: r.GetString(1), Value: r.GetString(2), Created: r.GetString(3))))
            {
                int? added = target.InTransaction(tx =>
                {
                    using (var has = target.Command($"SELECT 1 FROM {ownerTable} WHERE {owner} = @o", tx))
                    {
                        has.Set("o", tag.Owner);
                        if (has.ExecuteScalar() is null) return (int?)null;
                    }
                    using var ins = target.Command($"INSERT INTO {table} ({owner}, key, value, created_time) VALUES (@o, @k, @v, @c) ON CONFLICT ({owner}, key) DO NOTHING", tx);
                    ins.Set("o", tag.Owner);
                    ins.Set("k", tag.Key);
                    ins.Set("v", tag.Value);
                    ins.Set("c", tag.Created);
                    return ins.ExecuteNonQuery();
                });
                if (added == 1) tags++;
                else if (added == 0) tagsPresent++;
            }
        }
        foreach (var note in ReadRows($"SELECT run_id, position, text, created_time FROM run_notes ORDER BY run_id{_dialect.ByteOrder}, position",
                     r => (Run: r.GetString(0), Text: r.GetString(2), Created: r.GetString(3))))
        {
            bool? added = target.InTransaction(tx =>
            {
                // Lock the run's row so two copies number their notes one after the other.
                using (var has = target.Command($"SELECT 1 FROM runs WHERE run_id = @id{target._dialect.ForUpdate}", tx))
                {
                    has.Set("id", note.Run);
                    if (has.ExecuteScalar() is null) return (bool?)null;
                }
                using (var same = target.Command("SELECT COUNT(*) FROM run_notes WHERE run_id = @id AND text = @t AND created_time = @c", tx))
                {
                    same.Set("id", note.Run);
                    same.Set("t", note.Text);
                    same.Set("c", note.Created);
                    if (Convert.ToInt64(same.ExecuteScalar(), CultureInfo.InvariantCulture) > 0) return false;
                }
                using var ins = target.Command("INSERT INTO run_notes (run_id, position, text, created_time) " +
                                               "SELECT @id, COALESCE(MAX(position), 0) + 1, @t, @c FROM run_notes WHERE run_id = @id", tx);
                ins.Set("id", note.Run);
                ins.Set("t", note.Text);
                ins.Set("c", note.Created);
                ins.ExecuteNonQuery();
                return true;
            });
            if (added == true) notes++;
            else if (added == false) notesPresent++;
        }
        return (tags, tagsPresent, notes, notesPresent);
    }

    // The experiment named `name` in this store, created with the source's description and creation time if absent.
    private long EnsureExperimentAsOf(string name, string description, string created) => InTransaction(tx =>
    {
        using (var ins = Command("INSERT INTO experiments (name, description, creation_time) VALUES (@n, @d, @t) ON CONFLICT (name) DO NOTHING", tx))
        {
            ins.Set("n", name);
            ins.Set("d", description);
            ins.Set("t", created);
            ins.ExecuteNonQuery();
        }
        using var sel = Command("SELECT experiment_id FROM experiments WHERE name = @n", tx);
        sel.Set("n", name);
        return Convert.ToInt64(sel.ExecuteScalar(), CultureInfo.InvariantCulture);
    });

    // Copies the artifact or stage file `rel` into the target's artifact folder, refusing one whose bytes do not match
    // the hash the source recorded. A target file already holding those bytes is left alone. Returns the size.
    private long CopyFile(string rel, string sha256, RunStore target)
    {
        string from = System.IO.Path.Combine(ArtifactRoot, rel), to = System.IO.Path.Combine(target.ArtifactRoot, rel);
        if (!File.Exists(from))
            throw new InvalidDataException($"run store '{Path}' lists the artifact '{rel}', but '{from}' does not exist: " +
                                           "point the source's artifacts folder at the right place (--from-artifacts DIR)");
        byte[] content = File.ReadAllBytes(from);
        if (Convert.ToHexStringLower(SHA256.HashData(content)) != sha256)
            throw new InvalidDataException($"the artifact '{from}' does not match the SHA-256 its store '{Path}' recorded ({sha256[..12]}…): " +
                                           "it was changed or damaged after its run finished; nothing of its run was copied");
        if (File.Exists(to) && Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(to))) == sha256) return content.Length;
        Aperture.IO.AtomicFile.WriteAllBytes(to, content);
        return content.Length;
    }

    private void InsertRow(DbTransaction tx, string table, (string Name, DbType Type)[] columns, object[] values)
    {
        using var cmd = Command($"INSERT INTO {table} ({string.Join(", ", columns.Select(c => c.Name))}) VALUES ({string.Join(", ", columns.Select(c => "@" + c.Name))})", tx);
        for (int i = 0; i < columns.Length; i++) cmd.Param(columns[i].Name, columns[i].Type).Value = values[i];
        cmd.ExecuteNonQuery();
    }

    // A column's value as the type the schema gives it (SQLite hands back an INTEGER as a long; PostgreSQL an
    // INTEGER as an int), or DBNull.
    private static object CopyValue(DbDataReader r, int i, DbType type)
    {
        if (r.IsDBNull(i)) return DBNull.Value;
        object v = r.GetValue(i);
        return type switch
        {
            DbType.Int32 => Convert.ToInt32(v, CultureInfo.InvariantCulture),
            DbType.Int64 => Convert.ToInt64(v, CultureInfo.InvariantCulture),
            DbType.Double => Convert.ToDouble(v, CultureInfo.InvariantCulture),
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
        };
    }

    private List<T> ReadRows<T>(string sql, Func<DbDataReader, T> read, params (string Name, string Value)[] parameters)
    {
        lock (_lock)
        {
            using var cmd = Command(sql);
            foreach (var (n, v) in parameters) cmd.Set(n, v);
            using var r = cmd.ExecuteReader();
            var rows = new List<T>();
            while (r.Read()) rows.Add(Row(sql[(sql.IndexOf(" FROM ", StringComparison.Ordinal) + 6)..].Split(' ')[0], () => read(r)));
            return rows;
        }
    }
}
