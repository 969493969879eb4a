using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Aperture.Lab.Store;

/// <summary>
/// The few places where SQLite and PostgreSQL differ, for a store that otherwise speaks plain SQL through ADO.NET:
/// connecting, how a writing transaction serialises with other writers, column types in the schema, and finding the
/// tables. Statements use <c>@name</c> parameters and <c>INSERT … ON CONFLICT</c>, which both understand.
/// </summary>
internal abstract class StoreDialect
{
    public abstract StoreBackend Backend { get; }

    /// <summary>Opens a connection to the store's database and applies the session's settings.</summary>
    public abstract DbConnection Open(StoreAddress address, bool create);

    /// <summary>
    /// Begins a transaction that writes. SQLite: BEGIN IMMEDIATE, which takes the database's write lock up front, so
    /// two writers queue on the busy timeout instead of deadlocking on a lock upgrade. PostgreSQL: READ COMMITTED,
    /// with the rows it decides on locked by <see cref="ForUpdate"/>.
    /// </summary>
    public abstract DbTransaction BeginWrite(DbConnection connection);

    /// <summary>
    /// Appended to a SELECT that reads a row a transaction then decides on (a run's status and lease): PostgreSQL
    /// locks the row until the transaction ends, so a second writer waits and then sees the first one's decision.
    /// SQLite needs nothing: its immediate transaction already excludes every other writer.
    /// </summary>
    public abstract string ForUpdate { get; }

    /// <summary>Appended to ORDER BY on text, so that rows come back in byte order whatever the server's collation.</summary>
    public abstract string ByteOrder { get; }

    /// <summary>The names of the tables in the store's database (PostgreSQL: in the connection's current schema).</summary>
    public abstract string TablesQuery { get; }

    /// <summary>Extra conditions that find a damaged run row (SQLite keeps text in an INTEGER column; PostgreSQL does not).</summary>
    public abstract string DamagedRunTypes { get; }

    /// <summary>Serialises schema changes between processes opening one store at once (PostgreSQL: an advisory lock held to the transaction's end).</summary>
    public abstract void LockSchema(DbConnection connection, DbTransaction tx);

    /// <summary>True for a failure that a retry of the whole transaction cures (PostgreSQL's deadlock and serialisation failures).</summary>
    public abstract bool IsTransient(Exception e);

    /// <summary>
    /// The schema's types, written as tokens in migrations: <c>{rowid}</c> an integer key the database assigns,
    /// <c>{serial}</c> the same never reusing a deleted row's key, <c>{bigint}</c> a 64-bit integer, <c>{real}</c> a
    /// double, <c>{blob}</c> bytes, <c>{without_rowid}</c> after a table whose key is its primary key (SQLite only).
    /// </summary>
    public string Ddl(string sql)
    {
        foreach (var (token, type) in Types) sql = sql.Replace(token, type, StringComparison.Ordinal);
        return sql;
    }

    protected abstract IReadOnlyList<(string Token, string Type)> Types { get; }

    // Dialects hold no state; a store makes its own.
    public static StoreDialect For(StoreBackend backend) => backend == StoreBackend.Sqlite ? new SqliteDialect() : new PostgreSqlDialect();

    private sealed class SqliteDialect : StoreDialect
    {
        public override StoreBackend Backend => StoreBackend.Sqlite;

        public override DbConnection Open(StoreAddress address, bool create)
        {
            var db = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = address.Target,
                Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
                Pooling = false,
                DefaultTimeout = 120,
            }.ToString());
            try
            {
                db.Open();
                foreach (var pragma in (string[])["PRAGMA busy_timeout = 60000;", "PRAGMA journal_mode = WAL;", "PRAGMA synchronous = FULL;", "PRAGMA foreign_keys = ON;"])
                {
                    using var cmd = db.CreateCommand();
                    cmd.CommandText = pragma;
                    cmd.ExecuteNonQuery();
                }
                return db;
            }
            catch
            {
                db.Dispose();
                throw;
            }
        }

        public override DbTransaction BeginWrite(DbConnection connection) => ((SqliteConnection)connection).BeginTransaction(deferred: false);
        public override string ForUpdate => "";
        public override string ByteOrder => "";
        public override string TablesQuery => "SELECT name FROM sqlite_master WHERE type = 'table'";
        public override string DamagedRunTypes => " OR typeof(seed) <> 'integer' OR typeof(attempts) <> 'integer'";
        public override void LockSchema(DbConnection connection, DbTransaction tx) { }
        public override bool IsTransient(Exception e) => false;

        protected override IReadOnlyList<(string, string)> Types { get; } =
        [
            ("{rowid}", "INTEGER PRIMARY KEY"), ("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT"), ("{bigint}", "INTEGER"),
            ("{real}", "REAL"), ("{blob}", "BLOB"), ("{without_rowid}", " WITHOUT ROWID"),
        ];
    }

    private sealed class PostgreSqlDialect : StoreDialect
    {
        // Any number that no other program's advisory locks use by chance: "APTR".
        private const long SchemaLock = 0x41505452;

        public override StoreBackend Backend => StoreBackend.PostgreSql;

        public override DbConnection Open(StoreAddress address, bool create)
        {
            var db = new NpgsqlConnection(address.Target);
            try
            {
                db.Open();
                return db;
            }
            catch
            {
                db.Dispose();
                throw;
            }
        }

        public override DbTransaction BeginWrite(DbConnection connection) => connection.BeginTransaction(IsolationLevel.ReadCommitted);
        public override string ForUpdate => " FOR UPDATE";
        public override string ByteOrder => " COLLATE \"C\"";
        public override string TablesQuery => "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()";
        public override string DamagedRunTypes => "";

        public override void LockSchema(DbConnection connection, DbTransaction tx)
        {
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT pg_advisory_xact_lock({SchemaLock})";
            cmd.ExecuteNonQuery();
        }

        public override bool IsTransient(Exception e) => e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure };

        protected override IReadOnlyList<(string, string)> Types { get; } =
        [
            ("{rowid}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"), ("{serial}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
            ("{bigint}", "BIGINT"), ("{real}", "DOUBLE PRECISION"), ("{blob}", "BYTEA"), ("{without_rowid}", ""),
        ];
    }
}

/// <summary>Typed parameters, so that a null is sent with its type (PostgreSQL cannot infer the type of an untyped null).</summary>
internal static class SqlParameters
{
    public static DbParameter Param(this DbCommand cmd, string name, DbType type)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = "@" + name;
        p.DbType = type;
        cmd.Parameters.Add(p);
        return p;
    }

    public static void Set(this DbCommand cmd, string name, string? value) => cmd.Param(name, DbType.String).Value = (object?)value ?? DBNull.Value;
    public static void Set(this DbCommand cmd, string name, long value) => cmd.Param(name, DbType.Int64).Value = value;
    public static void Set(this DbCommand cmd, string name, int value) => cmd.Param(name, DbType.Int32).Value = value;

    /// <summary>A double; NaN is stored as NULL (as SQLite always has) and read back as NaN.</summary>
    public static void Set(this DbCommand cmd, string name, double value) => cmd.Param(name, DbType.Double).Value = Db(value);

    public static object Db(double v) => double.IsNaN(v) ? DBNull.Value : v;
}
