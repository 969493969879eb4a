using System.Diagnostics;

namespace Aperture.Cli.Tests;

/// <summary>
/// The repository's <c>./aperture</c> script: it builds once, then starts the built program directly while the sources
/// are unchanged, and rebuilds when a source file changes, appears or goes away. Run on a copy of the script in a scratch
/// tree, with a stand-in <c>dotnet</c> on the PATH that logs each call, so what the script decides is seen without a
/// real build.
/// </summary>
public sealed class StartupScriptTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "aperture-startup-" + Guid.NewGuid().ToString("N")[..12]);
    private string Log => Path.Combine(_root, "dotnet-calls.log");

    public StartupScriptTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "src", "Aperture.Cli"));
        Directory.CreateDirectory(Path.Combine(_root, "bin"));
        File.Copy(Path.Combine(OutputFixture.RepoRoot, "aperture"), Path.Combine(_root, "aperture"));
        File.WriteAllText(Path.Combine(_root, "src", "Aperture.Cli", "Program.cs"), "class P { }\n");
        File.WriteAllText(Path.Combine(_root, "src", "Aperture.Cli", "Aperture.Cli.csproj"), "<Project />\n");
        File.WriteAllText(Path.Combine(_root, "Directory.Build.props"), "<Project />\n");
        // The stand-in: `dotnet build` writes the program (or fails when asked to); `dotnet PROGRAM ARGS` runs it.
        string dotnet = Path.Combine(_root, "bin", "dotnet");
        File.WriteAllText(dotnet, """
            #!/bin/sh
            if [ "$1" = build ]; then
                echo build >> "$FAKE_LOG"
                if [ -n "${FAKE_BUILD_FAILS:-}" ]; then echo "Program.cs(1,1): error CS1002: ; expected"; exit 1; fi
                out="$FAKE_ROOT/src/Aperture.Cli/bin/Release/net10.0"
                mkdir -p "$out" && echo program > "$out/Aperture.Cli.dll"
                exit 0
            fi
            echo "run $*" >> "$FAKE_LOG"
            """.Replace("\r", ""));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(dotnet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private (int Code, string Err) Aperture(bool buildFails = false)
    {
        var start = new ProcessStartInfo("sh", [Path.Combine(_root, "aperture"), "--version"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _root,
        };
        start.Environment["PATH"] = Path.Combine(_root, "bin") + ":/usr/bin:/bin";
        start.Environment["FAKE_LOG"] = Log;
        start.Environment["FAKE_ROOT"] = _root;
        if (buildFails) start.Environment["FAKE_BUILD_FAILS"] = "1";
        using var p = Process.Start(start)!;
        p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "the script did not finish in a minute");
        return (p.ExitCode, err);
    }

    // The calls the stand-in dotnet saw since the last look.
    private int _seen;

    private string[] Calls()
    {
        var all = File.Exists(Log) ? File.ReadAllLines(Log) : [];
        var fresh = all[_seen..];
        _seen = all.Length;
        return fresh;
    }

    private string Run => "run " + Path.Combine(_root, "src", "Aperture.Cli", "bin", "Release", "net10.0", "Aperture.Cli.dll") + " --version";

    private void AssertStartedWithoutBuilding()
    {
        var calls = Calls();
        Assert.Single(calls);
        Assert.Equal(Run, calls[0]);
    }

    private void AssertBuiltThenStarted()
    {
        var calls = Calls();
        Assert.Equal(2, calls.Length);
        Assert.Equal("build", calls[0]);
        Assert.Equal(Run, calls[1]);
    }

    [Fact]
    public void BuildsOnceThenStartsTheBuiltProgramUntilASourceChanges()
    {
        if (!OperatingSystem.IsLinux()) return;   // the script is POSIX sh with GNU find's -printf
        Assert.Equal(0, Aperture().Code);
        AssertBuiltThenStarted();
        Assert.Equal(0, Aperture().Code);
        AssertStartedWithoutBuilding();
        Assert.Equal(0, Aperture().Code);
        AssertStartedWithoutBuilding();

        // An edited source file (new size and time), a new one, a deleted one, an edited project file: each rebuilds once.
        string program = Path.Combine(_root, "src", "Aperture.Cli", "Program.cs");
        File.AppendAllText(program, "// edited\n");
        Aperture();
        AssertBuiltThenStarted();
        Aperture();
        AssertStartedWithoutBuilding();

        string added = Path.Combine(_root, "src", "Aperture.Cli", "Added.cs");
        File.WriteAllText(added, "class A { }\n");
        Aperture();
        AssertBuiltThenStarted();
        File.Delete(added);
        Aperture();
        AssertBuiltThenStarted();

        // Same size, later time (an editor's save, a checkout).
        File.SetLastWriteTimeUtc(Path.Combine(_root, "Directory.Build.props"), DateTime.UtcNow.AddMinutes(1));
        Aperture();
        AssertBuiltThenStarted();
        Aperture();
        AssertStartedWithoutBuilding();
    }

    [Fact]
    public void AFailedBuildSaysSoAndIsRetriedNextTime()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.Equal(0, Aperture().Code);
        AssertBuiltThenStarted();
        File.AppendAllText(Path.Combine(_root, "src", "Aperture.Cli", "Program.cs"), "broken\n");
        var (code, err) = Aperture(buildFails: true);
        Assert.Equal(1, code);
        Assert.Contains("error CS1002", err);                      // the compiler's own message
        Assert.Contains("aperture: the build failed", err);
        Assert.Equal(["build"], Calls());                          // the old program is not started
        // The stamp was not updated, so the next call builds again.
        Assert.Equal(0, Aperture().Code);
        AssertBuiltThenStarted();
    }
}
