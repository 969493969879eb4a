using System.Globalization;
using Aperture.Data;
using Aperture.Latent;
using Aperture.Lab.Probes;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Lab.Recipes;

/// <summary>Which representation of a bond a neighbour search compares.</summary>
public enum BondRepresentation
{
    /// <summary>The standardized input features (rating, coupon, maturity, sector one-hot, nuisance columns).</summary>
    RawFeatures,
    /// <summary>The last hidden layer of the price net at its initial weights, untrained.</summary>
    RandomNet,
    /// <summary>The last hidden layer of the price net after training.</summary>
    TrainedNet,
}

/// <summary>
/// How closely bond neighbours agree on what drives the price and on what does not, each as
/// <see cref="AttributeAgreement.Relative"/> (mean |Δ| between a bond and its neighbours over mean |Δ| between two
/// random bonds: 0 = neighbours share the value, 1 = the search ignores it).
/// </summary>
/// <param name="Yield">Relative spread of the yield.</param>
/// <param name="Coupon">Relative spread of the coupon rate.</param>
/// <param name="Maturity">Relative spread of the maturity.</param>
/// <param name="Price">Relative spread of the noise-free price (the function of the three factors).</param>
/// <param name="Nuisance">Relative spread of each nuisance column.</param>
public sealed record BondNeighbourScores(double Yield, double Coupon, double Maturity, double Price, IReadOnlyList<double> Nuisance)
{
    /// <summary>The mean relative spread of the three price factors (yield, coupon, maturity): lower is better.</summary>
    public double Driving => (Yield + Coupon + Maturity) / 3;

    /// <summary>The mean relative spread of the nuisance columns: near 1 when the search ignores them (NaN without nuisance columns).</summary>
    public double NuisanceMean => Nuisance.Count == 0 ? double.NaN : Nuisance.Average();
}

/// <summary>A price net trained on a bond market, with the scalings its inputs and targets need.</summary>
/// <param name="Model">The MLP: standardized features → standardized price.</param>
/// <param name="FeatureMean">Per-column mean of the training features [features].</param>
/// <param name="FeatureStd">Per-column standard deviation of the training features [features] (1 for a constant column).</param>
/// <param name="PriceMean">Mean training price.</param>
/// <param name="PriceStd">Standard deviation of the training prices.</param>
public sealed record BondPriceNet(Sequential Model, double[] FeatureMean, double[] FeatureStd, double PriceMean, double PriceStd)
{
    /// <summary>The seed of the market (<see cref="Synthetic.BondMarket"/>) the net was trained on, where known: saved with the net.</summary>
    public ulong? MarketSeed { get; init; }

    /// <summary>The name of the last hidden layer: the activation before the output Linear.</summary>
    public string LastHidden => BondSimilarity.LastHiddenLayer(Model);

    /// <summary>The features of <paramref name="x"/> [n, features] scaled by the training statistics.</summary>
    public Tensor Standardize(Tensor x) => BondSimilarity.Standardize(x, FeatureMean, FeatureStd);

    /// <summary>The model's price prediction (per 100 face) for raw features [n, features], as float64 [n].</summary>
    public double[] Predict(Tensor x)
    {
        using var _ = Autodiff.NoGrad();
        Model.Eval();
        var z = Model.Forward(Standardize(x)).ToDoubleArray();
        return [.. z.Select(v => PriceMean + PriceStd * v)];
    }

    /// <summary>The state dict plus the scalings as metadata: a file <see cref="Load"/> reads back.</summary>
    public void Save(string path, IReadOnlyList<int> hidden)
    {
        var meta = new Dictionary<string, string>
        {
            ["aperture.bond_net.hidden"] = string.Join(',', hidden),
            ["aperture.bond_net.inputs"] = FeatureMean.Length.ToString(CultureInfo.InvariantCulture),
            ["aperture.bond_net.feature_mean"] = string.Join(',', FeatureMean.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
            ["aperture.bond_net.feature_std"] = string.Join(',', FeatureStd.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
            ["aperture.bond_net.price_mean"] = PriceMean.ToString("R", CultureInfo.InvariantCulture),
            ["aperture.bond_net.price_std"] = PriceStd.ToString("R", CultureInfo.InvariantCulture),
        };
        if (MarketSeed is { } seed) meta["aperture.bond_net.market_seed"] = seed.ToString(CultureInfo.InvariantCulture);
        Aperture.IO.SafeTensors.Save(path, Model.StateDict(), meta);
    }

    /// <summary>Reads a file written by <see cref="Save"/>; anything else is a <see cref="LabConfigException"/> naming the file.</summary>
    public static BondPriceNet Load(string path)
    {
        Aperture.IO.SafeTensorsFile file;
        try { file = Aperture.IO.SafeTensors.Load(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new LabConfigException($"--model '{path}': cannot read it as a bond price net ({e.Message})");
        }
        string Meta(string key) => file.Metadata.TryGetValue("aperture.bond_net." + key, out var v) ? v
            : throw new LabConfigException($"--model '{path}': no '{key}' in its metadata; it was not saved by 'aperture similar --dataset bonds --train --save'");
        try
        {
            double[] Doubles(string key) => [.. Meta(key).Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture))];
            int[] hidden = [.. Meta("hidden").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
            int inputs = int.Parse(Meta("inputs"), CultureInfo.InvariantCulture);
            var (mean, std) = (Doubles("feature_mean"), Doubles("feature_std"));
            if (mean.Length != inputs || std.Length != inputs || hidden.Length == 0 || hidden.Any(h => h < 1) || inputs < 1)
                throw new FormatException("inconsistent sizes");
            var model = BondSimilarity.Model(inputs, hidden, new Generator(0));
            model.LoadStateDict(file.Tensors);
            return new BondPriceNet(model, mean, std, double.Parse(Meta("price_mean"), CultureInfo.InvariantCulture), double.Parse(Meta("price_std"), CultureInfo.InvariantCulture))
            {
                MarketSeed = file.Metadata.TryGetValue("aperture.bond_net.market_seed", out var seed) ? ulong.Parse(seed, CultureInfo.InvariantCulture) : null,
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or KeyNotFoundException or ShapeMismatchException)
        {
            throw new LabConfigException($"--model '{path}': its bond-net metadata or weights do not fit together ({e.Message})");
        }
    }
}

/// <summary>
/// The bond-comparison example: an MLP trained to predict a synthetic bond's price from its features
/// (<see cref="Synthetic.BondMarket"/>), and "similar bonds" found by distance in its last hidden layer, in the raw
/// (standardized) features, or in an untrained net's last hidden layer, scored by <see cref="NeighbourAgreement"/> on
/// the factors that drive the price (yield, coupon, maturity) and on the nuisance columns.
/// </summary>
public static class BondSimilarity
{
    /// <summary>The price net: an MLP with ReLU hidden layers and one output.</summary>
    public static Sequential Model(int inputs, IReadOnlyList<int> hidden, Generator init) => Models.Mlp(inputs, hidden, 1, "relu", generator: init);

    /// <summary>The name of a <see cref="Models.Mlp"/>'s last hidden layer: the module just before the output Linear.</summary>
    public static string LastHiddenLayer(Sequential mlp)
    {
        ArgumentNullException.ThrowIfNull(mlp);
        if (mlp.Count < 2) throw new ArgumentException("BondSimilarity: the model has no hidden layer", nameof(mlp));
        return (mlp.Count - 2).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Per-column mean and standard deviation (population) of <paramref name="x"/> [n, d]; a constant column gets 1.</summary>
    public static (double[] Mean, double[] Std) ColumnStatistics(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        int n = x.Shape[0], d = x.Shape[1];
        var v = x.Contiguous().ToDoubleArray();
        var mean = new double[d];
        var std = new double[d];
        for (int j = 0; j < d; j++)
        {
            double m = 0, s = 0;
            for (int i = 0; i < n; i++) m += v[i * d + j];
            m /= n;
            for (int i = 0; i < n; i++) s += (v[i * d + j] - m) * (v[i * d + j] - m);
            mean[j] = m;
            std[j] = s > 0 ? Math.Sqrt(s / n) : 1;
        }
        return (mean, std);
    }

    /// <summary>(x − mean) / std per column, float32 [n, d].</summary>
    public static Tensor Standardize(Tensor x, double[] mean, double[] std)
    {
        ArgumentNullException.ThrowIfNull(x);
        int n = x.Shape[0], d = x.Shape[1];
        if (mean.Length != d || std.Length != d)
            throw new ShapeMismatchException($"BondSimilarity.Standardize: {d} feature columns but scalings for {mean.Length}");
        var v = x.Contiguous().ToDoubleArray();
        var z = new float[v.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) z[i * d + j] = (float)((v[i * d + j] - mean[j]) / std[j]);
        return Tensor.FromArray(z, [n, d]);
    }

    /// <summary>
    /// A price net at its initial weights (drawn from <paramref name="init"/>) with the scalings of <paramref name="train"/>;
    /// <see cref="Train"/> from the same generator state starts from the same weights.
    /// </summary>
    public static BondPriceNet Untrained(TensorDataset train, IReadOnlyList<int> hidden, Generator init)
    {
        ArgumentNullException.ThrowIfNull(train);
        var (mean, std) = ColumnStatistics(train.Inputs);
        var (pm, ps) = ColumnStatistics(train.Targets);
        return new BondPriceNet(Model(train.Inputs.Shape[1], hidden, init), mean, std, pm[0], ps[0]);
    }

    /// <summary>
    /// Trains the price net on <paramref name="train"/> (features → price per 100 face, both standardized by the
    /// training statistics) with Adam on the mean squared error, <paramref name="epochs"/> passes of shuffled
    /// minibatches drawn from <paramref name="order"/>.
    /// </summary>
    public static BondPriceNet Train(TensorDataset train, IReadOnlyList<int> hidden, int epochs, int batchSize, double learningRate,
        Generator init, Generator order, Action<double>? progress = null)
    {
        var net = Untrained(train, hidden, init);
        var scaled = new TensorDataset(net.Standardize(train.Inputs),
            Tensor.FromArray([.. train.Targets.ToDoubleArray().Select(p => (float)((p - net.PriceMean) / net.PriceStd))], [train.Count, 1]));
        var trainer = new Trainer(net.Model, new Adam(net.Model.Parameters(), lr: learningRate), (o, t) => Losses.Mse(o, t))
        {
            Progress = p => progress?.Invoke((p.Epoch - 1 + (double)p.Batch / Math.Max(1, p.BatchesPerEpoch)) / epochs),
        };
        trainer.Fit(new DataLoader(scaled, batchSize, shuffle: true, generator: order), epochs);
        return net;
    }

    /// <summary>The representation <paramref name="kind"/> of the bonds <paramref name="features"/> [n, d]: standardized features or a net's last hidden layer.</summary>
    public static Tensor Represent(BondRepresentation kind, BondPriceNet net, Tensor features)
    {
        ArgumentNullException.ThrowIfNull(net);
        var z = net.Standardize(features);
        return kind == BondRepresentation.RawFeatures ? z : LatentCodes.Extract(net.Model, net.LastHidden, new TensorDataset(z, Tensor.Zeros([z.Shape[0]])));
    }

    /// <summary>
    /// Scores the <paramref name="k"/> nearest other bonds of every bond of <paramref name="market"/> under
    /// <paramref name="representation"/> [n, d] (row i is bond i).
    /// </summary>
    public static BondNeighbourScores Score(Tensor representation, BondMarketTask market, int k, Distance metric)
    {
        ArgumentNullException.ThrowIfNull(market);
        var nb = new NearestNeighbourIndex(representation, metric).SearchSelf(k);
        int n = market.Data.Count;
        var f = market.Factors.ToArray<double>();
        double[] Column(int c) => [.. Enumerable.Range(0, n).Select(i => f[i * 3 + c])];
        var price = Enumerable.Range(0, n).Select(i => Synthetic.BondPrice(f[i * 3], f[i * 3 + 1], (int)f[i * 3 + 2])).ToArray();
        var x = market.Data.Inputs.ToDoubleArray();
        int d = market.FeatureNames.Count, first = d - market.NuisanceColumns;
        var nuisance = Enumerable.Range(first, market.NuisanceColumns)
            .Select(c => NeighbourAgreement.Measure(nb, [.. Enumerable.Range(0, n).Select(i => x[i * d + c])]).Relative).ToList();
        return new BondNeighbourScores(NeighbourAgreement.Measure(nb, Column(0)).Relative, NeighbourAgreement.Measure(nb, Column(1)).Relative,
            NeighbourAgreement.Measure(nb, Column(2)).Relative, NeighbourAgreement.Measure(nb, price).Relative, nuisance);
    }

    /// <summary>The names of <see cref="Measure"/>'s values, in order (the keys latent-neighbours records).</summary>
    public static readonly IReadOnlyList<string> MeasureKeys =
        ["driving_spread", "nuisance_spread", "yield_spread", "coupon_spread", "maturity_spread", "price_spread", "held_price_rmse"];

    /// <summary>
    /// One market's measurements in representation <paramref name="kind"/> of <paramref name="net"/>, in
    /// <see cref="MeasureKeys"/> order: the relative spreads of <see cref="Score"/> (driving, nuisance, yield, coupon,
    /// maturity, noise-free price) and the net's price RMSE on the held-out bonds; <paramref name="codes"/> is the
    /// representation searched.
    /// </summary>
    public static double[] Measure(BondRepresentation kind, BondPriceNet net, BondMarketTask held, int k, Distance metric, out Tensor codes)
    {
        ArgumentNullException.ThrowIfNull(held);
        codes = Represent(kind, net, held.Data.Inputs);
        var s = Score(codes, held, k, metric);
        double rmse = Math.Sqrt(net.Predict(held.Data.Inputs).Zip(held.Data.Targets.ToDoubleArray(), (a, b) => (a - b) * (a - b)).Average());
        return [s.Driving, s.NuisanceMean, s.Yield, s.Coupon, s.Maturity, s.Price, rmse];
    }

    /// <summary>The first <paramref name="count"/> bonds of <paramref name="market"/> and the rest, as two markets with the same sector spreads.</summary>
    public static (BondMarketTask First, BondMarketTask Others) Split(BondMarketTask market, int count)
    {
        ArgumentNullException.ThrowIfNull(market);
        int n = market.Data.Count;
        if (count < 1 || count >= n) throw new ArgumentOutOfRangeException(nameof(count), count, $"BondSimilarity.Split: count must lie in [1, {n - 1}]");
        BondMarketTask Part(int from, int to) => market with
        {
            Data = new TensorDataset(Ops.Slice(market.Data.Inputs, 0, from, to).Contiguous(), Ops.Slice(market.Data.Targets, 0, from, to).Contiguous()),
            Factors = Ops.Slice(market.Factors, 0, from, to).Contiguous(),
            Ratings = Ops.Slice(market.Ratings, 0, from, to).Contiguous(),
            Sectors = Ops.Slice(market.Sectors, 0, from, to).Contiguous(),
        };
        return (Part(0, count), Part(count, n));
    }
}
