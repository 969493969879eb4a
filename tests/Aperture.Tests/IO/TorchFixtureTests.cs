using System.Text.Json;
using Aperture.IO;

namespace Aperture.Tests.IO;

/// <summary>
/// Files written by PyTorch (tests/interop/make_torch_fixture.py) load with exactly the values PyTorch recorded
/// beside them in JSON, which never passed through a safetensors reader.
/// </summary>
public class TorchFixtureTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "IO", "Fixtures", name);

    private static void AssertMatchesRecord(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> stored, JsonElement record)
    {
        int count = 0;
        foreach (var entry in record.EnumerateObject())
        {
            count++;
            var t = tensors[entry.Name];
            string dtype = entry.Value.GetProperty("dtype").GetString()!;
            Assert.Equal(dtype, stored[entry.Name]);
            Assert.Equal(entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), t.ShapeArray());
            var values = entry.Value.GetProperty("values").EnumerateArray().ToArray();
            Assert.Equal(values.Length, t.Numel);
            switch (dtype)
            {
                case "F32" or "F16" or "BF16":
                {
                    Assert.Equal(DType.Float32, t.DType);
                    var got = t.ToArray<float>();
                    for (int i = 0; i < got.Length; i++)
                        if (double.IsNaN(Number(values[i]))) Assert.True(float.IsNaN(got[i])); // the record keeps no NaN payload
                        else Assert.Equal(BitConverter.SingleToInt32Bits((float)Number(values[i])), BitConverter.SingleToInt32Bits(got[i]));
                    break;
                }
                case "F64":
                {
                    Assert.Equal(DType.Float64, t.DType);
                    var got = t.ToArray<double>();
                    for (int i = 0; i < got.Length; i++)
                        if (double.IsNaN(Number(values[i]))) Assert.True(double.IsNaN(got[i]));
                        else Assert.Equal(BitConverter.DoubleToInt64Bits(Number(values[i])), BitConverter.DoubleToInt64Bits(got[i]));
                    break;
                }
                case "BOOL":
                    Assert.Equal(values.Select(v => v.GetBoolean()), t.ToArray<bool>());
                    break;
                default:
                    Assert.Equal(DType.Int64, t.DType);
                    Assert.Equal(values.Select(v => v.GetInt64()), t.ToArray<long>());
                    break;
            }
        }
        Assert.Equal(count, tensors.Count);
    }

    private static double Number(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? e.GetString() switch { "nan" => double.NaN, "inf" => double.PositiveInfinity, _ => double.NegativeInfinity }
        : e.GetDouble();

    [Fact]
    public void TensorsOfEveryDTypeWrittenByPyTorchLoadExactly()
    {
        var file = SafeTensors.Load(Fixture("torch_dtypes.safetensors"));
        using var record = JsonDocument.Parse(File.ReadAllText(Fixture("torch_dtypes.json")));
        AssertMatchesRecord(file.Tensors, file.StoredDTypes, record.RootElement.GetProperty("tensors"));
        Assert.Equal("tests/interop/make_torch_fixture.py", file.Metadata["producer"]);
        // Spot checks that do not depend on the record: values the script computes in closed form.
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i / 7f), file.Tensors["f32"].ToArray<float>());
        Assert.Equal(new[] { 0f, 3, 1, 4, 2, 5 }, file.Tensors["transposed"].ToArray<float>());
        Assert.Equal(new[] { 0L, 1, -1, 1L << 62, long.MinValue, long.MaxValue }, file.Tensors["i64"].ToArray<long>());
        Assert.Equal(0, file.Tensors["scalar"].Rank);
        Assert.Equal(3.25, file.Tensors["scalar"].Item());
        Assert.True(float.IsNegative(file.Tensors["f32_special"].ToArray<float>()[1]));
    }

    [Fact]
    public void APyTorchModelAndAdamStateLoadAsACheckpoint()
    {
        var state = Checkpoint.Load(Fixture("torch_checkpoint.safetensors"));
        Assert.Equal(["0.bias", "0.weight", "2.bias", "2.weight"], state.Model.Keys.Order());
        Assert.Equal(12, state.Optimizer.Count);
        Assert.Equal(2.0, state.Optimizer["0.weight.step"].Item());
        var file = SafeTensors.Load(Fixture("torch_checkpoint.safetensors"));
        using var record = JsonDocument.Parse(File.ReadAllText(Fixture("torch_checkpoint.json")));
        AssertMatchesRecord(file.Tensors, file.StoredDTypes, record.RootElement.GetProperty("tensors"));
        SafeTensorsTests.AssertSame(file.Tensors["model.0.weight"], state.Model["0.weight"]);
    }
}
