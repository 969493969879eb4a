using System.Data.Common;

namespace Aperture.Lab.Store;

/// <summary>
/// The store's database cannot be reached or refuses this user (a PostgreSQL server that is down, unreachable, or
/// rejects the login): the message names the store and the server's reason. Retrying later may succeed.
/// </summary>
public sealed class StoreUnavailableException(string message, DbException inner) : IOException(message, inner);
