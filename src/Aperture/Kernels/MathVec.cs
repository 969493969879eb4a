using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// The operations the elementwise math functions are written with, for one register width: float arithmetic,
/// comparisons that give all-ones masks, selection, and integer arithmetic on the same bits (int lanes for float,
/// long lanes for double). Each is exact or rounded once, so a function written once against this interface gives
/// the same bits with scalar, 256-bit and 512-bit registers.
/// </summary>
internal interface IMathVec<TV, TI, T> where TV : struct where TI : struct where T : unmanaged
{
    static abstract int Width { get; }
    static abstract unsafe TV Load(T* p);
    static abstract unsafe void Store(T* p, TV v);
    static abstract TV C(double x);
    static abstract TI CI(long x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Lt(TV a, TV b);
    static abstract TV Eq(TV a, TV b);
    /// <summary>Lanes of <paramref name="a"/> where the mask is set, else of <paramref name="b"/>.</summary>
    static abstract TV Select(TV mask, TV a, TV b);
    static abstract TV Abs(TV a);
    /// <summary>|a| with the sign of <paramref name="sign"/>.</summary>
    static abstract TV CopySign(TV a, TV sign);
    static abstract TI Bits(TV a);
    static abstract TV FromBits(TI a);
    static abstract TI IAdd(TI a, TI b);
    static abstract TI ISub(TI a, TI b);
    static abstract TI IAnd(TI a, TI b);
    static abstract TI Shl(TI a, int n);
    /// <summary>Logical (zero-filling) right shift.</summary>
    static abstract TI Shr(TI a, int n);
}

internal readonly struct M32x16 : IMathVec<Vector512<float>, Vector512<int>, float>
{
    public static int Width => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> C(double x) => Vector512.Create((float)x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> CI(long x) => Vector512.Create((int)x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Lt(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Eq(Vector512<float> a, Vector512<float> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> m, Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Abs(Vector512<float> a) => Vector512.AndNot(a, Vector512.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> CopySign(Vector512<float> a, Vector512<float> s) => Vector512.ConditionalSelect(Vector512.Create(-0f), s, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Bits(Vector512<float> a) => a.AsInt32();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FromBits(Vector512<int> a) => a.AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> IAdd(Vector512<int> a, Vector512<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> ISub(Vector512<int> a, Vector512<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> IAnd(Vector512<int> a, Vector512<int> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Shl(Vector512<int> a, int n) => Vector512.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Shr(Vector512<int> a, int n) => Vector512.ShiftRightLogical(a, n);
}

internal readonly struct M32x8 : IMathVec<Vector256<float>, Vector256<int>, float>
{
    public static int Width => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> C(double x) => Vector256.Create((float)x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> CI(long x) => Vector256.Create((int)x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Lt(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Eq(Vector256<float> a, Vector256<float> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> m, Vector256<float> a, Vector256<float> b) => Vector256.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Abs(Vector256<float> a) => Vector256.AndNot(a, Vector256.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> CopySign(Vector256<float> a, Vector256<float> s) => Vector256.ConditionalSelect(Vector256.Create(-0f), s, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Bits(Vector256<float> a) => a.AsInt32();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FromBits(Vector256<int> a) => a.AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> IAdd(Vector256<int> a, Vector256<int> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> ISub(Vector256<int> a, Vector256<int> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> IAnd(Vector256<int> a, Vector256<int> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Shl(Vector256<int> a, int n) => Vector256.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Shr(Vector256<int> a, int n) => Vector256.ShiftRightLogical(a, n);
}

internal readonly struct M32x1 : IMathVec<float, int, float>
{
    private static readonly float s_ones = BitConverter.Int32BitsToSingle(-1);
    public static int Width => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(float* p, float v) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float C(double x) => (float)x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int CI(long x) => (int)x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Div(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Lt(float a, float b) => a < b ? s_ones : 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Eq(float a, float b) => a == b ? s_ones : 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Select(float m, float a, float b) => BitConverter.SingleToInt32Bits(m) != 0 ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Abs(float a) => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a) & int.MaxValue);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float CopySign(float a, float s) =>
        BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(a) & int.MaxValue) | (BitConverter.SingleToInt32Bits(s) & int.MinValue));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Bits(float a) => BitConverter.SingleToInt32Bits(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float FromBits(int a) => BitConverter.Int32BitsToSingle(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int IAdd(int a, int b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int ISub(int a, int b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int IAnd(int a, int b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Shl(int a, int n) => a << n;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Shr(int a, int n) => (int)((uint)a >> n);
}

internal readonly struct M64x8 : IMathVec<Vector512<double>, Vector512<long>, double>
{
    public static int Width => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector512<double> Load(double* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(double* p, Vector512<double> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> C(double x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> CI(long x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Add(Vector512<double> a, Vector512<double> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Sub(Vector512<double> a, Vector512<double> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Mul(Vector512<double> a, Vector512<double> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Div(Vector512<double> a, Vector512<double> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Fma(Vector512<double> a, Vector512<double> b, Vector512<double> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Lt(Vector512<double> a, Vector512<double> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Eq(Vector512<double> a, Vector512<double> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Select(Vector512<double> m, Vector512<double> a, Vector512<double> b) => Vector512.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Abs(Vector512<double> a) => Vector512.AndNot(a, Vector512.Create(-0d));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> CopySign(Vector512<double> a, Vector512<double> s) => Vector512.ConditionalSelect(Vector512.Create(-0d), s, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Bits(Vector512<double> a) => a.AsInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> FromBits(Vector512<long> a) => a.AsDouble();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> IAdd(Vector512<long> a, Vector512<long> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> ISub(Vector512<long> a, Vector512<long> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> IAnd(Vector512<long> a, Vector512<long> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Shl(Vector512<long> a, int n) => Vector512.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Shr(Vector512<long> a, int n) => Vector512.ShiftRightLogical(a, n);
}

internal readonly struct M64x4 : IMathVec<Vector256<double>, Vector256<long>, double>
{
    public static int Width => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector256<double> Load(double* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(double* p, Vector256<double> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> C(double x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> CI(long x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Add(Vector256<double> a, Vector256<double> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Sub(Vector256<double> a, Vector256<double> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Mul(Vector256<double> a, Vector256<double> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Div(Vector256<double> a, Vector256<double> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Fma(Vector256<double> a, Vector256<double> b, Vector256<double> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Lt(Vector256<double> a, Vector256<double> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Eq(Vector256<double> a, Vector256<double> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Select(Vector256<double> m, Vector256<double> a, Vector256<double> b) => Vector256.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Abs(Vector256<double> a) => Vector256.AndNot(a, Vector256.Create(-0d));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> CopySign(Vector256<double> a, Vector256<double> s) => Vector256.ConditionalSelect(Vector256.Create(-0d), s, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Bits(Vector256<double> a) => a.AsInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> FromBits(Vector256<long> a) => a.AsDouble();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> IAdd(Vector256<long> a, Vector256<long> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> ISub(Vector256<long> a, Vector256<long> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> IAnd(Vector256<long> a, Vector256<long> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Shl(Vector256<long> a, int n) => Vector256.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Shr(Vector256<long> a, int n) => Vector256.ShiftRightLogical(a, n);
}

internal readonly struct M64x1 : IMathVec<double, long, double>
{
    private static readonly double s_ones = BitConverter.Int64BitsToDouble(-1);
    public static int Width => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe double Load(double* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(double* p, double v) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double C(double x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long CI(long x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Add(double a, double b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Sub(double a, double b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Mul(double a, double b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Div(double a, double b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Fma(double a, double b, double c) => Math.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Lt(double a, double b) => a < b ? s_ones : 0d;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Eq(double a, double b) => a == b ? s_ones : 0d;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Select(double m, double a, double b) => BitConverter.DoubleToInt64Bits(m) != 0 ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Abs(double a) => BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(a) & long.MaxValue);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double CopySign(double a, double s) =>
        BitConverter.Int64BitsToDouble((BitConverter.DoubleToInt64Bits(a) & long.MaxValue) | (BitConverter.DoubleToInt64Bits(s) & long.MinValue));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Bits(double a) => BitConverter.DoubleToInt64Bits(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double FromBits(long a) => BitConverter.Int64BitsToDouble(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long IAdd(long a, long b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long ISub(long a, long b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long IAnd(long a, long b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Shl(long a, int n) => a << n;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Shr(long a, int n) => (long)((ulong)a >> n);
}
