using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests.Probes;

public class LlcTrajectoryTests
{
    private static readonly LlcSettings Small = new() { StepSize = 3e-4, Chains = 2, BurnIn = 50, Draws = 150, BatchSize = 100 };

    [Fact]
    public void EachCheckpointGetsTheEstimateItWouldGetAloneAndTheParametersComeBack()
    {
        var model = LearningCoefficientModels.DeepLinear([3, 2, 3], 1, 400, 1, LlcAnchor.True);
        var problem = model.Problem;
        var entry = problem.Parameters.Select(p => p.Detach().Clone()).ToArray();
        // Two checkpoints: the true parameter, and the same scaled by 1.1 (a different point on the way).
        var scaled = entry.Select(t => t * 1.1).ToArray();
        var points = LlcTrajectory.Track(problem, [("w0", entry), ("1.1·w0", scaled)], Small, 4);
        Assert.Equal(["w0", "1.1·w0"], points.Select(p => p.Label));
        for (int i = 0; i < entry.Length; i++) Assert.Equal(entry[i].ToArray<double>(), problem.Parameters[i].ToArray<double>());

        var alone = LocalLearningCoefficient.Estimate(problem, Small, 4);
        Assert.Equal(alone.Mean, points[0].Estimate.Mean);
        using (Autodiff.NoGrad())
            for (int i = 0; i < entry.Length; i++) Ops.CopyInPlace(problem.Parameters[i], scaled[i]);
        Assert.Equal(LocalLearningCoefficient.Estimate(problem, Small, 4).Mean, points[1].Estimate.Mean);
        Assert.NotEqual(points[0].Estimate.Mean, points[1].Estimate.Mean);
    }

    [Fact]
    public void ACheckpointOfTheWrongShapeIsNamed()
    {
        var problem = LearningCoefficientModels.Regular(2, 2, 50, 0).Problem;
        var e = Assert.Throws<ArgumentException>(() => LlcTrajectory.Track(problem, [("epoch 3", [Tensor.Zeros([3, 2], DType.Float64)])], Small, 0));
        Assert.Contains("epoch 3", e.Message);
        Assert.Contains("[3, 2]", e.Message);
    }
}
