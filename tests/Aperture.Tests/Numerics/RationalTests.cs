using System.Numerics;

namespace Aperture.Tests.Numerics;

public class RationalTests
{
    [Fact]
    public void ValuesAreKeptInLowestTermsWithAPositiveDenominator()
    {
        var r = new Rational(6, -8);
        Assert.Equal(new BigInteger(-3), r.Numerator);
        Assert.Equal(new BigInteger(4), r.Denominator);
        Assert.Equal(new Rational(-3, 4), r);
        Assert.Equal("-3/4", r.ToString());
        Assert.Equal(Rational.Zero, new Rational(0, -5));
        Assert.Equal(BigInteger.One, default(Rational).Denominator);
        Assert.Equal("0", default(Rational).ToString());
    }

    [Fact]
    public void ArithmeticIsExact()
    {
        // 1/3 + 1/6 = 1/2; a sum of thirds in floating point is not 1, here it is.
        Assert.Equal(new Rational(1, 2), new Rational(1, 3) + new Rational(1, 6));
        Assert.Equal(Rational.One, new Rational(1, 3) + new Rational(1, 3) + new Rational(1, 3));
        Assert.Equal(new Rational(4), new Rational(2, 3) * 6);
        Assert.True((new Rational(2, 3) * 6).IsInteger);
        Assert.Equal(new Rational(-1, 6), new Rational(1, 3) - new Rational(1, 2));
        Assert.Equal(new Rational(9, 4), new Rational(3, 2) / new Rational(2, 3));
        Assert.Equal(new Rational(1, 2), -new Rational(-1, 2));
        Assert.Throws<DivideByZeroException>(() => new Rational(1, 2) / Rational.Zero);
    }

    [Fact]
    public void OrderingFloorCeilingAndConversion()
    {
        Assert.True(new Rational(1, 3) < new Rational(1, 2));
        Assert.True(new Rational(-1, 2) < new Rational(-1, 3));
        Assert.Equal(new BigInteger(-2), new Rational(-3, 2).Floor());
        Assert.Equal(new BigInteger(-1), new Rational(-3, 2).Ceiling());
        Assert.Equal(new BigInteger(2), new Rational(7, 3).Floor());
        Assert.Equal(new BigInteger(3), new Rational(7, 3).Ceiling());
        Assert.Equal(new BigInteger(4), new Rational(4).Ceiling());
        Assert.Equal(0.1, new Rational(1, 10).ToDouble());
        Assert.Equal(-2.0 / 3.0, new Rational(-2, 3).ToDouble());
        Assert.Equal(1e30, new Rational(BigInteger.Pow(10, 30)).ToDouble());
        Assert.Equal(1e-30, new Rational(BigInteger.One, BigInteger.Pow(10, 30)).ToDouble(), 1e-45);
    }
}
