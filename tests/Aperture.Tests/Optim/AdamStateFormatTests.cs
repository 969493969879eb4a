using Aperture.Optim;

namespace Aperture.Tests.Optim;

/// <summary>Adam's <see cref="Adam.StateFormat"/>: the moments m and v are rounded to the format after every update.</summary>
public class AdamStateFormatTests
{
    [Fact]
    public void BFloat16StateRoundsTheMomentsAfterEveryUpdate()
    {
        var p = Tensor.FromArray(new float[] { 0.5f, -1.25f, 2f }, [3]).RequiresGrad_();
        var adam = new Adam([p], lr: 1e-3) { StateFormat = StorageFormat.BFloat16 };
        var grads = new[] { new[] { 0.3f, -0.7f, 1.1f }, new[] { 0.31f, -0.69f, 1.13f } };
        double[] m = new double[3], v = new double[3];
        foreach (var g in grads)
        {
            p.Grad = Tensor.FromArray(g, [3]);
            adam.Step();
            var em = adam.State(p)!.Buffers["exp_avg"].ToArray<float>();
            var ev = adam.State(p)!.Buffers["exp_avg_sq"].ToArray<float>();
            for (int i = 0; i < 3; i++)
            {
                // Every stored value is a bfloat16 number: its low 16 bits are zero.
                Assert.Equal(0, BitConverter.SingleToInt32Bits(em[i]) & 0xFFFF);
                Assert.Equal(0, BitConverter.SingleToInt32Bits(ev[i]) & 0xFFFF);
                // And it is the float32 update of the stored (rounded) values, rounded to nearest even.
                float mi = (float)0.9 * (float)m[i] + (float)(1 - 0.9) * g[i];
                float vi = (float)0.999 * (float)v[i] + (float)(1 - 0.999) * g[i] * g[i];
                Assert.Equal(Rounding.Round(mi, StorageFormat.BFloat16), em[i]);
                Assert.Equal(Rounding.Round(vi, StorageFormat.BFloat16), ev[i]);
                (m[i], v[i]) = (em[i], ev[i]);
            }
        }
    }

    [Fact]
    public void BFloat16StateLeavesVUnchangedWhenTheUpdateIsBelowHalfAnUlp()
    {
        // v·0.999 + 0.001·g² with g² ≪ v moves v by about 0.001·v, less than half a bfloat16 ulp (2⁻⁹·v): v stays put.
        var p = Tensor.FromArray(new float[] { 1f }, [1]).RequiresGrad_();
        var adam = new Adam([p], lr: 1e-3) { StateFormat = StorageFormat.BFloat16 };
        p.Grad = Tensor.FromArray(new float[] { 1f }, [1]);
        adam.Step();
        float v1 = adam.State(p)!.Buffers["exp_avg_sq"].ToArray<float>()[0];
        p.Grad = Tensor.FromArray(new float[] { 0.01f }, [1]);
        adam.Step();
        Assert.Equal(v1, adam.State(p)!.Buffers["exp_avg_sq"].ToArray<float>()[0]);
        var plain = new Adam([Tensor.FromArray(new float[] { 1f }, [1]).RequiresGrad_()], lr: 1e-3);
        Assert.Equal(StorageFormat.Native, plain.StateFormat);
    }
}
