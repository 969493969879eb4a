namespace Aperture.Lab;

/// <summary>Every phenomenon in the lab, found by reflection: adding a phenomenon is adding one class.</summary>
public static class Catalogue
{
    private static readonly Lazy<IReadOnlyList<Phenomenon>> _all = new(() =>
    {
        var found = typeof(Catalogue).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsClass: true } && typeof(Phenomenon).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (Phenomenon)Activator.CreateInstance(t)!)
            .OrderBy(p => p.Id, StringComparer.Ordinal)
            .ToList();
        var duplicate = found.GroupBy(p => p.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidOperationException($"two phenomena share the id '{duplicate.Key}'");
        return found;
    });

    /// <summary>Every phenomenon, ordered by id.</summary>
    public static IReadOnlyList<Phenomenon> All => _all.Value;

    /// <summary>The phenomenon with id <paramref name="id"/>; the error lists the known ids.</summary>
    public static Phenomenon Get(string id) =>
        All.FirstOrDefault(p => p.Id == id)
        ?? throw new LabConfigException($"no phenomenon '{id}'; the catalogue has: {string.Join(", ", All.Select(p => p.Id))}");
}
