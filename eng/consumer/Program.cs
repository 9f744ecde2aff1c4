// Builds both models from the packages and runs a forward pass; exits non-zero on any surprise.
using Distillation.Devices;
using Distillation.Models;
using static TorchSharp.torch;

TorchRuntime.EnsureAvailable();
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
Console.WriteLine(ok ? "consumer check: OK" : "consumer check: FAILED");
return ok ? 0 : 1;
