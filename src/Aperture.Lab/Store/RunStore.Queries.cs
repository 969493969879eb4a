using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Data.Common;

namespace Aperture.Lab.Store;

/// <summary>A run's row in the store.</summary>
public sealed record RunRow(string RunId, string Phenomenon, Tier Tier, string Arm, string ArmJson, int Seed, RunStatus Status, int Attempts,
    string StartTime, string? EndTime, double? Seconds, string ConfigHash, string ConfigJson, string ProtocolVersion,
    string CodeVersion, string DataFingerprint, string DataSource, string Host, int Pid, string? Error);

/// <summary>A stored verdict: what was judged, with which protocol and runs.</summary>
/// <param name="Id">The verdict's row id (increasing).</param>
/// <param name="Phenomenon">The phenomenon's id.</param>
/// <param name="Tier">The tier.</param>
/// <param name="ProtocolJson">Every setting, thresholds included (<see cref="ProtocolBinding.ToJson"/>).</param>
/// <param name="Overrides">The settings that differ from the tier's defaults.</param>
/// <param name="Seeds">The number of seeds.</param>
/// <param name="RunIds">The runs judged.</param>
/// <param name="Verdict">The verdict.</param>
/// <param name="Seconds">The runs' total time.</param>
/// <param name="ProtocolVersion">The phenomenon's protocol version.</param>
/// <param name="Created">When it was judged (UTC, ISO 8601).</param>
public sealed record VerdictRecord(long Id, string Phenomenon, Tier Tier, string ProtocolJson,
    IReadOnlyList<KeyValuePair<string, string>> Overrides, int Seeds, IReadOnlyList<string> RunIds, Verdict Verdict,
    double Seconds, string ProtocolVersion, string Created)
{
    /// <summary>The first seed of the block judged.</summary>
    public int SeedBase { get; init; }

    /// <summary>Aperture's version and commit when the verdict was judged.</summary>
    public string CodeVersion { get; init; } = "";

    /// <summary>The content hash of the data the runs read.</summary>
    public string DataFingerprint { get; init; } = "";

    /// <summary>Which copy of the data the runs read.</summary>
    public string DataSource { get; init; } = "";

    /// <summary>The machine that judged it.</summary>
    public string Host { get; init; } = "";
}

public sealed partial class RunStore
{
    private static readonly JsonSerializerOptions VerdictJson = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
        // An estimate's unit is required of new code but absent from verdicts stored before units were stated:
        // those read back with no unit stated rather than failing to load.
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                t =>
                {
                    foreach (var p in t.Properties)
                        if (p.PropertyType == typeof(Unit)) p.IsRequired = false;
                },
            },
        },
    };

    private const string RunColumns = "run_id, phenomenon, tier, arm, arm_json, seed, status, attempts, start_time, end_time, duration_s, " +
                                      "config_hash, config_json, protocol_version, code_version, data_fingerprint, data_source, host, pid, error";

    /// <summary>Runs, newest first, optionally only one phenomenon's or one status's.</summary>
    public IReadOnlyList<RunRow> ListRuns(string? phenomenon = null, RunStatus? status = null)
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT {RunColumns} FROM runs WHERE (@p IS NULL OR phenomenon = @p) AND (@s IS NULL OR status = @s) " +
                                    $"ORDER BY start_time{_dialect.ByteOrder} DESC, run_id{_dialect.ByteOrder}");
            cmd.Set("p", phenomenon);
            cmd.Set("s", status?.ToString().ToLowerInvariant());
            using var r = cmd.ExecuteReader();
            var rows = new List<RunRow>();
            while (r.Read()) rows.Add(Row("runs", () => ReadRun(r)));
            return rows;
        }
    }

    /// <summary>The run whose id starts with <paramref name="prefix"/>; throws if none or several match.</summary>
    public RunRow FindRun(string prefix)
    {
        if (prefix.Length < 4 || !prefix.All(Uri.IsHexDigit))
            throw new LabConfigException($"a run id is hexadecimal, at least 4 digits; found '{prefix}'");
        lock (_lock)
        {
            using var cmd = Command($"SELECT {RunColumns} FROM runs WHERE run_id LIKE @p || '%' ORDER BY run_id{_dialect.ByteOrder} LIMIT 2");
            cmd.Set("p", prefix.ToLowerInvariant());
            using var r = cmd.ExecuteReader();
            var rows = new List<RunRow>();
            while (r.Read()) rows.Add(Row("runs", () => ReadRun(r)));
            return rows.Count switch
            {
                0 => throw new LabConfigException($"no run in '{Path}' has an id starting with '{prefix}'"),
                1 => rows[0],
                _ => throw new LabConfigException($"several runs have ids starting with '{prefix}': give more digits"),
            };
        }
    }

    /// <summary>The finished runs <paramref name="runIds"/> with all their measurements. Throws if one is missing or unfinished.</summary>
    public RunSet LoadRunSet(IEnumerable<string> runIds)
    {
        var runs = new List<StoredRun>();
        lock (_lock)
        {
            foreach (var id in runIds) runs.Add(LoadRun(id));
        }
        return new RunSet(runs);
    }

    /// <summary>One finished run with its results, metrics and artifacts.</summary>
    public StoredRun LoadRun(string runId)
    {
        lock (_lock)
        {
            string arm; int seed; double seconds;
            using (var cmd = Command("SELECT arm, seed, status, duration_s FROM runs WHERE run_id = @id"))
            {
                cmd.Set("id", runId);
                using var r = cmd.ExecuteReader();
                if (!r.Read()) throw new InvalidOperationException($"run {runId} is not in the store '{Path}'");
                if (r.GetString(2) != "finished") throw new InvalidOperationException($"run {runId} is {r.GetString(2)}, not finished");
                arm = r.GetString(0);
                seed = r.GetInt32(1);
                seconds = r.IsDBNull(3) ? 0 : r.GetDouble(3);
            }
            var results = new Dictionary<string, double>();
            using (var cmd = Command($"SELECT key, value FROM results WHERE run_id = @id ORDER BY key{_dialect.ByteOrder}"))
            {
                cmd.Set("id", runId);
                using var r = cmd.ExecuteReader();
                while (r.Read()) results[r.GetString(0)] = r.IsDBNull(1) ? double.NaN : r.GetDouble(1);
            }
            var metrics = new Dictionary<string, List<(long, double)>>();
            using (var cmd = Command($"SELECT key, step, value FROM metrics WHERE run_id = @id ORDER BY key{_dialect.ByteOrder}, step"))
            {
                cmd.Set("id", runId);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    string key = r.GetString(0);
                    if (!metrics.TryGetValue(key, out var list)) metrics[key] = list = [];
                    list.Add((r.GetInt64(1), r.IsDBNull(2) ? double.NaN : r.GetDouble(2)));
                }
            }
            var artifacts = new Dictionary<string, string>();
            using (var cmd = Command($"SELECT path FROM artifacts WHERE run_id = @id ORDER BY path{_dialect.ByteOrder}"))
            {
                cmd.Set("id", runId);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    string rel = r.GetString(0);
                    artifacts[rel[(rel.IndexOf('/') + 1)..]] = System.IO.Path.Combine(ArtifactRoot, rel);
                }
            }
            return new StoredRun(runId, arm, seed, seconds, results,
                metrics.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<(long, double)>)kv.Value), artifacts);
        }
    }

    /// <summary>Stores a verdict with its provenance (data, code, host) and returns its id.</summary>
    public long SaveVerdict(string phenomenon, Tier tier, long experimentId, LabProtocol protocol,
        IReadOnlyList<KeyValuePair<string, string>> overrides, IReadOnlyList<string> runIds, Verdict verdict, double seconds, string protocolVersion,
        string dataFingerprint, string dataSource)
        => InTransaction(tx =>
        {
            using var cmd = Command("""
                INSERT INTO verdicts (experiment_id, phenomenon, tier, config_hash, protocol_json, overrides_json, seeds, seed_base, run_ids_json,
                                      outcome, effect_name, effect, ci_low, ci_high, verdict_json, seconds, protocol_version, code_version,
                                      data_fingerprint, data_source, host, created_time)
                VALUES (@e, @p, @t, @ch, @pj, @oj, @n, @sb, @ids, @o, @en, @ef, @lo, @hi, @vj, @sec, @cv, @sv, @df, @ds, @host, @ct)
                RETURNING verdict_id
                """, tx);
            cmd.Set("sb", protocol.SeedBase);
            cmd.Set("df", dataFingerprint);
            cmd.Set("ds", dataSource);
            cmd.Set("host", Environment.MachineName);
            cmd.Set("e", experimentId);
            cmd.Set("p", phenomenon);
            cmd.Set("t", TierName(tier));
            cmd.Set("ch", ConfigHash(ProtocolBinding.RunConfigJson(protocol)));
            cmd.Set("pj", ProtocolBinding.ToJson(protocol));
            cmd.Set("oj", JsonSerializer.Serialize(overrides.Select(kv => new[] { kv.Key, kv.Value })));
            cmd.Set("n", protocol.Seeds);
            cmd.Set("ids", JsonSerializer.Serialize(runIds));
            cmd.Set("o", verdict.Outcome.Text());
            cmd.Set("en", verdict.Effect.Name);
            cmd.Set("ef", verdict.Effect.Value);
            cmd.Set("lo", verdict.Effect.Low);
            cmd.Set("hi", verdict.Effect.High);
            cmd.Set("vj", JsonSerializer.Serialize(verdict, VerdictJson));
            cmd.Set("sec", seconds);
            cmd.Set("cv", protocolVersion);
            cmd.Set("sv", CodeVersion);
            cmd.Set("ct", Now());
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        });

    /// <summary>The most recent verdict of each phenomenon (any tier), by phenomenon id.</summary>
    public IReadOnlyDictionary<string, VerdictRecord> LatestVerdicts()
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT {VerdictColumns} FROM verdicts WHERE verdict_id IN (SELECT MAX(verdict_id) FROM verdicts GROUP BY phenomenon)");
            using var r = cmd.ExecuteReader();
            var result = new Dictionary<string, VerdictRecord>();
            while (r.Read())
            {
                var v = Row("verdicts", () => ReadVerdict(r));
                result[v.Phenomenon] = v;
            }
            return result;
        }
    }

    /// <summary>Every verdict of <paramref name="phenomenon"/>, newest first.</summary>
    public IReadOnlyList<VerdictRecord> Verdicts(string phenomenon)
    {
        lock (_lock)
        {
            using var cmd = Command($"SELECT {VerdictColumns} FROM verdicts WHERE phenomenon = @p ORDER BY verdict_id DESC");
            cmd.Set("p", phenomenon);
            using var r = cmd.ExecuteReader();
            var result = new List<VerdictRecord>();
            while (r.Read()) result.Add(Row("verdicts", () => ReadVerdict(r)));
            return result;
        }
    }

    private const string VerdictColumns = "verdict_id, phenomenon, tier, protocol_json, overrides_json, seeds, run_ids_json, verdict_json, seconds, " +
                                          "protocol_version, created_time, seed_base, code_version, data_fingerprint, data_source, host";

    private static VerdictRecord ReadVerdict(DbDataReader r)
    {
        var overrides = JsonSerializer.Deserialize<string[][]>(r.GetString(4)) ?? [];
        return new VerdictRecord(r.GetInt64(0), r.GetString(1), ParseTier(r.GetString(2)), r.GetString(3),
            [.. overrides.Select(p => KeyValuePair.Create(p[0], p[1]))], r.GetInt32(5),
            JsonSerializer.Deserialize<string[]>(r.GetString(6)) ?? [],
            JsonSerializer.Deserialize<Verdict>(r.GetString(7), VerdictJson) ?? throw new InvalidDataException($"verdict {r.GetInt64(0)} has no JSON"),
            r.GetDouble(8), r.GetString(9), r.GetString(10))
        {
            SeedBase = r.GetInt32(11),
            CodeVersion = r.GetString(12),
            DataFingerprint = r.GetString(13),
            DataSource = r.GetString(14),
            Host = r.GetString(15),
        };
    }

    // A row that cannot be read (a status or tier outside the schema's values, text in a number column, broken JSON)
    // is reported with the store and the table, never as a raw cast or format exception.
    private T Row<T>(string table, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is InvalidDataException or InvalidCastException or FormatException or OverflowException or JsonException)
        {
            throw new InvalidDataException($"run store '{Path}' has a damaged row in its '{table}' table ({e.Message.TrimEnd('.')}): " +
                                           "repair or delete that row, or move the store aside and pass --store NEW.db", e);
        }
    }

    private static RunRow ReadRun(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), ParseTier(r.GetString(2)), r.GetString(3), r.GetString(4), r.GetInt32(5), ParseStatus(r.GetString(6)),
        r.GetInt32(7), r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : r.GetDouble(10),
        r.GetString(11), r.GetString(12), r.GetString(13), r.GetString(14), r.GetString(15), r.GetString(16), r.GetString(17), r.GetInt32(18),
        r.IsDBNull(19) ? null : r.GetString(19));

    /// <summary>
    /// Writes runs as CSV, one row per run: its identity, status and timing, then one column per setting
    /// (<c>param.*</c>) and per final result (<c>result.*</c>), the union over the runs selected.
    /// </summary>
    public void ExportCsv(TextWriter writer, string? phenomenon = null)
    {
        var runs = ListRuns(phenomenon).OrderBy(r => r.Phenomenon).ThenBy(r => r.Tier).ThenBy(r => r.Arm).ThenBy(r => r.Seed).ToList();
        var parms = new Dictionary<string, Dictionary<string, string>>();
        var results = new Dictionary<string, Dictionary<string, double>>();
        lock (_lock)
        {
            using (var cmd = Command("SELECT run_id, key, value FROM params"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) Bucket(parms, r.GetString(0))[r.GetString(1)] = r.GetString(2);
            using (var cmd = Command("SELECT run_id, key, value FROM results"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) Bucket(results, r.GetString(0))[r.GetString(1)] = r.IsDBNull(2) ? double.NaN : r.GetDouble(2);
        }
        var paramKeys = runs.SelectMany(r => parms.GetValueOrDefault(r.RunId)?.Keys ?? Enumerable.Empty<string>()).Distinct().Order(StringComparer.Ordinal).ToList();
        var resultKeys = runs.SelectMany(r => results.GetValueOrDefault(r.RunId)?.Keys ?? Enumerable.Empty<string>()).Distinct().Order(StringComparer.Ordinal).ToList();
        string[] head = ["run_id", "phenomenon", "tier", "arm", "seed", "status", "attempts", "start_time", "end_time", "duration_s",
            "config_hash", "protocol_version", "code_version", "data_fingerprint", "data_source", "host"];
        writer.WriteLine(string.Join(",", head.Concat(paramKeys.Select(k => "param." + k)).Concat(resultKeys.Select(k => "result." + k)).Select(Csv)));
        foreach (var r in runs)
        {
            var p = parms.GetValueOrDefault(r.RunId);
            var res = results.GetValueOrDefault(r.RunId);
            IEnumerable<string> cells =
            [
                r.RunId, r.Phenomenon, TierName(r.Tier), r.Arm, r.Seed.ToString(CultureInfo.InvariantCulture),
                r.Status.ToString().ToLowerInvariant(), r.Attempts.ToString(CultureInfo.InvariantCulture), r.StartTime, r.EndTime ?? "",
                r.Seconds?.ToString("R", CultureInfo.InvariantCulture) ?? "", r.ConfigHash, r.ProtocolVersion, r.CodeVersion, r.DataFingerprint, r.DataSource, r.Host,
                .. paramKeys.Select(k => p?.GetValueOrDefault(k) ?? ""),
                .. resultKeys.Select(k => res is not null && res.TryGetValue(k, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : ""),
            ];
            writer.WriteLine(string.Join(",", cells.Select(Csv)));
        }
    }

    private static Dictionary<string, T> Bucket<T>(Dictionary<string, Dictionary<string, T>> d, string key) =>
        d.TryGetValue(key, out var b) ? b : d[key] = [];

    // RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes.
    private static string Csv(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
