using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Distillation.Evaluation;
using Distillation.Tests.TestSupport;
using Distillation.Training;

namespace Distillation.Cifar10.Tests;

/// <summary>--recipe: the teacher once, then per seed the cross-entropy control and the distilled student; flags override the recipe.</summary>
public sealed class SampleRecipeTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string[] Args(params string[] more) =>
    [
        "--data", CifarFiles.OfficialSizeRoot, "--no-download", "--output", Path.Combine(temp.Path, "run"),
        "--train-limit", "200", "--test-limit", "40", "--batch-size", "20", "--threads", "1", "--no-speed", "--no-charts", .. more,
    ];

    [Theory]
    [InlineData("error: --recipe must be one of strong, airbench, airbench-60, was 'weak'.*", "--recipe", "weak")]
    [InlineData("error: --control-lr and --control-weight-decay need --recipe*", "--control-lr", "0.1")]
    [InlineData("error: --control-weight-decay must be a finite number ≥ 0, was -1.*", "--recipe", "strong", "--control-weight-decay", "-1")]
    [InlineData("error: --teacher-epochs and --teacher-lr need --recipe*", "--teacher-epochs", "3")]
    [InlineData("error: --soft-ramp must be a fraction from 0 to 1, was 1.5.*", "--recipe", "strong", "--soft-ramp", "1.5")]
    [InlineData("error: --soft-ramp must be a fraction from 0 to 1, was -0.25.*", "--soft-ramp", "-0.25")]
    [InlineData("error: --no-control needs --recipe.*", "--no-control")]
    [InlineData("error: --teacher-snapshots must be ≥ 1, was 0.*", "--teacher-snapshots", "0")]
    [InlineData("error: --teacher-snapshots saves the teacher this run trains, and --teacher gives one that is not trained here; leave out one.*", "--teacher-snapshots", "2", "--teacher", "t.weights")]
    [InlineData("error: --control-only trains no teacher and distils nothing; leave out --teacher-snapshots.*", "--recipe", "strong", "--control-only", "--teacher-snapshots", "1")]
    [InlineData("error: --control-only trains no teacher and distils nothing; leave out --teacher-flip-average.*", "--recipe", "strong", "--control-only", "--teacher-flip-average")]
    [InlineData("error: --teacher-flip-average gives the teacher's logits only; --method kd,cosine reads its features (cosine, hint).*", "--teacher-flip-average", "--method", "kd,cosine")]
    [InlineData("error: --control-only needs --recipe: it trains a recipe's control alone.*", "--control-only")]
    [InlineData("error: --control-only and --no-control leave nothing to train; use one.*", "--recipe", "strong", "--control-only", "--no-control")]
    [InlineData("error: --control-only trains no teacher and distils nothing; leave out --teacher.*", "--recipe", "strong", "--control-only", "--teacher", "t.weights")]
    [InlineData("error: --control-only trains no teacher and distils nothing; leave out --teacher-epochs.*", "--recipe", "strong", "--control-only", "--teacher-epochs", "2")]
    [InlineData("error: --recipe distills a fresh student*leave out --distill-from.*", "--recipe", "strong", "--distill-from", "baseline")]
    [InlineData("error: --teacher-precision must be one of auto, float32, bfloat16, fp32, bf16, was 'half'.*", "--teacher-precision", "half")]
    [InlineData("error: --precision must be one of fp32, float32, bf16-mixed, auto, fp16-mixed, was 'bf16'.*", "--precision", "bf16")]
    public async Task A_recipe_flag_that_cannot_work_is_one_error_line_before_anything_runs(string expected, params string[] flags)
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(flags));

        exit.Should().Be(2);
        error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Which.Should().Match(expected);
        output.Should().NotContain("Training");
    }

    [Fact]
    public async Task Mixed_precision_and_channels_last_train_every_phase_and_are_recorded_in_the_settings()
    {
        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--precision", "BF16-mixed", "--channels-last", "on"));

        exit.Should().Be(0, error);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        var settings = json.RootElement.GetProperty("settings");
        settings.GetProperty("trainingPrecision").GetString().Should().Be("bf16-mixed");
        settings.GetProperty("channelsLast").GetString().Should().Be("on");
    }

    [Fact]
    public async Task Soft_ramp_takes_the_distillation_weight_to_zero_in_the_last_epoch_and_keeps_cross_entropy()
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(
            "--recipe", "strong", "--validation", "40", "--teacher-epochs", "1", "--epochs", "2", "--seeds", "1", "--no-control", "--soft-ramp", "0.5"));

        exit.Should().Be(0, error);
        output.Should().Contain("0.5·ce + 0.5(to 0 over the last 0.5)·kd(T=2)");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        json.RootElement.GetProperty("settings").GetProperty("softRamp").GetDouble().Should().Be(0.5);
        var epochs = json.RootElement.GetProperty("recipe").GetProperty("runs")[0].GetProperty("distilled").GetProperty("epochs");
        double Loss(int epoch) => epochs[epoch].GetProperty("meanLoss").GetDouble();
        double Part(int epoch, string name) => epochs[epoch].GetProperty("lossParts").GetProperty(name).GetDouble();

        // The ramp covers the last ⌈0.5 · 2⌉ = 1 epoch: epoch 1 at the recipe's weights, epoch 2 with kd at 0.
        Part(0, "kd").Should().BeGreaterThan(0);
        Loss(0).Should().BeApproximately((0.5 * Part(0, "ce")) + (0.5 * Part(0, "kd")), 1e-4);
        Part(1, "kd").Should().BeGreaterThan(0, "the term is still computed and reported");
        Loss(1).Should().BeApproximately(0.5 * Part(1, "ce"), 1e-4, "kd's weight is 0 in the last epoch");
    }

    [Fact]
    public async Task Teacher_flip_average_labels_the_distilled_students_batches_with_the_teachers_flip_average()
    {
        async Task<(string Output, JsonElement Distilled, JsonElement Settings)> Run(params string[] more)
        {
            var (exit, output, error) = await SampleProcess.RunAsync(
                Args(["--recipe", "strong", "--validation", "40", "--teacher-epochs", "1", "--epochs", "1", "--seeds", "1", "--no-control", .. more]));
            exit.Should().Be(0, error);
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
            return (output, json.RootElement.GetProperty("recipe").GetProperty("runs")[0].GetProperty("distilled").Clone(), json.RootElement.GetProperty("settings").Clone());
        }

        var plain = await Run();
        var averaged = await Run("--teacher-flip-average");

        averaged.Output.Should().Contain("(teacher in auto, flip-averaged)");
        plain.Output.Should().Contain("(teacher in auto)");
        averaged.Settings.GetProperty("teacherFlipAverage").GetBoolean().Should().BeTrue();
        plain.Settings.GetProperty("teacherFlipAverage").GetBoolean().Should().BeFalse();
        double Kd(JsonElement run) => run.GetProperty("epochs")[0].GetProperty("lossParts").GetProperty("kd").GetDouble();
        Kd(averaged.Distilled).Should().NotBe(Kd(plain.Distilled), "the same teacher, student and batches, labelled by the flip average instead of the plain prediction");
    }

    [Fact]
    public async Task Teacher_snapshots_are_saved_while_the_teacher_trains_and_several_teacher_files_distil_as_one_ensemble()
    {
        string[] Recipe(params string[] more) => Args(["--recipe", "strong", "--validation", "40", "--epochs", "1", "--seeds", "1", "--no-control", .. more]);
        var (exit, output, error) = await SampleProcess.RunAsync(Recipe("--teacher-epochs", "3", "--teacher-snapshots", "2"));

        exit.Should().Be(0, error);
        var folder = Path.Combine(temp.Path, "run", "teacher-snapshots");
        string[] snapshots = ["teacher-epoch-002.weights", "teacher-epoch-003.weights"];
        Directory.GetFiles(folder).Select(Path.GetFileName).Should().BeEquivalentTo(snapshots, "every second epoch and the last");
        output.Should().Contain($"2 snapshots in {folder}");
        var teacherParameters = long.Parse(Regex.Match(output, @"Teacher parameters: ([\d,]+)").Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

        // The two snapshots, copied out of the output folder the next run writes into, as one teacher.
        var members = snapshots.Select(name =>
        {
            var copy = Path.Combine(temp.Path, name);
            File.Copy(Path.Combine(folder, name), copy);
            return copy;
        }).ToArray();
        (exit, output, error) = await SampleProcess.RunAsync(Recipe("--teacher", string.Join(",", members)));

        exit.Should().Be(0, error);
        output.Should().Contain($"Teacher parameters: {2 * teacherParameters:N0}")
            .And.Contain($"Teacher: an ensemble of 2 weights files (the mean of their log-probabilities): {members[0]}, {members[1]}.")
            .And.Contain("Teacher validation accuracy");
        var ensembleKd = await FirstEpochKdAsync();

        (exit, _, error) = await SampleProcess.RunAsync(Recipe("--teacher", members[1]));
        exit.Should().Be(0, error);
        (await FirstEpochKdAsync()).Should().NotBe(ensembleKd, "the ensemble labels the batches, not its last member alone");

        (exit, _, error) = await SampleProcess.RunAsync(Recipe("--teacher", " , "));
        exit.Should().Be(2);
        error.Should().Contain("--teacher ' , ' names no file; give a weights file, or several separated by commas.");

        var missing = Path.Combine(temp.Path, "missing.weights");
        (exit, _, error) = await SampleProcess.RunAsync(Recipe("--teacher", $"{members[0]},{missing}"));
        exit.Should().Be(2);
        error.Should().Contain($"--teacher {missing} does not exist.");

        async Task<double> FirstEpochKdAsync()
        {
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
            return json.RootElement.GetProperty("recipe").GetProperty("runs")[0].GetProperty("distilled").GetProperty("epochs")[0].GetProperty("lossParts").GetProperty("kd").GetDouble();
        }
    }

    [Fact]
    public void The_airbench_60_preset_is_the_airbench_recipe_with_60_epochs_for_both_students()
    {
        var preset = Recipe.Find("AIRBENCH-60");
        preset.Should().NotBeNull();
        preset!.Epochs.Should().Be(60);
        (preset with { Name = Recipe.Airbench.Name, Epochs = Recipe.Airbench.Epochs }).Should().Be(Recipe.Airbench, "nothing else differs");
        Recipe.Airbench.Epochs.Should().Be(30);
    }

    [Fact]
    public async Task The_airbench_recipe_trains_the_airbench_teacher_and_gives_the_control_its_own_rate_and_decay()
    {

        var (exit, output, error) = await SampleProcess.RunAsync(Args(
            "--recipe", "airbench", "--validation", "40", "--teacher-epochs", "1", "--epochs", "1", "--seeds", "1", "--control-lr", "0.02", "--control-weight-decay", "0.001"));

        exit.Should().Be(0, error);
        output.Should().Contain("Teacher parameters: 1,972,792");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        var settings = json.RootElement.GetProperty("settings");
        settings.GetProperty("teacherModel").GetString().Should().Be("airbench");
        var teacher = settings.GetProperty("teacherTraining");
        teacher.GetProperty("batchSize").GetInt32().Should().Be(1024);
        teacher.GetProperty("schedule").GetString().Should().Be("triangle");
        teacher.GetProperty("lookahead").GetBoolean().Should().BeTrue();
        settings.GetProperty("controlLearningRate").GetDouble().Should().Be(0.02);
        settings.GetProperty("controlWeightDecay").GetDouble().Should().Be(0.001);

        var run = json.RootElement.GetProperty("recipe").GetProperty("runs")[0];
        run.GetProperty("control").GetProperty("epochs")[0].GetProperty("learningRate").GetDouble().Should().BeApproximately(0.02, 1e-12, "the control trains at --control-lr");
        run.GetProperty("distilled").GetProperty("epochs")[0].GetProperty("learningRate").GetDouble().Should().BeApproximately(0.05, 1e-12, "the distilled student keeps the recipe's rate");
    }

    [Fact]
    public async Task A_recipe_on_a_validation_split_trains_control_and_distilled_per_seed_and_never_touches_the_test_set()
    {

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--recipe", "strong", "--validation", "40", "--teacher-epochs", "1", "--epochs", "2", "--seeds", "1,2"));

        exit.Should().Be(0, error);
        output.Should().NotContain("test accuracy", "the choosing runs are evaluated on the validation split only");
        output.Should().Contain("Teacher validation accuracy").And.Contain("(teacher in auto)").And.Contain("0.5·ce + 0.5·kd(T=2)");
        output.Should().Contain("Over seeds 1, 2: validation accuracy").And.Contain("Gain over the control");

        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        var root = json.RootElement;
        var settings = root.GetProperty("settings");
        settings.GetProperty("epochs").GetInt32().Should().Be(2, "a flag given on the command line wins over the recipe");
        settings.GetProperty("teacherEpochs").GetInt32().Should().Be(1);
        settings.GetProperty("learningRate").GetDouble().Should().Be(0.05, "a flag left out takes the recipe's value");
        settings.GetProperty("optimizer").GetString().Should().Be("sgd");
        settings.GetProperty("teacherOptimizer").GetString().Should().Be("adamw", "the teacher trains with its own optimizer");
        settings.GetProperty("augment").GetBoolean().Should().BeTrue();
        settings.GetProperty("teacherPrecision").GetString().Should().Be("auto");
        settings.GetProperty("warmupEpochs").GetInt32().Should().Be(0, "10 % of 2 epochs rounds to none");

        var recipe = root.GetProperty("recipe");
        recipe.GetProperty("evaluatedOn").GetString().Should().Be("validation");
        recipe.GetProperty("seeds").EnumerateArray().Select(s => s.GetInt64()).Should().Equal(1, 2);
        var runs = recipe.GetProperty("runs").EnumerateArray().ToArray();
        runs.Should().HaveCount(2);
        foreach (var run in runs)
        {
            run.GetProperty("control").GetProperty("phase").GetString().Should().Be(nameof(TrainingPhase.StudentAlone));
            run.GetProperty("distilled").GetProperty("phase").GetString().Should().Be(nameof(TrainingPhase.Distillation));
            run.GetProperty("distilled").GetProperty("epochs").GetArrayLength().Should().Be(2);
        }

        var gains = recipe.GetProperty("gain").GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var expected = runs.Select(r => r.GetProperty("distilled").GetProperty("testAccuracy").GetDouble() - r.GetProperty("control").GetProperty("testAccuracy").GetDouble());
        gains.Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-12);
        var meanGain = (recipe.GetProperty("gain").GetProperty("mean").GetDouble() * 100).ToString("+0.00;-0.00", CultureInfo.InvariantCulture);
        output.Should().MatchRegex(@"Gain over the control\s+" + Regex.Escape(meanGain) + " ±", "the mean gain is printed with its sign, like the per-seed gains");
    }

    [Theory]
    [InlineData(0.0051, 0.0021, "+0.36 ± 0.21 points", "+0.51 +0.21")]
    [InlineData(-0.0105, -0.0135, "-1.20 ± 0.21 points", "-1.05 -1.35")]
    public void A_gain_is_printed_with_its_sign_both_as_mean_and_per_seed(double first, double second, string mean, string perSeed)
    {
        var cells = ConsoleTables.GainCells(Spread.Of([first, second]));

        cells.Should().Be((mean, perSeed));
    }

    [Fact]
    public void The_teacher_trains_with_its_own_epochs_rate_optimizer_and_warm_up_where_given()
    {
        var students = Synthetic.Settings() with
        {
            Epochs = 30, LearningRate = 0.05, Optimizer = "sgd", WarmupEpochs = 3,
            TeacherEpochs = 20, TeacherLearningRate = 2e-3, TeacherOptimizer = "adamw", TeacherWarmupEpochs = 2,
        };

        var teacher = students.ForTeacher();

        (teacher.Epochs, teacher.LearningRate, teacher.Optimizer, teacher.WarmupEpochs).Should().Be((20, 2e-3, "adamw", 2));
        (Synthetic.Settings() with { Optimizer = "sgd" }).ForTeacher().Optimizer.Should().Be("sgd", "without a recipe the teacher trains as the students do");
    }

    [Theory]
    [InlineData(30, 3)]
    [InlineData(20, 2)]
    [InlineData(5, 1)]
    [InlineData(2, 0)]
    [InlineData(1, 0)]
    public void The_warm_up_is_a_tenth_of_the_run_and_leaves_an_epoch_to_the_schedule(int epochs, int warmup) =>
        Recipe.Strong.WarmupFor(epochs).Should().Be(warmup);

    [Fact]
    public void Without_the_control_a_recipe_has_no_gain()
    {
        var distilled = Synthetic.Run("Distilled", TrainingPhase.Distillation, [1.0], 0.7);

        var comparison = RecipeComparison.Of([new RecipeSeedRuns(1, null, distilled)], "validation");

        comparison.Gain.Should().BeNull();
        comparison.Rows.Should().ContainSingle().Which.Name.Should().Be(RecipeComparison.DistilledName);
    }

    [Fact]
    public void With_the_control_alone_a_recipe_has_its_row_and_no_gain()
    {
        var control = Synthetic.Run("Control", TrainingPhase.StudentAlone, [1.0], 0.6);

        var comparison = RecipeComparison.Of([new RecipeSeedRuns(1, control, null)], "validation");

        comparison.Gain.Should().BeNull();
        comparison.Rows.Should().ContainSingle().Which.Name.Should().Be(RecipeComparison.ControlName);
    }

    [Fact]
    public async Task Control_only_trains_each_seeds_control_with_its_own_rate_and_no_teacher()
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(
            "--recipe", "airbench", "--validation", "40", "--epochs", "1", "--seeds", "1,2", "--control-only", "--control-lr", "0.02", "--mixup", "0.2"));

        exit.Should().Be(0, error);
        output.Should().Contain("No teacher: --control-only").And.NotContain("Training the teacher").And.NotContain("Distilled:");
        output.Should().Contain("Over seeds 1, 2: validation accuracy, mean ± sd (no teacher)").And.NotContain("Gain over the control");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        var root = json.RootElement;
        root.GetProperty("runs").GetArrayLength().Should().Be(0, "no teacher ran");
        var recipe = root.GetProperty("recipe");
        IsAbsent(recipe, "gain").Should().BeTrue("there is nothing to compare the control with");
        recipe.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("name").GetString()).Should().Equal(RecipeComparison.ControlName);
        foreach (var run in recipe.GetProperty("runs").EnumerateArray())
        {
            IsAbsent(run, "distilled").Should().BeTrue();
            run.GetProperty("control").GetProperty("epochs")[0].GetProperty("learningRate").GetDouble().Should().BeApproximately(0.02, 1e-12);
        }
    }

    private static bool IsAbsent(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null;
}
