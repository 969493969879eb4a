using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Recipes;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture train</c>: train a standard model on a standard dataset and report its test accuracy.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "the model: mlp (784-256-256-10) or lenet5", DefaultValueFactory = _ => "mlp" }
            .AcceptOnlyFromAmong([.. ImageClassification.ModelNames]);
        var data = new Option<string>("--data") { Description = "the dataset", DefaultValueFactory = _ => "fashion-mnist" }
            .AcceptOnlyFromAmong([.. ImageClassification.DataNames]);
        var dataDir = new Option<string?>("--data-dir") { Description = "a directory holding the IDX files (default: Debian's copy, else the built-in subset)" };
        var epochs = new Option<int>("--epochs") { Description = "passes over the training set", DefaultValueFactory = _ => 10 };
        var seed = new Option<ulong>("--seed") { Description = "the seed of the initial weights and the shuffling", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch-size") { Description = "examples per step", DefaultValueFactory = _ => 128 };
        var lr = new Option<double?>("--lr") { Description = "Adam's peak learning rate, cosine-annealed to 0 [default: 0.001 for mlp, 0.003 for lenet5]" };
        var json = new Option<string?>("--json") { Description = "write {model, data, epochs, seed, train_loss, test_accuracy, seconds} to this file (- for standard output)" };
        var save = new Option<string?>("--save") { Description = "save the whole training state to this file at the start, after every epoch and every --save-every steps (atomically)" };
        var resume = new Option<string?>("--resume") { Description = "continue from a file written by --save (same options); the result is bit-identical to an uninterrupted run" };
        var saveEvery = new Option<int>("--save-every") { Description = "optimizer steps between saves inside an epoch (0: only at epoch ends)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("train", "Train a model on Fashion-MNIST with Adam and a cosine schedule, then report its test accuracy.")
        {
            model, data, dataDir, epochs, seed, batch, lr, json, save, resume, saveEvery,
        };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            Terminal.CheckDataDirectory(r.GetValue(dataDir));
            string? jsonPath = r.GetValue(json) is { } j ? Terminal.CheckOutputFile(j, "--json", allowStdout: true) : null;
            bool jsonToStdout = r.GetValue(json) == "-";
            if (r.GetValue(save) is { } savePath) Terminal.CheckOutputFile(savePath, "--save", allowStdout: false);
            if (jsonToStdout) Terminal.HumanOutputToStandardError();
            var options = new TrainingOptions(r.GetValue(model)!, r.GetValue(data)!, r.GetValue(epochs), r.GetValue(seed),
                r.GetValue(batch), r.GetValue(lr), r.GetValue(dataDir));
            var checkpoints = new TrainingCheckpoints(r.GetValue(save), r.GetValue(resume), r.GetValue(saveEvery));
            TrainingResult? result = null;
            Terminal.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                         new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"{Markup.Escape(options.Model)}: loading data", maxValue: options.Epochs);
                    result = ImageClassification.Train(options, p =>
                    {
                        task.Value = p.Epoch - 1 + (double)p.Batch / Math.Max(1, p.BatchesPerEpoch);
                        task.Description = Markup.Escape($"{options.Model}: epoch {p.Epoch}/{p.LastEpoch}, loss {p.Loss:F4}");
                    }, cancel, checkpoints);
                    task.Value = options.Epochs;
                });
            var res = result!;
            Terminal.Console.MarkupLineInterpolated($"data: {res.DataSource}");
            var table = new Listing("epoch", "train loss", "train accuracy");
            foreach (var e in res.History)
                table.Add(e.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), e.TrainLoss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture),
                    e.TrainAccuracy is { } a ? a.ToString("P2", System.Globalization.CultureInfo.InvariantCulture) : "");
            Output.Print(table);
            Terminal.Console.MarkupLineInterpolated($"[bold]test accuracy {res.TestAccuracy:P2}[/] after {res.Options.Epochs} epochs ({res.Seconds:F1} s)");
            if (jsonPath is not null || jsonToStdout)
            {
                string record = new JsonObject
                {
                    ["schema"] = Documents.Train,
                    ["code"] = Documents.Code(Aperture.Lab.Store.RunStore.CodeVersion),
                    ["data_source"] = res.DataSource,
                    ["batch_size"] = res.Options.BatchSize,
                    ["history"] = new JsonArray([.. res.History.Select(e => (JsonNode)new JsonObject
                    {
                        ["epoch"] = e.Epoch,
                        ["train_loss"] = Output.Num(e.TrainLoss),
                        ["train_accuracy"] = Output.Num(e.TrainAccuracy),
                    })]),
                    ["model"] = res.Options.Model,
                    ["data"] = res.Options.Data,
                    ["epochs"] = res.Options.Epochs,
                    ["seed"] = res.Options.Seed,
                    ["train_loss"] = Output.Num(res.TrainLoss),
                    ["test_accuracy"] = Output.Num(res.TestAccuracy),
                    ["seconds"] = Math.Round(res.Seconds, 3),
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
                if (jsonToStdout) Terminal.Out.Write(record);
                else Terminal.WriteAtomically(jsonPath!, record);
            }
            return 0;
        })));
        return cmd;
    }
}
