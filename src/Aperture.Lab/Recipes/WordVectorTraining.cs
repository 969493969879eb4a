using Aperture.Lab.Corpora;
using Aperture.Words;

namespace Aperture.Lab.Recipes;

/// <summary>A corpus ready for training: its tokens, and the analogy questions that go with it.</summary>
/// <param name="Corpus">The tokenized corpus.</param>
/// <param name="Questions">Planted analogies for the planted corpus; WordNet's inflections (pairs in the vocabulary) otherwise.</param>
/// <param name="Description">What was read, in words.</param>
public sealed record PreparedCorpus(TokenizedCorpus Corpus, IReadOnlyList<AnalogyQuestion> Questions, string Description);

/// <summary>
/// Word vectors end to end: read a corpus (planted, a Debian text, or a file), tokenize it, train skip-gram with
/// negative sampling, and score analogies. The phenomenon word-analogies and <c>aperture words</c> share it.
/// </summary>
public static class WordVectorTraining
{
    /// <summary>
    /// The seed of the draw that samples WordNet questions when a relation has more than the maximum: fixed, so every
    /// seed of an experiment is scored on the same questions and seeds differ only in training.
    /// </summary>
    public const ulong QuestionSampleSeed = 20_161_107;

    /// <summary>
    /// Reads and tokenizes <paramref name="corpus"/> (<paramref name="path"/> for a plain text file, which takes the
    /// place of the name), keeping words seen at least <paramref name="minCount"/> times. The planted corpus is drawn
    /// from <paramref name="generator"/> with <paramref name="planted"/>; real corpora are paired with WordNet's
    /// inflection questions whose four words are in the vocabulary, at most <paramref name="maxQuestionsPerRelation"/>
    /// per relation.
    /// </summary>
    public static PreparedCorpus Prepare(CorpusName corpus, string? path, int minCount, PlantedAnalogyOptions planted, Generator generator,
        int maxQuestionsPerRelation = 2000)
    {
        ArgumentNullException.ThrowIfNull(planted);
        ArgumentNullException.ThrowIfNull(generator);
        if (path is null && corpus == CorpusName.Planted)
        {
            var p = PlantedAnalogyCorpus.Generate(planted, generator);
            var tokens = TokenizedCorpus.FromLines(p.Lines, minCount);
            return new PreparedCorpus(tokens, p.Questions, $"planted corpus: {p.Lines.Count} sentences, {p.Questions.Count} planted analogies");
        }
        if (path is null) return Prepare(CorpusText.Read(corpus), minCount, maxQuestionsPerRelation);
        return Prepare(DebianCorpora.PlainText(path), DebianCorpora.WordNetInflections(), $"'{path}'", minCount, maxQuestionsPerRelation);
    }

    /// <summary>
    /// Tokenizes a real corpus already read (<paramref name="text"/>: its sentences and WordNet's inflection pairs),
    /// keeping words seen at least <paramref name="minCount"/> times, with the inflection questions whose four words
    /// are in the vocabulary, at most <paramref name="maxQuestionsPerRelation"/> per relation.
    /// </summary>
    public static PreparedCorpus Prepare(CorpusText text, int minCount, int maxQuestionsPerRelation = 2000)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Prepare(text.Lines, text.Inflections, text.Name.ToString(), minCount, maxQuestionsPerRelation);
    }

    private static PreparedCorpus Prepare(IReadOnlyList<string> lines, IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> inflections,
        string name, int minCount, int maxQuestionsPerRelation)
    {
        var tokenized = TokenizedCorpus.FromLines(lines, minCount);
        var questions = WordNetQuestions(tokenized.Vocabulary, maxQuestionsPerRelation, inflections);
        return new PreparedCorpus(tokenized, questions,
            $"{name}: {tokenized.Sentences} sentences, {tokenized.Tokens.Length} tokens, {tokenized.Vocabulary.Count} words with count ≥ {minCount}; " +
            $"{questions.Count} WordNet inflection questions in the vocabulary");
    }

    /// <summary>
    /// Analogy questions from WordNet's exception lists (<see cref="DebianCorpora.WordNetInflections"/>) restricted to
    /// pairs whose two words are in <paramref name="vocabulary"/>; relations with fewer than two such pairs give none.
    /// </summary>
    public static IReadOnlyList<AnalogyQuestion> WordNetQuestions(Vocabulary vocabulary, int maxQuestionsPerRelation) =>
        WordNetQuestions(vocabulary, maxQuestionsPerRelation, DebianCorpora.WordNetInflections());

    /// <summary>The questions of <see cref="WordNetQuestions(Vocabulary, int)"/> from inflection pairs already read.</summary>
    public static IReadOnlyList<AnalogyQuestion> WordNetQuestions(Vocabulary vocabulary, int maxQuestionsPerRelation,
        IReadOnlyDictionary<string, IReadOnlyList<(string Base, string Form)>> inflections)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(inflections);
        var questions = new List<AnalogyQuestion>();
        var g = new Generator(QuestionSampleSeed);
        foreach (var (relation, pairs) in inflections.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            questions.AddRange(AnalogyQuestions.FromPairs(relation,
                pairs.Where(x => vocabulary.Contains(x.Base) && vocabulary.Contains(x.Form)).Select(x => (x.Base, x.Form)), maxQuestionsPerRelation, g));
        return questions;
    }

    /// <summary>The score of each method, by method.</summary>
    public static IReadOnlyDictionary<AnalogyMethod, AnalogyScore> Score(WordVectors vectors, IReadOnlyList<AnalogyQuestion> questions) =>
        vectors.Evaluate(questions).ToDictionary(s => s.Method);
}
