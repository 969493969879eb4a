using System.Globalization;
using System.Numerics;

namespace Aperture;

/// <summary>
/// An exact rational number p/q over <see cref="BigInteger"/>, always in lowest terms with q &gt; 0, so equal values
/// have equal representations. For closed-form results (learning coefficients, counting formulas) whose exact value
/// matters: 4 stays 4, never 3.9999….
/// </summary>
public readonly struct Rational : IEquatable<Rational>, IComparable<Rational>
{
    /// <summary>The numerator (carries the sign).</summary>
    public BigInteger Numerator { get; }

    /// <summary>The denominator, always ≥ 1 (a default-constructed value reads as 0/1).</summary>
    public BigInteger Denominator => _denominatorMinusOne + 1;

    // Stored minus one so that default(Rational) is the valid value 0/1.
    private readonly BigInteger _denominatorMinusOne;

    /// <summary>p/q reduced to lowest terms with a positive denominator.</summary>
    /// <exception cref="DivideByZeroException">When <paramref name="denominator"/> is 0.</exception>
    public Rational(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.IsZero) throw new DivideByZeroException($"Rational: denominator 0 (numerator {numerator})");
        if (denominator.Sign < 0)
        {
            numerator = -numerator;
            denominator = -denominator;
        }
        var g = BigInteger.GreatestCommonDivisor(numerator, denominator);
        if (!g.IsOne && !g.IsZero)
        {
            numerator /= g;
            denominator /= g;
        }
        if (numerator.IsZero) denominator = BigInteger.One;
        Numerator = numerator;
        _denominatorMinusOne = denominator - 1;
    }

    /// <summary>The integer n as n/1.</summary>
    public Rational(BigInteger integer) : this(integer, BigInteger.One) { }

    /// <summary>0.</summary>
    public static Rational Zero => default;

    /// <summary>1.</summary>
    public static Rational One => new(BigInteger.One);

    /// <summary>True when the value is an integer.</summary>
    public bool IsInteger => Denominator.IsOne;

    /// <summary>−1, 0 or +1.</summary>
    public int Sign => Numerator.Sign;

    /// <summary>The integer n.</summary>
    public static implicit operator Rational(long n) => new(n);

    /// <summary>The integer n.</summary>
    public static implicit operator Rational(BigInteger n) => new(n);

    /// <summary>The nearest double (correctly rounded, outside the subnormal range).</summary>
    public double ToDouble()
    {
        if (Numerator.IsZero) return 0;
        // A quotient of 63–64 bits with a sticky bit for a non-zero remainder: converting that ulong rounds to nearest
        // even exactly as the true quotient would, and scaling by a power of two is exact.
        var num = BigInteger.Abs(Numerator);
        long shift = 63 - ((long)num.GetBitLength() - (long)Denominator.GetBitLength());
        var q = shift >= 0
            ? BigInteger.DivRem(num << (int)shift, Denominator, out var rem)
            : BigInteger.DivRem(num, Denominator << (int)-shift, out rem);
        ulong bits = (ulong)q;
        if (!rem.IsZero) bits |= 1;
        double d = Math.ScaleB((double)bits, (int)-shift);
        return Numerator.Sign < 0 ? -d : d;
    }

    /// <summary>The largest integer ≤ the value.</summary>
    public BigInteger Floor()
    {
        var q = BigInteger.DivRem(Numerator, Denominator, out var r);
        return r.Sign < 0 ? q - 1 : q;
    }

    /// <summary>The smallest integer ≥ the value.</summary>
    public BigInteger Ceiling()
    {
        var q = BigInteger.DivRem(Numerator, Denominator, out var r);
        return r.Sign > 0 ? q + 1 : q;
    }

    /// <summary>a + b.</summary>
    public static Rational operator +(Rational a, Rational b) =>
        new(a.Numerator * b.Denominator + b.Numerator * a.Denominator, a.Denominator * b.Denominator);

    /// <summary>a − b.</summary>
    public static Rational operator -(Rational a, Rational b) =>
        new(a.Numerator * b.Denominator - b.Numerator * a.Denominator, a.Denominator * b.Denominator);

    /// <summary>−a.</summary>
    public static Rational operator -(Rational a) => new(-a.Numerator, a.Denominator);

    /// <summary>a · b.</summary>
    public static Rational operator *(Rational a, Rational b) => new(a.Numerator * b.Numerator, a.Denominator * b.Denominator);

    /// <summary>a / b.</summary>
    /// <exception cref="DivideByZeroException">When <paramref name="b"/> is 0.</exception>
    public static Rational operator /(Rational a, Rational b) => new(a.Numerator * b.Denominator, a.Denominator * b.Numerator);

    /// <inheritdoc/>
    public static bool operator ==(Rational a, Rational b) => a.Equals(b);

    /// <inheritdoc/>
    public static bool operator !=(Rational a, Rational b) => !a.Equals(b);

    /// <inheritdoc/>
    public static bool operator <(Rational a, Rational b) => a.CompareTo(b) < 0;

    /// <inheritdoc/>
    public static bool operator >(Rational a, Rational b) => a.CompareTo(b) > 0;

    /// <inheritdoc/>
    public static bool operator <=(Rational a, Rational b) => a.CompareTo(b) <= 0;

    /// <inheritdoc/>
    public static bool operator >=(Rational a, Rational b) => a.CompareTo(b) >= 0;

    /// <inheritdoc/>
    public bool Equals(Rational other) => Numerator == other.Numerator && Denominator == other.Denominator;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Rational r && Equals(r);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Numerator, Denominator);

    /// <inheritdoc/>
    public int CompareTo(Rational other) => (Numerator * other.Denominator).CompareTo(other.Numerator * Denominator);

    /// <summary>"p/q", or "p" for an integer.</summary>
    public override string ToString() => IsInteger
        ? Numerator.ToString(CultureInfo.InvariantCulture)
        : $"{Numerator.ToString(CultureInfo.InvariantCulture)}/{Denominator.ToString(CultureInfo.InvariantCulture)}";
}
