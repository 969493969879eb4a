using System.Diagnostics;
using Aperture.Fuzz;

// aperture-fuzz TARGET            run under AFL++ (afl-fuzz … -- dotnet Aperture.Fuzz.dll TARGET): one input per
//                                 fork-server round, read from standard input
// aperture-fuzz seed DIR         write the seed corpus into DIR
// aperture-fuzz replay TARGET PATH...
//                                 run files (or every file in folders) through TARGET in this process and report each
//                                 undocumented exception, input slower than 1 s or over-allocation; exit 1 if any
if (args is ["seed", var corpus])
{
    SeedCorpus.Write(corpus);
    return 0;
}
if (args.Length == 1)
{
    string target = args[0];
    if (!FuzzTargets.Names.Contains(target)) return Usage();
    string scratch = Path.Combine(Path.GetTempPath(), $"aperture-fuzz-{Environment.ProcessId}.bin");
    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        Check(target, buffer.ToArray(), scratch);
    });
    return 0;
}
if (args.Length >= 3 && args[0] == "replay")
{
    string target = args[1];
    if (!FuzzTargets.Names.Contains(target)) return Usage();
    string scratch = Path.Combine(Path.GetTempPath(), $"aperture-fuzz-{Environment.ProcessId}.bin");
    var files = args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p, "*", SearchOption.AllDirectories) : [p])
        .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith("README.txt", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
    int findings = 0, rejected = 0;
    foreach (var file in files)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            if (!Check(target, File.ReadAllBytes(file), scratch)) rejected++;
            if (clock.Elapsed > TimeSpan.FromSeconds(1)) throw new TimeoutException($"took {clock.Elapsed.TotalSeconds:F2} s (limit 1 s)");
        }
        catch (Exception e)
        {
            findings++;
            Console.WriteLine($"{file}: {e.GetType().FullName}: {e.Message.Split('\n')[0]}");
        }
    }
    File.Delete(scratch);
    Console.WriteLine($"{target}: {files.Count} inputs, {files.Count - rejected - findings} read, {rejected} rejected with a documented error, {findings} findings");
    return findings == 0 ? 0 : 1;
}
return Usage();

// Runs one input: a documented parse error is a correct answer (returns false); anything else, or allocating past
// the bound, escapes.
static bool Check(string target, byte[] data, string scratch)
{
    long before = GC.GetAllocatedBytesForCurrentThread();
    bool read = true;
    try
    {
        FuzzTargets.Run(target, data, scratch);
    }
    catch (Exception e) when (FuzzTargets.IsDocumented(target, e))
    {
        read = false;
    }
    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
    if (allocated > FuzzTargets.AllocationLimit(data.Length))
        throw new AllocationLimitExceededException($"allocated {allocated:N0} bytes for a {data.Length:N0}-byte input (limit {FuzzTargets.AllocationLimit(data.Length):N0})");
    return read;
}

static int Usage()
{
    Console.Error.WriteLine($"usage: Aperture.Fuzz TARGET | replay TARGET PATH...   (targets: {string.Join(", ", FuzzTargets.Names)})");
    return 2;
}
