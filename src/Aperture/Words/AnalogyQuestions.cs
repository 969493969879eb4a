namespace Aperture.Words;

/// <summary>Builds analogy questions from word pairs that share a relation (singular → plural, base → past tense).</summary>
public static class AnalogyQuestions
{
    /// <summary>
    /// Every ordered combination of two pairs (a, b), (c, d) of <paramref name="pairs"/> with four distinct words, as
    /// the question a : b :: c : d; when there are more than <paramref name="maxQuestions"/>, a uniform sample of that
    /// many drawn from <paramref name="generator"/> (kept in the order of the full list). Pairs that repeat or whose
    /// two words are equal are ignored.
    /// </summary>
    public static IReadOnlyList<AnalogyQuestion> FromPairs(string relation, IEnumerable<(string A, string B)> pairs, int maxQuestions, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(relation);
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(generator);
        if (maxQuestions < 0) throw new ArgumentOutOfRangeException(nameof(maxQuestions), maxQuestions, "AnalogyQuestions: maxQuestions must be ≥ 0");
        var list = pairs.Where(p => p.A != p.B).Distinct().ToArray();
        var all = new List<AnalogyQuestion>();
        foreach (var x in list)
            foreach (var y in list)
                if (x.A != y.A && x.A != y.B && x.B != y.A && x.B != y.B)
                    all.Add(new AnalogyQuestion(x.A, x.B, y.A, y.B, relation));
        if (all.Count <= maxQuestions) return all;
        var chosen = generator.Permutation(all.Count).Take(maxQuestions).Order().ToArray();
        return chosen.Select(i => all[i]).ToArray();
    }
}
