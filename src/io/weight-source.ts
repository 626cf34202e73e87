// The boundary between reading a checkpoint (io/) and building a model (model/): a lazy view of the
// checkpoint's tensors. Architectures ask for tensors by their Hugging Face names, one at a time, so a
// multi-GB checkpoint is never held twice in memory.

export type StoredDtype = "F32" | "F16" | "BF16";

/** Other safetensors dtypes a checkpoint may hold (integer buffers, quantised blocks); `read` refuses them. */
export type UnreadableDtype =
  | "F64" | "I64" | "U64" | "I32" | "U32" | "I16" | "U16" | "I8" | "U8" | "BOOL" | "C64"
  | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F4" | "F6_E2M3" | "F6_E3M2";

export interface TensorInfo {
  /** Hugging Face tensor name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  name: string;
  /** Dtype as stored on disk (F32/F16/BF16 are converted to float32 on read; others raise UnsupportedDtypeError). */
  dtype: StoredDtype | UnreadableDtype;
  shape: number[];
  /** The file that holds it (absolute path). */
  file: string;
  /** For quantised storage (GGUF): the ggml type as stored (`dtype` is then the F32 it is read as) and its bytes on disk. */
  quantisation?: { type: string; bytes: number };
}

/** Ranges of a 16-bit tensor's values (flat, row-major), read into a caller's buffer. */
export interface HalfRanges {
  readonly format: "bf16" | "f16";
  /** Values in the tensor. */
  readonly size: number;
  /** Values [first, first + target.length) into `target`; throws NonFiniteWeightError (with the flat index). */
  read(first: number, target: Uint16Array): Promise<void>;
  /** read(), synchronously. */
  readSync(first: number, target: Uint16Array): void;
}

export interface WeightSource {
  /** Directory or description of the checkpoint, for error messages. */
  readonly origin: string;
  /** Every tensor name, sorted. */
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /**
   * Reads one tensor from disk and converts it to float32. Throws WeightShapeError naming the tensor if absent,
   * and NonFiniteWeightError if it holds NaN or Infinity (the one place weights are scanned for them).
   */
  read(name: string): Float32Array;
  /**
   * A BF16 or F16 tensor's values as stored (16-bit patterns, little-endian, no float32 copy; `bits` starts at a
   * 4-byte boundary), checked for NaN and Infinity as read() does unless `unchecked` (a caller that checks them
   * in its own pass over the values, and throws NonFiniteWeightError itself); null for other dtypes. Optional:
   * sources without it are always read as float32.
   */
  readHalves?(name: string, unchecked?: boolean): { format: "bf16" | "f16"; bits: Uint16Array } | null;
  /**
   * A BF16 or F16 tensor read a range of values at a time (to stream it to the device without holding it whole),
   * each range checked for NaN and Infinity as read() checks the whole; null for other dtypes. Optional.
   */
  halfRanges?(name: string): HalfRanges | null;
  /** Releases open file handles. */
  close(): void;
  /**
   * Set by the loader when the float32 form does not fit: architectures that support it then keep only the
   * weights outside the blocks resident and read each block's again when the forward pass reaches it.
   */
  streamLayers?: boolean;
}
