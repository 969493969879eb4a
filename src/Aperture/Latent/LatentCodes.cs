using Aperture.Data;
using Aperture.NN;

namespace Aperture.Latent;

/// <summary>Reads the activations ("latent codes") of a named layer of a model for every example of a dataset.</summary>
public static class LatentCodes
{
    /// <summary>
    /// Runs <paramref name="model"/> over <paramref name="data"/> in batches of <paramref name="batchSize"/>, in
    /// evaluation mode and without recording a graph, and returns the output of the submodule named
    /// <paramref name="layer"/> (a dotted name from <see cref="Module.NamedModules"/>; "" is the model itself) for
    /// every example, in dataset order: [n, features] (each example's activation flattened) when
    /// <paramref name="flatten"/>, else [n, ...] as the layer produced it.
    /// </summary>
    /// <remarks>
    /// The activation is captured with a forward hook that copies it into the result, so it is what the next layer
    /// sees. Each batch runs inside a <see cref="TensorScope"/>: its temporaries are recycled per batch, and only
    /// the result outlives the call. Every module's training flag is restored afterwards. The layer must run exactly
    /// once per forward pass (a module applied twice has no single code).
    /// </remarks>
    public static Tensor Extract(Module model, string layer, Dataset data, int batchSize = 256, bool flatten = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "LatentCodes.Extract: batchSize must be at least 1");
        Module target;
        try { target = model.GetSubmodule(layer); }
        catch (KeyNotFoundException)
        {
            var names = string.Join(", ", model.NamedModules().Select(m => m.Name.Length == 0 ? "\"\"" : m.Name));
            throw new ArgumentException($"LatentCodes.Extract: the model has no layer named '{layer}'; its layers are {names}", nameof(layer));
        }
        int n = data.Count;
        if (n == 0) throw new ArgumentException("LatentCodes.Extract: the dataset is empty", nameof(data));

        var modes = model.Modules().Select(m => (m, m.Training)).ToList();
        Tensor? result = null;
        int start = 0, batch = 0, calls = 0;
        using var hook = target.RegisterForwardHook((_, _, output) =>
        {
            if (++calls > 1)
                throw new InvalidOperationException($"LatentCodes.Extract: layer '{layer}' ({target.Describe()}) ran more than once in one forward pass; it has no single code per example");
            if (output.Rank == 0 || output.Shape[0] != batch)
                throw new ShapeMismatchException($"LatentCodes.Extract: layer '{layer}' gave an output of shape {Shapes.Format(output.Shape)} for a batch of {batch}; expected the batch as the first dimension");
            if (result is null)
            {
                using var keep = TensorScope.Suspend();   // the result outlives every batch's scope
                int[] shape = flatten ? [n, ExampleSize(output)] : [n, .. output.Shape[1..]];
                result = Tensor.Zeros(shape, output.DType);
            }
            else if (result.DType != output.DType || ExampleSize(output) != ExampleSize(result) || (!flatten && !output.Shape[1..].SequenceEqual(result.Shape[1..])))
                throw new ShapeMismatchException($"LatentCodes.Extract: layer '{layer}' gave {output.DType.Name()} {Shapes.Format(output.Shape)} for the batch at {start}, unlike the {result.DType.Name()} {Shapes.Format(result.Shape)} of earlier batches");
            var rows = Ops.Slice(result, 0, start, start + batch);
            StridedCopy.CopyInto(Ops.Reshape(output, rows.Shape), rows);
            return null;
        });
        var indices = new int[Math.Min(batchSize, n)];
        try
        {
            model.Eval();
            using var noGrad = Autodiff.NoGrad();
            for (start = 0; start < n; start += batchSize)
            {
                batch = Math.Min(batchSize, n - start);
                for (int i = 0; i < batch; i++) indices[i] = start + i;
                calls = 0;
                using var scope = TensorScope.Begin();
                var (inputs, _) = data.GetBatch(indices.AsSpan(0, batch));
                model.Forward(inputs);
                if (calls == 0)
                    throw new InvalidOperationException($"LatentCodes.Extract: layer '{layer}' ({target.Describe()}) did not run in the model's forward pass");
            }
        }
        finally
        {
            foreach (var (m, training) in modes) SetTraining(m, training);
        }
        return result!;
    }

    private static int ExampleSize(Tensor t)
    {
        int size = 1;
        for (int i = 1; i < t.Rank; i++) size *= t.Shape[i];
        return size;
    }

    // Train(bool) recurses into children; restoring parents first and then each child leaves every flag as it was.
    private static void SetTraining(Module m, bool training)
    {
        if (m.Training != training) m.Train(training);
    }
}
