using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Aperture.Lab.Tests;

/// <summary>
/// No hidden state across runs: a run is a function of its spec, so the lab keeps nothing in static fields that a run
/// could write and a later run (in the same process only) could read, and a phenomenon holds no state at all.
/// </summary>
public class NoHiddenStateTests
{
    private static readonly Assembly Lab = typeof(Phenomenon).Assembly;

    // Types whose instances cannot change once built.
    private static bool Immutable(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(Type)
        || t.IsDefined(typeof(IsReadOnlyAttribute))                       // readonly structs
        || (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) && Immutable(t.GetGenericArguments()[0]))
        || t.Namespace == "System.Text.Json" && t.Name == "JsonSerializerOptions"   // frozen on first use
        || t == typeof(Phenomenon)                                          // stateless: PhenomenaHoldNoState
        || (t.IsClass && t.IsSealed && t.Assembly == Lab && !typeof(IEnumerable).IsAssignableFrom(t) && AllFieldsReadOnly(t));

    private static bool AllFieldsReadOnly(Type t) =>
        t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).All(f => f.IsInitOnly && (f.FieldType == t || Immutable(f.FieldType)));

    [Fact]
    public void NoStaticFieldInTheLabCanBeWritten()
    {
        var offenders = new List<string>();
        foreach (var type in Lab.GetTypes())
        {
            if (type.IsDefined(typeof(CompilerGeneratedAttribute))) continue;
            foreach (var f in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (f.IsLiteral || f.IsDefined(typeof(CompilerGeneratedAttribute)) && f.Name.Contains("BackingField") && f.IsInitOnly && Immutable(f.FieldType)) continue;
                if (!f.IsInitOnly) offenders.Add($"{type.FullName}.{f.Name} is a static field that is not readonly");
                else if (!Immutable(f.FieldType) && !IsMemo(f)) offenders.Add($"{type.FullName}.{f.Name} is a static {f.FieldType.Name}, which can be changed");
            }
        }
        Assert.True(offenders.Count == 0, string.Join("\n", offenders));
    }

    [Fact]
    public void PhenomenaHoldNoState()
    {
        foreach (var p in Catalogue.All)
        {
            var fields = p.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
            Assert.True(fields.Length == 0, $"{p.Id} has instance fields: {string.Join(", ", fields.Select(f => f.Name))}");
        }
    }

    // A memo is allowed only for values computed once from code (the catalogue, found by reflection; options).
    private static bool IsMemo(FieldInfo f) =>
        f.FieldType.IsGenericType && f.FieldType.GetGenericTypeDefinition() == typeof(Lazy<>) && Immutable(f.FieldType.GetGenericArguments()[0]);
}
