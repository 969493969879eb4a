using System.CommandLine;
using System.Globalization;
using Aperture.Latent;
using Aperture.Lab.Recipes;
using Aperture.Lab.Report;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture similar</c>: which items are closest to this one in layer L of this model.</summary>
internal static class SimilarCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "the items: bonds (a synthetic bond market) or fashion-mnist (the test images)", Required = true }
            .AcceptOnlyFromAmong([.. SimilarityQuery.Datasets]);
        var model = new Option<string?>("--model") { Description = "the model: for fashion-mnist a checkpoint written by `aperture train --save`; for bonds a net written by `aperture similar --dataset bonds --train --save`" };
        var train = new Option<bool>("--train") { Description = "train the model now instead of loading one (fashion-mnist: the 784-256-256-10 mlp; bonds: a 13-64-32-1 price net)" };
        var save = new Option<string?>("--save") { Description = "with --train: save the trained model to this file" };
        var layer = new Option<string?>("--layer") { Description = "the module whose output is searched, by its dotted name, or input for the features the model reads (the raw-feature neighbours) [default: the last hidden layer]" };
        var item = new Option<int>("--item") { Description = "the query: an index into the searched items", Required = true };
        var k = new Option<int>("--k") { Description = "neighbours to list", DefaultValueFactory = _ => 10 };
        var metric = new Option<string>("--metric") { Description = "the distance", DefaultValueFactory = _ => "l2" }.AcceptOnlyFromAmong("l2", "cosine");
        var dataDir = new Option<string?>("--data-dir") { Description = "a directory holding Fashion-MNIST's IDX files (default: Debian's copy, else the built-in subset)" };
        var seed = new Option<ulong>("--seed") { Description = "with --train: the seed of the weights and shuffling (for bonds also of the market)", DefaultValueFactory = _ => 0 };
        var epochs = new Option<int?>("--epochs") { Description = "with --train: passes over the training set [default: 2 for fashion-mnist, 30 for bonds]" };
        var json = Output.JsonOption(Documents.Similar);
        var format = Output.FormatOption();
        var png = new Option<string?>("--png") { Description = "fashion-mnist: draw the query and its neighbours as a strip of thumbnails into this PNG file" };
        var cmd = new Command("similar", "List the items nearest to one item in a layer of a model (exact search).")
        {
            dataset, model, train, save, layer, item, k, metric, dataDir, seed, epochs, json, format, png,
        };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            Terminal.CheckDataDirectory(r.GetValue(dataDir));
            var output = CommandOutput.Begin(r, format, json);
            string? pngPath = r.GetValue(png) is { } p ? Terminal.CheckOutputFile(p, "--png", allowStdout: false) : null;
            if (r.GetValue(save) is { } s) Terminal.CheckOutputFile(s, "--save", allowStdout: false);
            string name = r.GetValue(dataset)!;
            if (pngPath is not null && name != "fashion-mnist") throw new CommandLineException("--png draws images: it needs --dataset fashion-mnist");
            int epochCount = r.GetValue(epochs) ?? (name == "bonds" ? 30 : 2);
            var request = new SimilarityRequest(name, r.GetValue(model), r.GetValue(train), r.GetValue(save), r.GetValue(layer), r.GetValue(item), r.GetValue(k),
                r.GetValue(metric) == "cosine" ? Distance.Cosine : Distance.L2, r.GetValue(dataDir), r.GetValue(seed), epochCount);
            var answer = SimilarityQuery.Answer(request, output.Note);
            Print(answer, output);
            if (pngPath is not null) NeighbourGallery.RenderImages(answer.Listing, pngPath);
            output.Json(() => Documents.SimilarDocument(request, answer));
            return 0;
        }));
        return cmd;
    }

    private static void Print(SimilarityAnswer a, CommandOutput output)
    {
        var l = a.Listing;
        output.Note($"model: {a.Model}");
        output.Note($"data: {a.DataSource}");
        output.Note($"the {l.Neighbours.Count} items nearest to item {l.Query} in layer {a.Layer} ({l.Metric} distance)");
        var names = l.AttributeNames ?? [];
        var columns = new List<string> { "rank", "item", "distance" };
        if (l.QueryLabel is not null) columns.Add("label");
        columns.AddRange(names);
        var table = new Listing([.. columns]);
        void Row(string rank, long index, double? distance, long? label, IReadOnlyList<double>? values)
        {
            var cells = new List<Cell> { rank, index.ToString(CultureInfo.InvariantCulture), distance?.ToString("G4", CultureInfo.InvariantCulture) ?? "" };
            if (l.QueryLabel is not null) cells.Add(label is { } x ? NeighbourGallery.ClassName(l, x) : "");
            for (int i = 0; i < names.Count; i++) cells.Add(values is not null ? values[i].ToString("G4", CultureInfo.InvariantCulture) : "");
            table.Add([.. cells]);
        }
        Row("query", l.Query, null, l.QueryLabel, l.QueryAttributes);
        for (int i = 0; i < l.Neighbours.Count; i++)
            Row((i + 1).ToString(CultureInfo.InvariantCulture), l.Neighbours[i].Index, l.Neighbours[i].Distance, l.Neighbours[i].Label, l.Neighbours[i].Attributes);
        output.Write(table);
    }
}
