// Builds both models from the packages, runs a forward pass and exports the student to ONNX;
// exits non-zero on any surprise.
using Distillation.Data;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Onnx;
using static TorchSharp.torch;

new DeviceOptions { Kind = DeviceKind.Cpu }.Resolve();   // loads the native library (a clear error if it cannot), sets up the CPU
manual_seed(0);
using var teacher = new TeacherNet();
using var student = new StudentNet();
teacher.eval();
student.eval();

using var images = randn(2, 3, 32, 32);
using var noGrad = no_grad();
using var teacherLogits = teacher.call(images);
using var studentLogits = student.call(images);

var teacherParameters = teacher.parameters().Sum(p => p.numel());
var studentParameters = student.parameters().Sum(p => p.numel());
Console.WriteLine($"teacher: {teacherParameters:N0} parameters, logits [{string.Join(", ", teacherLogits.shape)}]");
Console.WriteLine($"student: {studentParameters:N0} parameters, logits [{string.Join(", ", studentLogits.shape)}]");

var ok = teacherParameters == 1_186_986 && studentParameters == 267_738
    && teacherLogits.shape.SequenceEqual(new long[] { 2, 10 }) && studentLogits.shape.SequenceEqual(new long[] { 2, 10 })
    && teacherLogits.isfinite().all().item<bool>() && studentLogits.isfinite().all().item<bool>();

// The exported file, read back with the ONNX protobuf classes the package brings (OnnxSharp).
var onnxPath = Path.Combine(Path.GetTempPath(), $"consumer-student-{Environment.ProcessId}.onnx");
try
{
    OnnxExporter.Export(student, onnxPath, new OnnxExportOptions { ClassNames = Cifar10Dataset.DefaultClassNames, Normalization = ImageNormalization.ImageNet });
    var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
    var metadata = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
    Console.WriteLine($"student.onnx: {new FileInfo(onnxPath).Length:N0} bytes, opset {model.OpsetImport[0].Version}, {model.Graph.Node.Count} nodes, output '{model.Graph.Output[0].Name}'");
    ok = ok && model.OpsetImport[0].Version == 17 && model.IrVersion == 8 && model.Graph.Output[0].Name == "logits"
        && model.Graph.Initializer.Sum(t => t.RawData.Length / 4) == studentParameters
        && metadata.ContainsKey(OnnxMetadataKeys.ClassNames) && metadata[OnnxMetadataKeys.ProducerName] == "Distillation.Onnx";
}
finally
{
    File.Delete(onnxPath);
}

Console.WriteLine(ok ? "consumer check: OK" : "consumer check: FAILED");
return ok ? 0 : 1;
