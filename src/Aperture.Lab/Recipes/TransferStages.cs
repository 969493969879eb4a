using System.Globalization;
using Aperture.Data;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>A LeNet-5 pretrained on a source task: the state of every layer but its head, and its accuracies there.</summary>
/// <param name="Body">The state dict of layers 0–10 (everything below the head), under LeNet-5's names ("0.weight", …).</param>
/// <param name="SourceTrainAccuracy">Accuracy on the source training images.</param>
/// <param name="SourceTestAccuracy">Accuracy on the source test images.</param>
public sealed record PretrainedBody(IReadOnlyDictionary<string, Tensor> Body, double SourceTrainAccuracy, double SourceTestAccuracy)
{
    /// <summary>The body as safetensors bytes with the accuracies as metadata: a stored stage's payload.</summary>
    public byte[] Pack() => Aperture.IO.SafeTensors.Serialize(Body, new Dictionary<string, string>
    {
        ["source_train_accuracy"] = SourceTrainAccuracy.ToString("R", CultureInfo.InvariantCulture),
        ["source_test_accuracy"] = SourceTestAccuracy.ToString("R", CultureInfo.InvariantCulture),
    });

    /// <summary>Reads <see cref="Pack"/>'s bytes back.</summary>
    public static PretrainedBody Unpack(byte[] bytes)
    {
        var file = Aperture.IO.SafeTensors.Load(bytes, "pretrained-body stage");
        double Read(string key) => double.Parse(file.Metadata[key], CultureInfo.InvariantCulture);
        return new PretrainedBody(file.Tensors, Read("source_train_accuracy"), Read("source_test_accuracy"));
    }
}

/// <summary>
/// The stages of Yosinski et al.'s (2014) transfer experiment on LeNet-5 (<see cref="Models.LeNet5"/>): pretrain on a
/// source task, cut the net after its n-th layer, and read a dataset's features at that cut.
/// </summary>
public static class TransferStages
{
    /// <summary>The deepest cut: every layer but the head.</summary>
    public const int MaxDepth = 4;

    /// <summary>
    /// Where the body of depth <paramref name="depth"/> ends in LeNet-5's <see cref="Sequential"/> (its layers
    /// [0, cut) are transferred): 0 nothing; 1 after conv1 (conv, ReLU, pool); 2 after conv2 (conv, ReLU, pool);
    /// 3 after fc1 (flatten, linear, ReLU); 4 after fc2 (linear, ReLU): all but the head.
    /// </summary>
    public static int Cut(int depth) => depth switch
    {
        0 => 0, 1 => 3, 2 => 6, 3 => 9, 4 => 11,
        _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "LeNet-5 has cuts at depths 0 to 4"),
    };

    /// <summary>Trains a LeNet-5 with a <paramref name="classes"/>-way head on the source task with Adam and keeps every layer but its head.</summary>
    public static PretrainedBody Pretrain(TensorDataset train, TensorDataset test, int classes, double learningRate, int batchSize, int epochs,
        Generator init, Generator order)
    {
        var model = Models.LeNet5(classes: classes, generator: init);
        var trainer = new Trainer(model, new Adam(model.Parameters(), lr: learningRate), (o, t) => Losses.CrossEntropy(o, t));
        trainer.Fit(new DataLoader(train, batchSize, shuffle: true, generator: order), epochs);
        string head = Cut(MaxDepth).ToString(CultureInfo.InvariantCulture) + ".";
        var body = model.StateDict().Where(kv => !kv.Key.StartsWith(head, StringComparison.Ordinal)).ToDictionary();
        return new PretrainedBody(body, Probes.Classification.Accuracy(model, train), Probes.Classification.Accuracy(model, test));
    }

    /// <summary>Layers [<paramref name="from"/>, <paramref name="to"/>) of <paramref name="net"/>, the same modules under their original names.</summary>
    public static Sequential Layers(Sequential net, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(net);
        return new Sequential(Enumerable.Range(from, to - from).Select(i => (i.ToString(CultureInfo.InvariantCulture), net[i])));
    }

    /// <summary>The outputs of <paramref name="body"/> on every input of <paramref name="data"/>, with its targets: a frozen body's features, computed once.</summary>
    public static TensorDataset Features(Module body, TensorDataset data)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(data);
        using var _ = Autodiff.NoGrad();
        return new TensorDataset(body.Forward(data.Inputs), data.Targets);
    }

    /// <summary>
    /// <paramref name="perClass"/> images of each of <paramref name="classes"/> as [n, 1, 28, 28], labelled 0, 1, … by
    /// their position in <paramref name="classes"/>, drawn without replacement from <paramref name="split"/>.
    /// </summary>
    public static TensorDataset ClassSample(TensorDataset split, int[] classes, int perClass, Generator sampling, string setting)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(classes);
        var flat = LabData.FlatSample(split, perClass, sampling, setting);
        var labels = flat.Targets.ToArray<long>();
        var keep = new List<long>();
        var relabelled = new List<long>();
        for (int i = 0; i < labels.Length; i++)
        {
            int at = Array.IndexOf(classes, (int)labels[i]);
            if (at < 0) continue;
            keep.Add(i);
            relabelled.Add(at);
        }
        using var _ = Autodiff.NoGrad();
        var x = Ops.IndexSelect(flat.Inputs, 0, Tensor.FromArray(keep.ToArray()));
        return new TensorDataset(x.Reshape(keep.Count, 1, 28, 28), Tensor.FromArray(relabelled.ToArray()));
    }
}
