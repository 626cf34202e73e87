// Every error lmprobe raises on bad input is one of these classes. Each names the file, field or argument
// at fault and says what to do, so a notebook user can act on the message alone.

/** Base class of every lmprobe error. `fix` says what the user can do about it. */
export class LmprobeError extends Error {
  constructor(message: string, readonly fix?: string) {
    super(fix ? `${message}\n  fix: ${fix}` : message);
    this.name = new.target.name;
  }
}

/** A file the checkpoint needs is absent (config.json, weights, tokenizer). */
export class MissingFileError extends LmprobeError {
  constructor(readonly file: string, what: string, fix?: string) {
    super(`${what} not found: ${file}`, fix);
  }
}

/** config.json is unreadable or one of its fields is missing or invalid. */
export class ConfigError extends LmprobeError {
  constructor(readonly file: string, readonly field: string, problem: string, fix?: string) {
    super(`${file}: field "${field}" ${problem}`, fix);
  }
}

/** The checkpoint's architecture is not one the engine implements. */
export class UnsupportedArchitectureError extends LmprobeError {
  constructor(readonly modelType: string, readonly supported: readonly string[], file?: string) {
    super(
      `${file ? `${file}: ` : ""}model_type "${modelType}" is not supported`,
      `lmprobe supports: ${supported.join(", ")}`,
    );
  }
}

/** A safetensors file whose header or layout is corrupt (truncated, not JSON, overlapping or out-of-range offsets). */
export class SafetensorsFormatError extends LmprobeError {
  constructor(readonly file: string, readonly field: string, problem: string, fix = "re-download or re-export the file") {
    super(`${file}: ${field}: ${problem}`, fix);
  }
}

/** A tensor stored in a dtype lmprobe cannot convert (or a quantised format not supported yet). */
export class UnsupportedDtypeError extends LmprobeError {
  constructor(readonly file: string, readonly tensor: string, readonly dtype: string, fix?: string) {
    super(
      `${file}: tensor "${tensor}" has dtype ${dtype}, which lmprobe cannot read`,
      fix ?? "lmprobe reads F32, F16 and BF16 weights; convert the checkpoint (e.g. save it with torch_dtype=float32)",
    );
  }
}

/** A weight whose shape disagrees with what config.json implies, or that is missing from the checkpoint. */
export class WeightShapeError extends LmprobeError {
  constructor(readonly file: string, readonly tensor: string, problem: string, fix?: string) {
    super(`${file}: tensor "${tensor}" ${problem}`, fix ?? "check that config.json belongs to these weights");
  }
}

/** A weight holding NaN or Infinity. */
export class NonFiniteWeightError extends LmprobeError {
  constructor(readonly file: string, readonly tensor: string, readonly index: number) {
    super(`${file}: tensor "${tensor}" holds a non-finite value at flat index ${index}`, "the checkpoint is corrupt; re-download it");
  }
}

/** The checkpoint would not fit the memory the active backend can hold. */
export class ModelTooLargeError extends LmprobeError {
  constructor(
    readonly bytesNeeded: number,
    readonly backend: string,
    readonly bytesAvailable: number,
    readonly backendsThatFit: readonly string[],
    /** The figure is the model's smallest form: read a block at a time (loadModel's layerStreaming). */
    readonly streamed = false,
    /**
     * Set when the limit is per buffer, not in total: the one tensor that does not fit (bytesNeeded is its size as
     * the backend would hold it, bytesAvailable the device's largest buffer).
     */
    readonly tensor: string | null = null,
  ) {
    super(
      tensor
        ? `tensor "${tensor}" needs ${formatBytes(bytesNeeded)} in one buffer, more than the ${backend} device's largest buffer (${formatBytes(bytesAvailable)}; the adapter's maxBufferSize / maxStorageBufferBindingSize)`
        : `the model needs about ${formatBytes(bytesNeeded)} as float32 tensors${streamed ? " even when read a block at a time (the weights outside its blocks and two blocks)" : ""}, more than the ${backend} backend can hold (${formatBytes(bytesAvailable)})`,
      backendsThatFit.length > 0
        ? `switch to a backend that can hold it: ${backendsThatFit.join(", ")} (setBackend() or LMPROBE_BACKEND)`
        : "no backend of this machine can hold it; choose a smaller model (`lmprobe doctor` lists the backends found here)",
    );
  }
}

/** A hub id, revision or file name that is malformed or would escape the cache directory. */
export class HubPathError extends LmprobeError {
  constructor(readonly argument: string, readonly value: string, problem: string) {
    super(`${argument} ${JSON.stringify(value)} ${problem}`, "use an id of the form owner/name and plain file names");
  }
}

/** A download from the hub failed (HTTP error, connection error, or size mismatch). */
export class HubDownloadError extends LmprobeError {
  constructor(readonly url: string, problem: string, fix = "check the id, the revision and your network, then load again") {
    super(`download of ${url} failed: ${problem}`, fix);
  }
}

/** A public call received an argument it cannot use. */
export class ArgumentError extends LmprobeError {
  constructor(readonly argument: string, problem: string, fix?: string) {
    super(`argument "${argument}" ${problem}`, fix);
  }
}

/** A prompt longer than the model's context window. */
export class ContextLengthError extends LmprobeError {
  constructor(readonly tokens: number, readonly maxPositions: number) {
    super(
      `the input has ${tokens} tokens, more than the model's context of ${maxPositions} (max_position_embeddings)`,
      "shorten the prompt or generate fewer tokens",
    );
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]} (${n} bytes)`;
}

/** A tfjs backend that was asked for (LMPROBE_BACKEND, setBackend()) is not available or failed to start. */
export class BackendUnavailableError extends LmprobeError {
  constructor(readonly backend: string, reason: string, fix = "run `lmprobe doctor` to see which backends work here, or choose another one") {
    super(`the ${backend} backend is not available: ${reason}`, fix);
  }
}

/** A chart, table or report could not be built or shown (a column missing from a table, a spec Vega rejects). */
export class DisplayError extends LmprobeError {
  constructor(readonly what: string, problem: string, fix?: string) {
    super(`${what}: ${problem}`, fix);
  }
}

/** The Jupyter kernelspec could not be installed (a different kernel of the same name, no Python/Jupyter found). */
export class KernelInstallError extends LmprobeError {
  constructor(readonly location: string, problem: string, fix?: string) {
    super(`${location}: ${problem}`, fix);
  }
}

/** A long-running call (probe, benchmark) was cancelled through its AbortSignal. Named "AbortError" like the DOM's. */
export class AbortError extends LmprobeError {
  constructor(readonly operation: string, readonly reason?: unknown) {
    super(`${operation} was aborted${reason instanceof Error ? `: ${reason.message}` : reason != null && typeof reason !== "object" ? `: ${String(reason)}` : ""}`);
  }
}

/** Throws AbortError when `signal` has been aborted. Probes call it between chunks of work. */
export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw new AbortError(operation, signal.reason);
}

/** dataSync()/arraySync() on a tensor that lives on a GPU backend that can only be read asynchronously. */
export class SynchronousReadError extends LmprobeError {
  constructor(readonly backend: string) {
    super(
      `a tensor on the ${backend} backend cannot be read synchronously (dataSync, arraySync, bufferSync): Node cannot wait for the GPU without yielding`,
      "read it with `await tensor.data()` or `await tensor.array()`, or use the wasm/cpu backend",
    );
  }
}

/**
 * The GPU rejected work (a validation or out-of-memory error, which WebGPU reports only as an event): the commands it
 * dropped never ran, so tensors computed since the last read, weights included, may hold wrong values.
 */
export class DeviceValidationError extends LmprobeError {
  constructor(readonly messages: string[]) {
    super(
      `the GPU rejected work, so results computed since the last read may be wrong: ${messages.slice(0, 3).join(" | ")}${messages.length > 3 ? ` (and ${messages.length - 3} more)` : ""}`,
      "load the model again (a weight may be affected) and report this with the message above; LMPROBE_BACKEND=cpu-native avoids the GPU",
    );
  }
}

/** A checkpoint format or quantisation scheme lmprobe cannot read yet (GGUF files, MXFP4/FP8/GPTQ weights). */
export class UnsupportedFormatError extends LmprobeError {
  constructor(readonly file: string, readonly format: string, fix = "load the model's unquantised Hugging Face safetensors release (BF16, F16 or F32)") {
    super(`${file}: ${format} is not supported yet`, fix);
  }
}

/**
 * A hook name that names no hook point of the model (a typo, a block past the last, a point this architecture
 * lacks). `suggestion` is the model's closest hook name or shorthand, or null when none is close.
 */
export class UnknownHookError extends ArgumentError {
  constructor(argument: string, readonly hook: string, readonly suggestion: string | null, fix: string, among = "of this model") {
    super(argument, `names no hook point ${among}: "${hook}"`, suggestion ? `did you mean "${suggestion}"? ${fix}` : fix);
  }
}

/** A file lmprobe was asked to write exists already: nothing was written, nothing was overwritten. */
export class FileExistsError extends LmprobeError {
  constructor(readonly file: string, fix: string) {
    super(`${file} exists already; nothing was written`, fix);
  }
}

/** A GGUF file (or an Ollama / LM Studio store entry) that is truncated or malformed; `field` names what is wrong. */
export class GgufFormatError extends LmprobeError {
  constructor(readonly file: string, readonly field: string, problem: string, fix = "re-download the file (it is truncated or was not written by a GGUF writer)") {
    super(`${file}: ${field}: ${problem}`, fix);
  }
}

/** A file in the local hub cache failed its check (sha256 of an LFS file, size) and could not be fetched again. */
export class HubCacheCorruptError extends LmprobeError {
  constructor(readonly file: string, problem: string, fix = "load again with network (unset HF_HUB_OFFLINE) to fetch it again") {
    super(`cached ${file} ${problem}; the corrupt copy was removed`, fix);
  }
}

/** The tokenizer can produce ids the model's embedding has no row for (tokenizer.json from another model). */
export class TokenizerVocabError extends LmprobeError {
  constructor(readonly tokenizerFile: string, readonly configFile: string, readonly token: string, readonly id: number, readonly rows: number) {
    super(
      `${tokenizerFile}: token ${JSON.stringify(token)} has id ${id}, but the embedding has ${rows} rows (vocab_size in ${configFile})`,
      "use the tokenizer.json that belongs to these weights (the id must be below vocab_size)",
    );
  }
}

/** A path named as a checkpoint file (weights, config, tokenizer) that is not a regular file: a directory, FIFO, socket, device. */
export class NotRegularFileError extends LmprobeError {
  constructor(readonly file: string, readonly what: string, readonly kind: string) {
    super(`${file}: the ${what} is a ${kind}, not a regular file`, `replace it with the real ${what} (a plain file, or a symlink to one)`);
  }
}

/** A forward pass produced NaN or ±Infinity (run's checkFinite): where it was first seen. */
export class NonFiniteActivationError extends LmprobeError {
  constructor(readonly hook: string, readonly layer: number | null, readonly position: number | null, readonly index: readonly number[], readonly value: number) {
    super(
      `the forward pass produced ${value} at ${hook}${layer === null ? "" : ` (layer ${layer}`}${position === null ? (layer === null ? "" : ")") : `${layer === null ? " (" : ", "}position ${position})`}, index [${index.join(", ")}]`,
      "the weights or an intervention overflow float32 here: check the checkpoint (`lmprobe verify`), the hook that writes this activation, or the input",
    );
  }
}

/** A gradient pass ran out of backend memory (the wasm heap is 4 GiB, shared by the weights and the tape). */
export class GradientMemoryError extends LmprobeError {
  constructor(readonly backend: string, readonly positions: number, cause: string, readonly checkpointed = true) {
    super(
      checkpointed
        ? `the gradient pass over ${positions} positions ran out of ${backend} memory (${cause}): the backward pass holds every block's input and one block's saved activations`
        : `the gradient pass over ${positions} positions ran out of ${backend} memory (${cause}): with checkpoint: false the backward pass keeps every op's saved inputs of the forward pass`,
      checkpointed
        ? "use fewer positions, or the cpu-native, cpu, tensorflow or webgpu backend (setBackend), which are not limited to a 4 GiB heap"
        : "leave checkpoint on (the default: each block is recomputed during the backward pass), use fewer positions, or a backend without wasm's 4 GiB heap",
    );
  }
}
