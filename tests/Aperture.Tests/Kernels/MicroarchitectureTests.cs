namespace Aperture.Tests.Kernels;

/// <summary>The engine's reading of the CPU, against the kernel's own (/proc/cpuinfo, which decodes the same CPUID).</summary>
public class MicroarchitectureTests
{
    [Fact]
    public void Halved_avx512_is_an_amd_family_19h_cpu_with_avx512_as_the_kernel_reads_it()
    {
        // Elsewhere there is no second reading to compare with; a CPU without AVX-512 never halves it.
        if (!File.Exists("/proc/cpuinfo"))
        {
            if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.False(Microarchitecture.HalvedAvx512);
            return;
        }
        string? vendor = null, family = null, flags = null;
        foreach (var line in File.ReadLines("/proc/cpuinfo"))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (key == "vendor_id") vendor ??= value;
            else if (key == "cpu family") family ??= value;
            else if (key == "flags") flags ??= value;
        }
        Assert.NotNull(vendor);
        bool expected = vendor == "AuthenticAMD" && family == "25" && (flags ?? "").Split(' ').Contains("avx512f")
            && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
        Assert.Equal(expected, Microarchitecture.HalvedAvx512);
    }
}
