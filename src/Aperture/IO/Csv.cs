using System.Globalization;
using System.Text;

namespace Aperture.IO;

/// <summary>A table of numbers read from CSV: optional column names and the values as float64 [rows, columns].</summary>
public sealed class CsvTable
{
    internal CsvTable(string[]? header, Tensor values)
    {
        Header = header;
        Values = values;
    }

    /// <summary>The column names from the header line, or null when the file had none.</summary>
    public IReadOnlyList<string>? Header { get; }

    /// <summary>Every value, float64 [rows, columns].</summary>
    public Tensor Values { get; }

    /// <summary>The number of data rows.</summary>
    public int Rows => Values.Shape[0];

    /// <summary>The number of columns.</summary>
    public int Columns => Values.Shape[1];

    /// <summary>The position of the column called <paramref name="name"/>.</summary>
    public int ColumnIndex(string name)
    {
        if (Header is null) throw new InvalidOperationException($"CsvTable: the file had no header, so there is no column called '{name}'");
        for (int i = 0; i < Header.Count; i++)
            if (Header[i] == name) return i;
        throw new ArgumentException($"CsvTable: no column called '{name}' (columns: {string.Join(", ", Header)})", nameof(name));
    }
}

/// <summary>
/// Reads and writes comma-separated numbers. Fields may be quoted; blank lines are skipped; <c>nan</c>,
/// <c>inf</c> and <c>-inf</c> are read in any case. Every row must have as many fields as the first; a field that
/// is not a number is a <see cref="CsvFormatException"/> with its line and column.
/// </summary>
public static class Csv
{
    /// <summary>Reads a CSV file of numbers; <paramref name="hasHeader"/> says whether the first line names the columns.</summary>
    public static CsvTable Read(string path, bool hasHeader = true, char separator = ',')
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = new StreamReader(path, new UTF8Encoding(false, true), detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, hasHeader, separator);
    }

    /// <summary>Reads CSV text from <paramref name="reader"/>, naming it <paramref name="name"/> in errors.</summary>
    public static CsvTable Read(TextReader reader, string name, bool hasHeader = true, char separator = ',')
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (separator is '"' or '\n' or '\r') throw new ArgumentException($"Csv: '{separator}' cannot separate fields", nameof(separator));
        string[]? header = null;
        var values = new List<double>();
        int columns = -1, lineNumber = 0, rows = 0, widthLine = 0;
        var fields = new List<(string Text, bool Quoted)>();
        while (true)
        {
            string? line;
            try
            {
                line = reader.ReadLine();
            }
            catch (DecoderFallbackException e)
            {
                throw new CsvFormatException(name, lineNumber + 1, 0, $"the text is not valid UTF-8 ({e.Message})");
            }
            if (line is null) break;
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            Split(line, separator, fields, name, lineNumber);
            if (columns < 0)
            {
                columns = fields.Count;
                widthLine = lineNumber;
                if (hasHeader)
                {
                    header = fields.Select(f => f.Text).ToArray();
                    continue;
                }
            }
            else if (fields.Count != columns)
                throw new CsvFormatException(name, lineNumber, 0,
                    $"found {fields.Count} fields but line {widthLine} has {columns}");
            for (int c = 0; c < fields.Count; c++)
                values.Add(ParseNumber(fields[c].Text, name, lineNumber, c + 1));
            rows++;
        }
        if (columns < 0) throw new CsvFormatException(name, Math.Max(lineNumber, 1), 0, "the file has no rows");
        return new CsvTable(header, Tensor.Wrap(values.ToArray(), [rows, columns]));
    }

    private static void Split(string line, char separator, List<(string, bool)> fields, string name, int lineNumber)
    {
        fields.Clear();
        int i = 0;
        while (true)
        {
            while (i < line.Length && line[i] is ' ' or '\t' && line[i] != separator) i++;
            if (i < line.Length && line[i] == '"')
            {
                var sb = new StringBuilder();
                int open = i++;
                while (true)
                {
                    if (i >= line.Length)
                        throw new CsvFormatException(name, lineNumber, fields.Count + 1, $"the quote opened at character {open + 1} is not closed on this line");
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(line[i++]);
                }
                while (i < line.Length && line[i] is ' ' or '\t' && line[i] != separator) i++;
                if (i < line.Length && line[i] != separator)
                    throw new CsvFormatException(name, lineNumber, fields.Count + 1, $"unexpected '{line[i]}' after a closing quote");
                fields.Add((sb.ToString(), true));
            }
            else
            {
                int start = i;
                while (i < line.Length && line[i] != separator) i++;
                fields.Add((line[start..i].Trim(), false));
            }
            if (i >= line.Length) return;
            i++; // the separator
        }
    }

    private static double ParseNumber(string text, string name, int line, int column)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        switch (text.ToLowerInvariant())
        {
            case "nan" or "+nan" or "-nan": return double.NaN;
            case "inf" or "+inf" or "infinity" or "+infinity": return double.PositiveInfinity;
            case "-inf" or "-infinity": return double.NegativeInfinity;
        }
        string shown = text.Length > 40 ? text[..40] + "..." : text;
        throw new CsvFormatException(name, line, column, text.Length == 0 ? "the field is empty, expected a number" : $"'{shown}' is not a number");
    }

    /// <summary>
    /// Writes a 2-d tensor as CSV, atomically, with an optional header. Numbers are written in the shortest form
    /// that reads back to the same value (float32 elements in float32's shortest form).
    /// </summary>
    public static void Write(string path, Tensor values, IReadOnlyList<string>? header = null, char separator = ',')
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Rank != 2) throw new ShapeMismatchException($"Csv.Write: expected a 2-d tensor [rows, columns], got shape {Shapes.Format(values.Shape)}");
        if (header is not null && header.Count != values.Shape[1])
            throw new ArgumentException($"Csv.Write: {header.Count} column names for {values.Shape[1]} columns", nameof(header));
        AtomicFile.Write(path, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            string sep = separator.ToString();
            if (header is not null) w.WriteLine(string.Join(sep, header.Select(h => Quote(h, separator))));
            int rows = values.Shape[0], cols = values.Shape[1];
            string[] cells = new string[cols];
            switch (values.DType)
            {
                case DType.Float32:
                {
                    var a = values.ToArray<float>();
                    for (int r = 0; r < rows; r++)
                    {
                        for (int c = 0; c < cols; c++) cells[c] = a[r * cols + c].ToString(CultureInfo.InvariantCulture);
                        w.WriteLine(string.Join(sep, cells));
                    }
                    break;
                }
                default:
                {
                    var a = values.ToDoubleArray();
                    for (int r = 0; r < rows; r++)
                    {
                        for (int c = 0; c < cols; c++) cells[c] = a[r * cols + c].ToString(CultureInfo.InvariantCulture);
                        w.WriteLine(string.Join(sep, cells));
                    }
                    break;
                }
            }
        });
    }

    private static string Quote(string field, char separator) =>
        field.Contains(separator) || field.Contains('"') || field != field.Trim()
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;
}
