using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// Images/s against batch size and thread count for student and (short) teacher training, and a
/// student run's time against epochs and dataset size.
/// </summary>
internal static class ScalingBenchmark
{
    public static readonly int[] BatchSizes = [32, 64, 128, 256, 512];
    public static readonly int[] ThreadCounts = [1, 2];

    public static BenchReport Run(BenchOptions options)
    {
        var studentImages = options.StudentImages;
        var teacherImages = Math.Min(options.TeacherImages, 1024);
        var growthImages = new[] { studentImages / 2, studentImages, studentImages * 2 };
        using var data = BenchData.Load(options, growthImages.Max(), 1);
        Console.WriteLine($"Data: {data.Source}");
        var clock = Stopwatch.StartNew();
        var points = new List<Point>();

        manual_seed(42);
        using var teacher = new TeacherNet();
        manual_seed(42);
        using var student = new StudentNet();
        using var studentSlice = data.Train.Take(studentImages);
        using var teacherSlice = data.Train.Take(teacherImages);

        Trainer<TeacherNet, StudentNet> TrainerFor(int threads, int batchSize, int epochs = 1) => new(teacher, student, new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = batchSize,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = threads },
        });

        foreach (var threads in ThreadCounts)
        {
            foreach (var batchSize in BatchSizes)
            {
                var trainer = TrainerFor(threads, batchSize);
                var warm = data.Train.Take(Math.Min(batchSize, studentImages));
                trainer.TrainStudent(warm);
                trainer.TrainTeacher(warm);
                warm.Dispose();

                // Alternate the two models within each round.
                var studentSeconds = new List<double>();
                var teacherSeconds = new List<double>();
                for (var r = 0; r < options.Repeats; r++)
                {
                    studentSeconds.Add(Stats.Seconds(() => trainer.TrainStudent(studentSlice)));
                    teacherSeconds.Add(Stats.Seconds(() => trainer.TrainTeacher(teacherSlice)));
                }

                points.Add(PointOf("student", threads, batchSize, studentSlice.Count, 1, studentSeconds));
                points.Add(PointOf("teacher", threads, batchSize, teacherSlice.Count, 1, teacherSeconds));
                Console.WriteLine(Invariant($"threads {threads}, batch {batchSize}: student {points[^2].ImagesPerSecond.Median:F0}, teacher {points[^1].ImagesPerSecond.Median:F0} images/s"));
            }
        }

        // A run's time against dataset size (1 epoch) and epochs (the middle size): student, 2 threads, batch 128.
        foreach (var images in growthImages)
        {
            using var slice = data.Train.Take(images);
            var trainer = TrainerFor(options.Threads, options.BatchSize);
            var seconds = Enumerable.Range(0, options.Repeats).Select(_ => Stats.Seconds(() => trainer.TrainStudent(slice))).ToList();
            points.Add(PointOf("student (growth: images)", options.Threads, options.BatchSize, images, 1, seconds));
        }

        foreach (var epochs in new[] { 1, 2, 4 })
        {
            var trainer = TrainerFor(options.Threads, options.BatchSize, epochs);
            var seconds = Enumerable.Range(0, options.Repeats).Select(_ => Stats.Seconds(() => trainer.TrainStudent(studentSlice))).ToList();
            points.Add(PointOf("student (growth: epochs)", options.Threads, options.BatchSize, studentSlice.Count, epochs, seconds));
        }

        set_num_threads(options.Threads);
        return new BenchReport
        {
            Mode = "scaling",
            Environment = BenchEnvironment.Capture(options, data.Source),
            Points = points,
            Memory = [MemorySample.Take("end")],
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static Point PointOf(string model, int threads, int batchSize, int images, int epochs, List<double> seconds) =>
        new(model, threads, batchSize, images, epochs, Stats.Of(seconds.Select(s => images * epochs / s).ToList())!, Stats.Of(seconds)!);

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine("Images/s (median) by batch size and threads:");
        text.AppendLine();
        text.Append("| Model | Threads |");
        foreach (var b in BatchSizes)
        {
            text.Append(Invariant($" batch {b} |"));
        }

        text.AppendLine();
        text.AppendLine("|---|---:|" + string.Concat(BatchSizes.Select(_ => "---:|")));
        foreach (var model in new[] { "student", "teacher" })
        {
            foreach (var threads in ThreadCounts)
            {
                text.Append(Invariant($"| {model} | {threads} |"));
                foreach (var b in BatchSizes)
                {
                    var p = report.Points.FirstOrDefault(p => p.Model == model && p.Threads == threads && p.BatchSize == b);
                    text.Append(p is null ? " |" : Invariant($" {p.ImagesPerSecond.Median:N0} |"));
                }

                text.AppendLine();
            }
        }

        text.AppendLine();
        text.AppendLine("Student training time (median) against dataset size and epochs:");
        text.AppendLine();
        text.AppendLine("| Images | Epochs | Seconds | Images/s |");
        text.AppendLine("|---:|---:|---:|---:|");
        foreach (var p in report.Points.Where(p => p.Model.StartsWith("student (growth", StringComparison.Ordinal)))
        {
            text.AppendLine(Invariant($"| {p.Images:N0} | {p.Epochs} | {p.Seconds.Median:F2} | {p.ImagesPerSecond.Median:N0} |"));
        }

        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
