using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// Layer builders and the weight initialisations the zoo's reference implementations use, so a
/// freshly created model starts from the same distribution as in PyTorch.
/// </summary>
internal static class ZooLayers
{
    /// <summary>A bias-free convolution with "same" padding for odd kernels, as every zoo model uses.</summary>
    public static Conv2d Conv(long input, long output, long kernel, long stride = 1, long groups = 1, long dilation = 1) =>
        Conv2d(input, output, kernel_size: kernel, stride: stride, padding: (kernel - 1) / 2 * dilation, dilation: dilation, groups: groups, bias: false);

    /// <summary>
    /// torchvision's <c>Conv2dNormActivation</c>: a <c>Sequential</c> of a bias-free convolution
    /// ("0"), BatchNorm ("1") and, when given, the activation ("2").
    /// </summary>
    public static Sequential ConvNormActivation(
        long input, long output, long kernel, long stride = 1, long groups = 1, Module<Tensor, Tensor>? activation = null, double eps = 1e-5, double momentum = 0.1)
    {
        var layers = new List<(string, Module<Tensor, Tensor>)>
        {
            ("0", Conv(input, output, kernel, stride, groups)),
            ("1", BatchNorm2d(output, eps: eps, momentum: momentum)),
        };
        if (activation is not null)
        {
            layers.Add(("2", activation));
        }

        return Sequential(layers);
    }

    /// <summary>A <c>Sequential</c> whose children are named "0", "1", … as PyTorch names them.</summary>
    public static Sequential Numbered(IEnumerable<Module<Tensor, Tensor>> modules) =>
        Sequential(modules.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));

    /// <summary>
    /// Calls each module in turn through <c>call()</c> (so forward hooks fire), disposing the
    /// intermediate results as <c>Sequential</c> does; the input and the result stay the caller's.
    /// </summary>
    public static Tensor Chain(Tensor input, params Module<Tensor, Tensor>[] modules)
    {
        var x = input;
        foreach (var module in modules)
        {
            var next = module.call(x);
            if (!ReferenceEquals(x, input))
            {
                x.Dispose();
            }

            x = next;
        }

        return x;
    }

    /// <summary>torchvision's <c>_make_divisible</c>: rounds channels to a multiple of 8, never down by more than 10 %.</summary>
    public static long MakeDivisible(double value, long divisor = 8)
    {
        var rounded = Math.Max(divisor, (long)(value + (divisor / 2.0)) / divisor * divisor);
        return rounded < 0.9 * value ? rounded + divisor : rounded;
    }

    /// <summary>
    /// Kaiming-normal (fan-out, ReLU gain) convolution weights and zero biases; BatchNorm weight 1 and
    /// bias 0. Equal to RepDistiller's <c>normal_(0, sqrt(2 / (k·k·out)))</c> as well as torchvision's init.
    /// </summary>
    /// <param name="model">The model whose modules are initialised.</param>
    /// <param name="linearStd">When set, Linear weights are drawn from N(0, std) with zero bias (torchvision's
    /// MobileNets and RepDistiller's CIFAR MobileNetV2 use 0.01); otherwise Linear keeps PyTorch's default.</param>
    /// <param name="zeroLinearBias">Zeroes Linear biases even when the weights keep the default (RepDistiller's WRN).</param>
    public static void Initialize(Module model, double? linearStd = null, bool zeroLinearBias = false)
    {
        using var _ = no_grad();
        foreach (var module in model.modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
                    if (conv.bias is not null)
                    {
                        init.zeros_(conv.bias);
                    }

                    break;
                case BatchNorm2d norm:
                    init.ones_(norm.weight);
                    init.zeros_(norm.bias);
                    break;
                case Linear linear when linearStd is double std:
                    init.normal_(linear.weight, 0, std);
                    if (linear.bias is not null)
                    {
                        init.zeros_(linear.bias);
                    }

                    break;
                case Linear linear when zeroLinearBias && linear.bias is not null:
                    init.zeros_(linear.bias);
                    break;
            }
        }
    }
}
