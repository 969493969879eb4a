using System.Globalization;
using Aperture.IO;

namespace Aperture.Words;

/// <summary>A word-vectors file that is not a safetensors file of Aperture's word-vector layout, or holds inconsistent or hostile values.</summary>
public sealed class WordVectorsFormatException(string path, string reason, Exception? inner = null)
    : DataFormatException("word vectors", path, reason, inner);

/// <summary>
/// Word vectors on disk as a safetensors file: tensor <c>vectors</c> (F32 [words, dim]), tensor <c>counts</c>
/// (I64 [words]) and the metadata entries <c>format</c> = <c>aperture-word-vectors/1</c> and <c>vocabulary</c> (the
/// words, one per line, in id order), plus any settings the caller adds. The safetensors reader checks the container;
/// <see cref="Load"/> then checks the layout: the format tag, the shapes, one unique non-empty word per row, counts
/// ≥ 0, finite vectors.
/// </summary>
public static class WordVectorsFile
{
    /// <summary>The value of the <c>format</c> metadata entry.</summary>
    public const string FormatTag = "aperture-word-vectors/1";

    /// <summary>Writes <paramref name="vectors"/> atomically, with <paramref name="settings"/> stored as extra metadata (keys other than format and vocabulary).</summary>
    public static void Save(string path, WordVectors vectors, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(vectors);
        var vocabulary = vectors.Vocabulary;
        foreach (var w in vocabulary.Words)
            if (w.Contains('\n'))
                throw new ArgumentException($"WordVectorsFile: the word '{w.Replace("\n", "\\n", StringComparison.Ordinal)}' contains a newline, which separates the stored words");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (settings is not null)
            foreach (var (k, v) in settings)
                if (k is not ("format" or "vocabulary")) metadata[k] = v;
        metadata["format"] = FormatTag;
        metadata["vocabulary"] = string.Join('\n', vocabulary.Words);
        var tensors = new Dictionary<string, Tensor>
        {
            ["vectors"] = vectors.ToTensor(),
            ["counts"] = Tensor.FromArray(vocabulary.Counts.ToArray(), [vocabulary.Count]),
        };
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads and validates a file written by <see cref="Save"/>; any fault is a <see cref="WordVectorsFormatException"/> or a <see cref="SafeTensorsFormatException"/> naming the file.</summary>
    public static (WordVectors Vectors, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = SafeTensors.Load(path);
        WordVectorsFormatException Fail(string reason) => new(path, reason);
        if (!file.Metadata.TryGetValue("format", out var format) || format != FormatTag)
            throw Fail($"the metadata entry 'format' is {(format is null ? "missing" : $"'{Clip(format)}'")}, expected '{FormatTag}'");
        if (!file.Metadata.TryGetValue("vocabulary", out var words))
            throw Fail("the metadata entry 'vocabulary' is missing");
        if (!file.Tensors.TryGetValue("vectors", out var vectors)) throw Fail("the tensor 'vectors' is missing");
        if (!file.Tensors.TryGetValue("counts", out var counts)) throw Fail("the tensor 'counts' is missing");
        if (file.Tensors.Count != 2) throw Fail($"expected the tensors 'vectors' and 'counts' only, found {file.Tensors.Count}: {string.Join(", ", file.Tensors.Keys.Select(Clip))}");
        if (vectors.DType != DType.Float32 || vectors.Rank != 2 || vectors.Shape[0] < 1 || vectors.Shape[1] < 1)
            throw Fail($"'vectors' must be float32 [words ≥ 1, dim ≥ 1], found {vectors.DType.Name()} {Shapes.Format(vectors.Shape)}");
        int n = vectors.Shape[0], dim = vectors.Shape[1];
        if (counts.DType != DType.Int64 || counts.Rank != 1 || counts.Shape[0] != n)
            throw Fail($"'counts' must be int64 [{n}] (one per vector), found {counts.DType.Name()} {Shapes.Format(counts.Shape)}");
        var list = words.Split('\n');
        if (list.Length != n) throw Fail($"the vocabulary holds {list.Length} words but 'vectors' has {n} rows");
        var c = counts.ToArray<long>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            if (list[i].Length == 0) throw Fail($"word {i} of the vocabulary is empty");
            if (!seen.Add(list[i])) throw Fail($"the word '{Clip(list[i])}' appears twice in the vocabulary (the second time as word {i})");
            if (c[i] < 0) throw Fail($"the count of word {i} ('{Clip(list[i])}') is {c[i]}, expected ≥ 0");
        }
        var values = vectors.ToArray<float>();
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw Fail($"the vector of word {i / dim} ('{Clip(list[i / dim])}') holds {values[i].ToString(CultureInfo.InvariantCulture)} at component {i % dim}");
        var metadata = file.Metadata.Where(kv => kv.Key != "vocabulary").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return (new WordVectors(new Vocabulary(list, c), values, dim), metadata);
    }

    /// <summary>A hostile string shortened for a message.</summary>
    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
