namespace Aperture.Tests.Numerics;

public class LinalgTests
{
    [Fact]
    public void CholeskyOfAKnownMatrix()
    {
        // [[4, 12, −16], [12, 37, −43], [−16, −43, 98]] = L·Lᵀ with L = [[2, 0, 0], [6, 1, 0], [−8, 5, 3]].
        var a = Tensor.FromArray(new double[,] { { 4, 12, -16 }, { 12, 37, -43 }, { -16, -43, 98 } });
        Assert.Equal([2.0, 0, 0, 6, 1, 0, -8, 5, 3], Linalg.Cholesky(a).ToDoubleArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(16)]
    public void CholeskySolveInvertsSpdSystems(int n)
    {
        var g = new Generator((ulong)n);
        var m = Tensor.Randn([n, n], g, DType.Float64);
        var a = Ops.Add(m.MatMul(m.T), Tensor.Eye(n, dtype: DType.Float64)); // SPD
        var b = Tensor.Randn([n, 3], g, DType.Float64);
        var x = Linalg.CholeskySolve(a, b);
        Assert.Equal([n, 3], x.ShapeArray());
        var r = Ops.Sub(a.MatMul(x), b).ToDoubleArray();
        Assert.All(r, v => Assert.Equal(0, v, 9));
        var x1 = Linalg.CholeskySolve(a, Tensor.Ones([n], DType.Float64));
        Assert.Equal([n], x1.ShapeArray());
    }

    [Fact]
    public void NonPositiveDefiniteSystemsAreAClearError()
    {
        var singular = Tensor.FromArray(new double[,] { { 1, 1 }, { 1, 1 } });
        var e = Assert.Throws<NotPositiveDefiniteException>(() => Linalg.Cholesky(singular));
        Assert.Contains("not positive definite (pivot 1 of 2", e.Message);
        Assert.Contains("damping", e.Message);
        var indefinite = Tensor.FromArray(new double[,] { { -1, 0 }, { 0, 1 } });
        Assert.Contains("pivot 0", Assert.Throws<NotPositiveDefiniteException>(() => Linalg.CholeskySolve(indefinite, Tensor.Ones([2], DType.Float64))).Message);
        Assert.Throws<ShapeMismatchException>(() => Linalg.Cholesky(Tensor.Zeros([2, 3], DType.Float64)));
        Assert.Throws<ShapeMismatchException>(() => Linalg.CholeskySolve(Tensor.Eye(2, dtype: DType.Float64), Tensor.Ones([3], DType.Float64)));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 3)]
    [InlineData(3, 5)]
    [InlineData(7, 7)]
    [InlineData(13, 2)]
    public void QrReconstructsWithOrthonormalQAndTriangularR(int m, int n)
    {
        var a = Tensor.Randn([m, n], new Generator(2), DType.Float64);
        var (q, r) = Linalg.Qr(a);
        int k = Math.Min(m, n);
        Assert.Equal([m, k], q.ShapeArray());
        Assert.Equal([k, n], r.ShapeArray());
        var back = q.MatMul(r).ToDoubleArray();
        var orig = a.ToDoubleArray();
        for (int i = 0; i < orig.Length; i++) Assert.Equal(orig[i], back[i], 12);
        var qtq = q.T.MatMul(q);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) Assert.Equal(i == j ? 1 : 0, qtq.At(i, j), 12);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0, r.At(i, j));
    }

    [Fact]
    public void QrOfARankDeficientMatrixStillReconstructs()
    {
        var a = Tensor.FromArray(new double[,] { { 1, 2 }, { 2, 4 }, { 3, 6 } });
        var (q, r) = Linalg.Qr(a);
        var back = q.MatMul(r).ToDoubleArray();
        Assert.Equal(a.ToDoubleArray(), back.Select(v => Math.Round(v, 12)).ToArray());
    }

    [Fact]
    public void RandomOrthogonalIsOrthogonalAndReproducible()
    {
        var q = Linalg.RandomOrthogonal(7, new Generator(3));
        Assert.Equal([7, 7], q.ShapeArray());
        Assert.Equal(DType.Float64, q.DType);
        var v = q.ToDoubleArray();
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 7; j++)
                Assert.Equal(i == j ? 1 : 0, Enumerable.Range(0, 7).Sum(k => v[k * 7 + i] * v[k * 7 + j]), 12);
        Assert.Equal(v, Linalg.RandomOrthogonal(7, new Generator(3)).ToDoubleArray());
        // The same bits as the row-major routine the synthetic least-squares task draws with.
        Assert.Equal(Aperture.Data.Synthetic.RandomOrthogonal(7, new Generator(3)), v);
        Assert.Throws<ArgumentOutOfRangeException>(() => Linalg.RandomOrthogonal(0, new Generator(1)));
    }

    [Fact]
    public void SingularValuesOfKnownMatrices()
    {
        // [[3, 0], [4, 5]]ᵀ·[[3, 0], [4, 5]] = [[25, 20], [20, 25]] with eigenvalues 45 and 5.
        var s = Linalg.SingularValues(Tensor.FromArray(new double[,] { { 3, 0 }, { 4, 5 } }));
        Assert.Equal([2], s.ShapeArray());
        Assert.Equal(Math.Sqrt(45), s.ToDoubleArray()[0], 14);
        Assert.Equal(Math.Sqrt(5), s.ToDoubleArray()[1], 14);
        // Wide matrices give min(m, n) values, largest first.
        var w = Linalg.SingularValues(Tensor.FromArray(new float[,] { { 0, 2, 0 }, { 0, 0, -1 } }));
        Assert.Equal([2.0, 1.0], w.ToDoubleArray());
        Assert.Throws<ShapeMismatchException>(() => Linalg.SingularValues(Tensor.Zeros([3])));
    }
}
