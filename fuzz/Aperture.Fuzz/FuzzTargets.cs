using System.Text;
using Aperture.IO;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Fuzz;

/// <summary>
/// One fuzz target per parser: each reads the bytes it is given as a file of its format and touches everything it
/// returns. A target may fail only with the exceptions its parser documents (<see cref="IsDocumented"/>); anything
/// else, an input slower than the time limit, or more allocation than <see cref="AllocationLimit"/> is a finding.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets, by name: the seed corpus of each is fuzz/corpus/NAME.</summary>
    public static readonly IReadOnlyList<string> Names = ["idx", "safetensors", "npy", "csv", "checkpoint", "state"];

    /// <summary>
    /// The most a single input may allocate: 64 × its length plus 64 MiB. Every format here stores its data
    /// uncompressed except gzipped IDX, whose decompressed size the header declares; a parser that believes a header
    /// over the bytes it has (allocating what a 12-byte header asks for) is caught by this bound.
    /// </summary>
    public static long AllocationLimit(int inputLength) => 64L * inputLength + (64L << 20);

    /// <summary>Runs target <paramref name="name"/> on <paramref name="data"/>; <paramref name="scratch"/> is a file path the file-based targets may write.</summary>
    public static void Run(string name, byte[] data, string scratch)
    {
        switch (name)
        {
            case "idx":
            {
                var array = Idx.Read(new MemoryStream(data, writable: false), "fuzz.idx");
                _ = array.ToTensor().Shape;
                break;
            }
            case "safetensors":
            {
                var file = SafeTensors.Load(data, "fuzz.safetensors");
                foreach (var (_, t) in file.Tensors) _ = t.Numel;
                foreach (var (k, v) in file.Metadata) _ = k.Length + v.Length;
                break;
            }
            case "npy":
                _ = Npy.Read(new MemoryStream(data, writable: false), "fuzz.npy").Numel;
                break;
            case "csv":
            {
                using var reader = new StreamReader(new MemoryStream(data, writable: false), Encoding.UTF8);
                var table = Csv.Read(reader, "fuzz.csv");
                _ = table.Values.Numel;
                break;
            }
            case "checkpoint":
            {
                File.WriteAllBytes(scratch, data);
                var state = Checkpoint.Load(scratch);
                _ = state.Model.Count + state.Optimizer.Count + state.Metadata.Count;
                break;
            }
            case "state":
            {
                // A saved training state loaded into a small model and its optimizer, as a resume does.
                File.WriteAllBytes(scratch, data);
                var (state, _) = Checkpoint.LoadState(scratch);
                var model = new Linear(2, 1, generator: new Generator(0));
                var adam = new Adam(model.Parameters());
                var modelTensors = state.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
                    .ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value);
                model.LoadStateDict(modelTensors, strict: false);
                adam.LoadStateDict(new StateSnapshot(
                    state.Tensors.Where(kv => !kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value),
                    state.Scalars));
                break;
            }
            default:
                throw new ArgumentException($"no fuzz target '{name}'; the targets are {string.Join(", ", Names)}", nameof(name));
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is an error the target's API documents for bad input: a
    /// <see cref="DataFormatException"/> (each parser's own type) for every target, and for the state target also
    /// the <see cref="ArgumentException"/> (that exact type) that LoadStateDict throws naming the entry. A raw
    /// runtime exception (index out of range, overflow, a subclass of ArgumentException, out of memory) is not.
    /// </summary>
    public static bool IsDocumented(string name, Exception e) =>
        e is DataFormatException || (name == "state" && e.GetType() == typeof(ArgumentException));
}

/// <summary>An input that allocated more than <see cref="FuzzTargets.AllocationLimit"/>: a finding, like a crash.</summary>
public sealed class AllocationLimitExceededException(string message) : Exception(message);
