using System.Globalization;
using System.Text;
using Aperture.IO;
using Aperture.Lab.Store;
using Parquet;
using Parquet.Schema;

namespace Aperture.Cli;

/// <summary>
/// Writes <c>runs export</c>'s files whole (a temporary file renamed over the target): CSV streamed from the store,
/// or Parquet. The metrics table, the large one, is streamed into Parquet row groups; the runs and verdicts tables
/// (one row per run or check) are built from their CSV form with each column typed: a column whose every non-empty
/// cell is a number becomes a nullable double, any other a string.
/// </summary>
internal static class Exports
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // Rows per Parquet row group for the metrics table: bounded memory for a store of any size.
    private const int MetricsRowGroup = 1 << 20;

    /// <summary>Streams CSV into <paramref name="path"/>, atomically.</summary>
    public static void WriteCsvAtomically(string path, Action<TextWriter> write) =>
        AtomicFile.Write(path, stream =>
        {
            using var w = new StreamWriter(stream, Utf8, 1 << 16, leaveOpen: true);
            write(w);
        });

    /// <summary>Writes the <paramref name="what"/> table ("runs", "metrics" or "verdicts") as Parquet, atomically.</summary>
    public static void WriteParquet(RunStore store, string what, string? phenomenon, string path) =>
        AtomicFile.Write(path, stream =>
        {
            if (what == "metrics") WriteMetrics(store, phenomenon, stream).GetAwaiter().GetResult();
            else
            {
                var csv = new StringWriter(CultureInfo.InvariantCulture);
                if (what == "verdicts") store.ExportVerdictsCsv(csv, phenomenon);
                else store.ExportCsv(csv, phenomenon);
                WriteTable(ReadCsv(csv.ToString()), stream).GetAwaiter().GetResult();
            }
        });

    private static async Task WriteMetrics(RunStore store, string? phenomenon, Stream stream)
    {
        var fields = new DataField[]
        {
            new DataField<string>("run_id"), new DataField<string>("phenomenon"), new DataField<string>("tier"), new DataField<string>("arm"),
            new DataField<int>("seed"), new DataField<string>("metric"), new DataField<long>("step"), new DataField<double?>("value"),
        };
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        var batch = new List<RunStore.MetricPoint>(MetricsRowGroup);
        async Task Flush()
        {
            if (batch.Count == 0) return;
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(fields[0], batch.Select(p => p.RunId).ToArray());
            await group.WriteAsync(fields[1], batch.Select(p => p.Phenomenon).ToArray());
            await group.WriteAsync(fields[2], batch.Select(p => p.Tier).ToArray());
            await group.WriteAsync(fields[3], batch.Select(p => p.Arm).ToArray());
            await group.WriteAsync(fields[4], new ReadOnlyMemory<int>(batch.Select(p => p.Seed).ToArray()));
            await group.WriteAsync(fields[5], batch.Select(p => p.Metric).ToArray());
            await group.WriteAsync(fields[6], new ReadOnlyMemory<long>(batch.Select(p => p.Step).ToArray()));
            await group.WriteAsync(fields[7], new ReadOnlyMemory<double?>(batch.Select(p => double.IsNaN(p.Value) ? (double?)null : p.Value).ToArray()));
            group.CompleteValidate();
            batch.Clear();
        }
        // Streamed: each full batch becomes a row group while the store goes on reading (a sync visitor, hence the wait).
        store.ForEachMetricPoint(phenomenon, p =>
        {
            batch.Add(p);
            if (batch.Count == MetricsRowGroup) Flush().GetAwaiter().GetResult();
        });
        await Flush();
    }

    private static async Task WriteTable((string[] Header, List<string[]> Rows) table, Stream stream)
    {
        var (header, rows) = table;
        var numeric = new bool[header.Length];
        for (int c = 0; c < header.Length; c++)
            numeric[c] = rows.All(r => r[c].Length == 0 || double.TryParse(r[c], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                         && rows.Any(r => r[c].Length > 0);
        var fields = header.Select((h, c) => numeric[c] ? (DataField)new DataField<double?>(h) : new DataField<string>(h, nullable: true)).ToArray();
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        using var group = writer.CreateRowGroup();
        for (int c = 0; c < header.Length; c++)
        {
            if (numeric[c])
                await group.WriteAsync(fields[c], new ReadOnlyMemory<double?>(rows.Select(r => r[c].Length == 0 ? (double?)null
                    : double.Parse(r[c], NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()));
            else
                await group.WriteAsync(fields[c], rows.Select(r => r[c].Length == 0 ? null! : r[c]).ToArray());
        }
        group.CompleteValidate();
    }

    // RFC 4180, as the store writes it: quoted fields may hold commas, doubled quotes and line breaks.
    private static (string[] Header, List<string[]> Rows) ReadCsv(string text)
    {
        var records = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char ch = text[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else field.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (ch == '\n' || ch == '\r')
            {
                if (ch == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                fields.Add(field.ToString());
                field.Clear();
                records.Add([.. fields]);
                fields.Clear();
            }
            else field.Append(ch);
        }
        if (field.Length > 0 || fields.Count > 0) { fields.Add(field.ToString()); records.Add([.. fields]); }
        return (records[0], records.Skip(1).ToList());
    }
}
