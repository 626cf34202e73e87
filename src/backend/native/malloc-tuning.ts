// glibc malloc settings for the CPU path, which must be in the environment when a process starts (glibc reads
// GLIBC_TUNABLES once, at start-up): the `lmprobe` command and the Jupyter kernel start their process with them;
// a program using the library sets them itself (`lmprobe doctor` says whether this process has them).
//
// Why: every activation the CPU path hands back is a fresh typed array (V8 allocates its memory with calloc), and a
// probe's blocks of logits are tens of MB each. By default glibc serves blocks over its dynamic mmap threshold (at
// most 32 MiB) with mmap and returns them to the system when freed, and trims the top of the heap past a small
// threshold, so the same memory is faulted in again, one 4 KiB page at a time, for the next block. On a virtual
// machine a page fault can cost ~14 µs (24.5 MiB of fresh pages took 85–91 ms to fill, the same array 1 ms once
// touched; bench/cpu-malloc.mjs), single-threaded, in the middle of a multi-threaded pipeline. Blocks under 256 MiB
// from the heap and up to 1 GiB of freed heap kept for reuse remove most of those faults; the cost is that up to
// 1 GiB freed by the probe stays with the process instead of going back to the system.
/** The settings (GLIBC_TUNABLES syntax). */
export const MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824";

/** Names of the tunables set, for merging with a GLIBC_TUNABLES the user already has. */
const NAMES = MALLOC_TUNABLES.split(":").map((t) => t.split("=")[0]);

/**
 * GLIBC_TUNABLES for a child process: the user's own value with lmprobe's settings added for the tunables it does
 * not set (the user's choices win), or lmprobe's alone. Undefined when LMPROBE_MALLOC_TUNING=0 asks for none, or
 * off Linux (GLIBC_TUNABLES means nothing to macOS or Windows).
 */
export function tunedMallocEnv(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform !== "linux" || env.LMPROBE_MALLOC_TUNING === "0") return env.GLIBC_TUNABLES;
  const own = (env.GLIBC_TUNABLES ?? "").split(":").filter((t) => t !== "");
  const ownNames = new Set(own.map((t) => t.split("=")[0]));
  const added = MALLOC_TUNABLES.split(":").filter((t) => !ownNames.has(t.split("=")[0]));
  return [...own, ...added].join(":");
}

/** Whether this process started with lmprobe's malloc settings (or the user's own values for the same tunables). */
export function mallocTuningActive(env: NodeJS.ProcessEnv = process.env): boolean {
  const own = new Set((env.GLIBC_TUNABLES ?? "").split(":").map((t) => t.split("=")[0]));
  return NAMES.every((name) => own.has(name));
}
