using System.Text;
using Aperture.IO;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Fuzz;

/// <summary>
/// Writes the seed corpus (fuzz/corpus/TARGET/…): small valid files of each format made with Aperture's own
/// writers, deterministic, so the committed corpus can be regenerated and checked.
/// </summary>
public static class SeedCorpus
{
    /// <summary>Writes every target's seeds under <paramref name="root"/>.</summary>
    public static void Write(string root)
    {
        string Dir(string target)
        {
            string d = Path.Combine(root, target);
            Directory.CreateDirectory(d);
            return d;
        }

        // IDX: unsigned bytes (images), a label vector, the signed and floating types, plain and gzipped.
        string idx = Dir("idx");
        Idx.Write(Path.Combine(idx, "u8-2x3x3.idx"), new IdxArray(Enumerable.Range(0, 18).Select(i => (byte)(i * 13)).ToArray(), [2, 3, 3]));
        Idx.Write(Path.Combine(idx, "u8-2x3x3.idx.gz"), new IdxArray(Enumerable.Range(0, 18).Select(i => (byte)(i * 13)).ToArray(), [2, 3, 3]), gzip: true);
        Idx.Write(Path.Combine(idx, "labels-5.idx.gz"), new IdxArray(new byte[] { 0, 9, 3, 3, 7 }, [5]), gzip: true);
        Idx.Write(Path.Combine(idx, "i32-4.idx"), new IdxArray(new[] { -1, 0, 1, int.MaxValue }, [4]));
        Idx.Write(Path.Combine(idx, "f64-2x2.idx"), new IdxArray(new[] { 0.5, -2.0, double.Epsilon, 1e300 }, [2, 2]));
        Idx.Write(Path.Combine(idx, "f32-3.idx"), new IdxArray(new[] { 1f, float.NaN, -0f }, [3]));

        // safetensors: several dtypes, a 0-d tensor, an empty one, metadata.
        var tensors = new Dictionary<string, Tensor>
        {
            ["weight"] = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [2, 3]),
            ["bias"] = Tensor.FromArray([0.25, -0.5], [2]),
            ["steps"] = Tensor.FromArray([7L], []),
            ["mask"] = Tensor.FromArray([true, false, true], [3]),
            ["empty"] = Tensor.Zeros([0, 4]),
        };
        string st = Dir("safetensors");
        SafeTensors.Save(Path.Combine(st, "mixed.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "seed" });
        SafeTensors.Save(Path.Combine(st, "one.safetensors"), new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray([3.5f], [1]) });

        // npy: Aperture's writer for each dtype it writes (NumPy's own files are in tests/Aperture.Tests/IO/Fixtures/numpy).
        string npy = Dir("npy");
        Npy.Write(Path.Combine(npy, "f32-2x3.npy"), Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [2, 3]));
        Npy.Write(Path.Combine(npy, "f64-scalar.npy"), Tensor.FromArray([2.5], []));
        Npy.Write(Path.Combine(npy, "i64-4.npy"), Tensor.FromArray([1L, -2L, 3L, long.MinValue], [4]));
        Npy.Write(Path.Combine(npy, "i32-2x2.npy"), Tensor.FromArray([1, 2, 3, 4], [2, 2]));
        Npy.Write(Path.Combine(npy, "bool-3.npy"), Tensor.FromArray([true, false, true], [3]));

        // CSV: a header, quoting, blank cells, exponents, CRLF.
        string csv = Dir("csv");
        File.WriteAllText(Path.Combine(csv, "header.csv"), "x,y,label\n0.5,1e-3,1\n-2,3.25,0\n");
        File.WriteAllText(Path.Combine(csv, "quoted.csv"), "\"a\",\"b,c\"\r\n1,2\r\n3,4\r\n");
        File.WriteAllText(Path.Combine(csv, "specials.csv"), "v,w\nNaN,-Infinity\n1E+300,-0\n");
        File.WriteAllText(Path.Combine(csv, "wide.csv"), "c0,c1,c2,c3,c4,c5\n1,2,3,4,5,6\n");

        // Checkpoint and state: a small model and its Adam state after one step.
        var model = new Linear(2, 1, generator: new Generator(0));
        var adam = new Adam(model.Parameters());
        var loss = model.Forward(Tensor.FromArray([1f, 2f], [1, 2])).Square().Sum();
        loss.Backward();
        adam.Step();
        string ck = Dir("checkpoint");
        Checkpoint.Save(Path.Combine(ck, "linear-adam.safetensors"), model.StateDict(), adam.StateDict().Tensors,
            new Dictionary<string, string> { ["epoch"] = "1" });
        Checkpoint.Save(Path.Combine(ck, "model-only.safetensors"), model.StateDict());
        string state = Dir("state");
        var snapshot = adam.StateDict();
        foreach (var (k, t) in model.StateDict()) snapshot.Tensors["model." + k] = t;
        Checkpoint.SaveState(Path.Combine(state, "linear-adam.safetensors"), snapshot, new Dictionary<string, string> { ["epoch"] = "1" });
        Checkpoint.SaveState(Path.Combine(state, "optimizer-only.safetensors"), adam.StateDict());
        File.WriteAllText(Path.Combine(root, "README.txt"), new StringBuilder()
            .AppendLine("Seed corpus of the fuzz targets (fuzz/Aperture.Fuzz), one folder per target.")
            .AppendLine("Regenerate with: dotnet run --project fuzz/Aperture.Fuzz -- seed fuzz/corpus")
            .ToString());
    }
}
