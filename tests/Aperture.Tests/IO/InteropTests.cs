using System.Diagnostics;
using System.Text.Json;
using Aperture.IO;
using Xunit.Abstractions;

namespace Aperture.Tests.IO;

/// <summary>Finds a Python 3 with NumPy (Debian's /usr/bin/python3 first), once per test run.</summary>
public static class Python
{
    private static readonly Lazy<string?> s_interpreter = new(Find);

    public static string? Interpreter => s_interpreter.Value;

    private static string? Find()
    {
        foreach (string candidate in new[] { "/usr/bin/python3", "python3", "python" })
        {
            try
            {
                var (code, _) = Run(candidate, ["-c", "import numpy"], TimeSpan.FromSeconds(30));
                if (code == 0) return candidate;
            }
            catch (System.ComponentModel.Win32Exception) { } // not installed
        }
        return null;
    }

    public static (int ExitCode, string Output) Run(string interpreter, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{interpreter} did not finish within {timeout}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>A fact that is skipped, saying why, where no Python 3 with NumPy is installed.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Python.Interpreter is null)
            Skip = "no python3 with NumPy found (apt-get install python3-numpy): the independent NumPy reader was not run";
    }
}

/// <summary>Files written by Aperture are read back by an independent reader: a short NumPy script (tests/interop).</summary>
public class InteropTests(ITestOutputHelper output)
{
    [PythonFact]
    public void NumPyReadsTheSafeTensorsAndNpyFilesApertureWrites()
    {
        using var dir = new TempDirectory();
        var tensors = SafeTensorsTests.Zoo();
        tensors["big"] = Tensor.Randn([37, 11], new Generator(1), DType.Float64);
        var metadata = new Dictionary<string, string> { ["producer"] = "Aperture", ["note"] = "ünïcode ✓" };
        SafeTensors.Save(dir.File("model.safetensors"), tensors, metadata);
        var manifest = new Dictionary<string, string>();
        int i = 0;
        foreach (var (name, t) in tensors)
        {
            string file = $"t{i++}.npy";
            Npy.Write(dir.File(file), t);
            manifest[name] = file;
        }
        File.WriteAllText(dir.File("manifest.json"), JsonSerializer.Serialize(new { metadata, tensors = manifest }));

        string script = Path.Combine(AppContext.BaseDirectory, "interop", "read_safetensors.py");
        var (code, text) = Python.Run(Python.Interpreter!, [script, dir.File("model.safetensors"), dir.File("manifest.json")], TimeSpan.FromMinutes(2));
        output.WriteLine($"{Python.Interpreter} {script}: {text}");
        Assert.True(code == 0, text);
        Assert.Contains($"OK: {tensors.Count} tensors", text);
    }

    [PythonFact]
    public void TheNumPyReaderNoticesADifference()
    {
        // The check above can fail: change one value in the .npy file and the script must say so.
        using var dir = new TempDirectory();
        var tensors = new Dictionary<string, Tensor> { ["w"] = Tensor.Wrap(new[] { 1f, 2, 3 }, [3]) };
        SafeTensors.Save(dir.File("m.safetensors"), tensors);
        Npy.Write(dir.File("w.npy"), Tensor.Wrap(new[] { 1f, 2, 3.0001f }, [3]));
        File.WriteAllText(dir.File("manifest.json"), JsonSerializer.Serialize(new { metadata = new Dictionary<string, string>(), tensors = new Dictionary<string, string> { ["w"] = "w.npy" } }));
        string script = Path.Combine(AppContext.BaseDirectory, "interop", "read_safetensors.py");
        var (code, text) = Python.Run(Python.Interpreter!, [script, dir.File("m.safetensors"), dir.File("manifest.json")], TimeSpan.FromMinutes(2));
        output.WriteLine(text);
        Assert.Equal(1, code);
        Assert.Contains("'w'", text);
    }
}
