namespace Aperture;

public static partial class Ops
{
    /// <summary>softmax along <paramref name="axis"/>: exp(x − logsumexp(x)), stable for large inputs.</summary>
    public static Tensor Softmax(Tensor x, int axis = -1) => Exp(LogSoftmax(x, axis));

    /// <summary>log softmax along <paramref name="axis"/>: x − logsumexp(x), stable for large inputs.</summary>
    public static Tensor LogSoftmax(Tensor x, int axis = -1)
    {
        // An empty tensor has an empty result, as in PyTorch (the reduction kernels need at least one row to read).
        if (x.Numel == 0)
        {
            RequireFloat("log_softmax", x);
            Shapes.NormalizeAxis("log_softmax", axis, x.Rank);
            return Sub(x, x);
        }
        return Sub(x, LogSumExp(x, [axis], keepDim: true));
    }
}
