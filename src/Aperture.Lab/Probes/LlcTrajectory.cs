namespace Aperture.Lab.Probes;

/// <summary>One checkpoint's LLC estimate.</summary>
/// <param name="Label">The checkpoint's label (a step, an epoch, a file name).</param>
/// <param name="Estimate">λ̂ at that checkpoint's parameters, with its diagnostics.</param>
public sealed record LlcTrajectoryPoint(string Label, LlcEstimate Estimate);

/// <summary>
/// The local learning coefficient along a training run: λ̂ at each checkpoint's parameters, for the phenomena that
/// need it (grokking, stage-wise development, phase changes; Chen et al. 2023 and Hoogland et al. 2024 track the LLC
/// this way). Every checkpoint is estimated with the same seed, so the chains share their noise and batch streams
/// (common random numbers): the change from one checkpoint to the next is measured with less noise than either value.
/// </summary>
public static class LlcTrajectory
{
    /// <summary>
    /// Estimates λ̂ at each checkpoint, in order. A checkpoint gives one tensor per parameter of
    /// <paramref name="problem"/>, in the same order and shapes (e.g. the values of a module's parameters saved during
    /// training). The problem's parameters are restored to their values on entry afterwards, also on failure.
    /// </summary>
    public static IReadOnlyList<LlcTrajectoryPoint> Track(LlcProblem problem, IEnumerable<(string Label, IReadOnlyList<Tensor> Parameters)> checkpoints,
        LlcSettings settings, ulong seed, Action<LlcTrajectoryPoint>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var parameters = problem.Parameters;
        var entry = parameters.Select(p => p.Detach().Clone()).ToArray();
        var points = new List<LlcTrajectoryPoint>();
        try
        {
            foreach (var (label, values) in checkpoints)
            {
                cancel.ThrowIfCancellationRequested();
                ArgumentNullException.ThrowIfNull(values, $"checkpoint '{label}'");
                if (values.Count != parameters.Count)
                    throw new ArgumentException($"LLC trajectory: checkpoint '{label}' has {values.Count} tensors; the model has {parameters.Count} parameters");
                for (int i = 0; i < values.Count; i++)
                    if (!Shapes.Equal(values[i].Shape, parameters[i].Shape))
                        throw new ArgumentException($"LLC trajectory: checkpoint '{label}', tensor {i} has shape {Shapes.Format(values[i].Shape)}; parameter {i} has shape {Shapes.Format(parameters[i].Shape)}");
                using (Autodiff.NoGrad())
                    for (int i = 0; i < values.Count; i++) Ops.CopyInPlace(parameters[i], values[i]);
                var point = new LlcTrajectoryPoint(label, LocalLearningCoefficient.Estimate(problem, settings, seed, cancel));
                points.Add(point);
                progress?.Invoke(point);
            }
        }
        finally
        {
            using (Autodiff.NoGrad())
                for (int i = 0; i < parameters.Count; i++) Ops.CopyInPlace(parameters[i], entry[i]);
        }
        return points;
    }
}
