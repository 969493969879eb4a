using System.Text.Json;
using Aperture.Bench.Harness;

namespace Aperture.Bench.Report;

/// <summary>
/// The machine-readable result: a JSON list with one record per workload, thread count and engine,
/// <c>{"workload", "threads", "engine", "median", "unit", "repeats", "disturbed"}</c>, plus a few fields for
/// whoever tracks the figures over time (the windows, other processes' CPU, the host probes' share of the core, the
/// check value, a note when an engine did not run the workload; then median is null).
/// </summary>
public static class ResultsJson
{
    /// <summary>Writes <paramref name="results"/> to <paramref name="path"/> (through a temporary file and a rename).</summary>
    public static void Write(string path, IEnumerable<Measurement> results, IReadOnlyDictionary<int, double> fmaPeak)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = full + ".tmp";
        using (var stream = File.Create(tmp))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (var m in results)
            {
                w.WriteStartObject();
                w.WriteString("workload", m.Workload.Name);
                w.WriteNumber("threads", m.Threads);
                w.WriteString("engine", m.Engine);
                if (m.Median is { } median && double.IsFinite(median)) w.WriteNumber("median", Math.Round(median, 4));
                else w.WriteNull("median");
                w.WriteString("unit", m.Workload.Unit);
                w.WriteNumber("repeats", m.Repeats);
                w.WriteBoolean("disturbed", m.Disturbed);
                w.WriteStartArray("windows");
                foreach (var x in m.Windows) w.WriteNumberValue(Math.Round(x.Value, 4));
                w.WriteEndArray();
                w.WriteNumber("other_cpu_cores", Math.Round(m.OtherCores, 3));
                if (double.IsFinite(m.Probe)) w.WriteNumber("host_share", Math.Round(m.Probe, 3));
                if (m.Check is { } c && double.IsFinite(c)) w.WriteNumber("check", c);
                if (m.Workload.Kind == WorkloadKind.Gemm && fmaPeak.TryGetValue(m.Threads, out double peak) && double.IsFinite(peak))
                    w.WriteNumber("fma_peak_gflops", Math.Round(peak, 1));
                if (m.Note is not null) w.WriteString("note", m.Note);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        File.Move(tmp, full, overwrite: true);
    }
}
