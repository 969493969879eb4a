using System.Globalization;
using System.Text;
using Aperture.Lab.Statistics;
using ScottPlot;

namespace Aperture.Lab.Report;

/// <summary>The figures' colours: a colour per arm, a hue per variant of a grid with shades per setting.</summary>
internal static partial class PlotRenderer
{
    /// <summary>
    /// Each group's colour and its shade within its hue (0 for the first group of a hue): groups that share a
    /// <see cref="Series.Hue"/> (two quantities of one arm) take that hue's colour, the first as it is and the next
    /// lighter; the hues take colours as <see cref="Colours"/> gives them.
    /// </summary>
    internal static (Dictionary<string, Color> Colour, Dictionary<string, int> Shade) GroupColours(Figure figure, IReadOnlyList<string> arms,
        IReadOnlyDictionary<string, ArmCell>? grid = null)
    {
        var groups = figure.Series.Where(s => !s.Faint).Select(s => s.Group).Concat(figure.Series.Select(s => s.Group)).Distinct().ToList();
        var hueOf = groups.ToDictionary(g => g, g => figure.Series.First(s => s.Group == g).Hue ?? g);
        var colorOfHue = Colours([.. groups.Select(g => hueOf[g]).Distinct()], arms, grid);
        var shade = groups.ToDictionary(g => g, g => groups.Where(o => hueOf[o] == hueOf[g]).ToList().IndexOf(g));
        return (groups.ToDictionary(g => g, g => Lighter(colorOfHue[hueOf[g]], shade[g] switch { 0 => 0, 1 => 0.45, _ => 0.65 })), shade);
    }

    /// <summary>
    /// One colour per group: a group named after an arm (the arm's name, alone or followed by ':' or a space) takes
    /// the arm's place in the palette (the longest matching name wins, so "bfloat16-nearest-folded" is not
    /// "bfloat16-nearest"); the others take the remaining places in order. With a variant × setting
    /// <paramref name="grid"/>, the palette's places go to the variants instead: an arm takes its variant's hue at the
    /// shade of its setting (<see cref="GridShade"/>), so dropout and Gaussian dropout at one p differ in hue and
    /// dropout's settings differ in shade.
    /// </summary>
    internal static Dictionary<string, Color> Colours(IReadOnlyList<string> groups, IReadOnlyList<string> arms, IReadOnlyDictionary<string, ArmCell>? grid = null)
    {
        var slots = groups.ToDictionary(g => g, g => ArmIndex(g, arms));
        var result = new Dictionary<string, Color>();
        if (grid is { Count: > 0 })
        {
            // The variants in the arms' order, each the arms of it in that order: the hue is the variant's place, the
            // shade the arm's place within it. Every figure of the phenomenon so draws an arm in one colour.
            var variants = arms.Where(grid.ContainsKey).GroupBy(a => grid[a].Variant).Select(v => v.ToList()).ToList();
            var gridPalette = PaletteFor(variants.Count);
            var colourOfArm = new Dictionary<string, Color>();
            for (int v = 0; v < variants.Count; v++)
                for (int j = 0; j < variants[v].Count; j++)
                    colourOfArm[variants[v][j]] = GridShade(gridPalette.GetColor(v), j, variants[v].Count);
            // A group named after a variant as a whole (its steps to a target against the setting) takes the hue itself.
            string[] variantNames = [.. variants.Select(v => grid[v[0]].Variant)];
            int free = variants.Count;
            foreach (var g in groups)
                result[g] = slots[g] is { } a && colourOfArm.TryGetValue(arms[a], out var c) ? c
                    : ArmIndex(g, variantNames) is { } v ? gridPalette.GetColor(v) : gridPalette.GetColor(free++);
            return result;
        }
        // The palette follows the arm count alone, so every figure of a phenomenon draws an arm in the same colour.
        var palette = PaletteFor(arms.Count > 0 ? arms.Count : groups.Count);
        var used = slots.Values.OfType<int>().ToHashSet();
        int next = 0;
        foreach (var g in groups)
        {
            if (slots[g] is not { } slot)
            {
                while (used.Contains(next)) next++;
                slot = next++;
            }
            result[g] = palette.GetColor(slot);
        }
        return result;
    }

    /// <summary>
    /// The place in <paramref name="arms"/> of the arm a group is named after (the arm's name, alone or followed by ':'
    /// or a space; the longest matching name wins); null for a group named after no arm.
    /// </summary>
    internal static int? ArmIndex(string group, IReadOnlyList<string> arms)
    {
        int best = -1;
        for (int i = 0; i < arms.Count; i++)
            if (group == arms[i] || (group.StartsWith(arms[i], StringComparison.Ordinal) && group.Length > arms[i].Length && group[arms[i].Length] is ':' or ' '))
                if (best < 0 || arms[i].Length > arms[best].Length) best = i;
        return best < 0 ? null : best;
    }

    /// <summary>
    /// The shade of setting <paramref name="index"/> of <paramref name="count"/> in a hue: from the hue mixed half with
    /// white (the first setting) through the hue itself to the hue darkened by a third (the last); a lone setting is
    /// the hue itself.
    /// </summary>
    internal static Color GridShade(Color hue, int index, int count)
    {
        if (count < 2) return hue;
        double t = index / (double)(count - 1);
        return t <= 0.5 ? Lighter(hue, 0.5 - t) : Darker(hue, 0.66 * (t - 0.5));
    }

    /// <summary><paramref name="c"/> mixed with black by <paramref name="amount"/> (0: itself, 1: black).</summary>
    internal static Color Darker(Color c, double amount) => amount <= 0 ? c : new Color(
        (byte)Math.Round(c.Red * (1 - amount)), (byte)Math.Round(c.Green * (1 - amount)), (byte)Math.Round(c.Blue * (1 - amount)), c.Alpha);
}
