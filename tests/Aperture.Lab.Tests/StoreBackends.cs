using System.Data.Common;
using System.Reflection;
using Aperture.Lab.Store;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit.Sdk;

namespace Aperture.Lab.Tests;

/// <summary>A theory row for the SQLite backend (always run).</summary>
public sealed class SqliteStoreAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[StoreBackend.Sqlite]];
}

/// <summary>
/// A theory row for the PostgreSQL backend: run against the server $APERTURE_TEST_POSTGRES names (cluster/postgres.sh
/// starts one), skipped, saying why, when it names none.
/// </summary>
public sealed class PostgreSqlStoreAttribute : DataAttribute
{
    public PostgreSqlStoreAttribute()
    {
        if (TestStore.PostgresUrl is null)
            Skip = $"no PostgreSQL server: set {TestStore.PostgresVariable} (`eval \"$(cluster/postgres.sh env)\"` after `cluster/postgres.sh start`; .ci/run does both)";
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[StoreBackend.PostgreSql]];
}

/// <summary>
/// Stores for one test on one backend: SQLite files in a temporary folder, or PostgreSQL schemas of their own on the
/// test server (so tests running at once never see each other's rows), dropped when disposed. Artifacts go to the
/// temporary folder either way.
/// </summary>
internal sealed class TestStore : IDisposable
{
    public const string PostgresVariable = "APERTURE_TEST_POSTGRES";

    public static string? PostgresUrl => Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } u ? u : null;

    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12];
    private readonly List<string> _schemas = [];

    public TestStore(StoreBackend backend)
    {
        Backend = backend;
        if (backend == StoreBackend.PostgreSql && PostgresUrl is null)
            throw new InvalidOperationException($"{PostgresVariable} is not set");
    }

    public StoreBackend Backend { get; }

    public TempDir Dir { get; } = new();

    /// <summary>The store called <paramref name="name"/>: a file path, or a URI whose search_path is a schema of this test's.</summary>
    public string Location(string name = "runs")
    {
        if (Backend == StoreBackend.Sqlite) return Dir.File(name + ".db");
        string schema = _prefix + "_" + new string(name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_').ToArray());
        lock (_schemas)
        {
            if (!_schemas.Contains(schema))
            {
                Admin($"CREATE SCHEMA {schema}");
                _schemas.Add(schema);
            }
        }
        string url = PostgresUrl!;
        return StoreAddress.IsPostgreSql(url) && url.Contains("://", StringComparison.Ordinal)
            ? url + (url.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "search_path=" + schema
            : url.TrimEnd(';') + ";Search Path=" + schema;
    }

    /// <summary>The artifacts folder of the store called <paramref name="name"/> (null for SQLite: beside its file).</summary>
    public string? Artifacts(string name = "runs") => Backend == StoreBackend.Sqlite ? null : Dir.File(name + ".artifacts");

    /// <summary>Opens (creating) the store called <paramref name="name"/>.</summary>
    public RunStore Open(string name = "runs") => new(Location(name), Artifacts(name));

    /// <summary>Opens the existing store called <paramref name="name"/> for reading.</summary>
    public RunStore OpenExisting(string name = "runs") => RunStore.OpenExisting(Location(name), Artifacts(name));

    /// <summary>Runs SQL on the store called <paramref name="name"/> behind the store's back (as a hand edit or another program would), returning the rows changed.</summary>
    public int Sql(string name, string sql, params (string Name, object Value)[] parameters)
    {
        using var db = Connect(Location(name));
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = "@" + n;
            p.Value = v;
            cmd.Parameters.Add(p);
        }
        return cmd.ExecuteNonQuery();
    }

    private DbConnection Connect(string location)
    {
        var address = StoreAddress.Parse(location);
        DbConnection db = address.Backend == StoreBackend.Sqlite
            ? new SqliteConnection($"Data Source={address.Target};Pooling=False")
            : new NpgsqlConnection(address.Target);
        db.Open();
        return db;
    }

    private static void Admin(string sql)
    {
        using var db = new NpgsqlConnection(StoreAddress.Parse(PostgresUrl!).Target);
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        try
        {
            foreach (var schema in _schemas) Admin($"DROP SCHEMA IF EXISTS {schema} CASCADE");
        }
        catch (NpgsqlException)
        {
            // The server went away: its schemas go with its data folder.
        }
        Dir.Dispose();
    }
}
