using System.Text.Json;
using Aperture.Lab.Sweeps;
using System.Data;

namespace Aperture.Lab.Store;

/// <summary>A stored sweep: its spec, its grid points on each block with their verdicts, and its tasks.</summary>
/// <param name="Id">The sweep's id (<see cref="SweepPlan.Id"/>).</param>
/// <param name="Phenomenon">The phenomenon swept.</param>
/// <param name="Tier">The tier.</param>
/// <param name="SpecJson">The canonical spec (<see cref="SweepSpec.ToJson"/>).</param>
/// <param name="RunsPerTask">How many runs one task executes.</param>
/// <param name="TaskCount">How many tasks it has.</param>
/// <param name="RunCount">How many distinct runs it needs.</param>
/// <param name="CodeVersion">The code that planned it.</param>
/// <param name="Created">When it was first stored (UTC, ISO 8601).</param>
/// <param name="Points">Its grid points on each block, point-major.</param>
public sealed record SweepRecord(string Id, string Phenomenon, Tier Tier, string SpecJson, int RunsPerTask, int TaskCount, int RunCount,
    string CodeVersion, string Created, IReadOnlyList<SweepPointRecord> Points)
{
    /// <summary>The spec, read back.</summary>
    public SweepSpec Spec => SweepSpec.FromJson(SpecJson, $"sweep {Id}");
}

/// <summary>One grid point of a stored sweep on one block, with its verdict once judged.</summary>
/// <param name="Point">The grid point's index.</param>
/// <param name="Block">0 discovery, 1 replication.</param>
/// <param name="Settings">The point's settings.</param>
/// <param name="ProtocolJson">Its protocol (<see cref="ProtocolBinding.ToJson"/>).</param>
/// <param name="RunIds">The runs it is judged on.</param>
/// <param name="VerdictId">The stored verdict's id, or null before it is judged.</param>
/// <param name="Outcome">The verdict's outcome, or null.</param>
/// <param name="Effect">The verdict's headline effect with its interval, or null.</param>
public sealed record SweepPointRecord(int Point, int Block, IReadOnlyList<KeyValuePair<string, string>> Settings, string ProtocolJson,
    IReadOnlyList<string> RunIds, long? VerdictId, Outcome? Outcome, Estimate? Effect);

/// <summary>One submission of a sweep's tasks to a scheduler (a Slurm job array, or a set of worker processes).</summary>
/// <param name="JobId">The scheduler's job id.</param>
/// <param name="Executor">slurm or processes.</param>
/// <param name="Tasks">The task indices submitted, as Slurm writes an array (<c>0-15</c>, <c>3,7</c>).</param>
/// <param name="Attempt">0 for the first submission, 1 for the first retry, …</param>
/// <param name="Submitted">When (UTC, ISO 8601).</param>
public sealed record SweepJob(string JobId, string Executor, string Tasks, int Attempt, string Submitted);

public sealed partial class RunStore
{
    private static readonly JsonSerializerOptions SweepJsonOptions = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    // The sweep tables (schema version 4; see RunStore.Schema.cs): portable SQL with the dialect's type tokens.
    internal const string SweepTables = """
        CREATE TABLE sweeps (
            sweep_id      TEXT PRIMARY KEY,
            phenomenon    TEXT NOT NULL,
            tier          TEXT NOT NULL,
            spec_json     TEXT NOT NULL,
            runs_per_task INTEGER NOT NULL,
            task_count    INTEGER NOT NULL,
            run_count     INTEGER NOT NULL,
            code_version  TEXT NOT NULL,
            created_time  TEXT NOT NULL,
            cancelled_time TEXT);
        CREATE TABLE sweep_points (
            sweep_id      TEXT NOT NULL REFERENCES sweeps(sweep_id),
            point_index   INTEGER NOT NULL,
            block         INTEGER NOT NULL,
            settings_json TEXT NOT NULL,
            protocol_json TEXT NOT NULL,
            run_ids_json  TEXT NOT NULL,
            verdict_id    {bigint} REFERENCES verdicts(verdict_id),
            outcome       TEXT,
            effect_json   TEXT,
            PRIMARY KEY (sweep_id, point_index, block));
        CREATE TABLE sweep_tasks (
            sweep_id      TEXT NOT NULL REFERENCES sweeps(sweep_id),
            task_index    INTEGER NOT NULL,
            position      INTEGER NOT NULL,
            run_id        TEXT NOT NULL,
            spec_json     TEXT NOT NULL,
            PRIMARY KEY (sweep_id, task_index, position));
        CREATE TABLE sweep_jobs (
            sweep_id      TEXT NOT NULL REFERENCES sweeps(sweep_id),
            job_id        TEXT NOT NULL,
            executor      TEXT NOT NULL,
            tasks         TEXT NOT NULL,
            attempt       INTEGER NOT NULL,
            submitted_time TEXT NOT NULL,
            PRIMARY KEY (sweep_id, job_id));
        """;

    /// <summary>
    /// Stores a sweep's record (its spec, grid points and tasks) unless it is already there: the id is a hash of the
    /// spec and its runs, so a stored record with this id is this sweep. Returns true when it was new.
    /// </summary>
    public bool SaveSweep(SweepPlan plan) => InTransaction(tx =>
    {
        using (var exists = Command("SELECT 1 FROM sweeps WHERE sweep_id = @id", tx))
        {
            exists.Set("id", plan.Id);
            if (exists.ExecuteScalar() is not null) return false;
        }
        using (var ins = Command("""
            INSERT INTO sweeps (sweep_id, phenomenon, tier, spec_json, runs_per_task, task_count, run_count, code_version, created_time)
            VALUES (@id, @p, @tier, @spec, @per, @tasks, @runs, @cv, @t)
            """, tx))
        {
            ins.Set("id", plan.Id);
            ins.Set("p", plan.Phenomenon.Id);
            ins.Set("tier", TierName(plan.Spec.Tier));
            ins.Set("spec", plan.Spec.ToJson());
            ins.Set("per", plan.RunsPerTask);
            ins.Set("tasks", plan.Tasks.Count);
            ins.Set("runs", plan.Runs.Count);
            ins.Set("cv", CodeVersion);
            ins.Set("t", Now());
            ins.ExecuteNonQuery();
        }
        using (var pt = Command("""
            INSERT INTO sweep_points (sweep_id, point_index, block, settings_json, protocol_json, run_ids_json)
            VALUES (@id, @i, @b, @s, @p, @r)
            """, tx))
        {
            pt.Set("id", plan.Id);
            var i = pt.Param("i", DbType.Int32);
            var b = pt.Param("b", DbType.Int32);
            var s = pt.Param("s", DbType.String);
            var p = pt.Param("p", DbType.String);
            var r = pt.Param("r", DbType.String);
            foreach (var point in plan.Points)
            {
                i.Value = point.Point;
                b.Value = point.Block;
                s.Value = JsonSerializer.Serialize(point.Settings.Select(kv => new[] { kv.Key, kv.Value }));
                p.Value = ProtocolBinding.ToJson(point.Protocol);
                r.Value = JsonSerializer.Serialize(point.RunIds);
                pt.ExecuteNonQuery();
            }
        }
        using (var task = Command("INSERT INTO sweep_tasks (sweep_id, task_index, position, run_id, spec_json) VALUES (@id, @t, @k, @r, @s)", tx))
        {
            task.Set("id", plan.Id);
            var t = task.Param("t", DbType.Int32);
            var k = task.Param("k", DbType.Int32);
            var r = task.Param("r", DbType.String);
            var s = task.Param("s", DbType.String);
            for (int ti = 0; ti < plan.Tasks.Count; ti++)
                for (int pos = 0; pos < plan.Tasks[ti].Count; pos++)
                {
                    t.Value = ti;
                    k.Value = pos;
                    r.Value = plan.Tasks[ti][pos].RunId;
                    s.Value = SweepPlan.RunSpecToJson(plan.Tasks[ti][pos]);
                    task.ExecuteNonQuery();
                }
        }
        return true;
    });

    /// <summary>The sweep whose id starts with <paramref name="prefix"/>; a <see cref="LabConfigException"/> if none or several match.</summary>
    public SweepRecord FindSweep(string prefix)
    {
        if (prefix.Length < 4 || !prefix.All(Uri.IsHexDigit))
            throw new LabConfigException($"a sweep id is hexadecimal, at least 4 digits; found '{prefix}'");
        var ids = SweepIds("sweep_id LIKE @p || '%'", prefix.ToLowerInvariant());
        return ids.Count switch
        {
            0 => throw new LabConfigException($"no sweep in '{Path}' has an id starting with '{prefix}'"),
            1 => LoadSweep(ids[0]),
            _ => throw new LabConfigException($"several sweeps have ids starting with '{prefix}': give more digits"),
        };
    }

    /// <summary>Every stored sweep (of one phenomenon, when given), oldest first.</summary>
    public IReadOnlyList<SweepRecord> Sweeps(string? phenomenon = null) =>
        Version < 4 ? [] : [.. SweepIds("(@p IS NULL OR phenomenon = @p)", phenomenon).Select(LoadSweep)];

    private List<string> SweepIds(string where, string? p)
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT sweep_id FROM sweeps WHERE {where} ORDER BY created_time, sweep_id");
            cmd.Set("p", p);
            using var r = cmd.ExecuteReader();
            var ids = new List<string>();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        }
    }

    private SweepRecord LoadSweep(string id)
    {
        lock (_lock)
        {
            // One reader at a time: PostgreSQL runs one command per connection.
            string phenomenon, tier, spec, codeVersion, created;
            int perTask, taskCount, runCount;
            using (var cmd = Command("SELECT phenomenon, tier, spec_json, runs_per_task, task_count, run_count, code_version, created_time FROM sweeps WHERE sweep_id = @id"))
            {
                cmd.Set("id", id);
                using var r = cmd.ExecuteReader();
                if (!r.Read()) throw new LabConfigException($"no sweep {id} in '{Path}'");
                (phenomenon, tier, spec, perTask, taskCount, runCount, codeVersion, created) = Row("sweeps", () =>
                    (r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetString(6), r.GetString(7)));
            }
            var points = new List<SweepPointRecord>();
            using (var pc = Command("SELECT point_index, block, settings_json, protocol_json, run_ids_json, verdict_id, outcome, effect_json " +
                                    "FROM sweep_points WHERE sweep_id = @id ORDER BY point_index, block"))
            {
                pc.Set("id", id);
                using var pr = pc.ExecuteReader();
                while (pr.Read())
                    points.Add(Row("sweep_points", () => new SweepPointRecord(pr.GetInt32(0), pr.GetInt32(1),
                        [.. JsonSerializer.Deserialize<string[][]>(pr.GetString(2))!.Select(kv => KeyValuePair.Create(kv[0], kv[1]))],
                        pr.GetString(3), JsonSerializer.Deserialize<string[]>(pr.GetString(4))!,
                        pr.IsDBNull(5) ? null : pr.GetInt64(5),
                        pr.IsDBNull(6) ? null : Outcomes.Parse(pr.GetString(6)),
                        pr.IsDBNull(7) ? null : JsonSerializer.Deserialize<Estimate>(pr.GetString(7), SweepJsonOptions))));
            }
            return new SweepRecord(id, phenomenon, ParseTier(tier), spec, perTask, taskCount, runCount, codeVersion, created, points);
        }
    }

    /// <summary>The runs of task <paramref name="task"/> of sweep <paramref name="sweepId"/>, in order; an error naming the task if it has none.</summary>
    public IReadOnlyList<RunSpec> SweepTaskRuns(string sweepId, int task)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT spec_json FROM sweep_tasks WHERE sweep_id = @id AND task_index = @t ORDER BY position");
            cmd.Set("id", sweepId);
            cmd.Set("t", task);
            using var r = cmd.ExecuteReader();
            var specs = new List<RunSpec>();
            while (r.Read()) specs.Add(SweepPlan.RunSpecFromJson(r.GetString(0)));
            if (specs.Count == 0) throw new LabConfigException($"sweep {sweepId} has no task {task} in '{Path}'");
            return specs;
        }
    }

    /// <summary>Every task of sweep <paramref name="sweepId"/> as its run ids, by task index.</summary>
    public IReadOnlyList<IReadOnlyList<string>> SweepTaskRunIds(string sweepId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT task_index, run_id FROM sweep_tasks WHERE sweep_id = @id ORDER BY task_index, position");
            cmd.Set("id", sweepId);
            using var r = cmd.ExecuteReader();
            var tasks = new List<List<string>>();
            while (r.Read())
            {
                int t = r.GetInt32(0);
                while (tasks.Count <= t) tasks.Add([]);
                tasks[t].Add(r.GetString(1));
            }
            return tasks;
        }
    }

    /// <summary>The status of each of <paramref name="runIds"/> (null: never started), in one read.</summary>
    public IReadOnlyDictionary<string, RunStatus?> StatusesOf(IEnumerable<string> runIds)
    {
        var result = new Dictionary<string, RunStatus?>(StringComparer.Ordinal);
        lock (_lock)
        {
            EnsureOpen();
            using var tx = _db.BeginTransaction();
            using var cmd = Command("SELECT status FROM runs WHERE run_id = @id", tx);
            var p = cmd.Param("id", DbType.String);
            foreach (var id in runIds)
            {
                if (result.ContainsKey(id)) continue;
                p.Value = id;
                result[id] = cmd.ExecuteScalar() is string s ? Row("runs", () => ParseStatus(s)) : null;
            }
        }
        return result;
    }

    /// <summary>Records the verdict of one grid point on one block of a sweep.</summary>
    public void SetSweepVerdict(string sweepId, int point, int block, long verdictId, Verdict verdict) => InTransaction(tx =>
    {
        using var cmd = Command("UPDATE sweep_points SET verdict_id = @v, outcome = @o, effect_json = @e WHERE sweep_id = @id AND point_index = @i AND block = @b", tx);
        cmd.Set("v", verdictId);
        cmd.Set("o", verdict.Outcome.Text());
        cmd.Set("e", JsonSerializer.Serialize(verdict.Effect, SweepJsonOptions));
        cmd.Set("id", sweepId);
        cmd.Set("i", point);
        cmd.Set("b", block);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"sweep {sweepId} has no point {point} on block {block}");
    });

    /// <summary>Records a submission of the sweep's tasks (a Slurm job id and the array indices it holds).</summary>
    public void AddSweepJob(string sweepId, string jobId, string executor, string tasks, int attempt) => InTransaction(tx =>
    {
        using var cmd = Command("INSERT INTO sweep_jobs (sweep_id, job_id, executor, tasks, attempt, submitted_time) VALUES (@id, @j, @x, @t, @a, @now) " +
                                "ON CONFLICT (sweep_id, job_id) DO NOTHING", tx);
        cmd.Set("id", sweepId);
        cmd.Set("j", jobId);
        cmd.Set("x", executor);
        cmd.Set("t", tasks);
        cmd.Set("a", attempt);
        cmd.Set("now", Now());
        cmd.ExecuteNonQuery();
    });

    /// <summary>Every submission of sweep <paramref name="sweepId"/>'s tasks, oldest first.</summary>
    public IReadOnlyList<SweepJob> SweepJobs(string sweepId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT job_id, executor, tasks, attempt, submitted_time FROM sweep_jobs WHERE sweep_id = @id ORDER BY submitted_time, job_id");
            cmd.Set("id", sweepId);
            using var r = cmd.ExecuteReader();
            var jobs = new List<SweepJob>();
            while (r.Read()) jobs.Add(new SweepJob(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetString(4)));
            return jobs;
        }
    }

    /// <summary>Marks a sweep cancelled (by <c>aperture lab cancel</c>): a coordinator following it stops instead of retrying its tasks.</summary>
    public void CancelSweep(string sweepId) => SetCancelled(sweepId, Now());

    /// <summary>Clears a sweep's cancellation: it is being run again.</summary>
    public void ResumeSweep(string sweepId) => SetCancelled(sweepId, null);

    private void SetCancelled(string sweepId, string? time) => InTransaction(tx =>
    {
        using var cmd = Command("UPDATE sweeps SET cancelled_time = @t WHERE sweep_id = @id", tx);
        cmd.Set("t", time);
        cmd.Set("id", sweepId);
        cmd.ExecuteNonQuery();
    });

    /// <summary>Whether the sweep was cancelled and not run again since.</summary>
    public bool IsSweepCancelled(string sweepId)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT cancelled_time FROM sweeps WHERE sweep_id = @id");
            cmd.Set("id", sweepId);
            return cmd.ExecuteScalar() is string;
        }
    }

    /// <summary>Sets the tag <paramref name="key"/> of sweep <paramref name="sweepId"/> to <paramref name="value"/> (replacing any earlier value).</summary>
    public void TagSweep(string sweepId, string key, string value)
    {
        if (string.IsNullOrWhiteSpace(key)) throw new LabConfigException("a tag needs a key: KEY=VALUE");
        RequireAnnotations();
        InTransaction(tx =>
        {
            using (var has = Command("SELECT 1 FROM sweeps WHERE sweep_id = @id", tx))
            {
                has.Set("id", sweepId);
                if (has.ExecuteScalar() is null) throw new LabConfigException($"no sweep {sweepId} in '{Path}'");
            }
            using (var del = Command("DELETE FROM sweep_tags WHERE sweep_id = @id AND key = @k", tx))
            {
                del.Set("id", sweepId);
                del.Set("k", key);
                del.ExecuteNonQuery();
            }
            using var cmd = Command("INSERT INTO sweep_tags (sweep_id, key, value, created_time) VALUES (@id, @k, @v, @ct)", tx);
            cmd.Set("id", sweepId);
            cmd.Set("k", key);
            cmd.Set("v", value);
            cmd.Set("ct", Now());
            cmd.ExecuteNonQuery();
        });
    }

    /// <summary>Removes the tag <paramref name="key"/> from sweep <paramref name="sweepId"/>; returns whether it had one.</summary>
    public bool UntagSweep(string sweepId, string key)
    {
        if (!HasAnnotations) return false;
        return InTransaction(tx =>
        {
            using var cmd = Command("DELETE FROM sweep_tags WHERE sweep_id = @id AND key = @k", tx);
            cmd.Set("id", sweepId);
            cmd.Set("k", key);
            return cmd.ExecuteNonQuery() > 0;
        });
    }

    /// <summary>The tags of sweep <paramref name="sweepId"/>, by key (empty in a store older than tags).</summary>
    public IReadOnlyDictionary<string, string> SweepTags(string sweepId)
    {
        var tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!HasAnnotations) return tags;
        lock (_lock)
        {
            using var cmd = Command("SELECT key, value FROM sweep_tags WHERE sweep_id = @id ORDER BY key");
            cmd.Set("id", sweepId);
            using var r = cmd.ExecuteReader();
            while (r.Read()) tags[r.GetString(0)] = Row("sweep_tags", () => r.GetString(1));
        }
        return tags;
    }

    /// <summary>The stored verdict with row id <paramref name="verdictId"/>.</summary>
    public VerdictRecord VerdictById(string phenomenon, long verdictId) =>
        Verdicts(phenomenon).FirstOrDefault(v => v.Id == verdictId)
        ?? throw new InvalidOperationException($"verdict {verdictId} of {phenomenon} is not in the store '{Path}'");
}
