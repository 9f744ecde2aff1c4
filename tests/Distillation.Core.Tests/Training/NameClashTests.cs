using Distillation.Data;
using Distillation.Evaluation;
using Distillation.Losses;
using Distillation.Training;
using TorchSharp.Modules;

namespace Distillation.Tests.Training;

/// <summary>
/// A program that imports TorchSharp's modules beside the library's namespaces names the library's
/// types without qualification: this file fails to compile (CS0104) if a public name clashes again,
/// as <c>OptimizerOptions</c> once did with <c>TorchSharp.Modules.OptimizerOptions</c>.
/// </summary>
public sealed class NameClashTests
{
    [Fact]
    public void The_library_and_TorchSharp_Modules_can_be_imported_together()
    {
        var options = new TrainerOptions { Optimizer = new OptimizationOptions { LearningRate = 0.01 }, Schedule = new ScheduleOptions(), Augmentation = new AugmentationOptions() };
        options.Validate();
        typeof(Linear).Namespace.Should().Be("TorchSharp.Modules");
        typeof(EvaluationResult).Namespace.Should().Be("Distillation.Evaluation");
        typeof(KLDivergenceLoss).Namespace.Should().Be("Distillation.Losses");
    }
}
