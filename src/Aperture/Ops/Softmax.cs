namespace Aperture;

public static partial class Ops
{
    /// <summary>softmax along <paramref name="axis"/>: exp(x − logsumexp(x)), stable for large inputs.</summary>
    public static Tensor Softmax(Tensor x, int axis = -1) => Exp(LogSoftmax(x, axis));

    /// <summary>log softmax along <paramref name="axis"/>: x − logsumexp(x), stable for large inputs.</summary>
    public static Tensor LogSoftmax(Tensor x, int axis = -1) => Sub(x, LogSumExp(x, [axis], keepDim: true));
}
