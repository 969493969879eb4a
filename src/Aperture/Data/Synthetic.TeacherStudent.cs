namespace Aperture.Data;

/// <summary>
/// A fixed random ReLU network that labels inputs for a student to learn: layer l computes
/// h ↦ relu(h·Wₗᵀ + bₗ), the last layer without the ReLU. Weights are N(0, 2/fan-in) (He initialization, so the
/// signal keeps its scale with depth) and biases N(0, 0.1²).
/// </summary>
public sealed class TeacherNetwork
{
    private readonly Tensor[] _weights, _biases;

    /// <summary>Draws a teacher with layer widths <paramref name="inputs"/>, <paramref name="hidden"/>..., <paramref name="outputs"/>.</summary>
    public TeacherNetwork(int inputs, IReadOnlyList<int> hidden, int outputs, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(generator);
        var widths = new List<int> { inputs };
        widths.AddRange(hidden);
        widths.Add(outputs);
        foreach (int w in widths)
            if (w < 1) throw new ArgumentOutOfRangeException(nameof(hidden), w, $"TeacherNetwork: every width must be at least 1, got [{string.Join(", ", widths)}]");
        _weights = new Tensor[widths.Count - 1];
        _biases = new Tensor[widths.Count - 1];
        for (int l = 0; l < _weights.Length; l++)
        {
            _weights[l] = Tensor.Normal([widths[l + 1], widths[l]], 0, Math.Sqrt(2.0 / widths[l]), generator);
            _biases[l] = Tensor.Normal([widths[l + 1]], 0, 0.1, generator);
        }
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>The input width.</summary>
    public int Inputs { get; }

    /// <summary>The output width.</summary>
    public int Outputs { get; }

    /// <summary>Each layer's weight [out, in].</summary>
    public IReadOnlyList<Tensor> Weights => _weights;

    /// <summary>Each layer's bias [out].</summary>
    public IReadOnlyList<Tensor> Biases => _biases;

    /// <summary>The teacher's outputs for <paramref name="x"/> [n, inputs]: float32 [n, outputs].</summary>
    public Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var _ = Autodiff.NoGrad();
        var h = x.DType == DType.Float32 ? x : Ops.To(x, DType.Float32);
        for (int l = 0; l < _weights.Length; l++)
        {
            h = Ops.Linear(h, _weights[l], _biases[l]);
            if (l < _weights.Length - 1) h = Ops.Relu(h);
        }
        return h;
    }

    /// <summary>
    /// <paramref name="n"/> examples x ~ N(0, I) labelled by the teacher: targets are its outputs plus Gaussian noise
    /// of <paramref name="noiseStd"/> [n, outputs], or with <paramref name="classification"/> the argmax of the noisy
    /// outputs as int64 labels [n].
    /// </summary>
    public TensorDataset Sample(int n, Generator generator, double noiseStd = 0, bool classification = false)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "TeacherNetwork.Sample: n must be non-negative");
        if (!(noiseStd >= 0) || !double.IsFinite(noiseStd)) throw new ArgumentOutOfRangeException(nameof(noiseStd), noiseStd, "TeacherNetwork.Sample: noiseStd must be non-negative");
        var x = Tensor.Randn([n, Inputs], generator);
        var y = Forward(x);
        using var _ = Autodiff.NoGrad();
        if (noiseStd > 0) y = Ops.Add(y, Tensor.Normal([n, Outputs], 0, noiseStd, generator));
        return new TensorDataset(x, classification ? Ops.ArgMax(y, 1) : y);
    }
}

/// <summary>A teacher network with a training set labelled by it (with noise) and a clean test set.</summary>
/// <param name="Teacher">The network that defines the task.</param>
/// <param name="Train">Training examples, targets with noise.</param>
/// <param name="Test">Test examples, targets without noise: the teacher's function itself.</param>
public sealed record TeacherStudentTask(TeacherNetwork Teacher, TensorDataset Train, TensorDataset Test);

public static partial class Synthetic
{
    /// <summary>
    /// A teacher–student task (Gardner and Derrida, 1989; Saad and Solla, 1995): a random <see cref="TeacherNetwork"/>
    /// with the given widths labels <paramref name="trainSize"/> training inputs (with noise of
    /// <paramref name="noiseStd"/>) and <paramref name="testSize"/> test inputs (without). Regression targets are
    /// float32 [n, outputs]; with <paramref name="classification"/>, labels are the argmax, int64 [n].
    /// </summary>
    public static TeacherStudentTask TeacherStudent(int trainSize, int testSize, int inputs, IReadOnlyList<int> hidden, int outputs,
        Generator generator, double noiseStd = 0, bool classification = false)
    {
        var teacher = new TeacherNetwork(inputs, hidden, outputs, generator);
        var train = teacher.Sample(trainSize, generator, noiseStd, classification);
        var test = teacher.Sample(testSize, generator, 0, classification);
        return new TeacherStudentTask(teacher, train, test);
    }
}
