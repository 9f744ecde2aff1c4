// Top-1 agreement of the airbench teacher in bfloat16 with itself in float32 on the CIFAR-10 test set (issue 25, item 1).
using Distillation.Data;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using TorchSharp;
using static TorchSharp.torch;
torch.set_num_threads(2);
using var test = Cifar10Dataset.Load(args[0], Cifar10Split.Test);
using var fp32 = new AirbenchNet(10); fp32.LoadWeights(args[1]); fp32.eval();
using var bf16 = new AirbenchNet(10); bf16.LoadWeights(args[1]); bf16.to(ScalarType.BFloat16); bf16.eval();
long agree = 0, n = 0;
var clock = System.Diagnostics.Stopwatch.StartNew();
using var plan = test.PlanBatches(500);
for (int b = 0; b < plan.BatchCount; b++)
{
    using var scope = NewDisposeScope();
    using var noGrad = no_grad();
    var batch = plan.GetBatch(b, CPU);
    var a = fp32.call(batch.Images).argmax(1);
    var c = bf16.call(batch.Images.to(ScalarType.BFloat16)).argmax(1);
    agree += a.eq(c).sum().item<long>(); n += a.shape[0];
}
Console.WriteLine($"{{\"images\": {n}, \"agreeing\": {agree}, \"agreement\": {(double)agree / n:F4}, \"seconds\": {clock.Elapsed.TotalSeconds:F1}, \"weights\": \"{args[1]}\"}}");
