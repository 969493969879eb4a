using Aperture.Tests.Kernels;

namespace Aperture.Tests.OpTests;

/// <summary>
/// A long pass of an op marked <see cref="UnaryOp.ExactPerElement"/> is split across threads (<see cref="UnarySplit"/>):
/// each element keeps the bits it has on its own, so the result does not depend on the thread count, the code path or
/// where the blocks fall, forward and in the plain chain of the backward pass.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class UnarySplitTests
{
    private static readonly (string Name, UnaryOp Op)[] Marked =
    [
        ("neg", UnaryOps.Neg), ("relu", UnaryOps.Relu), ("abs", UnaryOps.Abs), ("sqrt", UnaryOps.Sqrt),
        ("reciprocal", UnaryOps.Reciprocal), ("square", UnaryOps.Square), ("floor", UnaryOps.Floor),
        ("ceil", UnaryOps.Ceil), ("trunc", UnaryOps.Trunc), ("mul_scalar", UnaryOps.ScaleOp.For(-3.7)),
        ("add_scalar", new UnaryOps.ShiftOp(0.1)), ("div_scalar", new UnaryOps.DivideByOp(7)),
    ];

    /// <summary>Several blocks and a ragged tail past the split threshold, with NaN, ±0, ±∞, subnormals and values either side of every kink.</summary>
    private static Tensor Input(DType dtype, int offset)
    {
        int n = Parallelism.PassSplitMin + 3 * 4096 + 37;
        var values = Tensor.Randn([n + offset], new Generator(41), DType.Float64).ToDoubleArray();
        double[] specials = [double.NaN, 0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, 1e-310, -1e-310, 2.5, -2.5, 1e30];
        for (int i = 0; i < values.Length; i += 97) values[i] = specials[i / 97 % specials.Length];
        var t = Tensor.FromArray(values, [n + offset]).To(dtype);
        return offset == 0 ? t : Ops.Slice(t, 0, offset, n + offset);
    }

    private static long[] Bits(Tensor t) => t.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits).ToArray();

    [Fact]
    public void Split_passes_give_every_element_the_bits_it_has_alone()
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (int offset in new[] { 0, 3 })
                foreach (var (name, op) in Marked)
                {
                    var x = Input(dtype, offset);
                    // Each element through the op on its own (a one-element span: the scalar path).
                    var alone = x.ToDoubleArray().Select(v =>
                        AloneBits(op, Tensor.FromArray(new[] { v }, [1]).To(dtype))).ToArray();
                    foreach (int threads in new[] { 1, 2, 3 })
                        KernelSettings.WithThreads(threads, () => KernelSettings.ForEachPath(path =>
                        {
                            long loops = Parallelism.SplitLoops;
                            var y = Ops.Unary(op, x);
                            Assert.Equal(threads > 1 ? 1 : 0, Parallelism.SplitLoops - loops);
                            var bits = Bits(y);
                            for (int i = 0; i < bits.Length; i++)
                                if (bits[i] != alone[i])
                                    Assert.Fail($"{name}, {dtype}, offset {offset}, {threads} thread(s), {path}: element {i} is {BitConverter.Int64BitsToDouble(bits[i]):R}, alone {BitConverter.Int64BitsToDouble(alone[i]):R}");
                        }));
                }
    }

    private static long AloneBits(UnaryOp op, Tensor one) => Bits(Ops.Unary(op, one))[0];

    [Fact]
    public void Split_plain_chains_give_the_one_thread_bits()
    {
        // ReLU's and the square's plain chains (g times the derivative, without recording), through Backward.
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var (name, f) in new (string, Func<Tensor, Tensor>)[] { ("relu", Ops.Relu), ("square", Ops.Square) })
            {
                long[]? expected = null;
                foreach (int threads in new[] { 1, 2, 3 })
                    KernelSettings.WithThreads(threads, () =>
                    {
                        var x = Input(dtype, 0).Detach();
                        x.RequiresGrad = true;
                        var weights = Tensor.Randn(x.Shape, new Generator(43), dtype);
                        var y = f(x);
                        var loss = Ops.Sum(Ops.Mul(y, weights));
                        long loops = Parallelism.SplitLoops;
                        loss.Backward();
                        Assert.True(threads == 1 || Parallelism.SplitLoops - loops >= 1, $"{name}: the backward pass was not split");
                        var bits = Bits(x.Grad!);
                        expected ??= bits;
                        Assert.True(expected.SequenceEqual(bits), $"{name}, {dtype}, {threads} thread(s): the gradient differs from one thread's");
                    });
            }
    }

    [Fact]
    public void Short_passes_and_unmarked_ops_stay_on_the_calling_thread()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var shortInput = Tensor.Randn([Parallelism.PassSplitMin - 1], new Generator(44));
            long loops = Parallelism.SplitLoops;
            Ops.Relu(shortInput);
            Assert.Equal(0, Parallelism.SplitLoops - loops);
            // Sine's vector kernel is an approximation whose lanes need not agree with its scalar tail: never split.
            var longInput = Tensor.Randn([Parallelism.PassSplitMin * 2], new Generator(45));
            loops = Parallelism.SplitLoops;
            Ops.Sin(longInput);
            Assert.Equal(0, Parallelism.SplitLoops - loops);
        });
    }
}
