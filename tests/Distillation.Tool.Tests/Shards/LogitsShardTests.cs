using Distillation.Tool.Cli;
using Distillation.Tool.Commands;
using Distillation.Tool.Shards;
using Distillation.Training;

namespace Distillation.Tool.Tests.Shards;

/// <summary>The teacher's logits in shards: merged, they are the unsharded file; a bad set of shards is refused by name.</summary>
public sealed class LogitsShardTests : IClassFixture<LogitsShardTests.Fixture>
{
    private readonly Fixture fixture;

    public LogitsShardTests(Fixture fixture) => this.fixture = fixture;

    /// <summary>One teacher, a folder of 30 training images (4 batches of 8), the whole logits file and its 3 shards.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public ToolSandbox Sandbox { get; } = new();

        public string Images { get; private set; } = "";

        public string TeacherWeights { get; private set; } = "";

        public string Whole => Sandbox.PathOf("whole.safetensors");

        public string Shards => Sandbox.PathOf("shards");

        public string[] ShardFiles => Enumerable.Range(0, 3).Select(i => Path.Combine(Shards, new ShardSpec(i, 3).FileName)).ToArray();

        public async Task InitializeAsync()
        {
            Images = Sandbox.WriteImageFolder(perClass: 10);
            var run = await ToolSandbox.RunAsync("teacher", "--images", Images, "--epochs", "1", "--batch-size", "8", "--output", Sandbox.PathOf("t"), "--quiet");
            run.ExitCode.Should().Be(0, run.ToString());
            TeacherWeights = Sandbox.PathOf("t/teacher.weights");
            (await Logits("--output", Whole)).ExitCode.Should().Be(0);
            for (var i = 0; i < 3; i++)
            {
                var shard = await Logits("--shard", $"{i}/3", "--output", Shards);
                shard.ExitCode.Should().Be(0, shard.ToString());
            }
        }

        public Task<ToolRun> Logits(params string[] extra) =>
            ToolSandbox.RunAsync(["logits", "--images", Images, "--teacher-weights", TeacherWeights, "--batch-size", "8", "--quiet", .. extra]);

        public Task DisposeAsync()
        {
            Sandbox.Dispose();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Three_shards_merged_equal_the_unsharded_file_byte_for_byte_and_the_student_reads_it()
    {
        var merged = fixture.Sandbox.PathOf("merged.safetensors");
        var merge = await ToolSandbox.RunAsync("logits", "merge", fixture.Shards, "--output", merged);
        merge.ExitCode.Should().Be(0, merge.ToString());
        File.ReadAllBytes(merged).Should().Equal(File.ReadAllBytes(fixture.Whole));

        using var teacher = Teacher.FromLogitsFile(merged);
        teacher.Images.Should().Be(30);
        teacher.Classes.Should().Be(3);
        var student = await ToolSandbox.RunAsync("student", "--images", fixture.Images, "--teacher-logits", merged, "--epochs", "1", "--batch-size", "8",
            "--output", fixture.Sandbox.PathOf("s"), "--quiet");
        student.ExitCode.Should().Be(0, student.ToString());
        student.Output.Should().Contain("Student test: accuracy");
    }

    [Fact]
    public async Task Shards_of_views_merged_equal_the_unsharded_file_of_views_and_an_augmented_student_reads_it()
    {
        var whole = fixture.Sandbox.PathOf("views-whole.safetensors");
        var wholeRun = await fixture.Logits("--views", "--output", whole);
        wholeRun.ExitCode.Should().Be(0, wholeRun.ToString());
        var folder = fixture.Sandbox.PathOf("view-shards");
        for (var i = 0; i < 3; i++)
        {
            var shard = await fixture.Logits("--views", "--shard", $"{i}/3", "--output", folder);
            shard.ExitCode.Should().Be(0, shard.ToString());
        }

        var merged = fixture.Sandbox.PathOf("views-merged.safetensors");
        var merge = await ToolSandbox.RunAsync("logits", "merge", folder, "--output", merged);
        merge.ExitCode.Should().Be(0, merge.ToString());
        merge.Output.Should().Contain("30 rows of 162 views of 3 logits");
        File.ReadAllBytes(merged).Should().Equal(File.ReadAllBytes(whole));
        using (var teacher = Teacher.FromLogitsFile(merged))
        {
            teacher.Images.Should().Be(30);
            teacher.Views.Should().Be(162, "pad-4 crops and flips of 32-pixel images");
        }

        // A shard of views among shards of rows is another run's.
        var viewShard = Path.Combine(folder, new ShardSpec(2, 3).FileName);
        var mixed = await ToolSandbox.RunAsync("logits", "merge", fixture.ShardFiles[0], fixture.ShardFiles[1], viewShard, "--output", fixture.Sandbox.PathOf("m-mixed.safetensors"));
        mixed.ExitCode.Should().Be(1, mixed.ToString());
        mixed.Error.Should().Contain(viewShard).And.Contain("a run of 162 views per image (--views), the others of one row per image (no --views)");

        var student = await ToolSandbox.RunAsync("student", "--images", fixture.Images, "--teacher-logits", merged, "--augment", "--epochs", "1", "--batch-size", "8",
            "--output", fixture.Sandbox.PathOf("s-views"), "--quiet");
        student.ExitCode.Should().Be(0, student.ToString());
        student.Output.Should().Contain("Student test: accuracy");
    }

    [Fact]
    public async Task A_missing_shard_is_refused_by_its_index()
    {
        var run = await ToolSandbox.RunAsync("logits", "merge", fixture.ShardFiles[0], fixture.ShardFiles[2], "--output", fixture.Sandbox.PathOf("m1.safetensors"));
        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().Contain("Shard 1/3").And.Contain("missing");
        File.Exists(fixture.Sandbox.PathOf("m1.safetensors")).Should().BeFalse();
    }

    [Fact]
    public async Task A_duplicated_shard_is_refused_naming_both_files()
    {
        var copy = fixture.Sandbox.PathOf("copy-of-shard-1.safetensors");
        File.Copy(fixture.ShardFiles[1], copy, overwrite: true);
        var run = await ToolSandbox.RunAsync(["logits", "merge", .. fixture.ShardFiles, copy, "--output", fixture.Sandbox.PathOf("m2.safetensors")]);
        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().Contain("Shard 1/3 is given 2 times").And.Contain(copy).And.Contain(fixture.ShardFiles[1]);
    }

    [Fact]
    public async Task A_truncated_shard_is_refused_by_its_file()
    {
        var truncated = fixture.Sandbox.PathOf("truncated.safetensors");
        var bytes = File.ReadAllBytes(fixture.ShardFiles[2]);
        File.WriteAllBytes(truncated, bytes[..^40]);
        var run = await ToolSandbox.RunAsync("logits", "merge", fixture.ShardFiles[0], fixture.ShardFiles[1], truncated, "--output", fixture.Sandbox.PathOf("m3.safetensors"));
        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().Contain(truncated).And.Contain("cannot be read");
    }

    [Fact]
    public async Task A_shard_of_another_teacher_is_refused_as_foreign()
    {
        // The same shard index computed by a teacher trained with another seed: other weights, another fingerprint.
        var other = await ToolSandbox.RunAsync("teacher", "--images", fixture.Images, "--epochs", "1", "--batch-size", "8", "--seed", "5", "--output", fixture.Sandbox.PathOf("t2"), "--quiet");
        other.ExitCode.Should().Be(0, other.ToString());
        var foreignFolder = fixture.Sandbox.PathOf("foreign");
        var shard = await ToolSandbox.RunAsync("logits", "--images", fixture.Images, "--teacher-weights", fixture.Sandbox.PathOf("t2/teacher.weights"), "--batch-size", "8", "--quiet",
            "--shard", "1/3", "--output", foreignFolder);
        shard.ExitCode.Should().Be(0, shard.ToString());
        var foreign = Path.Combine(foreignFolder, new ShardSpec(1, 3).FileName);

        var run = await ToolSandbox.RunAsync("logits", "merge", fixture.ShardFiles[0], foreign, fixture.ShardFiles[2], "--output", fixture.Sandbox.PathOf("m4.safetensors"));
        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().Contain(foreign).And.Contain("foreign").And.Contain("another teacher");
    }

    [Fact]
    public async Task A_shard_of_other_data_is_refused_as_foreign()
    {
        var otherImages = fixture.Sandbox.WriteImageFolder("other-images", perClass: 10, seed: 9);
        var foreignFolder = fixture.Sandbox.PathOf("foreign-data");
        var shard = await ToolSandbox.RunAsync("logits", "--images", otherImages, "--teacher-weights", fixture.TeacherWeights, "--batch-size", "8", "--quiet",
            "--shard", "0/3", "--output", foreignFolder);
        shard.ExitCode.Should().Be(0, shard.ToString());
        var foreign = Path.Combine(foreignFolder, new ShardSpec(0, 3).FileName);

        var run = await ToolSandbox.RunAsync("logits", "merge", foreign, fixture.ShardFiles[1], fixture.ShardFiles[2], "--output", fixture.Sandbox.PathOf("m5.safetensors"));
        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().Contain(foreign).And.Contain("other data");
    }

    [Fact]
    public async Task The_shard_index_comes_from_the_job_engines_variable_with_shards_N()
    {
        var settingsFolder = fixture.Sandbox.PathOf("from-env");
        foreach (var variable in new[] { ShardSpec.KubernetesIndexVariable, ShardSpec.SlurmIndexVariable })
        {
            var command = new LogitsCommand { Environment = name => name == variable ? "2" : null };
            using var output = new StringWriter();
            using var error = new StringWriter();
            using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
            var root = new System.CommandLine.RootCommand { command.Build(new ToolContext(output, error, [], loggers)) };
            var code = await root.Parse(["logits", "--images", fixture.Images, "--teacher-weights", fixture.TeacherWeights, "--batch-size", "8", "--quiet",
                "--shards", "3", "--output", Path.Combine(settingsFolder, variable)]).InvokeAsync();
            code.Should().Be(0, error.ToString());
            File.ReadAllBytes(Path.Combine(settingsFolder, variable, new ShardSpec(2, 3).FileName)).Should().Equal(File.ReadAllBytes(fixture.ShardFiles[2]));
        }
    }

    [Fact]
    public async Task Shards_N_without_an_index_variable_is_bad_input()
    {
        var command = new LogitsCommand { Environment = _ => null };
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
        var root = new System.CommandLine.RootCommand { command.Build(new ToolContext(output, error, [], loggers)) };
        var code = await root.Parse(["logits", "--images", fixture.Images, "--teacher-weights", fixture.TeacherWeights, "--shards", "3"]).InvokeAsync();
        code.Should().Be(2);
        error.ToString().Should().Contain(ShardSpec.KubernetesIndexVariable).And.Contain(ShardSpec.SlurmIndexVariable);
    }
}
