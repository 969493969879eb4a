using System.Buffers.Binary;
using System.Text;

namespace Aperture.Bench.Peers;

/// <summary>
/// Marks one symbol-version requirement of an ELF64 shared library as weak (VER_FLG_WEAK in its Vernaux entry of
/// .gnu.version_r). The dynamic loader then reports a missing version as a warning instead of refusing to load the
/// library. Used on a private copy of TorchSharp's libLibTorchSharp.so, which asks for GLIBCXX_3.4.32 (GCC 13's C++
/// runtime) only for a marker symbol it never calls; Debian 12's libstdc++ stops at 3.4.30.
/// </summary>
public static class ElfVersionPatch
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    /// <summary>What the patch found or did.</summary>
    public enum Outcome { Patched, AlreadyWeak, NotRequired }

    /// <summary>
    /// Sets VER_FLG_WEAK on every requirement of <paramref name="version"/> (e.g. GLIBCXX_3.4.32) in the file's
    /// bytes. Throws <see cref="InvalidDataException"/> on anything that is not a well-formed little-endian ELF64.
    /// </summary>
    public static Outcome MarkWeak(byte[] elf, string version)
    {
        var b = elf.AsSpan();
        Require(b.Length >= 64 && b[0] == 0x7f && b[1] == (byte)'E' && b[2] == (byte)'L' && b[3] == (byte)'F', "not an ELF file");
        Require(b[4] == 2 && b[5] == 1, "not a little-endian ELF64 file");
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(b[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(b[0x3a..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(b[0x3c..]);
        Require(shentsize == 64 && shoff > 0 && shoff + (ulong)(shnum * 64) <= (ulong)b.Length, "section header table out of bounds");

        bool found = false, patched = false;
        for (int s = 0; s < shnum; s++)
        {
            var sh = b.Slice((int)shoff + s * 64, 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            ulong off = BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(sh[0x20..]);
            int link = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            uint entries = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2c..]);   // sh_info: number of Verneed entries
            Require(off + size <= (ulong)b.Length && link < shnum, ".gnu.version_r out of bounds");
            var strSh = b.Slice((int)shoff + link * 64, 64);
            ulong strOff = BinaryPrimitives.ReadUInt64LittleEndian(strSh[0x18..]);
            ulong strSize = BinaryPrimitives.ReadUInt64LittleEndian(strSh[0x20..]);
            Require(strOff + strSize <= (ulong)b.Length, "string table out of bounds");

            ulong need = off;
            for (uint e = 0; e < entries; e++)
            {
                Require(need + 16 <= off + size, "Verneed entry out of bounds");
                var vn = b.Slice((int)need, 16);
                int count = BinaryPrimitives.ReadUInt16LittleEndian(vn[2..]);
                ulong aux = need + BinaryPrimitives.ReadUInt32LittleEndian(vn[8..]);
                for (int a = 0; a < count; a++)
                {
                    Require(aux + 16 <= off + size, "Vernaux entry out of bounds");
                    var vna = b.Slice((int)aux, 16);
                    uint name = BinaryPrimitives.ReadUInt32LittleEndian(vna[8..]);
                    if (ReadString(b, strOff, strSize, name) == version)
                    {
                        found = true;
                        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(vna[4..]);
                        if ((flags & VerFlagWeak) == 0)
                        {
                            BinaryPrimitives.WriteUInt16LittleEndian(vna[4..], (ushort)(flags | VerFlagWeak));
                            patched = true;
                        }
                    }
                    uint next = BinaryPrimitives.ReadUInt32LittleEndian(vna[12..]);
                    if (next == 0) break;
                    aux += next;
                }
                uint nextNeed = BinaryPrimitives.ReadUInt32LittleEndian(vn[12..]);
                if (nextNeed == 0) break;
                need += nextNeed;
            }
        }
        return patched ? Outcome.Patched : found ? Outcome.AlreadyWeak : Outcome.NotRequired;
    }

    private static string ReadString(ReadOnlySpan<byte> b, ulong strOff, ulong strSize, uint index)
    {
        Require(index < strSize, "version name outside the string table");
        var s = b.Slice((int)(strOff + index), (int)(strSize - index));
        int end = s.IndexOf((byte)0);
        Require(end >= 0, "unterminated version name");
        return Encoding.ASCII.GetString(s[..end]);
    }

    private static void Require(bool ok, string what)
    {
        if (!ok) throw new InvalidDataException($"ELF version patch: {what}");
    }
}
