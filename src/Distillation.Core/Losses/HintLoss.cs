using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// A FitNets-style hint (Romero et al., 2015): a learnable regressor (a 3×3 convolution, padding 1)
/// maps the student's feature map to the teacher's channel count, and the term is the mean squared
/// error to the teacher's feature map. The regressor trains with the student but belongs to the
/// loss, so the exported student is unchanged. For the seed's models: 16×8×8 → 32×8×8.
/// </summary>
/// <remarks>
/// The loss is a TorchSharp module: the trainer moves it to the device and optimizes its
/// <c>parameters()</c> (the regressor's) with the student. Dispose it, or the objective that holds it.
/// </remarks>
public sealed class HintLoss : nn.Module, IDistillationLoss
{
    // A 1×1 regressor of studentChannels × teacherChannels weights: beyond 2¹⁶ channels a side it outgrows memory.
    private const int MaxChannels = 1 << 16;

    private readonly Conv2d regressor;
    private readonly FeaturePair pair;

    /// <summary>Creates the loss with a fresh regressor (drawn from torch's global generator).</summary>
    /// <param name="studentChannels">Channels of the student's feature map (16 for the seed's student).</param>
    /// <param name="teacherChannels">Channels of the teacher's feature map (32 for the seed's teacher).</param>
    /// <param name="studentModule">The student module whose output is the hint's input (default <c>features</c>).</param>
    /// <param name="teacherModule">The teacher module whose output is the target (default <c>features</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException">A channel count is outside 1 to 65,536.</exception>
    /// <exception cref="ArgumentException">A module path is empty.</exception>
    public HintLoss(int studentChannels = 16, int teacherChannels = 32, string studentModule = "features", string teacherModule = "features")
        : base(nameof(HintLoss))
    {
        OptionChecks.IntegerIn(studentChannels, nameof(studentChannels), 1, MaxChannels);
        OptionChecks.IntegerIn(teacherChannels, nameof(teacherChannels), 1, MaxChannels);
        pair = new FeaturePair(studentModule, teacherModule);
        Devices.TorchRuntime.EnsureAvailable();
        regressor = nn.Conv2d(studentChannels, teacherChannels, kernel_size: 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>The regressor from the student's feature map to the teacher's.</summary>
    public Conv2d Regressor => regressor;

    /// <inheritdoc />
    public string Name => "hint";

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public IReadOnlyList<string> StudentFeatureModules => pair.StudentModules;

    /// <inheritdoc />
    public IReadOnlyList<string> TeacherFeatureModules => pair.TeacherModules;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (student, teacher) = pair.Read(context, Name);
        var regressed = regressor.call(student);
        if (!regressed.shape.SequenceEqual(teacher.shape))
        {
            throw new InvalidOperationException(
                $"The hint regressor maps the student's features to [{string.Join(", ", regressed.shape)}], but the teacher's are [{string.Join(", ", teacher.shape)}].");
        }

        return LossResult.Single(Name, nn.functional.mse_loss(regressed, teacher));
    }
}
