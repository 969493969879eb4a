namespace Aperture.Tests.Numerics;

public class RoundingTests
{
    [Fact]
    public void Bfloat16_rounds_0_999_to_one_under_nearest_even_and_down_under_truncation()
    {
        Assert.Equal(1.0, Rounding.Round(0.999, StorageFormat.BFloat16));
        Assert.Equal(0.99609375, Rounding.Round(0.999, StorageFormat.BFloat16, RoundingMode.TowardZero));
        Assert.Equal(1.0f, Rounding.Round(0.999f, StorageFormat.BFloat16));
        Assert.Equal(0.99609375f, Rounding.Round(0.999f, StorageFormat.BFloat16, RoundingMode.TowardZero));
        Assert.Equal(1.0, Rounding.Round(0.9995, StorageFormat.BFloat16));
        Assert.Equal(1.0, Rounding.Round(0.9999, StorageFormat.BFloat16));
    }

    [Fact]
    public void Float16_keeps_0_999_below_one_but_not_0_9999_or_1e_minus_8()
    {
        Assert.Equal(0.9990234375, Rounding.Round(0.999, StorageFormat.Float16));
        Assert.Equal(1.0, Rounding.Round(0.9999, StorageFormat.Float16));
        Assert.Equal(0.0, Rounding.Round(1e-8, StorageFormat.Float16));
        Assert.Equal(Math.ScaleB(1, -23), Rounding.Round(1e-7, StorageFormat.Float16));   // a subnormal: two units of 2^-24
        Assert.Equal(65504.0, Rounding.Round(65519.0, StorageFormat.Float16));
        Assert.Equal(double.PositiveInfinity, Rounding.Round(65520.0, StorageFormat.Float16));
        Assert.Equal(65504.0, Rounding.Round(1e6, StorageFormat.Float16, RoundingMode.TowardZero));
    }

    [Fact]
    public void Ties_go_to_even_and_signs_and_specials_are_kept()
    {
        // 1 + 2^-8 lies halfway between the bfloat16 neighbours 1 and 1 + 2^-7: the even one (1) wins.
        Assert.Equal(1.0, Rounding.Round(1 + Math.ScaleB(1, -8), StorageFormat.BFloat16));
        Assert.Equal(1 + 2 * Math.ScaleB(1, -7), Rounding.Round(1 + 3 * Math.ScaleB(1, -8), StorageFormat.BFloat16));
        Assert.Equal(-1.0, Rounding.Round(-0.999, StorageFormat.BFloat16));
        Assert.True(double.IsNaN(Rounding.Round(double.NaN, StorageFormat.Float16)));
        Assert.Equal(double.NegativeInfinity, Rounding.Round(double.NegativeInfinity, StorageFormat.BFloat16));
    }

    [Fact]
    public void The_bit_trick_and_the_generic_path_agree_for_bfloat16()
    {
        var g = new Generator(9);
        var values = Tensor.Randn([20_000], g, DType.Float64).ToDoubleArray();
        foreach (double v0 in values)
        {
            float v = (float)(v0 * Math.Pow(10, (int)(v0 * 10) % 30));
            foreach (var mode in new[] { RoundingMode.NearestEven, RoundingMode.TowardZero })
                Assert.Equal((float)Rounding.Round((double)v, StorageFormat.BFloat16, mode), Rounding.Round(v, StorageFormat.BFloat16, mode));
        }
    }

    [Fact]
    public void Storage_rounding_of_activations_applies_inside_a_policy_scope()
    {
        var x = Tensor.FromArray(new float[] { 0.999f, 1.001f });
        using (NumericsPolicy.Use(new NumericsPolicy { Activations = StorageFormat.BFloat16 }))
            Assert.Equal([1.0f, 1.0f], (x * 1.0).ToArray<float>());
        Assert.Equal([0.999f, 1.001f], (x * 1.0).ToArray<float>());
        var w = Tensor.FromArray(new float[] { 0.999f });
        using (NumericsPolicy.Use(new NumericsPolicy { Weights = StorageFormat.BFloat16, Rounding = RoundingMode.TowardZero }))
            NumericsPolicy.RoundWeights(w);
        Assert.Equal(0.99609375f, w.Item(), 0f);
    }
}
