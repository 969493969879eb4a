using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Store;
using static Aperture.Cli.Output;

namespace Aperture.Cli;

/// <summary>
/// The JSON documents the commands write (<c>--json</c>, <c>--format json</c>), one builder per schema. Each
/// document names its schema and version in a <c>schema</c> field ("aperture.lab-run/1"); the schemas are in
/// docs/schema/ and documented in docs/cli.md. A version changes when a field is removed or changes meaning; adding a
/// field does not change it.
/// </summary>
internal static class Documents
{
    public const string LabRun = "aperture.lab-run/2";
    public const string LabList = "aperture.lab-list/1";
    public const string LabShow = "aperture.lab-show/1";
    public const string RunList = "aperture.run-list/2";
    public const string Run = "aperture.run/2";
    public const string RunMetrics = "aperture.run-metrics/1";
    public const string RunCompare = "aperture.run-compare/2";
    public const string VerdictList = "aperture.verdict-list/2";
    public const string LabRules = "aperture.lab-rules/1";
    public const string Train = "aperture.train/1";
    public const string Optics = "aperture.optics/1";
    public const string Llc = "aperture.llc/1";
    public const string Sweep = "aperture.sweep/1";
    public const string Similar = "aperture.similar/1";
    public const string StoreCopy = "aperture.store-copy/1";
    public const string WordsTrain = "aperture.words-train/1";
    public const string WordsNeighbours = "aperture.words-neighbours/1";
    public const string WordsAnalogy = "aperture.words-analogy/1";

    /// <summary>The provenance of the code that wrote a document: Aperture's version, its commit, the host.</summary>
    public static JsonObject Code(string codeVersion, string? host = null) => new()
    {
        ["version"] = codeVersion,
        ["commit"] = Commit(codeVersion),
        ["host"] = host ?? Environment.MachineName,
    };

    /// <summary>
    /// The estimate's unit as its declaration states it ("steps", "accuracy (fraction)", "share of seeds"); null only for
    /// a verdict stored before estimates stated their units.
    /// </summary>
    public static string? Unit(Estimate e) => e.Unit.IsStated ? e.Unit.Name : null;

    public static JsonObject Estimate(Estimate e) => new()
    {
        ["name"] = e.Name,
        ["unit"] = Unit(e),
        ["value"] = Num(e.Value),
        ["ci_low"] = Num(e.Low),
        ["ci_high"] = Num(e.High),
        ["confidence"] = Aperture.Lab.Estimate.Confidence,
        ["n"] = e.N,
        ["method"] = e.Method,
        ["estimator"] = e.Kind.ToString(),
    };

    private static JsonObject Region(Region r) => new()
    {
        ["empty"] = r.Low > r.High,
        ["low"] = r.Low > r.High ? null : Num(r.Low),
        ["high"] = r.Low > r.High ? null : Num(r.High),
    };

    public static JsonObject Check(Check c)
    {
        var node = Estimate(c.Estimate);
        node["outcome"] = c.Outcome.Text();
        node["supports"] = c.Band;
        node["contradicts"] = c.ContradictingBand;
        node["supporting_region"] = Region(c.Supports);
        node["contradicting_region"] = Region(c.Contradicts);
        node["contradiction_p"] = Num(c.ContradictionP);
        node["degenerate"] = c.Degenerate;
        node["seeds_to_decide"] = c.SeedsToDecide;
        node["reason"] = c.Reason;
        return node;
    }

    public static JsonObject Verdict(Verdict v) => new()
    {
        ["outcome"] = v.Outcome.Text(),
        ["seeds_to_decide"] = v.SeedsToDecide,
        ["effect"] = Estimate(v.Effect),
        ["checks"] = new JsonArray([.. v.Checks.Select(c => (JsonNode)Check(c))]),
        ["extra"] = new JsonArray([.. v.Extra.Select(e => (JsonNode)Estimate(e))]),
    };

    // Overrides without the seed block, which has its own fields.
    private static IEnumerable<KeyValuePair<string, string>> SettingOverrides(IEnumerable<KeyValuePair<string, string>> overrides) =>
        overrides.Where(kv => kv.Key is not ("seeds" or "seed_base"));

    private static JsonObject Block(PhenomenonOutcome o) => new()
    {
        ["verdict"] = o.Verdict.Outcome.Text(),
        ["seeds_to_decide"] = o.Verdict.SeedsToDecide,
        ["seed_base"] = o.SeedBase,
        ["seeds"] = o.Seeds,
        ["seed_last"] = o.SeedBase + o.Seeds - 1,
        ["effect"] = Estimate(o.Verdict.Effect),
        ["checks"] = new JsonArray([.. o.Verdict.Checks.Select(c => (JsonNode)Check(c))]),
        ["extra"] = new JsonArray([.. o.Verdict.Extra.Select(e => (JsonNode)Estimate(e))]),
        ["runs_new"] = o.RunsExecuted,
        ["runs_reused"] = o.RunsReused,
        ["run_ids"] = Strings(o.RunIds),
        ["verdict_id"] = o.VerdictId,
        ["seconds"] = Math.Round(o.Seconds, 3),
        ["reproduce"] = LabCommands.ReproduceCommand(o.Reproduction),
    };

    /// <summary>
    /// <c>lab run</c>: one record per phenomenon with both seed blocks and their provenance, and the phenomena
    /// <c>--all</c> skipped because their data is not installed (<paramref name="skipped"/>, with the reason).
    /// </summary>
    public static JsonObject LabRunDocument(string storePath, IReadOnlyList<ReplicatedOutcome> outcomes, IReadOnlyList<(string Id, string Reason)> skipped)
    {
        var results = new JsonArray();
        foreach (var o in outcomes)
        {
            var d = o.Discovery;
            var settings = SettingOverrides(d.Overrides).ToList();
            results.Add(new JsonObject
            {
                ["id"] = o.Id,
                ["title"] = Catalogue.All.FirstOrDefault(p => p.Id == o.Id)?.Title,
                ["tier"] = d.Tier.ToString().ToLowerInvariant(),
                ["modified"] = settings.Count > 0,
                ["overrides"] = Pairs(settings),
                ["verdict"] = d.Verdict.Outcome.Text(),
                ["replicated"] = o.Replicated,
                ["summary"] = o.Summary,
                ["effect"] = Estimate(d.Verdict.Effect),
                ["protocol_version"] = d.ProtocolVersion,
                ["data"] = new JsonObject { ["source"] = d.DataSource, ["sha256"] = d.DataFingerprint },
                ["code"] = Code(d.CodeVersion, d.Host),
                ["runs_new"] = d.RunsExecuted + (o.Replication?.RunsExecuted ?? 0),
                ["runs_reused"] = d.RunsReused + (o.Replication?.RunsReused ?? 0),
                ["discovery"] = Block(d),
                ["replication"] = o.Replication is null ? null : Block(o.Replication),
                ["reproduce"] = LabCommands.ReproduceCommand(d.Reproduction),
            });
        }
        return new JsonObject
        {
            ["schema"] = LabRun,
            ["store"] = storePath,
            ["code"] = Code(RunStore.CodeVersion),
            ["results"] = results,
            ["skipped"] = new JsonArray([.. skipped.Select(x => (JsonNode)new JsonObject { ["id"] = x.Id, ["reason"] = x.Reason })]),
        };
    }

    /// <summary>
    /// A sweep's record as <c>lab run --sweep/--set</c>, <c>lab status SWEEP</c> and <c>lab cancel SWEEP</c> write it
    /// (<paramref name="command"/> says which): its spec and tags, each grid point's settings, runs by status and
    /// verdict, the runs in all, and its scheduler jobs with the task states Slurm gave (<paramref name="jobStates"/>,
    /// by job id: the states counted, or the error asking for them; absent where not asked), and the jobs cancelled.
    /// </summary>
    public static JsonObject SweepDocument(RunStore store, SweepRecord record, string command, string? executor = null,
        IReadOnlyDictionary<string, (IReadOnlyDictionary<string, int>? States, string? Error)>? jobStates = null, IReadOnlyList<string>? cancelledJobs = null)
    {
        var spec = record.Spec;
        var status = store.StatusesOf(record.Points.SelectMany(p => p.RunIds));
        static JsonObject Counts(IEnumerable<RunStatus?> statuses)
        {
            var all = statuses.ToList();
            return new JsonObject
            {
                ["total"] = all.Count,
                ["finished"] = all.Count(s => s == RunStatus.Finished),
                ["running"] = all.Count(s => s == RunStatus.Running),
                ["failed"] = all.Count(s => s == RunStatus.Failed),
                ["not_started"] = all.Count(s => s is null),
            };
        }
        return new JsonObject
        {
            ["schema"] = Sweep,
            ["command"] = command,
            ["store"] = store.Path,
            ["code"] = Code(RunStore.CodeVersion),
            ["executor"] = executor,
            ["sweep"] = new JsonObject
            {
                ["id"] = record.Id,
                ["phenomenon"] = record.Phenomenon,
                ["tier"] = record.Tier.ToString().ToLowerInvariant(),
                ["spec"] = JsonNode.Parse(record.SpecJson),
                ["swept"] = Strings(spec.Axes.Select(a => a.Setting)),
                ["runs_per_task"] = record.RunsPerTask,
                ["task_count"] = record.TaskCount,
                ["run_count"] = record.RunCount,
                ["planned_by"] = record.CodeVersion,
                ["created_time"] = record.Created,
                ["cancelled"] = store.IsSweepCancelled(record.Id),
                ["tags"] = Pairs(store.SweepTags(record.Id)),
            },
            // Distinct runs: a run two points share (a sweep over a verdict threshold) is counted once.
            ["runs"] = Counts(status.Values),
            ["points"] = new JsonArray([.. record.Points.Select(p => (JsonNode)new JsonObject
            {
                ["point"] = p.Point,
                ["block"] = p.Block == 0 ? "discovery" : "replication",
                ["settings"] = Pairs(p.Settings),
                ["runs"] = Counts(p.RunIds.Select(id => status[id])),
                ["run_ids"] = Strings(p.RunIds),
                ["verdict"] = p.Outcome?.Text(),
                ["verdict_id"] = p.VerdictId,
                ["effect"] = p.Effect is { } e ? Estimate(e) : null,
            })]),
            ["jobs"] = new JsonArray([.. store.SweepJobs(record.Id).Select(j => (JsonNode)new JsonObject
            {
                ["job_id"] = j.JobId,
                ["executor"] = j.Executor,
                ["tasks"] = j.Tasks,
                ["attempt"] = j.Attempt,
                ["submitted_time"] = j.Submitted,
                ["task_states"] = jobStates?.GetValueOrDefault(j.JobId).States is { } st
                    ? new JsonObject([.. st.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))])
                    : null,
                ["task_states_error"] = jobStates?.GetValueOrDefault(j.JobId).Error,
            })]),
            ["cancelled_jobs"] = cancelledJobs is null ? null : Strings(cancelledJobs),
        };
    }

    /// <summary><c>lab list</c>: the catalogue.</summary>
    public static JsonObject LabListDocument() => new()
    {
        ["schema"] = LabList,
        ["code"] = Code(RunStore.CodeVersion),
        ["phenomena"] = new JsonArray([.. Catalogue.All.Select(p =>
        {
            var q = p.Defaults(Tier.Quick);
            var f = p.Defaults(Tier.Full);
            return (JsonNode)new JsonObject
            {
                ["id"] = p.Id,
                ["title"] = p.Title,
                ["claim"] = p.Claim,
                ["protocol_version"] = p.Version,
                ["arms"] = Strings(p.ArmsFor(q).Select(a => a.Name)),
                ["quick_seeds"] = q.Seeds,
                ["full_seeds"] = f.Seeds,
                ["data"] = p.DataFor(q, Tier.Quick).ToString(),
                ["sources"] = Sources(p),
            };
        })]),
    };

    private static JsonArray Sources(Phenomenon p) => new([.. p.Sources.Select(s => (JsonNode)new JsonObject
    {
        ["citation"] = s.Citation,
        ["arxiv"] = s.ArXiv,
        ["link"] = s.Link,
    })]);

    /// <summary><c>lab show</c>: one phenomenon with its protocol's settings at a tier.</summary>
    public static JsonObject LabShowDocument(Phenomenon p, Tier tier)
    {
        var protocol = p.Defaults(tier);
        return new JsonObject
        {
            ["schema"] = LabShow,
            ["id"] = p.Id,
            ["title"] = p.Title,
            ["claim"] = p.Claim,
            ["method"] = p.Method,
            ["protocol_version"] = p.Version,
            ["tier"] = tier.ToString().ToLowerInvariant(),
            ["arms"] = Strings(p.ArmsFor(protocol).Select(a => a.Name)),
            ["data"] = p.DataFor(protocol, tier).ToString(),
            ["sources"] = Sources(p),
            ["settings"] = new JsonArray([.. ProtocolBinding.Settings(protocol).Select(s => (JsonNode)new JsonObject
            {
                ["key"] = s.Key,
                ["type"] = s.Type,
                ["default"] = s.Value,
                ["threshold"] = s.IsThreshold,
                ["description"] = s.Description,
            })]),
        };
    }

    /// <summary>A run's identity and state, as <c>runs list</c> and <c>runs show</c> give it.</summary>
    public static JsonObject RunSummary(RunRow r, IReadOnlyDictionary<string, string>? tags) => new()
    {
        ["run_id"] = r.RunId,
        ["phenomenon"] = r.Phenomenon,
        ["tier"] = r.Tier.ToString().ToLowerInvariant(),
        ["arm"] = r.Arm,
        ["seed"] = r.Seed,
        ["status"] = r.Status.ToString().ToLowerInvariant(),
        ["attempts"] = r.Attempts,
        ["start_time"] = r.StartTime,
        ["end_time"] = r.EndTime,
        ["seconds"] = Num(r.Seconds),
        ["config_hash"] = r.ConfigHash,
        // An integer, as in lab-run and verdict-list (the store keeps it as text; null for text that is not one).
        ["protocol_version"] = int.TryParse(r.ProtocolVersion, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pv) ? pv : null,
        ["code"] = Code(r.CodeVersion, r.Host),
        ["data"] = new JsonObject { ["source"] = r.DataSource, ["sha256"] = r.DataFingerprint },
        ["tags"] = Pairs(tags ?? new Dictionary<string, string>()),
    };

    /// <summary><c>runs list</c>: the runs shown and how many matched.</summary>
    public static JsonObject RunListDocument(string storePath, RunQuery query, RunPage page, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> tags) => new()
    {
        ["schema"] = RunList,
        ["store"] = storePath,
        ["filters"] = new JsonObject
        {
            ["phenomenon"] = query.Phenomenon,
            ["tier"] = query.Tier?.ToString().ToLowerInvariant(),
            ["status"] = query.Status?.ToString().ToLowerInvariant(),
            ["tag"] = query.Tag is { } t ? $"{t.Key}={t.Value}" : null,
            ["limit"] = query.Limit,
        },
        ["total"] = page.Total,
        ["shown"] = page.Rows.Count,
        ["runs"] = new JsonArray([.. page.Rows.Select(r => (JsonNode)RunSummary(r, tags.GetValueOrDefault(r.RunId)))]),
    };

    /// <summary>A metric series as [[step, value], …] (a NaN as null).</summary>
    public static JsonArray Series(IReadOnlyList<(long Step, double Value)> points) =>
        new([.. points.Select(p => (JsonNode)new JsonArray(JsonValue.Create(p.Step), Num(p.Value)))]);

    private static JsonObject Numbers(IEnumerable<KeyValuePair<string, double>> values)
    {
        var o = new JsonObject();
        foreach (var (k, v) in values) o[k] = Num(v);
        return o;
    }

    /// <summary><c>runs show</c>: everything the store holds about one run, every metric's whole series included.</summary>
    public static JsonObject RunDocument(RunStore store, RunRow run)
    {
        var doc = RunSummary(run, store.Tags(run.RunId));
        doc.Insert(0, "schema", Run);
        doc["pid"] = run.Pid;
        doc["error"] = run.Error;
        doc["config"] = ParseOrText(run.ConfigJson);
        doc["arm_settings"] = ParseOrText(run.ArmJson);
        doc["params"] = Pairs(store.Params(run.RunId));
        doc["results"] = Numbers(store.Results(run.RunId));
        var metrics = new JsonObject();
        foreach (var (k, pts) in store.MetricSeries(run.RunId)) metrics[k] = Series(pts);
        doc["metrics"] = metrics;
        doc["artifacts"] = run.Status == RunStatus.Finished
            ? Pairs(store.LoadRun(run.RunId).Artifacts)
            : new JsonObject();
        doc["notes"] = new JsonArray([.. store.Notes(run.RunId).Select(n => (JsonNode)new JsonObject
        {
            ["position"] = n.Position,
            ["text"] = n.Text,
            ["created_time"] = n.Created,
        })]);
        return doc;
    }

    // Stored JSON is embedded as JSON; a value that does not parse is kept as its text rather than lost.
    private static JsonNode? ParseOrText(string json)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return JsonValue.Create(json);
        }
    }

    /// <summary><c>runs metrics</c>: one run's metric series.</summary>
    public static JsonObject RunMetricsDocument(RunRow run, IReadOnlyDictionary<string, IReadOnlyList<(long Step, double Value)>> series)
    {
        var metrics = new JsonObject();
        foreach (var (k, pts) in series) metrics[k] = Series(pts);
        return new JsonObject
        {
            ["schema"] = RunMetrics,
            ["run_id"] = run.RunId,
            ["phenomenon"] = run.Phenomenon,
            ["arm"] = run.Arm,
            ["seed"] = run.Seed,
            ["status"] = run.Status.ToString().ToLowerInvariant(),
            ["metrics"] = metrics,
        };
    }

    /// <summary><c>runs compare</c>: two runs' settings, results and final metric values side by side.</summary>
    public static JsonObject RunCompareDocument(RunStore store, RunRow a, RunRow b)
    {
        static JsonArray Side<T>(IReadOnlyDictionary<string, T> x, IReadOnlyDictionary<string, T> y, Func<T, JsonNode?> value) =>
            new([.. x.Keys.Union(y.Keys).Order(StringComparer.Ordinal).Select(k => (JsonNode)new JsonObject
            {
                ["key"] = k,
                ["a"] = x.TryGetValue(k, out var va) ? value(va) : null,
                ["b"] = y.TryGetValue(k, out var vb) ? value(vb) : null,
                ["differs"] = !(x.TryGetValue(k, out var ea) && y.TryGetValue(k, out var eb) && EqualityComparer<T>.Default.Equals(ea, eb)),
            })]);
        return new JsonObject
        {
            ["schema"] = RunCompare,
            ["a"] = RunSummary(a, store.Tags(a.RunId)),
            ["b"] = RunSummary(b, store.Tags(b.RunId)),
            ["params"] = Side(Settings(store, a), Settings(store, b), v => JsonValue.Create(v)),
            ["results"] = Side(store.Results(a.RunId), store.Results(b.RunId), v => Num(v)),
            ["final_metrics"] = Side(FinalMetrics(store, a.RunId), FinalMetrics(store, b.RunId), v => Num(v)),
        };
    }

    /// <summary>
    /// A run's settings for comparison: the protocol's (as stored) and the arm's, the latter as <c>arm.KEY</c> (the
    /// arms of one phenomenon differ there, not in the protocol).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Settings(RunStore store, RunRow run)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in store.Params(run.RunId)) all[k] = v;
        try
        {
            if (JsonNode.Parse(run.ArmJson) is JsonObject arm)
                foreach (var (k, v) in arm)
                    all["arm." + k] = v is JsonValue value && value.TryGetValue(out string? text) ? text : v?.ToJsonString() ?? "null";
        }
        catch (JsonException)
        {
            all["arm"] = run.ArmJson;
        }
        return all;
    }

    /// <summary>Each metric's last logged value.</summary>
    public static IReadOnlyDictionary<string, double> FinalMetrics(RunStore store, string runId) =>
        store.MetricSeries(runId).Where(kv => kv.Value.Count > 0).ToDictionary(kv => kv.Key, kv => kv.Value[^1].Value, StringComparer.Ordinal);

    /// <summary><c>verdicts list</c>: every stored verdict, oldest first per phenomenon.</summary>
    public static JsonObject VerdictListDocument(string storePath, IReadOnlyList<VerdictRecord> verdicts) => new()
    {
        ["schema"] = VerdictList,
        ["store"] = storePath,
        ["verdicts"] = new JsonArray([.. verdicts.Select(v =>
        {
            var settings = SettingOverrides(v.Overrides).ToList();
            var node = Verdict(v.Verdict);
            node.Insert(0, "verdict_id", v.Id);
            node.Insert(1, "phenomenon", v.Phenomenon);
            node.Insert(2, "tier", v.Tier.ToString().ToLowerInvariant());
            node.Insert(3, "seed_base", v.SeedBase);
            node.Insert(4, "seeds", v.Seeds);
            node["modified"] = settings.Count > 0;
            node["overrides"] = Pairs(settings);
            node["protocol_version"] = int.TryParse(v.ProtocolVersion, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pv) ? pv : null;
            node["code"] = Code(v.CodeVersion, v.Host);
            node["data"] = new JsonObject { ["source"] = v.DataSource, ["sha256"] = v.DataFingerprint };
            node["created_time"] = v.Created;
            node["seconds"] = Math.Round(v.Seconds, 3);
            node["run_ids"] = Strings(v.RunIds);
            node["reproduce"] = LabCommands.ReproduceCommand(new Reproduction(v.Phenomenon, v.Tier, v.Seeds, v.SeedBase, v.Overrides));
            return (JsonNode)node;
        })]),
    };

    /// <summary>
    /// <c>similar</c>: the request (dataset, model, layer, distance, k; seed and epochs when trained now), the data read,
    /// and the listing in the layout a phenomenon's neighbour artifact has (<see cref="Aperture.Lab.Recipes.NeighbourListing"/>),
    /// every field present (null where the items have no labels, attributes or images).
    /// </summary>
    public static JsonObject SimilarDocument(Aperture.Lab.Recipes.SimilarityRequest request, Aperture.Lab.Recipes.SimilarityAnswer answer)
    {
        var l = answer.Listing;
        static JsonNode? Numbers(IReadOnlyList<double>? values) => values is null ? null : new JsonArray([.. values.Select(Num)]);
        string? ClassName(long? label) =>
            label is { } x && l.ClassNames is { } names && x >= 0 && x < names.Count ? names[(int)x] : null;
        return new JsonObject
        {
            ["schema"] = Similar,
            ["code"] = Code(RunStore.CodeVersion),
            ["dataset"] = l.Dataset,
            ["data_source"] = answer.DataSource,
            ["model"] = answer.Model,
            ["model_file"] = request.ModelPath is null ? null : Path.GetFullPath(request.ModelPath),
            ["trained"] = request.Train,
            ["saved_to"] = request.SavePath is null ? null : Path.GetFullPath(request.SavePath),
            ["seed"] = request.Train ? request.Seed : null,
            ["epochs"] = request.Train ? request.Epochs : null,
            ["layer"] = answer.Layer,
            ["space"] = l.Space,
            ["metric"] = l.Metric,
            ["k"] = l.Neighbours.Count,
            ["query"] = l.Query,
            ["query_label"] = l.QueryLabel,
            ["query_class"] = ClassName(l.QueryLabel),
            ["query_attributes"] = Numbers(l.QueryAttributes),
            ["query_image"] = l.QueryImage,
            ["image_side"] = l.ImageSide,
            ["attribute_names"] = l.AttributeNames is null ? null : Strings(l.AttributeNames),
            ["class_names"] = l.ClassNames is null ? null : Strings(l.ClassNames),
            ["neighbours"] = new JsonArray([.. l.Neighbours.Select((n, i) => (JsonNode)new JsonObject
            {
                ["rank"] = i + 1,
                ["index"] = n.Index,
                ["distance"] = Num(n.Distance),
                ["label"] = n.Label,
                ["class"] = ClassName(n.Label),
                ["attributes"] = Numbers(n.Attributes),
                ["image"] = n.Image,
            })]),
        };
    }

    /// <summary><c>store copy</c>: both stores and, per kind of record, how many were copied and how many the target already had.</summary>
    public static JsonObject StoreCopyDocument(string from, string to, StoreCopyCounts c, double seconds) => new()
    {
        ["schema"] = StoreCopy,
        ["code"] = Code(RunStore.CodeVersion),
        ["from"] = from,
        ["to"] = to,
        ["runs_copied"] = c.Runs,
        ["runs_present"] = c.RunsPresent,
        ["runs_unfinished"] = c.RunsUnfinished,
        ["params"] = c.Params,
        ["metrics"] = c.Metrics,
        ["results"] = c.Results,
        ["artifacts"] = c.Artifacts,
        ["artifact_bytes"] = c.ArtifactBytes,
        ["verdicts_copied"] = c.Verdicts,
        ["verdicts_present"] = c.VerdictsPresent,
        ["stages_copied"] = c.Stages,
        ["stages_present"] = c.StagesPresent,
        ["sweeps_copied"] = c.Sweeps,
        ["sweeps_present"] = c.SweepsPresent,
        ["tags_copied"] = c.Tags,
        ["tags_present"] = c.TagsPresent,
        ["notes_copied"] = c.Notes,
        ["notes_present"] = c.NotesPresent,
        ["seconds"] = Math.Round(seconds, 3),
    };
}
