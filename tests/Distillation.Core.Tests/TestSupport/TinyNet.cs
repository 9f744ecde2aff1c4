using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Tests.TestSupport;

/// <summary>A small CNN for 8×8 images, defined in the tests to show the library takes any module.</summary>
internal sealed class TinyNet : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public TinyNet(int width, int classes = 4)
        : base(nameof(TinyNet))
    {
        layers = Sequential(
            Conv2d(3, width, kernel_size: 3, padding: 1), ReLU(), MaxPool2d(kernel_size: 2),
            Flatten(), Linear(width * 16, classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.call(input);
}
