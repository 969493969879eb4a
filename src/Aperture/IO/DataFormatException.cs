namespace Aperture.IO;

/// <summary>
/// A file that does not hold what its format promises: a wrong magic number, a header that does not parse,
/// sizes that disagree with the file's length. The message names the file and what was wrong with it.
/// </summary>
/// <remarks>
/// It derives from <see cref="IOException"/> (the BCL's <see cref="InvalidDataException"/> is sealed), so code
/// that handles failed reads as I/O errors handles these too.
/// </remarks>
public class DataFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/> (or a stream's name) and a reason.</summary>
    protected DataFormatException(string format, string path, string reason, Exception? inner = null)
        : base($"{format} file '{path}': {reason}", inner)
    {
        Format = format;
        Path = path;
        Reason = reason;
    }

    /// <summary>The format that was expected (IDX, NPY, CSV, safetensors).</summary>
    public string Format { get; }

    /// <summary>The file (or stream name) that was read.</summary>
    public string Path { get; }

    /// <summary>What was wrong, without the file name.</summary>
    public string Reason { get; }
}

/// <summary>An IDX file (the MNIST family's format) that is malformed.</summary>
public sealed class IdxFormatException(string path, string reason, Exception? inner = null)
    : DataFormatException("IDX", path, reason, inner);

/// <summary>A NumPy <c>.npy</c> file that is malformed or uses a layout Aperture does not read.</summary>
public sealed class NpyFormatException(string path, string reason, Exception? inner = null)
    : DataFormatException("NPY", path, reason, inner);

/// <summary>A safetensors file that is malformed, inconsistent or hostile.</summary>
public sealed class SafeTensorsFormatException(string path, string reason, Exception? inner = null)
    : DataFormatException("safetensors", path, reason, inner);

/// <summary>A CSV file with a field that is not a number or a row of the wrong length; the position is 1-based.</summary>
public sealed class CsvFormatException : DataFormatException
{
    /// <summary>Creates the exception for a problem at <paramref name="line"/> and <paramref name="column"/> (1-based; 0 when not about one field).</summary>
    public CsvFormatException(string path, int line, int column, string reason)
        : base("CSV", path, column > 0 ? $"line {line}, column {column}: {reason}" : $"line {line}: {reason}")
    {
        Line = line;
        Column = column;
    }

    /// <summary>The 1-based line of the problem.</summary>
    public int Line { get; }

    /// <summary>The 1-based column (field number) of the problem, or 0 when it concerns the whole line.</summary>
    public int Column { get; }
}
