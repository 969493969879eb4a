namespace Aperture.Words;

/// <summary>A four-word analogy: <see cref="A"/> is to <see cref="B"/> as <see cref="C"/> is to <see cref="D"/>.</summary>
/// <param name="A">The first word of the known pair.</param>
/// <param name="B">The second word of the known pair.</param>
/// <param name="C">The first word of the question pair.</param>
/// <param name="D">The expected answer.</param>
/// <param name="Relation">The relation the pairs share (a name for reports, such as <c>plural</c>).</param>
public sealed record AnalogyQuestion(string A, string B, string C, string D, string Relation);

/// <summary>The settings of <see cref="PlantedAnalogyCorpus.Generate"/>.</summary>
public sealed record PlantedAnalogyOptions
{
    /// <summary>Independent families of words (think country/capital/language/currency, or the forms of a verb).</summary>
    public int Families { get; init; } = 3;

    /// <summary>Concepts per family (think one country, one verb).</summary>
    public int ConceptsPerFamily { get; init; } = 12;

    /// <summary>Forms per family (2 to 6): each concept has one word per form.</summary>
    public int FormsPerFamily { get; init; } = 4;

    /// <summary>Context words private to each concept (shared by all its forms).</summary>
    public int ContextWordsPerConcept { get; init; } = 6;

    /// <summary>Context words private to each form of a family (shared by all its concepts).</summary>
    public int ContextWordsPerForm { get; init; } = 6;

    /// <summary>Filler words shared by every sentence, drawn with Zipf's law (frequency ∝ 1/rank).</summary>
    public int FillerWords { get; init; } = 100;

    /// <summary>How many sentences (lines) to generate.</summary>
    public int Sentences { get; init; } = 20_000;

    /// <summary>Concept context words per sentence.</summary>
    public int ConceptContexts { get; init; } = 3;

    /// <summary>Form context words per sentence.</summary>
    public int FormContexts { get; init; } = 2;

    /// <summary>Filler words per sentence.</summary>
    public int Fillers { get; init; } = 3;

    internal void Validate()
    {
        static void Check(int value, int min, int max, string name)
        {
            if (value < min || value > max)
                throw new ArgumentOutOfRangeException(name, value, $"PlantedAnalogyOptions: {name} must lie in [{min}, {max}], found {value}");
        }
        Check(Families, 1, 99, nameof(Families));
        Check(ConceptsPerFamily, 2, 99, nameof(ConceptsPerFamily));
        Check(FormsPerFamily, 2, Suffixes.Length, nameof(FormsPerFamily));
        Check(ContextWordsPerConcept, 1, 99, nameof(ContextWordsPerConcept));
        Check(ContextWordsPerForm, 1, 99, nameof(ContextWordsPerForm));
        Check(FillerWords, 1, 999, nameof(FillerWords));
        Check(Sentences, 1, 100_000_000, nameof(Sentences));
        Check(ConceptContexts, 0, 50, nameof(ConceptContexts));
        Check(FormContexts, 0, 50, nameof(FormContexts));
        Check(Fillers, 0, 50, nameof(Fillers));
    }

    internal const string Suffixes = "aeiouy";
}

/// <summary>
/// A synthetic corpus with planted analogy structure, for tests and the word-analogies phenomenon without any
/// download. Each family has concepts × forms words; word (concept i, form j) appears in sentences together with
/// context words private to concept i and context words private to form j (plus Zipf-distributed fillers), in a
/// random order. The distributional hypothesis then makes vec(i, j) ≈ u_i + s_j, so (i, j) : (i, j′) :: (i′, j) :
/// (i′, j′) holds by construction, and among the planted words the other forms of a word's concept are its nearest
/// (its planted neighbours). Over the whole vocabulary a planted word's nearest neighbours are its concept's context
/// words, which share its contexts most, so the trivial baselines of Linzen (2016), the nearest neighbour of b or of
/// c, answer almost no planted question: recovering them needs the offset.
/// </summary>
/// <param name="Lines">The sentences, words separated by spaces (letters only, so <see cref="Tokenizer"/> gives them back).</param>
/// <param name="Questions">Every planted analogy: both concepts distinct, both forms distinct, within one family.</param>
/// <param name="Concepts">The words of each concept (its forms in order), family after family: the planted neighbour groups.</param>
public sealed record PlantedAnalogyCorpus(IReadOnlyList<string> Lines, IReadOnlyList<AnalogyQuestion> Questions, IReadOnlyList<IReadOnlyList<string>> Concepts)
{
    /// <summary>Generates the corpus from <paramref name="generator"/> (every draw in a fixed order: same seed, same corpus).</summary>
    public static PlantedAnalogyCorpus Generate(PlantedAnalogyOptions options, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(generator);
        options.Validate();
        int F = options.Families, N = options.ConceptsPerFamily, V = options.FormsPerFamily;
        // Fixed-width names from disjoint prefixes, so no two words can coincide: w|family|concept|form-vowel,
        // c|family|concept|k, s|family|form|k, x|k.
        string Word(int f, int i, int j) => "w" + Code(f) + Code(i) + PlantedAnalogyOptions.Suffixes[j];
        string ConceptContext(int f, int i, int k) => "c" + Code(f) + Code(i) + Code(k);
        string FormContext(int f, int j, int k) => "s" + Code(f) + Code(j) + Code(k);
        string Filler(int k) => "x" + Code(k / 100) + Code(k % 100);

        // Zipf's law over the fillers: cumulative weights 1/rank.
        var zipf = new double[options.FillerWords];
        double acc = 0;
        for (int k = 0; k < zipf.Length; k++) zipf[k] = acc += 1.0 / (k + 1);
        var lines = new string[options.Sentences];
        var sentence = new List<string>();
        for (int s = 0; s < lines.Length; s++)
        {
            sentence.Clear();
            int f = (int)generator.NextLong(F), i = (int)generator.NextLong(N), j = (int)generator.NextLong(V);
            sentence.Add(Word(f, i, j));
            for (int k = 0; k < options.ConceptContexts; k++) sentence.Add(ConceptContext(f, i, (int)generator.NextLong(options.ContextWordsPerConcept)));
            for (int k = 0; k < options.FormContexts; k++) sentence.Add(FormContext(f, j, (int)generator.NextLong(options.ContextWordsPerForm)));
            for (int k = 0; k < options.Fillers; k++)
            {
                double u = generator.NextDouble() * acc;
                int r = Array.BinarySearch(zipf, u);
                sentence.Add(Filler(Math.Min(r < 0 ? ~r : r, zipf.Length - 1)));
            }
            for (int k = sentence.Count - 1; k > 0; k--)   // Fisher–Yates
            {
                int m = (int)generator.NextLong(k + 1);
                (sentence[k], sentence[m]) = (sentence[m], sentence[k]);
            }
            lines[s] = string.Join(' ', sentence);
        }

        var questions = new List<AnalogyQuestion>();
        var concepts = new List<IReadOnlyList<string>>();
        for (int f = 0; f < F; f++)
        {
            for (int i = 0; i < N; i++) concepts.Add(Enumerable.Range(0, V).Select(j => Word(f, i, j)).ToArray());
            for (int j = 0; j < V; j++)
                for (int j2 = 0; j2 < V; j2++)
                {
                    if (j2 == j) continue;
                    string relation = $"family{f}:form{j}->form{j2}";
                    for (int i = 0; i < N; i++)
                        for (int i2 = 0; i2 < N; i2++)
                            if (i2 != i) questions.Add(new AnalogyQuestion(Word(f, i, j), Word(f, i, j2), Word(f, i2, j), Word(f, i2, j2), relation));
                }
        }
        return new PlantedAnalogyCorpus(lines, questions, concepts);
    }

    /// <summary>Two letters for 0 … 99 (consonants only, so the names stay letters and never contain a form's vowel).</summary>
    private static string Code(int n) => new([Consonants[n / 10], Consonants[n % 10]]);

    private const string Consonants = "bcdfghjklm";
}
