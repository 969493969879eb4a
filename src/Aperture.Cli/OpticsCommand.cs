using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab.Probes;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary>
/// <c>aperture optics</c>: the mean-field prediction for a deep random network (fixed points, χ₁, depth scales, the
/// critical line, and per layer q^l, c^l and the gradient's gain), and with <c>--measure</c> the same quantities
/// measured on random networks beside it. The science is <see cref="MeanField"/> and <see cref="OpticsExperiment"/>.
/// </summary>
internal static class OpticsCommand
{
    public static Command Create()
    {
        var activation = new Option<string>("--activation") { Description = "the nonlinearity", DefaultValueFactory = _ => "tanh" }
            .AcceptOnlyFromAmong("tanh", "relu", "linear");
        var sw2 = new Option<double>("--sw2") { Description = "σ_w²: weights are N(0, σ_w²/fan_in)", Required = true };
        var sb2 = new Option<double>("--sb2") { Description = "σ_b²: biases are N(0, σ_b²)", DefaultValueFactory = _ => 0 };
        var depth = new Option<int>("--depth") { Description = "layers (Linear + activation)", DefaultValueFactory = _ => 20 };
        var q0 = new Option<double>("--q0") { Description = "the inputs' mean square ‖x‖²/n₀", DefaultValueFactory = _ => 1 };
        var c0 = new Option<double>("--c0") { Description = "the correlation of each input pair", DefaultValueFactory = _ => 0.5 };
        var measure = new Option<bool>("--measure") { Description = "also build random networks with these statistics and measure them" };
        var width = new Option<int>("--width") { Description = "units per layer for --measure", DefaultValueFactory = _ => 1000 };
        var seeds = new Option<int>("--seeds") { Description = "random networks for --measure (seeds 0 … S−1)", DefaultValueFactory = _ => 4 };
        var pairs = new Option<int>("--pairs") { Description = "input pairs per network for --measure", DefaultValueFactory = _ => 8 };
        var lanczos = new Option<int>("--lanczos-steps") { Description = "Lanczos steps on JᵀJ for the Jacobian's singular values (0 skips the Jacobian)", DefaultValueFactory = _ => 16 };
        var plot = new Option<string?>("--plot") { Description = "with --measure, draw q^l, c^l and the gradient variance, measured beside predicted, as PNGs into this directory" };
        var json = new Option<string?>("--json") { Description = "write the prediction (and measurements) to this file as JSON (- for standard output); non-finite values are null" };
        var cmd = new Command("optics", "Predict, and with --measure measure, what each layer of a deep random network does to signal and gradient (mean-field theory).")
        {
            activation, sw2, sb2, depth, q0, c0, measure, width, seeds, pairs, lanczos, plot, json,
        };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            var phi = r.GetValue(activation) switch { "relu" => MeanFieldActivation.Relu, "linear" => MeanFieldActivation.Linear, _ => MeanFieldActivation.Tanh };
            bool doMeasure = r.GetValue(measure);
            var setup = new OpticsSetup(phi, r.GetValue(sw2), r.GetValue(sb2), r.GetValue(depth), r.GetValue(width), r.GetValue(pairs), r.GetValue(q0), r.GetValue(c0));
            if (Invalid(setup, doMeasure ? r.GetValue(seeds) : 1, r.GetValue(lanczos)) is { } problem)
                throw new CommandLineException(problem);
            // Output paths are checked before anything is computed, so a bad path never costs a measurement.
            string? jsonPath = r.GetValue(json) is { } j ? Terminal.CheckOutputFile(j, "--json", allowStdout: true) : null;
            bool jsonToStdout = r.GetValue(json) == "-";
            if (jsonToStdout) Terminal.HumanOutputToStandardError();
            if (r.GetValue(plot) is { } plotDir) Terminal.CheckOutputFolder(plotDir, "--plot");
            var point = MeanField.Analyze(phi, setup.WeightVariance, setup.BiasVariance);
            var predicted = MeanField.Propagate(phi, setup.WeightVariance, setup.BiasVariance, setup.Depth, setup.InputSecondMoment, setup.InputCorrelation);
            PrintPoint(point);
            OpticsExperiment? measured = null;
            if (!doMeasure)
                PrintPrediction(predicted);
            else
            {
                int total = r.GetValue(seeds), steps = r.GetValue(lanczos);
                // A progress bar only where someone watches: redirected output gets the tables alone.
                if (Terminal.Console.Profile.Capabilities.Interactive)
                    Terminal.Console.Progress().AutoClear(true).Start(ctx =>
                    {
                        var task = ctx.AddTask($"measuring {total} networks of width {setup.Width}", maxValue: total);
                        measured = OpticsExperiment.Run(setup, total, steps, steps > 0 ? 4 : 0, s => task.Value = s, cancel);
                    });
                else
                    measured = OpticsExperiment.Run(setup, total, steps, steps > 0 ? 4 : 0, null, cancel);
                PrintMeasured(measured!);
                if (r.GetValue(plot) is { } dir)
                    foreach (var png in measured!.SaveFigures(dir)) Terminal.Console.MarkupLineInterpolated($"wrote {png}");
            }
            if (jsonToStdout) Terminal.Out.Write(Json(setup, point, predicted, measured));
            else if (jsonPath is not null) Terminal.WriteAtomically(jsonPath, Json(setup, point, predicted, measured));
            return 0;
        })));
        return cmd;
    }

    private static string? Invalid(OpticsSetup setup, int seeds, int lanczos)
    {
        try
        {
            setup.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            string option = e.ParamName switch
            {
                nameof(OpticsSetup.WeightVariance) => "--sw2",
                nameof(OpticsSetup.BiasVariance) => "--sb2",
                nameof(OpticsSetup.Depth) => "--depth",
                nameof(OpticsSetup.Width) => "--width",
                nameof(OpticsSetup.Pairs) => "--pairs",
                nameof(OpticsSetup.InputSecondMoment) => "--q0",
                _ => "--c0",
            };
            return $"{option}: {e.Message.Split(" (Parameter")[0]}, got {Format(Convert.ToDouble(e.ActualValue, CultureInfo.InvariantCulture))}";
        }
        if (seeds < 1) return $"--seeds: at least one network is needed, got {seeds}";
        if (lanczos < 0) return $"--lanczos-steps: must be ≥ 0, got {lanczos}";
        return null;
    }

    private static void PrintPoint(MeanFieldPoint p)
    {
        var t = new Listing("quantity", "value", "meaning");
        Row(t, "phase", p.Phase, "χ₁ < 1 ordered (gradients vanish), > 1 chaotic (gradients explode)");
        Row(t, "q*", Format(p.QStar), double.IsNaN(p.QStar) ? "every q is a fixed point" : "fixed point of the variance map");
        Row(t, "c*", Format(p.CStar), "fixed point of the correlation map");
        Row(t, "χ₁", Format(p.Chi1), "σ_w²·E[φ′(h)²] at q*: gradient variance gain per layer");
        Row(t, "χ_c", Format(p.ChiC), "slope of the correlation map at c*");
        Row(t, "ξ_q", Format(p.DepthScaleQ), "layers over which q^l forgets the input's variance");
        Row(t, "ξ_c", Format(p.DepthScaleC), "layers over which c^l forgets the input's correlation");
        Row(t, "critical σ_w²", Format(p.CriticalWeightVariance), $"χ₁ = 1 at σ_b² = {Format(p.BiasVariance)}");
        Terminal.Console.MarkupLineInterpolated($"[bold]{p.Activation.ToString().ToLowerInvariant()}, σ_w² = {Format(p.WeightVariance)}, σ_b² = {Format(p.BiasVariance)}[/]");
        Output.Print(t);
    }

    private static void PrintPrediction(MeanFieldLayerPrediction[] layers)
    {
        var t = new Listing("layer", "q^l", "c^l", "active", "gradient gain", "gradient variance", "Jacobian gain");
        for (int l = 0; l < layers.Length; l++)
        {
            var p = layers[l];
            Row(t, (l + 1).ToString(CultureInfo.InvariantCulture), Format(p.Q), Format(p.C), Format(p.ActiveFraction), Format(p.Chi), Format(p.GradientVariance), Format(p.JacobianGain));
        }
        Terminal.Console.MarkupLine("predicted per layer (a unit-variance cotangent on the last layer's output; gain = variance at l / at l+1):");
        Output.Print(t);
    }

    private static void PrintMeasured(OpticsExperiment e)
    {
        var s = e.Setup;
        Terminal.Console.MarkupLineInterpolated($"measured on {e.Traces.Count} random networks of width {s.Width} ({2 * s.Pairs} inputs each, q⁰ = {Format(s.InputSecondMoment)}, c⁰ = {Format(s.InputCorrelation)}), mean ± standard error over networks:");
        var forward = new Listing("layer", "q^l measured", "predicted", "ratio", "c^l measured", "predicted", "ratio");
        foreach (var l in e.Layers)
            Row(forward, l.Layer.ToString(CultureInfo.InvariantCulture),
                $"{Format(l.Q.Mean, 3)} ± {Format(l.Q.StandardError, 1)}", Format(l.Q.Predicted, 3), Format(l.Q.Ratio, 3),
                $"{Format(l.C.Mean, 3)} ± {Format(l.C.StandardError, 1)}", Format(l.C.Predicted, 3), Format(l.C.Ratio, 3));
        Output.Print(forward);
        var rest = new Listing("layer", "active", "predicted", "gradient variance", "predicted", "ratio", "gradient gain", "predicted");
        foreach (var l in e.Layers)
            Row(rest, l.Layer.ToString(CultureInfo.InvariantCulture),
                Format(l.ActiveFraction.Mean, 3), Format(l.ActiveFraction.Predicted, 3),
                Format(l.GradientVariance.Mean, 3), Format(l.GradientVariance.Predicted, 3), Format(l.GradientVariance.Ratio, 3),
                Format(l.GradientGain.Mean, 3), Format(l.GradientGain.Predicted, 3));
        Output.Print(rest);
        if (e.JacobianMeanSquare is { } j)
            Terminal.Console.MarkupLineInterpolated($"input–output Jacobian: mean squared singular value {Format(j.Mean)} ± {Format(j.StandardError, 2)} (predicted Π χ = {Format(j.Predicted)}, ratio {Format(j.Ratio, 3)}); largest singular value per network: {string.Join(", ", e.JacobianLargest.Select(v => Format(v, 3)))}");
    }

    private static string Json(OpticsSetup s, MeanFieldPoint p, MeanFieldLayerPrediction[] predicted, OpticsExperiment? measured)
    {
        static JsonNode? N(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
        static JsonObject E(OpticsEstimate e) => new() { ["mean"] = N(e.Mean), ["standard_error"] = N(e.StandardError), ["predicted"] = N(e.Predicted) };
        var root = new JsonObject
        {
            ["schema"] = Documents.Optics,
            ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
            ["activation"] = p.Activation.ToString().ToLowerInvariant(),
            ["sw2"] = s.WeightVariance,
            ["sb2"] = s.BiasVariance,
            ["depth"] = s.Depth,
            ["q0"] = s.InputSecondMoment,
            ["c0"] = s.InputCorrelation,
            ["phase"] = p.Phase,
            ["q_star"] = N(p.QStar),
            ["c_star"] = N(p.CStar),
            ["chi1"] = N(p.Chi1),
            ["chi_c"] = N(p.ChiC),
            ["xi_q"] = N(p.DepthScaleQ),
            ["xi_c"] = N(p.DepthScaleC),
            ["critical_sw2"] = N(p.CriticalWeightVariance),
            ["predicted"] = new JsonArray([.. predicted.Select((l, i) => (JsonNode)new JsonObject
            {
                ["layer"] = i + 1,
                ["q"] = N(l.Q),
                ["c"] = N(l.C),
                ["active_fraction"] = N(l.ActiveFraction),
                ["gradient_gain"] = N(l.Chi),
                ["gradient_variance"] = N(l.GradientVariance),
                ["jacobian_gain"] = N(l.JacobianGain),
            })]),
        };
        if (measured is not null)
        {
            root["measured"] = new JsonObject
            {
                ["width"] = s.Width,
                ["seeds"] = measured.Traces.Count,
                ["pairs"] = s.Pairs,
                ["layers"] = new JsonArray([.. measured.Layers.Select(l => (JsonNode)new JsonObject
                {
                    ["layer"] = l.Layer,
                    ["q"] = E(l.Q),
                    ["c"] = E(l.C),
                    ["active_fraction"] = E(l.ActiveFraction),
                    ["signal_gain"] = E(l.SignalGain),
                    ["gradient_variance"] = E(l.GradientVariance),
                    ["gradient_gain"] = E(l.GradientGain),
                })]),
                ["jacobian_mean_squared_singular_value"] = measured.JacobianMeanSquare is { } j ? E(j) : null,
                ["jacobian_largest_singular_value"] = new JsonArray([.. measured.JacobianLargest.Select(N)]),
            };
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static void Row(Listing table, params string[] cells) => table.Add([.. cells.Select(c => (Cell)c)]);

    private static string Format(double v, int digits = 4) =>
        double.IsNaN(v) ? "—" : double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "−∞"
        : v.ToString(Math.Abs(v) >= 1e5 || (v != 0 && Math.Abs(v) < 1e-3) ? $"E{digits - 1}" : $"G{digits + 1}", CultureInfo.InvariantCulture);
}
