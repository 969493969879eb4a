using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Aperture.Lab;

/// <summary>
/// The Fashion-MNIST images one classification run draws for itself, per seed: a stratified training sample and a
/// test sample. Shared by the protocols that train a classifier on a sample and test it.
/// </summary>
public sealed record ImageSample : SettingGroup
{
    /// <summary>Training images per class.</summary>
    [Description("training images per class, a stratified sample of the training split drawn per seed (the built-in subset has 600 per class)"), Range(1, 6000)]
    public int TrainPerClass { get; init; } = 100;

    /// <summary>Test images per class.</summary>
    [Description("test images per class drawn per seed from the test split (the built-in subset has 100 per class: at 100 every seed tests on all of them)"), Range(1, 1000)]
    public int TestPerClass { get; init; } = 100;
}

/// <summary>
/// Minibatch training: the optimizer's learning rate and the examples per step. Which optimizer, and any schedule,
/// is the protocol's note on its property.
/// </summary>
public sealed record Minibatches : SettingGroup
{
    /// <summary>The optimizer's learning rate.</summary>
    [Description("the optimizer's learning rate"), Range(1e-9, 10)]
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Examples per optimizer step.</summary>
    [Description("examples per optimizer step"), Range(1, 60_000)]
    public int BatchSize { get; init; } = 50;
}
