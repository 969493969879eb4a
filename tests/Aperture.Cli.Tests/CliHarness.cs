using System.Diagnostics;
using System.Text.RegularExpressions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Aperture.Cli.Tests;

/// <summary>What one run of the command printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string All => Out + "\n" + Err;
}

/// <summary>Runs the `aperture` command in-process (its console is per invocation; the tests run one at a time) or as a child process.</summary>
public static partial class CliHarness
{
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr, interactive: false, CancellationToken.None);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The built command (Aperture.Cli.dll, copied beside the tests), run with `dotnet` as a user would.</summary>
    public static CliResult RunProcess(params string[] args) => RunProcess(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="RunProcess(string[])"/>, with <paramref name="environment"/> set in the child's environment.</summary>
    public static CliResult RunProcess(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Aperture.Cli.dll");
        // The host is found on this process's PATH, so that the child's PATH can be changed.
        var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the aperture command");
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"aperture {string.Join(' ', args)} did not finish in 2 minutes");
        }
        return new CliResult(p.ExitCode, output, err.Result);
    }

    private static string DotnetHost() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists) ?? "dotnet";

    /// <summary>
    /// The contract for bad input: a non-zero exit, no stack trace or .NET type name anywhere, and on standard error
    /// exactly one "error:" line that contains <paramref name="expected"/> (the argument or file), followed at most by
    /// the command's usage line and a pointer to its help.
    /// </summary>
    public static void AssertOneLineError(CliResult r, string expected, string what)
    {
        string context = $"{what}\n--- exit {r.ExitCode}\n--- stdout:\n{r.Out}\n--- stderr:\n{r.Err}";
        Assert.True(r.ExitCode != 0, $"exit code 0 for bad input: {context}");
        Assert.False(StackFrame().IsMatch(r.All), $"a stack trace was printed: {context}");
        Assert.False(r.All.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase), $"an unhandled exception: {context}");
        Assert.False(ExceptionName().IsMatch(r.All), $"an exception type is named: {context}");
        Assert.False(DotNetType().IsMatch(r.All), $"a .NET type name is printed: {context}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected exactly one error line, found {errors.Count}: {context}");
        Assert.True(lines.All(l => l.StartsWith("error:", StringComparison.Ordinal) || l.StartsWith("usage: aperture", StringComparison.Ordinal)
                                   || l.StartsWith("see `aperture", StringComparison.Ordinal)),
            $"standard error holds more than the error and the usage: {context}");
        Assert.True(errors[0].Contains(expected, StringComparison.Ordinal), $"the error line does not name '{expected}': {context}");
    }

    [GeneratedRegex(@"^\s+at \S+.*\)( in .*)?$", RegexOptions.Multiline)]
    private static partial Regex StackFrame();

    [GeneratedRegex(@"\b[A-Z][A-Za-z]*Exception\b")]
    private static partial Regex ExceptionName();

    [GeneratedRegex(@"\bSystem\.[A-Z][A-Za-z]+|`1\[")]
    private static partial Regex DotNetType();
}
