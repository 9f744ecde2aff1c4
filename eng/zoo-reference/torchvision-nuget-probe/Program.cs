// Measures whether the TorchVision 0.107.0 NuGet package's model definitions fit the zoo:
// state-dict keys and shapes against torchvision 0.14's (key lists written by
// eng/zoo-reference/torchvision-nuget-probe/dump-torchvision-keys.py), whether the block classes
// are public (an exporter must recognise them), whether num_classes is configurable, and whether
// a torchvision state dict loads and gives PyTorch's logits, and whether the library's ONNX exporter takes it.
using System.Collections;
using System.Reflection;
using System.Text.Json;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

var keysFolder = args[0];     // <name>.txt: "key shape" per line, torchvision's order
var logitsFolder = args[1];   // eng/make-zoo-fixtures.py --large-dir output (10 classes, 224 px)
var report = new List<object>();
var factories = new (string Name, Func<int, nn.Module<Tensor, Tensor>> Make, bool TakesClasses)[]
{
    ("resnet18", c => torchvision.models.resnet18(num_classes: c), true),
    ("resnet34", c => torchvision.models.resnet34(num_classes: c), true),
    ("resnet50", c => torchvision.models.resnet50(num_classes: c), true),
    ("mobilenet_v2", c => torchvision.models.mobilenet_v2(num_classes: c), true),
    ("mobilenet_v3_small", _ => torchvision.models.mobilenet_v3_small(), false),
    ("mobilenet_v3_large", _ => torchvision.models.mobilenet_v3_large(), false),
};
static bool IsBuffer(string k) => k.EndsWith(".running_mean") || k.EndsWith(".running_var") || k.EndsWith(".num_batches_tracked");
foreach (var (name, make, takesClasses) in factories)
{
    using var model = make(1000);
    var ours = model.state_dict().Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToList();
    var theirs = File.ReadAllLines(Path.Combine(keysFolder, name + ".txt")).ToList();
    var regrouped = theirs.Where(l => !IsBuffer(l.Split(' ')[0])).Concat(theirs.Where(l => IsBuffer(l.Split(' ')[0]))).ToList();
    var modules = model.named_modules().Select(m => m.module.GetType()).Distinct()
        .Where(t => t.Assembly == typeof(torchvision).Assembly).ToList();
    double? diff = null;
    string loadError = null;
    if (takesClasses)
    {
        try
        {
            using var tenClass = make(10);
            tenClass.load_py(Path.Combine(logitsFolder, name + ".pth"));
            tenClass.eval();
            using var stream = File.OpenRead(Path.Combine(logitsFolder, name + ".io.pth"));
            var io = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
            using var _ = no_grad();
            diff = (tenClass.call((Tensor)io["input"]) - (Tensor)io["logits"]).abs().max().item<float>();
        }
        catch (Exception e) { loadError = e.GetType().Name + ": " + e.Message.Split('\n')[0]; }
    }
    string exportResult;
    try
    {
        Distillation.Onnx.OnnxExporter.Export(model, Path.Combine(Path.GetTempPath(), name + "-tvprobe.onnx"), new Distillation.Onnx.OnnxExportOptions { InputShape = [3, 224, 224] });
        exportResult = "exported";
    }
    catch (Exception e) { exportResult = e.GetType().Name + ": " + e.Message.Split('\n')[0]; }
    report.Add(new
    {
        onnx_export_with_the_librarys_exporter = exportResult,
        model = name,
        keys = ours.Count,
        torchvision_keys = theirs.Count,
        same_key_and_shape_set = new HashSet<string>(ours).SetEquals(theirs),
        same_order_as_torchvision = ours.SequenceEqual(theirs),
        same_order_params_then_buffers = ours.SequenceEqual(regrouped),
        num_classes_configurable = takesClasses,
        package_module_types = modules.Select(t => $"{t.FullName} ({(t.IsPublic || t.IsNestedPublic ? "public" : "internal")})").ToList(),
        logits_max_abs_diff_224px_10_classes = diff,
        load_error = loadError,
    });
}
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
