using Distillation.Models;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

/// <summary>
/// The teacher-output cache computes the teacher's logits in batches other than the training
/// batches; that gives the live teacher's numbers only if an image's logits do not depend on
/// which images share its batch.
/// </summary>
public sealed class BatchIndependenceTests
{
    [Fact]
    public void An_images_teacher_logits_do_not_depend_on_its_batch()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var teacher = new TeacherNet();
        teacher.eval();
        using var noGrad = no_grad();
        var images = randn(512, 3, 32, 32);

        // As the cache: batches of 256 in stored order; as live training: shuffled batches of 128.
        var cached = cat([teacher.call(images.narrow(0, 0, 256)), teacher.call(images.narrow(0, 256, 256))], 0);
        var order = randperm(512);
        var live = cat([.. Enumerable.Range(0, 4).Select(i => teacher.call(images.index_select(0, order.narrow(0, i * 128, 128))))], 0);
        var liveInStoredOrder = zeros_like(live).index_copy_(0, order, live);

        liveInStoredOrder.eq(cached).all().item<bool>().Should().BeTrue("the cache is exact only if batch composition does not change an image's logits");
    }
}
