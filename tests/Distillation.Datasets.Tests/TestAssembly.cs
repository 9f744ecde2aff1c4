// As in Distillation.Core.Tests: one test at a time. The decoders run on every core, and several
// tests time or count what a pass does (decodes ahead, buffers in flight).
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
