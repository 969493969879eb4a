// What every phenomenon file wires together: the lab's probes, recipes and statistics, the attributes that declare a
// protocol's settings ([Description], [Range]) and invariant formatting.
global using System.ComponentModel;
global using System.ComponentModel.DataAnnotations;
global using System.Globalization;
global using Aperture.Lab.Probes;
global using Aperture.Lab.Recipes;
global using Aperture.Lab.Statistics;
