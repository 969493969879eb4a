using Aperture.Data;
using Aperture.IO;

namespace Aperture.Tests.IO;

public class CsvTests
{
    private static CsvTable Parse(string text, bool hasHeader = true, char separator = ',') =>
        Csv.Read(new StringReader(text), "test.csv", hasHeader, separator);

    [Fact]
    public void ReadsNumbersWithAHeader()
    {
        var t = Parse("x, y ,\"label\"\n1.5,-2e3,0\r\n\n  .25 , NaN, 1\ninf,-Infinity,2\n");
        Assert.Equal(["x", "y", "label"], t.Header);
        Assert.Equal(3, t.Rows);
        Assert.Equal(3, t.Columns);
        Assert.Equal(DType.Float64, t.Values.DType);
        Assert.Equal(new[] { 1.5, -2000, 0, 0.25, double.NaN, 1, double.PositiveInfinity, double.NegativeInfinity, 2 }, t.Values.ToArray<double>());
        Assert.Equal(2, t.ColumnIndex("label"));
        Assert.Throws<ArgumentException>(() => t.ColumnIndex("z"));
    }

    [Fact]
    public void ReadsWithoutAHeaderAndWithOtherSeparators()
    {
        var t = Parse("1;2\n3;\"4\"\n", hasHeader: false, separator: ';');
        Assert.Null(t.Header);
        Assert.Equal(new double[] { 1, 2, 3, 4 }, t.Values.ToArray<double>());
        Assert.Equal(new double[] { 1, 2 }, Parse("1\t2\n", false, '\t').Values.ToArray<double>());
    }

    [Theory]
    [InlineData("a,b\n1,2\n3,x\n", true, 3, 2, "'x' is not a number")]
    [InlineData("a,b\n1,2\n3\n", true, 3, 0, "found 1 fields but line 1 has 2")]
    [InlineData("1,2\n\n3,4,5\n", false, 3, 0, "found 3 fields but line 1 has 2")]
    [InlineData("a,b\n1,\n", true, 2, 2, "the field is empty")]
    [InlineData("a,b\n1,\"2\n", true, 2, 2, "not closed")]
    [InlineData("a,b\n1,\"2\"x\n", true, 2, 2, "after a closing quote")]
    [InlineData("", true, 1, 0, "no rows")]
    [InlineData("1,2,3\n4,5,6\n7,8,1e999x\n", false, 3, 3, "'1e999x' is not a number")]
    public void ProblemsNameTheLineAndColumn(string text, bool header, int line, int column, string reason)
    {
        var e = Assert.Throws<CsvFormatException>(() => Parse(text, header));
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(reason, e.Message);
        Assert.Contains("test.csv", e.Message);
        Assert.Contains(column > 0 ? $"line {line}, column {column}" : $"line {line}", e.Message);
    }

    [Fact]
    public void WriteThenReadGivesTheSameValues()
    {
        using var dir = new TempDirectory();
        var f32 = Tensor.Wrap(new[] { 0.1f, -0f, float.Epsilon, float.MaxValue, float.NaN, 1f / 3 }, [3, 2]);
        Csv.Write(dir.File("f.csv"), f32, ["a,b", "q\"uote"]);
        var back = Csv.Read(dir.File("f.csv"));
        Assert.Equal(["a,b", "q\"uote"], back.Header);
        Assert.Equal(f32.ToArray<float>(), back.Values.ToArray<double>().Select(v => (float)v));
        Assert.StartsWith("\"a,b\",\"q\"\"uote\"\n0.1,-0\n", File.ReadAllText(dir.File("f.csv")));

        var f64 = Tensor.Wrap(new[] { Math.PI, -1e-300, double.NegativeInfinity, 12345678901234567 }, [2, 2]);
        Csv.Write(dir.File("d.csv"), f64);
        Assert.Equal(f64.ToArray<double>(), Csv.Read(dir.File("d.csv"), hasHeader: false).Values.ToArray<double>());

        Assert.Throws<ShapeMismatchException>(() => Csv.Write(dir.File("x.csv"), Tensor.Zeros([3])));
        Assert.Throws<ArgumentException>(() => Csv.Write(dir.File("x.csv"), Tensor.Zeros([1, 2]), ["only one"]));
    }

    [Fact]
    public void ATableBecomesADataset()
    {
        var t = Parse("f1,label,f2\n0.5,1,2\n1.5,0,3\n");
        var ds = TensorDataset.FromTable(t.Values, t.ColumnIndex("label"), classLabels: true);
        Assert.Equal([2, 2], ds.Inputs.ShapeArray());
        Assert.Equal(new[] { 0.5f, 2, 1.5f, 3 }, ds.Inputs.ToArray<float>());
        Assert.Equal(new long[] { 1, 0 }, ds.Targets.ToArray<long>());
        var regression = TensorDataset.FromTable(t.Values, 2, classLabels: false);
        Assert.Equal([2, 1], regression.Targets.ShapeArray());
        Assert.Equal(new[] { 2f, 3 }, regression.Targets.ToArray<float>());
        Assert.Throws<ArgumentException>(() => TensorDataset.FromTable(t.Values, 0, classLabels: true)); // 0.5 is no class
    }

    [Fact]
    public void FuzzedTextGivesFormatErrorsOnly()
    {
        var valid = System.Text.Encoding.UTF8.GetBytes("a,\"b c\",d\n1,2.5e-3,-inf\n\n4,\"5\",6\n");
        var g = new Generator(5);
        for (int trial = 0, trials = Fuzz.Trials(2000); trial < trials; trial++)
        {
            var bytes = Fuzz.Mutate(valid, g);
            try { Csv.Read(new StreamReader(new MemoryStream(bytes), new System.Text.UTF8Encoding(false, true)), "fuzz.csv", hasHeader: trial % 2 == 0); }
            catch (CsvFormatException) { }
        }
    }
}
