using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// What the engine knows of the cores it runs on, for choices that move work between threads. Such a choice never
/// changes the bits: a split only decides where each output's chain is computed (docs/threads.md).
/// </summary>
internal static class Microarchitecture
{
    /// <summary>
    /// Whether the cores run each 512-bit operation as two 256-bit halves, as AMD's Zen 4 does (family 19h with
    /// AVX-512): a product there takes about twice as long as on a core with full-width AVX-512 FMA (Zen 5, family
    /// 1Ah), and a split across cores pays from a smaller size (<see cref="ThinGemm.SplitMinWork"/>).
    /// </summary>
    public static bool HalvedAvx512 { get; } = IsAmdFamily(0x19) && Avx512F.IsSupported;

    /// <summary>Whether the CPU is an AMD one of the given family (base family plus extended family, as CPUID gives them).</summary>
    private static bool IsAmdFamily(int family)
    {
        if (!X86Base.IsSupported) return false;
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        // "AuthenticAMD", in EBX, EDX, ECX.
        if (ebx != 0x68747541 || edx != 0x69746E65 || ecx != 0x444D4163) return false;
        int eax = X86Base.CpuId(1, 0).Eax;
        int baseFamily = (eax >> 8) & 0xF;
        return (baseFamily == 0xF ? baseFamily + ((eax >> 20) & 0xFF) : baseFamily) == family;
    }
}
