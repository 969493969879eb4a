using Aperture.IO;

namespace Aperture.Tests.IO;

/// <summary>Damaged files must give <see cref="SafeTensorsFormatException"/>: never another exception type, never a hang.</summary>
public class SafeTensorsFuzzTests
{
    private static byte[] Valid() => SafeTensors.Serialize(new Dictionary<string, Tensor>
    {
        ["w"] = Tensor.Wrap(new[] { 1f, 2, 3, 4, 5, 6 }, [2, 3]),
        ["b"] = Tensor.Wrap(new[] { 0.5, -0.5 }, [2]),
        ["n"] = Tensor.Scalar(3, DType.Int64),
        ["m"] = Tensor.Wrap(new[] { true, false, true }, [3]),
    }, new Dictionary<string, string> { ["epoch"] = "1" });

    [Fact]
    public void EveryTruncationIsRejected()
    {
        var valid = Valid();
        for (int length = 0; length < valid.Length; length++)
            Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(valid[..length], $"cut at {length}"));
        Assert.Equal(4, SafeTensors.Load(valid, "whole").Tensors.Count);
    }

    [Fact]
    public void RandomMutationsGiveTheTypedErrorOrAValidFile()
    {
        var valid = Valid();
        var g = new Generator(2024);
        int rejected = 0, accepted = 0, trials = Fuzz.Trials(5000);
        for (int trial = 0; trial < trials; trial++)
        {
            var bytes = Fuzz.Mutate(valid, g);
            try
            {
                var file = SafeTensors.Load(bytes, $"mutant {trial}");
                // A mutation the format cannot detect (a changed data byte, a renamed tensor) still loads consistently.
                foreach (var t in file.Tensors.Values) Assert.True(t.Numel >= 0);
                accepted++;
            }
            catch (SafeTensorsFormatException e)
            {
                Assert.Contains($"mutant {trial}", e.Message);
                rejected++;
            }
        }
        Assert.True(rejected > trials / 2, $"only {rejected} of {trials} mutants were rejected ({accepted} loaded)");
    }

    [Fact]
    public void MutatedHeadersAreRejectedOnDisk()
    {
        using var dir = new TempDirectory();
        var valid = Valid();
        var g = new Generator(7);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
        for (int trial = 0; trial < 300; trial++)
        {
            var bytes = (byte[])valid.Clone();
            // Damage only the JSON, where every byte matters.
            bytes[8 + g.NextLong(headerEnd - 8)] = (byte)g.NextLong(256);
            string path = dir.File($"m{trial}.safetensors");
            File.WriteAllBytes(path, bytes);
            try { SafeTensors.Load(path); }
            catch (SafeTensorsFormatException) { }
        }
    }
}
