// The residual block of docs/export.md, compiled and tested here (ExportDocExampleTests checks that
// docs/export.md holds this text verbatim as its first C# block, and the README holds it too).
// docs/export.md:begin
using Distillation.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

// relu(body(x) + shortcut(x)), the shortcut projecting when the shape changes.
sealed class ResidualBlock : Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly Sequential body, shortcut;

    public ResidualBlock(long cin, long cout, long stride) : base(nameof(ResidualBlock))
    {
        body = Sequential(Conv2d(cin, cout, 3, stride, 1, bias: false), BatchNorm2d(cout), ReLU(), Conv2d(cout, cout, 3, 1, 1, bias: false), BatchNorm2d(cout));
        shortcut = stride == 1 && cin == cout ? Sequential() : Sequential(Conv2d(cin, cout, 1, stride, bias: false), BatchNorm2d(cout));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => functional.relu(body.call(input) + shortcut.call(input));
    public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input) =>
        context.Relu(context.Add(context.EmitModule(body, input), context.EmitModule(shortcut, input)));
}
// docs/export.md:end
