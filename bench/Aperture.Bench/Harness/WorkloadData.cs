using System.Runtime.InteropServices;

namespace Aperture.Bench.Harness;

/// <summary>One named array of a workload's data: float32 values or int64 labels, row-major.</summary>
public sealed record NamedArray(string Name, int[] Shape, float[]? Floats, long[]? Longs)
{
    /// <summary>"float32" or "int64", as PyTorch names them.</summary>
    public string DType => Floats is not null ? "float32" : "int64";

    /// <summary>The shape as int64, for libtorch.</summary>
    public long[] LongShape => [.. Shape.Select(d => (long)d)];

    /// <summary>The size of the raw data in bytes.</summary>
    public int ByteLength => Floats is not null ? Floats.Length * 4 : Longs!.Length * 8;
}

/// <summary>
/// The inputs and initial weights of one workload, drawn once from a seeded Philox generator and handed to every
/// engine: in process for Aperture and TorchSharp, through a raw little-endian file for the PyTorch worker. Weights
/// follow PyTorch's default initialization for linear and conv layers, U(−1/√fan_in, 1/√fan_in).
/// </summary>
public sealed class WorkloadData
{
    /// <summary>The arrays, in a fixed order.</summary>
    public IReadOnlyList<NamedArray> Arrays { get; }

    private readonly Dictionary<string, NamedArray> _byName;

    private WorkloadData(List<NamedArray> arrays)
    {
        Arrays = arrays;
        _byName = arrays.ToDictionary(a => a.Name);
    }

    /// <summary>The array called <paramref name="name"/>.</summary>
    public NamedArray this[string name] => _byName.TryGetValue(name, out var a)
        ? a : throw new KeyNotFoundException($"workload data has no array '{name}' (it has {string.Join(", ", _byName.Keys)})");

    /// <summary>Draws the data of <paramref name="w"/> from a generator seeded by <paramref name="seed"/>.</summary>
    public static WorkloadData Create(Workload w, ulong seed)
    {
        var g = new Generator(seed);
        var list = new List<NamedArray>();
        void Uniform(string name, int[] shape, double bound) =>
            list.Add(new(name, shape, Tensor.Uniform(shape, -bound, bound, g).ToArray<float>(), null));
        void Normal(string name, int[] shape) =>
            list.Add(new(name, shape, Tensor.Randn(shape, g).ToArray<float>(), null));
        void Labels(string name, int count, int classes) =>
            list.Add(new(name, [count], null, Tensor.RandInt(0, classes, [count], g).ToArray<long>()));
        void Linear(int index, int fanIn, int fanOut)
        {
            double bound = 1 / Math.Sqrt(fanIn);
            Uniform($"w{index}", [fanOut, fanIn], bound);
            Uniform($"b{index}", [fanOut], bound);
        }

        switch (w.Kind)
        {
            case WorkloadKind.Gemm:
                Uniform("a", [w.N, w.N], 1);
                Uniform("b", [w.N, w.N], 1);
                break;
            case WorkloadKind.MlpTrain or WorkloadKind.MlpInfer or WorkloadKind.MlpGradient or WorkloadKind.MlpHvp:
                Normal("x", [w.Batch, w.Sizes[0]]);
                if (w.Kind != WorkloadKind.MlpInfer)
                {
                    if (w.Mse) Normal("y", [w.Batch, w.Sizes[^1]]);
                    else Labels("y", w.Batch, w.Sizes[^1]);
                }
                for (int i = 0; i + 1 < w.Sizes.Length; i++) Linear(i, w.Sizes[i], w.Sizes[i + 1]);
                if (w.Kind == WorkloadKind.MlpHvp)
                    // The direction of the Hessian-vector product, one tensor per parameter (weight, then bias).
                    for (int i = 0; i + 1 < w.Sizes.Length; i++)
                    {
                        Normal($"vw{i}", [w.Sizes[i + 1], w.Sizes[i]]);
                        Normal($"vb{i}", [w.Sizes[i + 1]]);
                    }
                break;
            case WorkloadKind.LeNetTrain:
                Normal("x", [w.Batch, 1, 28, 28]);
                Labels("y", w.Batch, 10);
                Uniform("c0w", [6, 1, 5, 5], 1 / Math.Sqrt(25));
                Uniform("c0b", [6], 1 / Math.Sqrt(25));
                Uniform("c1w", [16, 6, 5, 5], 1 / Math.Sqrt(150));
                Uniform("c1b", [16], 1 / Math.Sqrt(150));
                Linear(0, 400, 120);
                Linear(1, 120, 84);
                Linear(2, 84, 10);
                break;
            case WorkloadKind.Adam:
                for (int i = 0; i < w.ParamShapes.Length; i++)
                {
                    Uniform($"p{i}", w.ParamShapes[i], 0.1);
                    Normal($"g{i}", w.ParamShapes[i]);
                }
                break;
            case WorkloadKind.SgldStep:
                Normal("x", [w.Batch, w.Sizes[0]]);
                Normal("y", [w.Batch, w.Sizes[^1]]);
                for (int i = 0; i + 1 < w.Sizes.Length; i++) Uniform($"w{i}", [w.Sizes[i + 1], w.Sizes[i]], 1 / Math.Sqrt(w.Sizes[i]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(w), w.Kind, "unknown workload kind");
        }
        return new WorkloadData(list);
    }

    /// <summary>
    /// Writes every array's raw bytes (little-endian) one after another to <paramref name="path"/> and returns the
    /// byte offset of each, for the PyTorch worker. The file is written to a temporary name and renamed.
    /// </summary>
    public IReadOnlyDictionary<string, long> WriteRaw(string path)
    {
        var offsets = new Dictionary<string, long>();
        string tmp = path + ".tmp";
        using (var f = File.Create(tmp))
        {
            foreach (var a in Arrays)
            {
                offsets[a.Name] = f.Position;
                if (a.Floats is not null) f.Write(MemoryMarshal.AsBytes(a.Floats.AsSpan()));
                else f.Write(MemoryMarshal.AsBytes(a.Longs!.AsSpan()));
            }
        }
        File.Move(tmp, path, overwrite: true);
        return offsets;
    }
}
