namespace Aperture.Bench.Peers;

/// <summary>
/// Installs and configures the PyTorch peer: Debian's <c>python3-torch</c> (1.13) and OpenBLAS, with apt-get when
/// missing (through sudo when not root). Debian's torch links the generic BLAS, which resolves to the reference
/// BLAS (about 4 GFLOP/s) unless OpenBLAS is installed; the worker gets the OpenMP build of OpenBLAS through
/// LD_LIBRARY_PATH whatever the system's BLAS alternative is, so it shares torch's OpenMP thread pool.
/// OpenBLAS 0.3.21 may not recognise a recent CPU and fall back to slow kernels: on a CPU with AVX-512 the worker
/// runs with OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels).
/// </summary>
public sealed class PyTorchSetup
{
    /// <summary>The interpreter: Debian's, because another python3 on the PATH may lack torch.</summary>
    public string Python { get; } = "/usr/bin/python3";

    /// <summary>Why PyTorch cannot run, or null.</summary>
    public string? Unavailable { get; private set; }

    /// <summary>Environment variables for the worker.</summary>
    public Dictionary<string, string> Environment { get; } = [];

    /// <summary>Package versions (python3-torch, OpenBLAS), for the report.</summary>
    public Dictionary<string, string> Versions { get; } = [];

    /// <summary>What was installed or configured, line by line, for the report.</summary>
    public List<string> Notes { get; } = [];

    private const string TorchPackage = "python3-torch";
    private const string BlasPackage = "libopenblas0-openmp";

    /// <summary>Checks for the peer's packages, installs what is missing and works out the worker's environment.</summary>
    public static PyTorchSetup Prepare(Action<string> log)
    {
        var s = new PyTorchSetup();
        try
        {
            s.Run(log);
        }
        catch (Exception e)
        {
            s.Unavailable = e.Message;
        }
        return s;
    }

    private void Run(Action<string> log)
    {
        var missing = new List<string>();
        if (!File.Exists(Python) || Shell.Exec(Python, "-c", "import torch").Code != 0) missing.Add(TorchPackage);
        if (PackageVersion(BlasPackage) is null) missing.Add(BlasPackage);
        if (missing.Count > 0)
        {
            log($"installing {string.Join(" ", missing)} with apt-get (Debian's PyTorch and OpenBLAS)");
            AptInstall(missing);
            Notes.Add($"installed with apt-get: {string.Join(", ", missing)}");
        }
        var check = Shell.Exec(Python, "-c", "import torch; print(torch.__version__)");
        if (check.Code != 0) throw new InvalidOperationException($"{Python} cannot import torch after the install: {Tail(check.Output)}");
        Versions["torch"] = check.Output.Trim();
        Versions[TorchPackage] = PackageVersion(TorchPackage) ?? "?";
        Versions[BlasPackage] = PackageVersion(BlasPackage) ?? "?";

        string blasDir = Path.GetDirectoryName(ListPackageFiles(BlasPackage).FirstOrDefault(f => f.EndsWith("/libblas.so.3", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{BlasPackage} is installed but ships no libblas.so.3"))!;
        string ld = System.Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "";
        Environment["LD_LIBRARY_PATH"] = ld.Length == 0 ? blasDir : $"{blasDir}:{ld}";
        Notes.Add($"the worker loads {blasDir}/libblas.so.3 (OpenBLAS, OpenMP build) through LD_LIBRARY_PATH");
        if (CpuHasAvx512())
        {
            Environment["OPENBLAS_CORETYPE"] = "SkylakeX";
            Notes.Add("OPENBLAS_CORETYPE=SkylakeX (this CPU has AVX-512; OpenBLAS 0.3.21 may not recognise it)");
        }
    }

    private void AptInstall(List<string> packages)
    {
        bool root = IsRoot();
        string apt = root ? "apt-get" : "sudo";
        // Wait for the dpkg lock rather than fail when another install is running on the machine.
        string[] prefix = root ? ["-o", "DPkg::Lock::Timeout=600"] : ["-n", "apt-get", "-o", "DPkg::Lock::Timeout=600"];
        var install = Shell.Exec(apt, [.. prefix, "install", "-y", "-q", .. packages]);
        if (install.Code != 0)
        {
            // A fresh machine's package lists may be missing or stale.
            var update = Shell.Exec(apt, [.. prefix, "update", "-q"]);
            if (update.Code != 0) throw new InvalidOperationException($"apt-get update failed: {Tail(update.Output)}");
            install = Shell.Exec(apt, [.. prefix, "install", "-y", "-q", .. packages]);
            if (install.Code != 0)
                throw new InvalidOperationException($"apt-get install {string.Join(" ", packages)} failed: {Tail(install.Output)}");
        }
    }

    private static bool IsRoot()
    {
        // /proc/self/status: "Uid:\treal\teffective\tsaved\tfs".
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
                return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[2] == "0";
        return false;
    }

    private static bool CpuHasAvx512()
    {
        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        var set = flags.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        return set.IsSupersetOf(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]);
    }

    private static string? PackageVersion(string package)
    {
        var r = Shell.Exec("dpkg-query", "-W", "-f=${Status}|${Version}", package);
        if (r.Code != 0) return null;
        var parts = r.Output.Trim().Split('|');
        return parts.Length == 2 && parts[0].EndsWith("installed", StringComparison.Ordinal) && !parts[0].Contains("not-installed") ? parts[1] : null;
    }

    private static IEnumerable<string> ListPackageFiles(string package)
    {
        var r = Shell.Exec("dpkg", "-L", package);
        return r.Code == 0 ? r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
    }

    private static string Tail(string s) => s.Length > 600 ? "…" + s[^600..] : s.Trim();
}
