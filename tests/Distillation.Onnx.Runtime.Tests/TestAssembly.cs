// libtorch's global generator and thread count are process-wide: tests that seed them and compare
// results bit for bit must not share the process with a test running beside them.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
