using System.Globalization;
using System.Data.Common;

namespace Aperture.Lab.Store;

/// <summary>Which runs a query selects; every filter is optional.</summary>
/// <param name="Phenomenon">Only this phenomenon's runs.</param>
/// <param name="Tier">Only this tier's runs.</param>
/// <param name="Status">Only runs with this status.</param>
/// <param name="Tag">Only runs carrying this tag (key and value).</param>
/// <param name="Limit">At most this many runs (newest first); null for all.</param>
public sealed record RunQuery(string? Phenomenon = null, Tier? Tier = null, RunStatus? Status = null,
    KeyValuePair<string, string>? Tag = null, int? Limit = null);

/// <summary>A page of runs: the rows selected (newest first) and how many match in all.</summary>
/// <param name="Rows">The runs shown, at most the query's limit.</param>
/// <param name="Total">How many runs match the filters.</param>
public sealed record RunPage(IReadOnlyList<RunRow> Rows, int Total);

/// <summary>A free-text note on a run, in the order written.</summary>
/// <param name="Position">1 for the first note on the run, then 2, 3, ….</param>
/// <param name="Text">The note.</param>
/// <param name="Created">When it was written (UTC, ISO 8601).</param>
public sealed record RunNote(int Position, string Text, string Created);

/// <summary>
/// Queries over the store's history (filtered run lists, whole metric series, verdict history) and the
/// annotations (tags and notes on runs, tags on sweeps) people add after the fact.
/// </summary>
public sealed partial class RunStore
{
    /// <summary>The runs <paramref name="query"/> selects, newest first, with the number that match in all.</summary>
    public RunPage QueryRuns(RunQuery query)
    {
        if (query.Limit is < 0) throw new LabConfigException($"--limit must be 0 (all) or more, found {query.Limit}");
        bool byTag = query.Tag is not null && HasAnnotations;
        // Filtering on a tag in a store that has never been tagged matches nothing.
        if (query.Tag is not null && !byTag) return new RunPage([], 0);
        string where = "WHERE (@p IS NULL OR phenomenon = @p) AND (@t IS NULL OR tier = @t) AND (@s IS NULL OR status = @s)" +
                       (byTag ? " AND EXISTS (SELECT 1 FROM run_tags g WHERE g.run_id = runs.run_id AND g.key = @tk AND g.value = @tv)" : "");
        void Bind(DbCommand cmd)
        {
            cmd.Set("p", query.Phenomenon);
            cmd.Set("t", query.Tier is { } t ? TierName(t) : null);
            cmd.Set("s", query.Status is { } s ? s.ToString().ToLowerInvariant() : null);
            if (byTag)
            {
                cmd.Set("tk", query.Tag!.Value.Key);
                cmd.Set("tv", query.Tag!.Value.Value);
            }
        }
        lock (_lock)
        {
            int total;
            using (var count = Command($"SELECT COUNT(*) FROM runs {where}"))
            {
                Bind(count);
                total = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            using var cmd = Command($"SELECT {RunColumns} FROM runs {where} ORDER BY start_time DESC, run_id" +
                                    (query.Limit is > 0 ? " LIMIT @n" : ""));
            Bind(cmd);
            if (query.Limit is > 0) cmd.Set("n", query.Limit.Value);
            using var r = cmd.ExecuteReader();
            var rows = new List<RunRow>();
            while (r.Read()) rows.Add(Row("runs", () => ReadRun(r)));
            return new RunPage(rows, total);
        }
    }

    /// <summary>
    /// Every point of a run's metrics (or of the one named <paramref name="key"/>), by metric then step; a NaN is
    /// stored as NULL and read back as NaN. Works for a run in any state: a running run shows what it has logged so far.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(long Step, double Value)>> MetricSeries(string runId, string? key = null)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT key, step, value FROM metrics WHERE run_id = @id AND (@k IS NULL OR key = @k) ORDER BY key, step");
            cmd.Set("id", runId);
            cmd.Set("k", key);
            using var r = cmd.ExecuteReader();
            var series = new SortedDictionary<string, List<(long, double)>>(StringComparer.Ordinal);
            while (r.Read())
            {
                string k = r.GetString(0);
                if (!series.TryGetValue(k, out var list)) series[k] = list = [];
                list.Add((r.GetInt64(1), r.IsDBNull(2) ? double.NaN : r.GetDouble(2)));
            }
            return series.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<(long, double)>)kv.Value, StringComparer.Ordinal);
        }
    }

    /// <summary>A run's final results (NaN where none was stored as a number), by key; empty for a run that has not finished.</summary>
    public IReadOnlyDictionary<string, double> Results(string runId) => KeyValues(runId, "results", r => r.IsDBNull(1) ? double.NaN : r.GetDouble(1));

    /// <summary>A run's settings as stored (each protocol and arm setting as text), by key.</summary>
    public IReadOnlyDictionary<string, string> Params(string runId) => KeyValues(runId, "params", r => r.GetString(1));

    private SortedDictionary<string, T> KeyValues<T>(string runId, string table, Func<DbDataReader, T> value)
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT key, value FROM {table} WHERE run_id = @id ORDER BY key");
            cmd.Set("id", runId);
            using var r = cmd.ExecuteReader();
            var result = new SortedDictionary<string, T>(StringComparer.Ordinal);
            while (r.Read()) result[r.GetString(0)] = Row(table, () => value(r));
            return result;
        }
    }

    /// <summary>Every verdict in the store (or <paramref name="phenomenon"/>'s), oldest first within each phenomenon: its history across code versions and seed blocks.</summary>
    public IReadOnlyList<VerdictRecord> VerdictHistory(string? phenomenon = null)
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT {VerdictColumns} FROM verdicts WHERE (@p IS NULL OR phenomenon = @p) ORDER BY phenomenon, verdict_id");
            cmd.Set("p", phenomenon);
            using var r = cmd.ExecuteReader();
            var result = new List<VerdictRecord>();
            while (r.Read()) result.Add(Row("verdicts", () => ReadVerdict(r)));
            return result;
        }
    }

    /// <summary>
    /// Writes every metric point of the selected runs as CSV in long form, one row per (run, metric, step):
    /// run_id, phenomenon, tier, arm, seed, metric, step, value (empty for a NaN).
    /// </summary>
    public void ExportMetricsCsv(TextWriter writer, string? phenomenon = null)
    {
        writer.WriteLine("run_id,phenomenon,tier,arm,seed,metric,step,value");
        ForEachMetricPoint(phenomenon, p =>
            writer.WriteLine(string.Join(",", new[]
            {
                p.RunId, p.Phenomenon, p.Tier, p.Arm, p.Seed.ToString(CultureInfo.InvariantCulture), p.Metric,
                p.Step.ToString(CultureInfo.InvariantCulture), double.IsNaN(p.Value) ? "" : p.Value.ToString("R", CultureInfo.InvariantCulture),
            }.Select(Csv))));
    }

    /// <summary>One metric point with its run's identity, as <see cref="ForEachMetricPoint"/> gives it.</summary>
    public sealed record MetricPoint(string RunId, string Phenomenon, string Tier, string Arm, int Seed, string Metric, long Step, double Value);

    /// <summary>
    /// Hands every metric point of the selected runs to <paramref name="visit"/>, by phenomenon, tier, arm, seed, run,
    /// metric and step: streamed, so a large store is never held in memory.
    /// </summary>
    public void ForEachMetricPoint(string? phenomenon, Action<MetricPoint> visit)
    {
        lock (_lock)
        {
            using var cmd = Command("""
                SELECT m.run_id, r.phenomenon, r.tier, r.arm, r.seed, m.key, m.step, m.value
                FROM metrics m JOIN runs r ON r.run_id = m.run_id
                WHERE (@p IS NULL OR r.phenomenon = @p)
                ORDER BY r.phenomenon, r.tier, r.arm, r.seed, m.run_id, m.key, m.step
                """);
            cmd.Set("p", phenomenon);
            using var r = cmd.ExecuteReader();
            while (r.Read())
                visit(Row("metrics", () => new MetricPoint(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4),
                    r.GetString(5), r.GetInt64(6), r.IsDBNull(7) ? double.NaN : r.GetDouble(7))));
        }
    }

    /// <summary>
    /// Writes every stored verdict (or <paramref name="phenomenon"/>'s) as CSV, one row per check, each row carrying
    /// its verdict's identity, block (seed base and seeds), provenance and headline effect: a verdict with three
    /// checks gives three rows with the same verdict_id.
    /// </summary>
    public void ExportVerdictsCsv(TextWriter writer, string? phenomenon = null)
    {
        static string N(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        writer.WriteLine("verdict_id,phenomenon,tier,seed_base,seeds,outcome,effect_name,effect,effect_ci_low,effect_ci_high,protocol_version," +
                         "code_version,data_source,data_fingerprint,host,created_time,overrides,check_index,check_name,check_value,check_ci_low," +
                         "check_ci_high,check_n,check_method,supports,contradicts,check_outcome,check_degenerate");
        foreach (var v in VerdictHistory(phenomenon))
        {
            string overrides = string.Join(" ", v.Overrides.Select(kv => $"{kv.Key}={kv.Value}"));
            string[] head =
            [
                v.Id.ToString(CultureInfo.InvariantCulture), v.Phenomenon, TierName(v.Tier), v.SeedBase.ToString(CultureInfo.InvariantCulture),
                v.Seeds.ToString(CultureInfo.InvariantCulture), v.Verdict.Outcome.Text(), v.Verdict.Effect.Name, N(v.Verdict.Effect.Value),
                N(v.Verdict.Effect.Low), N(v.Verdict.Effect.High), v.ProtocolVersion, v.CodeVersion, v.DataSource, v.DataFingerprint, v.Host,
                v.Created, overrides,
            ];
            for (int i = 0; i < v.Verdict.Checks.Count; i++)
            {
                var c = v.Verdict.Checks[i];
                writer.WriteLine(string.Join(",", head.Concat(
                [
                    i.ToString(CultureInfo.InvariantCulture), c.Estimate.Name, N(c.Estimate.Value), N(c.Estimate.Low), N(c.Estimate.High),
                    c.Estimate.N.ToString(CultureInfo.InvariantCulture), c.Estimate.Method, c.Band, c.ContradictingBand, c.Outcome.Text(),
                    c.Degenerate ? "true" : "false",
                ]).Select(Csv)));
            }
        }
    }

    // ---- tags and notes ----

    // The annotation tables (schema version 5; see RunStore.Schema.cs): tags are one value per key and run (or
    // sweep); notes are numbered from 1 per run. IF NOT EXISTS: see the migration.
    internal const string AnnotationTables = """
        CREATE TABLE IF NOT EXISTS run_tags (
            run_id       TEXT NOT NULL REFERENCES runs(run_id),
            key          TEXT NOT NULL,
            value        TEXT NOT NULL,
            created_time TEXT NOT NULL,
            PRIMARY KEY (run_id, key));
        CREATE TABLE IF NOT EXISTS run_notes (
            run_id       TEXT NOT NULL REFERENCES runs(run_id),
            position     INTEGER NOT NULL,
            text         TEXT NOT NULL,
            created_time TEXT NOT NULL,
            PRIMARY KEY (run_id, position));
        CREATE TABLE sweep_tags (
            sweep_id     TEXT NOT NULL REFERENCES sweeps(sweep_id),
            key          TEXT NOT NULL,
            value        TEXT NOT NULL,
            created_time TEXT NOT NULL,
            PRIMARY KEY (sweep_id, key))
        """;

    // A store older than version 5 has no annotation tables: opened for reading it is read as it is (a query must not
    // write, and the store may sit on a read-only disk), so it has no tags or notes; opened for writing it was upgraded.
    private bool HasAnnotations => Version >= 5;

    private void RequireAnnotations()
    {
        if (!HasAnnotations)
            throw new InvalidOperationException($"run store '{Path}' has schema version {Version}, without tags or notes: open it for writing to upgrade it");
    }

    /// <summary>Sets the tag <paramref name="key"/> of run <paramref name="runId"/> to <paramref name="value"/> (replacing any earlier value).</summary>
    public void TagRun(string runId, string key, string value)
    {
        if (string.IsNullOrWhiteSpace(key)) throw new LabConfigException("a tag needs a key: KEY=VALUE");
        RequireAnnotations();
        InTransaction(tx =>
        {
            RequireRun(runId, tx);
            using (var del = Command("DELETE FROM run_tags WHERE run_id = @id AND key = @k", tx))
            {
                del.Set("id", runId);
                del.Set("k", key);
                del.ExecuteNonQuery();
            }
            using var cmd = Command("INSERT INTO run_tags (run_id, key, value, created_time) VALUES (@id, @k, @v, @ct)", tx);
            cmd.Set("id", runId);
            cmd.Set("k", key);
            cmd.Set("v", value);
            cmd.Set("ct", Now());
            cmd.ExecuteNonQuery();
        });
    }

    /// <summary>Removes the tag <paramref name="key"/> from run <paramref name="runId"/>; returns whether it had one.</summary>
    public bool UntagRun(string runId, string key)
    {
        if (!HasAnnotations) return false;
        return InTransaction(tx =>
        {
            using var cmd = Command("DELETE FROM run_tags WHERE run_id = @id AND key = @k", tx);
            cmd.Set("id", runId);
            cmd.Set("k", key);
            return cmd.ExecuteNonQuery() > 0;
        });
    }

    /// <summary>Adds a note to run <paramref name="runId"/>, after its earlier ones; returns its position (1 for the first).</summary>
    public int NoteRun(string runId, string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new LabConfigException("a note needs some text");
        RequireAnnotations();
        return InTransaction(tx =>
        {
            RequireRun(runId, tx);
            int position;
            using (var max = Command("SELECT COALESCE(MAX(position), 0) + 1 FROM run_notes WHERE run_id = @id", tx))
            {
                max.Set("id", runId);
                position = Convert.ToInt32(max.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            using var cmd = Command("INSERT INTO run_notes (run_id, position, text, created_time) VALUES (@id, @n, @t, @ct)", tx);
            cmd.Set("id", runId);
            cmd.Set("n", position);
            cmd.Set("t", text);
            cmd.Set("ct", Now());
            cmd.ExecuteNonQuery();
            return position;
        });
    }

    /// <summary>The tags of run <paramref name="runId"/>, by key.</summary>
    public IReadOnlyDictionary<string, string> Tags(string runId) =>
        TagsOf([runId]).GetValueOrDefault(runId) ?? (IReadOnlyDictionary<string, string>)new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The tags of each of <paramref name="runIds"/> that has any, by run id then key.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> TagsOf(IReadOnlyCollection<string> runIds)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        if (runIds.Count == 0 || !HasAnnotations) return result;
        var wanted = runIds.ToHashSet(StringComparer.Ordinal);
        lock (_lock)
        {
            // One pass over the (small) tag table beats one query per run.
            using var cmd = Command("SELECT run_id, key, value FROM run_tags ORDER BY run_id, key");
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                string id = r.GetString(0);
                if (!wanted.Contains(id)) continue;
                if (!result.TryGetValue(id, out var tags)) result[id] = tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
                ((SortedDictionary<string, string>)tags)[r.GetString(1)] = r.GetString(2);
            }
        }
        return result;
    }

    /// <summary>The notes on run <paramref name="runId"/>, in the order written.</summary>
    public IReadOnlyList<RunNote> Notes(string runId)
    {
        if (!HasAnnotations) return [];
        lock (_lock)
        {
            using var cmd = Command("SELECT position, text, created_time FROM run_notes WHERE run_id = @id ORDER BY position");
            cmd.Set("id", runId);
            using var r = cmd.ExecuteReader();
            var notes = new List<RunNote>();
            while (r.Read()) notes.Add(Row("run_notes", () => new RunNote(r.GetInt32(0), r.GetString(1), r.GetString(2))));
            return notes;
        }
    }

    private void RequireRun(string runId, DbTransaction tx)
    {
        using var cmd = Command("SELECT COUNT(*) FROM runs WHERE run_id = @id", tx);
        cmd.Set("id", runId);
        if (Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
            throw new LabConfigException($"no run '{runId}' in '{Path}'");
    }
}
