using System.Runtime.InteropServices;
using TorchSharp;

namespace Aperture.Bench.Peers;

/// <summary>
/// Loads TorchSharp's native library from a private, patched copy. TorchSharp 0.107's libLibTorchSharp.so asks
/// for GLIBCXX_3.4.32 (GCC 13's libstdc++), which Debian 12 lacks, so the loader refuses it as shipped; the only
/// symbol behind that version is <c>std::ios_base_library_init()</c>, a marker GCC 13 references to order iostream
/// start-up and that is never called. The copy in the NuGet cache is never touched: the bench copies the library
/// next to its own binary, marks that one requirement weak (<see cref="ElfVersionPatch"/>), loads libtorch and
/// the copy by path, and points TorchSharp's P/Invokes at the copy with a DllImport resolver.
/// </summary>
public static class TorchSharpLoader
{
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private static string? s_status;
    private static string s_how = "";
    private static bool s_loaded;

    /// <summary>Loads TorchSharp once; returns null on success or the exact reason it could not be loaded.</summary>
    public static string? EnsureLoaded(out string how)
    {
        if (s_status is not null || s_loaded)
        {
            how = s_how;
            return s_status;
        }
        try
        {
            s_how = Load();
            s_loaded = true;
        }
        catch (Exception e)
        {
            s_status = $"{e.GetType().Name}: {e.Message}";
        }
        how = s_how;
        return s_status;
    }

    private static string Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new PlatformNotSupportedException($"the bench drives TorchSharp on linux-x64 only, this is {RuntimeInformation.RuntimeIdentifier}");
        string native = FindNativeDirectory();
        string shipped = Path.Combine(native, "libLibTorchSharp.so");
        var bytes = File.ReadAllBytes(shipped);
        var outcome = ElfVersionPatch.MarkWeak(bytes, MissingVersion);

        string privateDir = Path.Combine(AppContext.BaseDirectory, "torchsharp-patched");
        Directory.CreateDirectory(privateDir);
        string copy = Path.Combine(privateDir, "libLibTorchSharp.so");
        if (!File.Exists(copy) || !File.ReadAllBytes(copy).AsSpan().SequenceEqual(bytes))
        {
            string tmp = copy + ".tmp";
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, copy, overwrite: true);
        }

        // libtorch first, by path: the copy's DT_NEEDED entries (libtorch.so, libc10.so, libtorch_cpu.so) then match
        // the already-loaded libraries by soname, whatever directory the copy is in.
        NativeLibrary.Load(Path.Combine(native, "libtorch.so"));
        IntPtr handle = NativeLibrary.Load(copy);
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly,
            (name, _, _) => name == "LibTorchSharp" ? handle : IntPtr.Zero);
        copy = Path.GetRelativePath(Directory.GetCurrentDirectory(), copy);
        return outcome switch
        {
            ElfVersionPatch.Outcome.Patched =>
                $"private copy {copy}: the {MissingVersion} requirement of libLibTorchSharp.so marked weak (VER_FLG_WEAK); the NuGet copy is untouched",
            ElfVersionPatch.Outcome.AlreadyWeak => $"private copy {copy}: {MissingVersion} already weak",
            _ => $"private copy {copy}: no {MissingVersion} requirement, loaded as shipped",
        };
    }

    /// <summary>The build output's directory holding libLibTorchSharp.so and libtorch (flat for a linux-x64 build, else under runtimes/).</summary>
    private static string FindNativeDirectory()
    {
        string[] candidates = [AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")];
        foreach (var dir in candidates)
            if (File.Exists(Path.Combine(dir, "libLibTorchSharp.so")) && File.Exists(Path.Combine(dir, "libtorch.so")))
                return dir;
        throw new FileNotFoundException(
            $"libLibTorchSharp.so and libtorch.so were not found in {string.Join(" or ", candidates)}; restore and build bench/Aperture.Bench (TorchSharp-cpu 0.107.0) first");
    }
}
