// Large CPU tensors and glibc's malloc. glibc serves every block above its mmap threshold (at most
// 32 MB) with fresh pages from the kernel and unmaps them on free, so each large tensor of a step
// pays page faults on first touch, in kernel time. On ViT-B at 1024 px that doubles the encoder's
// time and makes 16 batched samples cost 74 decoder calls instead of 16 (tools/bench). libtorch's
// CPU allocator is plain malloc, so psam's entry points keep freed memory in the heap for reuse
// instead, as PyTorch's caching allocator does on the GPU.
#pragma once

namespace psam {

// Serves large blocks from the heap and keeps freed memory there (mallopt: no mmap, no trimming).
// The process's peak memory then stays resident until exit, and is higher (bench_sampling: 2.4 GB
// instead of 1.7 GB, for a 4x speed-up). Does nothing when the user tuned malloc through the
// environment (MALLOC_*_ variables or GLIBC_TUNABLES), or off glibc. Returns whether the setting
// is in effect; calls after the first only report.
bool reuse_freed_memory();

}  // namespace psam
