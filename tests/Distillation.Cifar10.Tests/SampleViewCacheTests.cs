using System.Text.Json;
using Distillation.Tests.TestSupport;

namespace Distillation.Cifar10.Tests;

/// <summary>--view-cache: the teacher's logits of every crop-and-flip view, computed once and looked up by the augmented distillation runs.</summary>
public sealed class SampleViewCacheTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string[] Args(params string[] more) =>
    [
        "--data", CifarFiles.OfficialSizeRoot, "--no-download", "--output", Path.Combine(temp.Path, "run"),
        "--train-limit", "60", "--test-limit", "20", "--batch-size", "20", "--threads", "1", "--no-speed", "--no-charts", .. more,
    ];

    [Theory]
    [InlineData("error: --view-cache keeps the teacher's logits of crop-and-flip views: add --augment.*", "--view-cache", "v")]
    [InlineData("error: --view-cache serves crop-and-flip views, and --mixup and --cutmix images are not views of one image*", "--augment", "--mixup", "0.2", "--view-cache", "v")]
    [InlineData("error: --view-cache caches the teacher and --no-teacher-cache runs it live; use one.*", "--augment", "--no-teacher-cache", "--view-cache", "v")]
    public async Task A_view_cache_that_cannot_serve_is_one_error_line_before_anything_runs(string expected, params string[] flags)
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(flags));

        exit.Should().Be(2);
        error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Which.Should().Match(expected);
        output.Should().NotContain("Training");
    }

    [Fact]
    public async Task The_augmented_distillation_runs_look_the_teachers_views_up_from_one_file()
    {
        var views = Path.Combine(temp.Path, "views");

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--augment", "--view-cache", views));

        exit.Should().Be(0, error);
        Directory.GetFiles(views, "teacher-views-*.safetensors").Should().ContainSingle("one teacher, one training set, one augmentation");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path, "run", "results.json")));
        json.RootElement.GetProperty("settings").GetProperty("viewCacheDirectory").GetString().Should().Be(views);
    }
}
