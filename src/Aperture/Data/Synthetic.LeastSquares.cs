namespace Aperture.Data;

/// <summary>A linear map with chosen singular values and examples of it.</summary>
/// <param name="Matrix">A = U·diag(s)·Vᵀ, float64 [outputs, inputs].</param>
/// <param name="SingularValues">s, float64 [min(outputs, inputs)], from 1 down to 1/κ, evenly spaced in log scale.</param>
/// <param name="ConditionNumber">The condition number asked for, κ = s_max / s_min.</param>
/// <param name="MeasuredConditionNumber">The condition number of <paramref name="Matrix"/> as built, measured by a one-sided Jacobi SVD.</param>
/// <param name="Data">Inputs x ~ N(0, I) [samples, inputs] and targets y = A·x (+ noise) [samples, outputs].</param>
public sealed record LeastSquaresTask(Tensor Matrix, Tensor SingularValues, double ConditionNumber, double MeasuredConditionNumber, TensorDataset Data);

public static partial class Synthetic
{
    /// <summary>
    /// An ill-conditioned linear least-squares problem (Rahimi and Recht, NIPS 2017 test-of-time talk): the target
    /// map A = U·diag(s)·Vᵀ has Haar-random orthogonal U and V and singular values log-spaced from 1 to
    /// 1/<paramref name="conditionNumber"/>; examples are x ~ N(0, I) with y = A·x plus optional Gaussian noise.
    /// </summary>
    public static LeastSquaresTask IllConditionedLeastSquares(int outputs, int inputs, double conditionNumber, int samples,
        Generator generator, double noiseStd = 0, DType dtype = DType.Float64)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (outputs < 1) throw new ArgumentOutOfRangeException(nameof(outputs), outputs, "IllConditionedLeastSquares: outputs must be at least 1");
        if (inputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), inputs, "IllConditionedLeastSquares: inputs must be at least 1");
        if (!(conditionNumber >= 1) || !double.IsFinite(conditionNumber))
            throw new ArgumentOutOfRangeException(nameof(conditionNumber), conditionNumber, "IllConditionedLeastSquares: the condition number must be finite and at least 1");
        int r = Math.Min(outputs, inputs);
        if (r == 1 && conditionNumber != 1)
            throw new ArgumentException($"IllConditionedLeastSquares: a {outputs}×{inputs} matrix has one singular value, so its condition number is 1, not {conditionNumber}");
        CheckCount(samples, nameof(samples), "IllConditionedLeastSquares");
        CheckNoise(noiseStd, "IllConditionedLeastSquares");

        var s = new double[r];
        for (int i = 0; i < r; i++) s[i] = r == 1 ? 1 : Math.Pow(conditionNumber, -(double)i / (r - 1));
        var u = RandomOrthogonal(outputs, generator);
        var v = RandomOrthogonal(inputs, generator);
        var a = new double[outputs * inputs];
        for (int i = 0; i < outputs; i++)
            for (int j = 0; j < inputs; j++)
            {
                double sum = 0;
                for (int k = 0; k < r; k++) sum += u[i * outputs + k] * s[k] * v[j * inputs + k];
                a[i * inputs + j] = sum;
            }
        var sv = SingularValues(a, outputs, inputs);
        double measured = sv[0] / sv[^1];

        var x = Tensor.Randn([samples, inputs], generator, DType.Float64).ToArray<double>();
        var noise = noiseStd > 0 ? Tensor.Normal([samples, outputs], 0, noiseStd, generator, DType.Float64).ToArray<double>() : new double[samples * outputs];
        var y = new double[samples * outputs];
        for (int n = 0; n < samples; n++)
            for (int i = 0; i < outputs; i++)
            {
                double sum = 0;
                for (int j = 0; j < inputs; j++) sum += a[i * inputs + j] * x[n * inputs + j];
                y[n * outputs + i] = sum + noise[n * outputs + i];
            }
        var data = new TensorDataset(Cast(x, [samples, inputs], dtype), Cast(y, [samples, outputs], dtype));
        return new LeastSquaresTask(Tensor.Wrap(a, [outputs, inputs]), Tensor.Wrap(s, [r]), conditionNumber, measured, data);
    }

    /// <summary>A Haar-random orthogonal n×n matrix, row-major; see <see cref="Linalg.RandomOrthogonal(int, Generator)"/>.</summary>
    internal static double[] RandomOrthogonal(int n, Generator generator) => Linalg.RandomOrthogonalArray(n, generator);

    /// <summary>The singular values of a row-major rows×cols matrix, largest first; see <see cref="Linalg.SingularValues(Tensor)"/>.</summary>
    internal static double[] SingularValues(double[] a, int rows, int cols) => Linalg.SingularValues(a, rows, cols);
}
