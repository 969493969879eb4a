using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Tests.NN;

public class ConvLayerTests
{
    [Fact]
    public void Conv2dIsTheConvolutionOfItsParameters()
    {
        var conv = new Conv2d(3, 4, 3, padding: 1, generator: new Generator(0), dtype: DType.Float64);
        var x = Tensor.Randn([2, 3, 8, 8], new Generator(1), DType.Float64);
        var y = conv.Forward(x);
        Assert.Equal([2, 4, 8, 8], y.ShapeArray());
        Assert.Equal(Ops.Conv2d(x, conv.Weight, conv.Bias, 1, 1).ToDoubleArray(), y.ToDoubleArray());
        Assert.Equal([2, 4, 4, 4], new Conv2d(3, 4, 3, stride: 2, padding: 1, generator: new Generator(0)).Forward(Tensor.Zeros([2, 3, 8, 8])).ShapeArray());
        Assert.Equal([4, 6, 6], new Conv2d(3, 4, 3, generator: new Generator(0)).Forward(Tensor.Zeros([3, 8, 8])).ShapeArray());
        Assert.Equal(["weight", "bias"], conv.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void Conv2dDefaultInitUsesTheReceptiveField()
    {
        var conv = new Conv2d(4, 8, (3, 5), groups: 2, generator: new Generator(0));
        Assert.Equal([8, 2, 3, 5], conv.Weight.ShapeArray());
        double bound = 1 / Math.Sqrt(2 * 3 * 5);
        Assert.All(conv.Weight.ToFloatArray(), w => Assert.InRange(w, -bound, bound));
        Assert.All(conv.Bias!.ToFloatArray(), b => Assert.InRange(b, -bound, bound));
        Assert.Equal(bound * bound / 3, conv.Weight.ToDoubleArray().Select(w => w * w).Average(), 2e-2 * bound * bound);
        var he = new Conv2d(16, 32, 3, weightInit: Init.HeNormal(), generator: new Generator(1), dtype: DType.Float64);
        double variance = he.Weight.ToDoubleArray().Select(w => w * w).Average();
        Assert.InRange(variance, 0.95 * 2.0 / 144, 1.05 * 2.0 / 144);
    }

    [Fact]
    public void Conv2dErrorsNameTheLayer()
    {
        var conv = new Conv2d(3, 4, 3, generator: new Generator(0));
        Assert.StartsWith("Conv2d(3 → 4, kernel (3, 3)): input has 2 channels, expected 3",
            Assert.Throws<ShapeMismatchException>(() => conv.Forward(Tensor.Zeros([1, 2, 8, 8]))).Message);
        Assert.Contains("smaller than the 3×3 kernel window", Assert.Throws<ShapeMismatchException>(() => conv.Forward(Tensor.Zeros([1, 3, 2, 8]))).Message);
        Assert.Contains("4-d [N, C, H, W]", Assert.Throws<ShapeMismatchException>(() => conv.Forward(Tensor.Zeros([3, 8]))).Message);
        Assert.Throws<DTypeMismatchException>(() => conv.Forward(Tensor.Zeros([1, 3, 8, 8], DType.Float64)));
        Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3, groups: 2, generator: new Generator(0)));
        Assert.Equal("Conv2d(1 → 6, kernel (5, 5), stride (2, 1), padding (2, 2), bias: false)",
            new Conv2d(1, 6, 5, stride: (2, 1), padding: 2, bias: false, generator: new Generator(0)).Describe());
    }

    [Fact]
    public void PoolingLayersMatchAHandComputation()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (double)i).ToArray(), [1, 1, 4, 4]);
        Assert.Equal([5.0, 7, 13, 15], new MaxPool2d(2).Forward(x).ToDoubleArray());
        Assert.Equal([2.5, 4.5, 10.5, 12.5], new AvgPool2d(2).Forward(x).ToDoubleArray());
        Assert.Equal([10.0, 11, 14, 15], new MaxPool2d(3, stride: 1).Forward(x).ToDoubleArray());
        Assert.Equal([7.5], new AdaptiveAvgPool2d(1).Forward(x).ToDoubleArray());
        Assert.Equal("MaxPool2d(kernel (2, 2), stride (2, 2))", new MaxPool2d(2).Describe());
        Assert.Throws<ShapeMismatchException>(() => new MaxPool2d(2).Forward(Tensor.Zeros([4, 4])));
    }

    [Fact]
    public void LeNet5HasTheClassicShapes()
    {
        var net = Models.LeNet5(generator: new Generator(0));
        Assert.Equal(61_706, net.ParameterCount());
        Assert.Equal(["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias", "11.weight", "11.bias"],
            net.NamedParameters().Select(p => p.Name));
        Assert.Equal([2, 10], net.Forward(Tensor.Zeros([2, 1, 28, 28])).ShapeArray());
        var classic = Models.LeNet5(imageSize: 32, activation: "tanh", pooling: "avg", generator: new Generator(0));
        Assert.Equal(61_706, classic.ParameterCount());
        Assert.Equal([1, 10], classic.Forward(Tensor.Zeros([1, 1, 32, 32])).ShapeArray());
        Assert.Equal([3, 5], Models.LeNet5(classes: 5, inChannels: 3, imageSize: 32, generator: new Generator(0)).Forward(Tensor.Zeros([3, 3, 32, 32])).ShapeArray());
        Assert.Throws<ArgumentException>(() => Models.LeNet5(imageSize: 8));
    }

    [Fact]
    public void ASmallConvNetLearns()
    {
        var g = new Generator(3);
        var net = new Sequential(
            new Conv2d(1, 4, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
            new BatchNorm2d(4), new Flatten(), new Linear(4 * 4 * 4, 2, generator: g));
        // Class 1 images are bright in the top half, class 0 in the bottom half.
        var x = Tensor.Randn([16, 1, 8, 8], g);
        var labels = new long[16];
        var data = x.ToFloatArray();
        for (int i = 0; i < 16; i++)
        {
            labels[i] = i % 2;
            int from = labels[i] == 1 ? 0 : 32;
            for (int j = 0; j < 32; j++) data[i * 64 + from + j] += 2;
        }
        x = Tensor.FromArray(data, [16, 1, 8, 8]);
        var y = Tensor.FromArray(labels);
        var opt = new Adam(net.Parameters(), lr: 0.02);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            opt.ZeroGrad();
            var loss = Losses.CrossEntropy(net.Forward(x), y);
            loss.Backward();
            opt.Step();
            if (step == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(last < 0.2 * first, $"loss went from {first} to {last}");
    }
}
