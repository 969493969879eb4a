namespace Aperture.Data;

/// <summary>
/// A synthetic bond market (<see cref="Synthetic.BondMarket"/>). <see cref="Data"/> holds the features a trader
/// sees, float32 [n, 3 + sectors + nuisance]: issuer credit rating (1 best … 10 worst), annual coupon in percent,
/// years to maturity, the sector one-hot, then the nuisance columns (standard normal, independent of everything
/// else); the target is the clean price per 100 of face value, float32 [n, 1].
/// <see cref="Factors"/> float64 [n, 3] holds what the price is a function of: the yield (a decimal), the coupon rate
/// (a decimal) and the maturity in years.
/// </summary>
/// <param name="Data">Features and prices.</param>
/// <param name="Factors">float64 [n, 3]: yield, coupon rate, maturity (years): the price is <see cref="Synthetic.BondPrice"/> of these.</param>
/// <param name="Ratings">int64 [n]: the issuer's credit rating, 1 … 10.</param>
/// <param name="Sectors">int64 [n]: the issuer's sector, 0 … sectors − 1.</param>
/// <param name="SectorSpreads">float64 [sectors]: the yield spread each sector adds (a decimal).</param>
/// <param name="FeatureNames">The name of each input column.</param>
/// <param name="NuisanceColumns">The number of nuisance columns (the last ones).</param>
public sealed record BondMarketTask(TensorDataset Data, Tensor Factors, Tensor Ratings, Tensor Sectors, Tensor SectorSpreads,
    IReadOnlyList<string> FeatureNames, int NuisanceColumns);

public static partial class Synthetic
{
    /// <summary>The rating scale of <see cref="BondMarket"/>: 1 (best) to this (worst).</summary>
    public const int BondRatings = 10;

    /// <summary>
    /// A synthetic bond market with known structure: each bond has an issuer credit rating (uniform on 1 … 10), a sector
    /// (uniform on <paramref name="sectors"/>), a maturity (uniform on 1 … 30 whole years), an annual coupon (uniform on
    /// 1 % … 8 %) and <paramref name="nuisance"/> standard-normal features that nothing depends on. Its yield is the
    /// risk-free curve at its maturity plus its rating's credit spread plus its sector's spread
    /// (<see cref="BondYield"/>), and its price is the present value of its coupons and principal at that yield
    /// (<see cref="BondPrice"/>), plus Gaussian noise of <paramref name="priceNoise"/> (per 100 face) if asked.
    /// So the price depends on the features only through three latent factors — yield, coupon, maturity — and
    /// rating and sector matter only through the yield.
    /// </summary>
    /// <remarks>
    /// The structural draws come first from <paramref name="generator"/>; the price noise and the nuisance columns come
    /// from two generators forked after them, so the number of nuisance columns and the noise level change nothing
    /// else about the market. Sector spreads are drawn uniformly on [0, 1.5 %].
    /// </remarks>
    public static BondMarketTask BondMarket(int n, Generator generator, int sectors = 6, int nuisance = 4, double priceNoise = 0)
    {
        ArgumentNullException.ThrowIfNull(generator);
        CheckCount(n, nameof(n), "BondMarket");
        if (sectors < 1) throw new ArgumentOutOfRangeException(nameof(sectors), sectors, "BondMarket: sectors must be at least 1");
        if (nuisance < 0) throw new ArgumentOutOfRangeException(nameof(nuisance), nuisance, "BondMarket: nuisance must be non-negative");
        if (!(priceNoise >= 0) || !double.IsFinite(priceNoise))
            throw new ArgumentOutOfRangeException(nameof(priceNoise), priceNoise, "BondMarket: priceNoise must be non-negative and finite");

        var sectorSpread = new double[sectors];
        for (int s = 0; s < sectors; s++) sectorSpread[s] = 0.015 * generator.NextDouble();
        var rating = new long[n];
        var sector = new long[n];
        var factors = new double[n * 3];
        var price = new double[n];
        for (int i = 0; i < n; i++)
        {
            rating[i] = 1 + generator.NextLong(BondRatings);
            sector[i] = generator.NextLong(sectors);
            int maturity = 1 + (int)generator.NextLong(30);
            double coupon = 0.01 + 0.07 * generator.NextDouble();
            double y = BondYield((int)rating[i], sectorSpread[sector[i]], maturity);
            factors[i * 3] = y;
            factors[i * 3 + 1] = coupon;
            factors[i * 3 + 2] = maturity;
            price[i] = BondPrice(y, coupon, maturity);
        }
        var noiseGen = generator.Fork();
        var nuisanceGen = generator.Fork();
        if (priceNoise > 0)
            for (int i = 0; i < n; i++) price[i] += priceNoise * noiseGen.NextNormal();

        int width = 3 + sectors + nuisance;
        var x = new double[n * width];
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * width, width);
            row[0] = rating[i];
            row[1] = 100 * factors[i * 3 + 1];
            row[2] = factors[i * 3 + 2];
            row[3 + (int)sector[i]] = 1;
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < nuisance; j++) x[i * width + 3 + sectors + j] = nuisanceGen.NextNormal();

        var names = new List<string> { "rating", "coupon_pct", "maturity_years" };
        for (int s = 0; s < sectors; s++) names.Add($"sector_{s}");
        for (int j = 0; j < nuisance; j++) names.Add($"nuisance_{j}");
        return new BondMarketTask(
            new TensorDataset(Cast(x, [n, width], DType.Float32), Cast(price, [n, 1], DType.Float32)),
            Tensor.Wrap(factors, [n, 3]), Tensor.Wrap(rating, [n]), Tensor.Wrap(sector, [n]), Tensor.Wrap(sectorSpread, [sectors]),
            names, nuisance);
    }

    /// <summary>
    /// The yield of <see cref="BondMarket"/>: the risk-free curve 2 % + 1.5 % · (1 − e^(−T/7)) at maturity T (an upward
    /// sloping Nelson–Siegel level-and-slope curve), plus 0.4 % per rating notch below 1, plus the sector's spread.
    /// </summary>
    public static double BondYield(int rating, double sectorSpread, int maturityYears)
    {
        if (rating < 1 || rating > BondRatings) throw new ArgumentOutOfRangeException(nameof(rating), rating, $"BondYield: rating must be 1 … {BondRatings}");
        if (maturityYears < 1) throw new ArgumentOutOfRangeException(nameof(maturityYears), maturityYears, "BondYield: maturity must be at least 1 year");
        return 0.02 + 0.015 * (1 - Math.Exp(-maturityYears / 7.0)) + 0.004 * (rating - 1) + sectorSpread;
    }

    /// <summary>
    /// The price per 100 of face value of a bond paying an annual <paramref name="coupon"/> (a decimal) for
    /// <paramref name="maturityYears"/> years and its principal at the end, discounted at the annual yield
    /// <paramref name="yield"/>: 100 · (c · Σₜ (1 + y)^(−t) + (1 + y)^(−T)).
    /// </summary>
    public static double BondPrice(double yield, double coupon, int maturityYears)
    {
        if (!(yield > -1) || !double.IsFinite(yield)) throw new ArgumentOutOfRangeException(nameof(yield), yield, "BondPrice: yield must be finite and above −1");
        if (maturityYears < 1) throw new ArgumentOutOfRangeException(nameof(maturityYears), maturityYears, "BondPrice: maturity must be at least 1 year");
        double discount = 1, annuity = 0;
        for (int t = 1; t <= maturityYears; t++)
        {
            discount /= 1 + yield;
            annuity += discount;
        }
        return 100 * (coupon * annuity + discount);
    }
}
