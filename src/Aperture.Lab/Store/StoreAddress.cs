using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Aperture.Lab.Store;

/// <summary>The database a run store lives in.</summary>
public enum StoreBackend
{
    /// <summary>One SQLite file: a laptop's or a single machine's store.</summary>
    Sqlite,
    /// <summary>A PostgreSQL database: a store shared by the nodes of a cluster, written by many processes at once.</summary>
    PostgreSql,
}

/// <summary>
/// Where a run store is: an SQLite file path, or a PostgreSQL database given as a URI
/// (<c>postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&amp;search_path=…]</c>, as libpq and psql take it)
/// or as an Npgsql connection string (<c>Host=…;Port=…;Username=…;Database=…</c>).
/// </summary>
public sealed class StoreAddress
{
    private StoreAddress(StoreBackend backend, string target, string display)
    {
        Backend = backend;
        Target = target;
        Display = display;
    }

    /// <summary>Which database holds the store.</summary>
    public StoreBackend Backend { get; }

    /// <summary>The SQLite file's full path, or the Npgsql connection string (which may hold a password: never print it).</summary>
    internal string Target { get; }

    /// <summary>The store in words, safe to print: the file path, or the PostgreSQL URI without its password.</summary>
    public string Display { get; }

    /// <inheritdoc/>
    public override string ToString() => Display;

    // The URI query parameters understood, and the Npgsql keywords they set (libpq's names, so that a URI that works
    // with psql works here).
    private static string? UriParameter(string name) => name switch
    {
        "sslmode" => "SSL Mode",
        "connect_timeout" => "Timeout",
        "application_name" => "Application Name",
        "search_path" => "Search Path",
        "host" => "Host",
        "port" => "Port",
        "user" => "Username",
        "password" => "Password",
        "dbname" => "Database",
        "sslrootcert" => "Root Certificate",
        "sslcert" => "SSL Certificate",
        "sslkey" => "SSL Key",
        "target_session_attrs" => "Target Session Attributes",
        _ => null,
    };

    private const string UriParameterNames = "sslmode, connect_timeout, application_name, search_path, host, port, user, password, dbname, " +
                                             "sslrootcert, sslcert, sslkey, target_session_attrs";

    /// <summary>True when <paramref name="text"/> names a PostgreSQL database (a postgres:// or postgresql:// URI, or an Npgsql connection string) rather than a file.</summary>
    public static bool IsPostgreSql(string text) =>
        text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || KeyValueForm(text);

    // Regex's static methods cache compiled patterns inside the BCL: no pattern objects are kept here.
    private static bool KeyValueForm(string text) => Regex.IsMatch(text, @"^\s*(host|server)\s*=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>
    /// Reads a store address. <paramref name="origin"/> names where it came from (an option, a variable) for the
    /// error: a <see cref="LabConfigException"/> that says what was expected and what was found. A relative file
    /// path is taken from the working directory.
    /// </summary>
    public static StoreAddress Parse(string text, string origin = "the run store")
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
            throw new LabConfigException($"{origin} is empty: expected an SQLite file path or postgresql://USER@HOST:PORT/DATABASE");
        if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
            return FromUri(text, origin);
        if (KeyValueForm(text)) return FromConnectionString(text, origin);
        if (Regex.Match(text, @"^[a-zA-Z][a-zA-Z0-9+.-]*://") is { Success: true } m)
            throw new LabConfigException($"{origin} '{text}' is a {m.Value[..^3]}:// address: expected an SQLite file path or " +
                                         "postgresql://USER@HOST:PORT/DATABASE");
        try
        {
            string full = Path.GetFullPath(text);
            return new StoreAddress(StoreBackend.Sqlite, full, full);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new LabConfigException($"{origin} '{text}' is not a usable file path: {e.Message}");
        }
    }

    private static StoreAddress FromUri(string text, string origin)
    {
        string Bad(string what) => $"{origin} '{Redact(text)}' {what}: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]";
        string rest = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        string authority = rest[..(rest.IndexOfAny(['/', '?']) is var end and >= 0 ? end : rest.Length)];
        if (authority.Contains(',', StringComparison.Ordinal)) throw new LabConfigException(Bad("lists several hosts, which Aperture does not take"));
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
            throw new LabConfigException(Bad("is not a well-formed URI (a password holding '@', '/' or ':' must be percent-encoded)"));
        var b = new NpgsqlConnectionStringBuilder();
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        if (uri.IdnHost.Length > 0) b.Host = uri.IdnHost.Trim('[', ']');
        if (!uri.IsDefaultPort && uri.Port > 0) b.Port = uri.Port;
        string path = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (path.Contains('/', StringComparison.Ordinal)) throw new LabConfigException(Bad($"has the path '/{path}'; a database name has no '/'"));
        if (path.Length > 0) b.Database = path;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]), value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (UriParameter(key) is not { } keyword)
                throw new LabConfigException(Bad($"has the parameter '{key}', which Aperture does not take (it takes {UriParameterNames})"));
            try
            {
                b[keyword] = keyword == "SSL Mode" ? SslMode(value) : value;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or OverflowException)
            {
                throw new LabConfigException(Bad($"has {key}='{value}', which is not valid ({e.Message.TrimEnd('.')})"));
            }
        }
        return Finish(b, origin, Redact(text));
    }

    // libpq's sslmode values, in Npgsql's spelling.
    private static string SslMode(string v) => v switch
    {
        "disable" => "Disable",
        "allow" => "Allow",
        "prefer" => "Prefer",
        "require" => "Require",
        "verify-ca" => "VerifyCA",
        "verify-full" => "VerifyFull",
        _ => throw new FormatException("expected disable, allow, prefer, require, verify-ca or verify-full"),
    };

    private static StoreAddress FromConnectionString(string text, string origin)
    {
        NpgsqlConnectionStringBuilder b;
        try
        {
            b = new NpgsqlConnectionStringBuilder(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or OverflowException or KeyNotFoundException)
        {
            throw new LabConfigException($"{origin} is not a valid Npgsql connection string ({e.Message.TrimEnd('.')}): expected " +
                                         "Host=HOST;Port=PORT;Username=USER;Database=DATABASE, or postgresql://USER@HOST:PORT/DATABASE");
        }
        var shown = new NpgsqlConnectionStringBuilder(b.ConnectionString) { Password = null };
        return Finish(b, origin, shown.ConnectionString);
    }

    private static StoreAddress Finish(NpgsqlConnectionStringBuilder b, string origin, string shown)
    {
        if (string.IsNullOrEmpty(b.Host))
            throw new LabConfigException($"{origin} '{shown}' names no host: expected postgresql://USER@HOST:PORT/DATABASE");
        if (string.IsNullOrEmpty(b.Database))
            throw new LabConfigException($"{origin} '{shown}' names no database: expected postgresql://USER@HOST:PORT/DATABASE");
        // Aperture's own defaults, unless the address sets them: a name the server's activity view shows, a short
        // connect timeout (an unreachable server is reported, not waited on), a command timeout long enough for a
        // busy store's row locks, and no pooling.
        if (!b.ContainsKey("Application Name") || string.IsNullOrEmpty(b.ApplicationName)) b.ApplicationName = "aperture";
        if (!ExplicitlySet(b, "Timeout")) b.Timeout = 10;
        if (!ExplicitlySet(b, "Command Timeout")) b.CommandTimeout = 120;
        // A store holds one connection for as long as it is open; a pool would keep the server's connections open
        // after every store of a long-lived process is closed.
        if (!ExplicitlySet(b, "Pooling")) b.Pooling = false;
        string display = $"postgresql://{(string.IsNullOrEmpty(b.Username) ? "" : Uri.EscapeDataString(b.Username) + "@")}" +
                         $"{(b.Host!.Contains(':', StringComparison.Ordinal) && !b.Host.StartsWith('/') ? "[" + b.Host + "]" : b.Host)}:{b.Port.ToString(CultureInfo.InvariantCulture)}/" +
                         Uri.EscapeDataString(b.Database!) + (string.IsNullOrEmpty(b.SearchPath) ? "" : "?search_path=" + Uri.EscapeDataString(b.SearchPath));
        return new StoreAddress(StoreBackend.PostgreSql, b.ConnectionString, display);
    }

    private static bool ExplicitlySet(NpgsqlConnectionStringBuilder b, string keyword) =>
        b.ConnectionString.Split(';').Any(p => p.Split('=')[0].Trim().Equals(keyword, StringComparison.OrdinalIgnoreCase));

    // The URI with its password (if any) replaced by ***, for messages.
    private static string Redact(string uri) =>
        Regex.Replace(Regex.Replace(uri, @"^([a-zA-Z]+://[^:/@]*:)[^@/]*@", "$1***@"), @"([?&]password=)[^&]*", "$1***");
}
