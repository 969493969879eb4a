using System.Globalization;
using System.Runtime.InteropServices;
using Aperture.Bench.Peers;

namespace Aperture.Bench.Report;

/// <summary>What the report says about the machine and the software: read once at the start of a run.</summary>
public sealed class RunEnvironment
{
    /// <summary>The CPU's model name.</summary>
    public string Cpu { get; init; } = "";

    /// <summary>Logical cores.</summary>
    public int Cores { get; init; }

    /// <summary>Physical memory, GiB.</summary>
    public double MemoryGiB { get; init; }

    /// <summary>Operating system and kernel.</summary>
    public string Os { get; init; } = "";

    /// <summary>The .NET runtime.</summary>
    public string DotNet { get; init; } = "";

    /// <summary>Aperture's git commit (with "+changes" when the tree differs from it).</summary>
    public string Commit { get; init; } = "";

    /// <summary>Reads the machine and the repository at <paramref name="repoRoot"/>.</summary>
    public static RunEnvironment Read(string repoRoot) => new()
    {
        Cpu = CpuName(),
        Cores = Environment.ProcessorCount,
        MemoryGiB = ReadMemoryGiB(),
        Os = $"{OsName()}, Linux {ReadText("/proc/sys/kernel/osrelease")}".Trim(' ', ','),
        DotNet = RuntimeInformation.FrameworkDescription,
        Commit = GitCommit(repoRoot),
    };

    /// <summary>
    /// The model name with its family and model numbers (a VM may show only "AMD EPYC"), the microarchitecture where
    /// they name one (<see cref="Microarchitecture"/>), and its vector ISA.
    /// </summary>
    private static string CpuName()
    {
        var name = ReadField("/proc/cpuinfo", "model name");
        if (name is null) return RuntimeInformation.ProcessArchitecture.ToString();
        var vendor = ReadField("/proc/cpuinfo", "vendor_id");
        var family = ReadField("/proc/cpuinfo", "cpu family");
        var model = ReadField("/proc/cpuinfo", "model\t");
        var flags = (ReadField("/proc/cpuinfo", "flags") ?? "").Split(' ').ToHashSet();
        bool avx512 = flags.Contains("avx512f");
        string isa = avx512 ? "AVX-512" : flags.Contains("avx2") ? "AVX2" : "no AVX2";
        string? core = int.TryParse(family, out int f) && int.TryParse(model, out int m) ? Microarchitecture(vendor, f, m, avx512) : null;
        return $"{name} (family {family ?? "?"}, model {model ?? "?"}{(core is null ? "" : $": {core}")}; {isa}, FMA{(flags.Contains("fma") ? "" : " absent")})";
    }

    /// <summary>
    /// AMD's core generation from the CPU family and model (as /proc/cpuinfo gives them, in decimal), with how its
    /// cores execute a 512-bit FMA, which decides the peak and the engine's split thresholds (docs/threads.md); null
    /// for other vendors and for families and models not listed. Family 19h holds both Zen 3 (no AVX-512) and Zen 4,
    /// told apart by the models AMD assigns to each (AMD's Processor Programming Reference for each family).
    /// </summary>
    public static string? Microarchitecture(string? vendor, int family, int model, bool avx512)
    {
        if (vendor != "AuthenticAMD") return null;
        return family switch
        {
            0x17 => model < 0x30 ? "Zen or Zen+" : "Zen 2",
            0x19 when avx512 || model is >= 0x10 and < 0x20 or >= 0x60 and < 0x80 or >= 0xA0 and < 0xB0 =>
                "Zen 4, each 512-bit FMA as two 256-bit halves",
            0x19 => "Zen 3",
            // The server and desktop parts (Turin, Granite Ridge) have full-width 512-bit units; the mobile ones do not.
            0x1A when avx512 && (model < 0x20 || model is >= 0x40 and < 0x50) => "Zen 5, full-width 512-bit FMA",
            0x1A => "Zen 5",
            _ => null,
        };
    }

    private static string? ReadField(string path, string key)
    {
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
            if (line.StartsWith(key, StringComparison.Ordinal) && line.Contains(':'))
                return line[(line.IndexOf(':') + 1)..].Trim();
        return null;
    }

    private static string ReadText(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "";

    private static double ReadMemoryGiB()
    {
        var kb = ReadField("/proc/meminfo", "MemTotal")?.Split(' ')[0];
        return kb is not null && double.TryParse(kb, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v / (1024 * 1024) : 0;
    }

    private static string OsName()
    {
        var line = File.Exists("/etc/os-release") ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) : null;
        return line is null ? RuntimeInformation.OSDescription : line["PRETTY_NAME=".Length..].Trim('"');
    }

    private static string GitCommit(string repoRoot)
    {
        var head = Shell.Exec("git", "-C", repoRoot, "rev-parse", "--short=10", "HEAD");
        if (head.Code != 0) return "unknown (not a git checkout)";
        var status = Shell.Exec("git", "-C", repoRoot, "status", "--porcelain", "--untracked-files=no", "--", "src", "bench");
        return head.Output.Trim() + (status.Code == 0 && status.Output.Trim().Length > 0 ? " (+ uncommitted changes)" : "");
    }
}
