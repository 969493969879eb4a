using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Probes;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture llc</c>: estimate the local learning coefficient of a model with a known λ and print both.</summary>
internal static class LlcCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var dln = new Option<string?>("--dln") { Description = "a deep linear network by its widths, input first (e.g. 10,10,10,10)" };
        var rank = new Option<int>("--rank") { Description = "the rank of the deep linear network's true map", DefaultValueFactory = _ => 0 };
        var crossing = new Option<string?>("--normal-crossing") { Description = "the normal-crossing model f(x) = x·Π w_i^k_i by its powers (e.g. 1,2)" };
        var regular = new Option<string?>("--regular") { Description = "a regular model, linear regression, as inputs,outputs (e.g. 3,2)" };
        var n = new Option<int>("--n") { Description = "training-set size n", DefaultValueFactory = _ => 1000 };
        var seeds = new Option<int>("--seeds") { Description = "seeds (each draws its own true parameter, data and chains)", DefaultValueFactory = _ => 4 };
        var seedBase = new Option<ulong>("--seed-base") { Description = "the first seed", DefaultValueFactory = _ => 0 };
        var anchor = new Option<string?>("--anchor") { Description = "where w* sits: trained (the training-loss minimum reached from the true parameter) or true [default: trained for --regular, true otherwise]" }
            .AcceptOnlyFromAmong("trained", "true");
        var eps = new Option<double>("--epsilon") { Description = "SGLD step size ε", DefaultValueFactory = _ => new LlcSettings().StepSize };
        var gamma = new Option<double>("--gamma") { Description = "localization strength γ", DefaultValueFactory = _ => new LlcSettings().Localization };
        var nbeta = new Option<double?>("--nbeta") { Description = "nβ [default: n/ln n]" };
        var chains = new Option<int>("--chains") { Description = "chains per seed", DefaultValueFactory = _ => new LlcSettings().Chains };
        var burnIn = new Option<int>("--burn-in") { Description = "SGLD steps discarded per chain", DefaultValueFactory = _ => new LlcSettings().BurnIn };
        var draws = new Option<int>("--draws") { Description = "draws kept per chain", DefaultValueFactory = _ => new LlcSettings().Draws };
        var thin = new Option<int>("--steps-between-draws") { Description = "SGLD steps from one draw to the next", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "minibatch size", DefaultValueFactory = _ => new LlcSettings().BatchSize };
        var rmsprop = new Option<bool>("--rmsprop") { Description = "precondition SGLD with RMSprop (pSGLD)" };
        var json = new Option<string?>("--json") { Description = "print the result as JSON (to this file when a path follows; - or nothing for standard output)", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("llc", "Estimate the local learning coefficient λ̂ with SGLD on a model whose exact λ is known (deep linear network, normal-crossing or regular), and print it beside λ and d/2.")
        {
            dln, rank, crossing, regular, n, seeds, seedBase, anchor, eps, gamma, nbeta, chains, burnIn, draws, thin, batch, rmsprop, json,
        };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            int given = (r.GetValue(dln) is null ? 0 : 1) + (r.GetValue(crossing) is null ? 0 : 1) + (r.GetValue(regular) is null ? 0 : 1);
            if (given != 1) throw new LabConfigException($"llc: give exactly one model: --dln WIDTHS [--rank R], --normal-crossing POWERS or --regular IN,OUT (got {given})");
            int sampleSize = r.GetValue(n), seedCount = r.GetValue(seeds);
            if (sampleSize < 2) throw new LabConfigException($"llc: --n must be ≥ 2 (got {sampleSize})");
            if (seedCount < 1) throw new LabConfigException($"llc: --seeds must be ≥ 1 (got {seedCount})");
            // Deep linear networks are measured at the true parameter: their training-loss minimum fits the noise with a
            // full-rank product, a less singular point (docs/instruments.md, "Where w* sits").
            var where = r.GetValue(anchor) switch { "true" => LlcAnchor.True, "trained" => LlcAnchor.Trained, _ => r.GetValue(regular) is null ? LlcAnchor.True : LlcAnchor.Trained };
            Func<ulong, LearningCoefficientModel> build;
            int[]? crossingPowers = null;
            DeepLinearCase? aoyagi = null;
            if (r.GetValue(dln) is { } widthText)
            {
                var widths = ParseList(widthText, "--dln", 2);
                int rk = r.GetValue(rank);
                Validate(() => aoyagi = ExactLearningCoefficients.DeepLinearWithCase(widths, rk).Case, "--dln/--rank");
                build = s => LearningCoefficientModels.DeepLinear(widths, rk, sampleSize, s, where);
            }
            else if (r.GetValue(crossing) is { } powerText)
            {
                var powers = ParseList(powerText, "--normal-crossing", 1, allowZero: true);
                Validate(() => ExactLearningCoefficients.NormalCrossing(powers), "--normal-crossing");
                build = s => LearningCoefficientModels.NormalCrossing(powers, sampleSize, s);
                crossingPowers = powers;
            }
            else
            {
                var io = ParseList(r.GetValue(regular)!, "--regular", 2);
                if (io.Length != 2) throw new LabConfigException($"llc: --regular takes two numbers, inputs,outputs (got {io.Length})");
                build = s => LearningCoefficientModels.Regular(io[0], io[1], sampleSize, s, where);
            }
            var settings = new LlcSettings
            {
                StepSize = r.GetValue(eps),
                Localization = r.GetValue(gamma),
                NBeta = r.GetValue(nbeta),
                Chains = r.GetValue(chains),
                BurnIn = r.GetValue(burnIn),
                Draws = r.GetValue(draws),
                StepsBetweenDraws = r.GetValue(thin),
                BatchSize = r.GetValue(batch),
                Preconditioned = r.GetValue(rmsprop),
            };
            try { settings.Validate(); }
            catch (ArgumentException e) { throw new LabConfigException($"llc: {e.Message}"); }

            var seedList = Enumerable.Range(0, seedCount).Select(i => r.GetValue(seedBase) + (ulong)i).ToArray();
            // --json alone or --json - prints JSON to standard output; --json PATH writes it there, checked before sampling.
            bool jsonOnly = r.GetResult(json) is not null && (r.GetValue(json) is null || r.GetValue(json) == "-");
            string? jsonPath = !jsonOnly && r.GetValue(json) is { } jp ? Terminal.CheckOutputFile(jp, "--json", allowStdout: false) : null;
            LearningCoefficientCheckResult? result = null;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            if (jsonOnly)
                result = LearningCoefficientCheck.Run(build, seedList, settings, cancel: cancel);
            else
                Terminal.Console.Status().Start("sampling", ctx => result = LearningCoefficientCheck.Run(build, seedList, settings,
                    (i, e) => ctx.Status(Markup.Escape($"seed {i + 1}/{seedCount}: λ̂ = {e.Mean:F3}")), cancel));
            var res = result!;
            // A normal crossing's tempered value λ(nβ): what the sampler converges to at this nβ and γ (≠ λ at finite nβ).
            double? tempered = crossingPowers is not null && settings.Localization > 0 && crossingPowers.Count(k => k > 0) - (crossingPowers.Contains(1) ? 1 : 0) <= 2
                ? TemperedLearningCoefficient.NormalCrossing(crossingPowers, res.Estimates[0].NBeta, settings.Localization) : null;
            var node = ToJson(res, watch.Elapsed.TotalSeconds);
            if (tempered is { } tv) node["lambda_tempered"] = tv;
            if (aoyagi is not null) node["aoyagi_case"] = CaseJson(aoyagi);
            if (jsonOnly)
            {
                Terminal.Out.WriteLine(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            Print(res);
            if (aoyagi is { } k)
                Terminal.Console.MarkupLineInterpolated($"Aoyagi's case: Σ = {{{string.Join(", ", k.IndexSet)}}} (layer indices, 0 = input), ℓ = {k.Ell}, S = {k.Sum}, M̄ = {k.MBar}, a = {k.A}; multiplicity θ = a(ℓ − a) + 1 = {res.Exact.Multiplicity}");
            if (tempered is { } t)
                Terminal.Console.MarkupLineInterpolated($"tempered λ(nβ) = {t.ToString("F4", Inv)} at nβ = {res.Estimates[0].NBeta.ToString("G4", Inv)}, γ = {settings.Localization.ToString("G4", Inv)} (what the sampler converges to at this nβ; → λ as nβ → ∞)");
            if (jsonPath is not null) Terminal.WriteAtomically(jsonPath, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            return 0;
        })));
        return cmd;
    }

    private static void Print(LearningCoefficientCheckResult res)
    {
        var first = res.Estimates[0];
        Terminal.Console.MarkupLineInterpolated($"{res.Model}: d = {res.Dimension}, n = {res.SampleSize}, w* = {(res.Anchor == LlcAnchor.Trained ? "trained from the true parameter" : "the true parameter")}");
        Terminal.Console.MarkupLineInterpolated($"SGLD: ε = {first.Settings.StepSize.ToString("G4", Inv)}, γ = {first.Settings.Localization.ToString("G4", Inv)}, nβ = {first.NBeta.ToString("F2", Inv)} ({first.NBetaConvention}), {first.Settings.Chains} chains × {first.Settings.Draws} draws after {first.Settings.BurnIn} burn-in, batch {first.Settings.BatchSize}{(first.Settings.Preconditioned ? ", RMSprop" : "")}");
        var table = new Listing("seed", "λ̂", "± SE (chains)", "drift (last − first third)", "draws below L(w*)", "stationary");
        for (int i = 0; i < res.Estimates.Count; i++)
        {
            var e = res.Estimates[i];
            table.Add(res.Seeds[i].ToString(Inv), F(e.Mean), F(e.StandardError), $"{F(e.Diagnostics.Drift)} ± {F(e.Diagnostics.DriftStandardError)}",
                e.Diagnostics.ShareBelowAnchor.ToString("P1", Inv),
                e.Diagnostics.DivergedChains > 0 ? $"diverged ({e.Diagnostics.DivergedChains} chains)" : e.Diagnostics.Stationary switch { true => "yes", false => "no", null => "—" });
        }
        Output.Print(table);
        string exact = res.Exact.Lambda.IsInteger ? res.Exact.Lambda.ToString() : $"{res.Exact.Lambda} = {res.Exact.Lambda.ToDouble().ToString("G6", Inv)}";
        string mult = res.Exact.Multiplicity is { } m ? $", multiplicity {m}" : "";
        Terminal.Console.MarkupLineInterpolated($"[bold]λ̂ = {F(res.Mean)}[/] [[95% CI {F(res.Interval.Low)}, {F(res.Interval.High)}]] ({(res.Estimates.Count > 1 ? $"over {res.Estimates.Count} seeds" : "over chains")})");
        Terminal.Console.MarkupLineInterpolated($"exact λ = {exact}{mult};  λ̂/λ = {F(res.Ratio)};  d/2 = {(res.Dimension / 2.0).ToString("G6", Inv)}");
    }

    private static JsonObject ToJson(LearningCoefficientCheckResult res, double seconds)
    {
        var first = res.Estimates[0];
        return new JsonObject
        {
            ["schema"] = Documents.Llc,
            ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
            ["model"] = res.Model,
            ["dimension"] = res.Dimension,
            ["n"] = res.SampleSize,
            ["anchor"] = res.Anchor == LlcAnchor.Trained ? "trained" : "true",
            ["lambda_exact"] = res.Exact.Lambda.ToString(),
            ["lambda_exact_value"] = res.Exact.Lambda.ToDouble(),
            ["multiplicity"] = res.Exact.Multiplicity,
            ["half_dimension"] = res.Dimension / 2.0,
            ["lambda_hat"] = Num(res.Mean),
            ["standard_error"] = Num(res.StandardError),
            ["ci95"] = new JsonArray(Num(res.Interval.Low), Num(res.Interval.High)),
            ["ratio"] = Num(res.Ratio),
            ["sampler"] = new JsonObject
            {
                ["epsilon"] = first.Settings.StepSize,
                ["gamma"] = first.Settings.Localization,
                ["nbeta"] = first.NBeta,
                ["nbeta_convention"] = first.NBetaConvention,
                ["chains"] = first.Settings.Chains,
                ["burn_in"] = first.Settings.BurnIn,
                ["draws"] = first.Settings.Draws,
                ["steps_between_draws"] = first.Settings.StepsBetweenDraws,
                ["batch_size"] = first.Settings.BatchSize,
                ["rmsprop"] = first.Settings.Preconditioned,
                ["anchor_loss"] = first.Settings.AnchorLoss.ToString().ToLowerInvariant(),
            },
            ["seeds"] = new JsonArray([.. res.Estimates.Select((e, i) => (JsonNode)new JsonObject
            {
                ["seed"] = res.Seeds[i],
                ["lambda_hat"] = Num(e.Mean),
                ["standard_error"] = Num(e.StandardError),
                ["chains"] = new JsonArray([.. e.Chains.Select(c => (JsonNode?)Num(c.Estimate))]),
                ["drift"] = Num(e.Diagnostics.Drift),
                ["drift_standard_error"] = Num(e.Diagnostics.DriftStandardError),
                ["stationary"] = e.Diagnostics.Stationary,
                ["share_below_anchor"] = Num(e.Diagnostics.ShareBelowAnchor),
                ["diverged_chains"] = e.Diagnostics.DivergedChains,
            })]),
            ["seconds"] = Math.Round(seconds, 3),
        };
    }

    private static JsonObject CaseJson(DeepLinearCase k) => new()
    {
        ["index_set"] = new JsonArray([.. k.IndexSet.Select(j => (JsonNode?)j)]),
        ["ell"] = k.Ell,
        ["sum"] = k.Sum,
        ["m_bar"] = k.MBar,
        ["a"] = k.A,
    };

    // JSON has no NaN: an undefined number (one chain, a diverged chain) is null.
    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    private static string F(double v) => double.IsFinite(v) ? v.ToString("F3", Inv) : "—";

    private static int[] ParseList(string text, string option, int minCount, bool allowZero = false)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, Inv, out values[i]) || (!allowZero && values[i] == 0))
                throw new LabConfigException($"llc: {option} expects comma-separated whole numbers {(allowZero ? "≥ 0" : "≥ 1")}; '{parts[i]}' is not one (in '{text}')");
        if (values.Length < minCount) throw new LabConfigException($"llc: {option} needs at least {minCount} number(s); got '{text}'");
        return values;
    }

    private static void Validate(Action check, string option)
    {
        try { check(); }
        catch (ArgumentException e) { throw new LabConfigException($"llc: {option}: {e.Message}"); }
    }
}
