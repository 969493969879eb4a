namespace Aperture;

/// <summary>
/// Per-thread scratch arrays that kernels reuse from call to call (patch matrices, partial products), so a training
/// step does not allocate them anew. A slot's contents are garbage between calls: every user overwrites what it reads.
/// </summary>
internal static class Scratch<T> where T : unmanaged
{
    [ThreadStatic] private static T[]?[]? t_slots;

    /// <summary>An array of at least <paramref name="length"/> elements for <paramref name="slot"/> (0–7) on this thread.</summary>
    public static T[] Get(int slot, long length)
    {
        if (length > Array.MaxLength)
            throw new InvalidOperationException($"a scratch buffer of {length} elements is more than an array can hold");
        var slots = t_slots ??= new T[]?[8];
        var a = slots[slot];
        if (a is null || a.Length < length) slots[slot] = a = GC.AllocateUninitializedArray<T>((int)Math.Max(length, 1));
        return a;
    }
}
