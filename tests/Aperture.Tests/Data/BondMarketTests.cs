using Aperture.Data;

namespace Aperture.Tests.Data;

/// <summary>The synthetic bond market's declared structure: the price is a function of (yield, coupon, maturity) alone.</summary>
public class BondMarketTests
{
    [Fact]
    public void PriceIsTheFunctionOfTheFactorsAndTheFactorsOfTheFeatures()
    {
        var task = Synthetic.BondMarket(500, new Generator(7), sectors: 4, nuisance: 3);
        var x = task.Data.Inputs.To(DType.Float64).ToArray<double>();
        var price = task.Data.Targets.ToArray<float>();
        var f = task.Factors.ToArray<double>();
        var spreads = task.SectorSpreads.ToArray<double>();
        var ratings = task.Ratings.ToArray<long>();
        var sectors = task.Sectors.ToArray<long>();
        Assert.Equal([500, 3 + 4 + 3], task.Data.Inputs.ShapeArray());
        Assert.Equal(["rating", "coupon_pct", "maturity_years", "sector_0", "sector_1", "sector_2", "sector_3", "nuisance_0", "nuisance_1", "nuisance_2"], task.FeatureNames);
        for (int i = 0; i < 500; i++)
        {
            var row = x.AsSpan(i * 10, 10);
            // The declared features: rating, coupon, maturity and the one-hot sector agree with the side tensors.
            Assert.Equal(ratings[i], (long)row[0]);
            Assert.InRange(ratings[i], 1, Synthetic.BondRatings);
            Assert.Equal(1.0, row[3 + (int)sectors[i]]);
            Assert.Equal(1.0, row[3..7].ToArray().Sum());
            Assert.Equal(f[i * 3 + 2], row[2]);
            Assert.Equal((float)(100 * f[i * 3 + 1]), (float)row[1]);
            // The yield factor is the curve plus the rating's and the sector's spreads, recomputed here by hand.
            int t = (int)f[i * 3 + 2];
            double curve = 0.02 + 0.015 * (1 - Math.Exp(-t / 7.0));
            Assert.Equal(curve + 0.004 * (ratings[i] - 1) + spreads[sectors[i]], f[i * 3], 15);
            // The price is the discounted cash flows at that yield, written out independently.
            double y = f[i * 3], c = f[i * 3 + 1], pv = 0;
            for (int k = 1; k <= t; k++) pv += 100 * c / Math.Pow(1 + y, k);
            pv += 100 / Math.Pow(1 + y, t);
            Assert.Equal(pv, price[i], 3);
            Assert.Equal((float)Synthetic.BondPrice(y, c, t), price[i]);
        }
    }

    [Fact]
    public void NuisanceColumnsChangeNothingElse()
    {
        var without = Synthetic.BondMarket(300, new Generator(3), nuisance: 0);
        var with = Synthetic.BondMarket(300, new Generator(3), nuisance: 5);
        Assert.Equal(without.Data.Targets.ToArray<float>(), with.Data.Targets.ToArray<float>());
        Assert.Equal(without.Factors.ToArray<double>(), with.Factors.ToArray<double>());
        var a = without.Data.Inputs.ToArray<float>();
        var b = with.Data.Inputs.ToArray<float>();
        int wa = 3 + 6, wb = 3 + 6 + 5;
        for (int i = 0; i < 300; i++) Assert.Equal(a.AsSpan(i * wa, wa).ToArray(), b.AsSpan(i * wb, wa).ToArray());
        // Price noise is drawn from its own stream as well.
        var noisy = Synthetic.BondMarket(300, new Generator(3), nuisance: 5, priceNoise: 0.5);
        Assert.Equal(b, noisy.Data.Inputs.ToArray<float>());
        var diff = noisy.Data.Targets.ToArray<float>().Zip(with.Data.Targets.ToArray<float>(), (p, q) => (double)p - q).ToArray();
        double sd = Math.Sqrt(diff.Select(d => d * d).Average());
        Assert.InRange(sd, 0.4, 0.6);
    }

    [Fact]
    public void PriceFallsWithYieldAndEqualsParWhenTheCouponIsTheYield()
    {
        Assert.Equal(100, Synthetic.BondPrice(0.05, 0.05, 10), 10);
        Assert.True(Synthetic.BondPrice(0.06, 0.05, 10) < Synthetic.BondPrice(0.04, 0.05, 10));
        Assert.Equal(100 * 1.03 / 1.05, Synthetic.BondPrice(0.05, 0.03, 1), 12);
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var g = new Generator(0);
        Assert.Equal("sectors", Assert.Throws<ArgumentOutOfRangeException>(() => Synthetic.BondMarket(10, g, sectors: 0)).ParamName);
        Assert.Equal("nuisance", Assert.Throws<ArgumentOutOfRangeException>(() => Synthetic.BondMarket(10, g, nuisance: -1)).ParamName);
        Assert.Equal("priceNoise", Assert.Throws<ArgumentOutOfRangeException>(() => Synthetic.BondMarket(10, g, priceNoise: double.NaN)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => Synthetic.BondMarket(-1, g)).ParamName);
        Assert.Equal("maturityYears", Assert.Throws<ArgumentOutOfRangeException>(() => Synthetic.BondPrice(0.05, 0.05, 0)).ParamName);
        Assert.Equal([0, 3 + 6 + 4], Synthetic.BondMarket(0, g).Data.Inputs.ShapeArray());
    }
}
