using System.CommandLine;

namespace Aperture.Cli;

/// <summary><c>aperture demo</c>: the engine's first demo, a small network fit to a sine.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Fit y = sin(x) on [-3, 3] with a 1-32-32-1 tanh network and plain gradient descent, printing the loss.");
        cmd.SetAction(_ => Run());
        return cmd;
    }

    private static int Run()
    {
        var g = new Generator(0);
        var x = Tensor.Linspace(-3, 3, 64).Reshape(64, 1);
        var y = x.Sin();

        Tensor Param(int rows, int cols) => (Tensor.Randn([rows, cols], g) * Math.Sqrt(1.0 / cols)).RequiresGrad_();
        var w1 = Param(32, 1); var b1 = Tensor.Zeros([32]).RequiresGrad_();
        var w2 = Param(32, 32); var b2 = Tensor.Zeros([32]).RequiresGrad_();
        var w3 = Param(1, 32); var b3 = Tensor.Zeros([1]).RequiresGrad_();
        Tensor[] parameters = [w1, b1, w2, b2, w3, b3];

        for (int step = 0; step <= 2000; step++)
        {
            var h = Ops.Linear(x, w1, b1).Tanh();
            h = Ops.Linear(h, w2, b2).Tanh();
            var loss = (Ops.Linear(h, w3, b3) - y).Square().Mean();
            foreach (var p in parameters) p.ZeroGrad();
            loss.Backward();
            using (Autodiff.NoGrad())
                foreach (var p in parameters) Ops.SubInPlace(p, p.Grad! * 0.1);
            if (step % 200 == 0) Terminal.Out.WriteLine($"step {step,5}  loss {loss.Item():F6}");
        }
        return 0;
    }
}
