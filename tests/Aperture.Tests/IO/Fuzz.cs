namespace Aperture.Tests.IO;

/// <summary>Seeded mutations of valid files: bit flips, byte overwrites, truncations, insertions and deletions.</summary>
public static class Fuzz
{
    /// <summary>
    /// The number of mutants a fuzz test tries: <paramref name="count"/>, times APERTURE_FUZZ_SCALE when that is set
    /// (for a long hunt outside the fast suite).
    /// </summary>
    public static int Trials(int count) =>
        int.TryParse(Environment.GetEnvironmentVariable("APERTURE_FUZZ_SCALE"), out int scale) && scale > 1 ? count * scale : count;

    public static byte[] Mutate(byte[] valid, Generator g)
    {
        var bytes = (byte[])valid.Clone();
        int edits = 1 + (int)g.NextLong(4);
        for (int e = 0; e < edits; e++)
        {
            switch (g.NextLong(6))
            {
                case 0 when bytes.Length > 0: // flip one bit
                    bytes[g.NextLong(bytes.Length)] ^= (byte)(1 << (int)g.NextLong(8));
                    break;
                case 1 when bytes.Length > 0: // overwrite a byte with an interesting value
                    byte[] interesting = [0, 1, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'{', (byte)'}', (byte)',', (byte)'-', (byte)'9', (byte)'[', (byte)' '];
                    bytes[g.NextLong(bytes.Length)] = interesting[g.NextLong(interesting.Length)];
                    break;
                case 2: // truncate
                    bytes = bytes[..(int)g.NextLong(bytes.Length + 1)];
                    break;
                case 3: // insert a random byte
                {
                    int at = (int)g.NextLong(bytes.Length + 1);
                    bytes = [.. bytes[..at], (byte)g.NextLong(256), .. bytes[at..]];
                    break;
                }
                case 4 when bytes.Length > 0: // delete a byte
                {
                    int at = (int)g.NextLong(bytes.Length);
                    bytes = [.. bytes[..at], .. bytes[(at + 1)..]];
                    break;
                }
                default: // random byte anywhere
                    if (bytes.Length > 0) bytes[g.NextLong(bytes.Length)] = (byte)g.NextLong(256);
                    break;
            }
        }
        return bytes;
    }
}
