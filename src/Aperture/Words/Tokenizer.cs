namespace Aperture.Words;

/// <summary>
/// The word tokenizer of Aperture's text corpora: a word is a maximal run of letters (Unicode categories L*),
/// lower-cased with the invariant culture; every other character (digits, punctuation, apostrophes, hyphens, spaces)
/// separates words. "The LORD's house, 3:16" gives <c>the lord s house</c>. One line of text is one sentence: the
/// training window never crosses a line (word2vec.c ends a sentence at a newline too).
/// </summary>
public static class Tokenizer
{
    /// <summary>The words of <paramref name="line"/>, in order.</summary>
    public static List<string> Words(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<string>();
        Span<char> buffer = stackalloc char[256];
        ForEachWord(line, buffer, w => words.Add(new string(w)));
        return words;
    }

    /// <summary>A callback receiving one lower-cased word (valid only during the call).</summary>
    public delegate void WordAction(ReadOnlySpan<char> word);

    /// <summary>
    /// Calls <paramref name="action"/> with each word of <paramref name="line"/>, lower-cased into
    /// <paramref name="scratch"/> (a longer word is cut into pieces of the scratch's length, as word2vec.c cuts words at
    /// its MAX_STRING), allocating nothing.
    /// </summary>
    public static void ForEachWord(ReadOnlySpan<char> line, Span<char> scratch, WordAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (scratch.Length < 1) throw new ArgumentException("Tokenizer: the scratch buffer must hold at least one character", nameof(scratch));
        int n = 0;
        foreach (char ch in line)
        {
            if (char.IsLetter(ch))
            {
                if (n == scratch.Length)
                {
                    action(scratch[..n]);
                    n = 0;
                }
                scratch[n++] = char.ToLowerInvariant(ch);
            }
            else if (n > 0)
            {
                action(scratch[..n]);
                n = 0;
            }
        }
        if (n > 0) action(scratch[..n]);
    }
}
