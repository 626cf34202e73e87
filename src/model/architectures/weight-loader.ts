// Reads a checkpoint's tensors for a converter: checks each shape against what config.json implies, rejects
// (through the WeightSource) non-finite values, transposes nn.Linear weights into the canonical [in, out]
// orientation, and records which tensors were used so that a parameter the conversion would silently drop is
// reported instead.
import * as tf from "@tensorflow/tfjs-core";
import { capability } from "../../backend/capabilities";
import { NonFiniteWeightError, WeightShapeError } from "../../errors";
import { firstNonFiniteHalf } from "../../io/safetensors-weights";
import type { WeightSource } from "../../io/weight-source";
import type { NormWeights } from "../canonical";
import { packWeight, packWeightLater, packedWeightsEnabled, type Weight2D } from "../../backend/packed-weight";
import { valuesInMemory, type HalfValues } from "../../backend/packed-upload";
import { float16Values } from "../../io/half-float";

/** Largest transpose (in floats, 256 MB) written into the reused buffer: block weights of models up to ~8B parameters. */
const SCRATCH_LIMIT = 1 << 26;

export class WeightLoader {
  private readonly used = new Set<string>();
  private scratch = new Float32Array(0);

  constructor(
    readonly weights: WeightSource,
    readonly architecture: string,
  ) {}

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** The tensor `name` with exactly `shape`. */
  tensor(name: string, shape: number[]): tf.Tensor {
    return tf.tensor(this.read(name, shape), shape, "float32");
  }

  /** The float32 values of `name`, checked to have exactly `shape`. */
  private read(name: string, shape: number[]): Float32Array {
    this.checkShape(name, shape);
    const data = this.weights.read(name); // the WeightSource rejects NaN and Infinity as it reads
    this.used.add(name);
    return data;
  }

  private checkShape(name: string, shape: number[]): void {
    if (!this.weights.has(name)) {
      throw new WeightShapeError(this.weights.origin, name, "is missing from the checkpoint", `a ${this.architecture} checkpoint needs it; check that config.json belongs to these weights`);
    }
    const info = this.weights.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightShapeError(info.file, name, `has shape [${info.shape}] but config.json implies [${shape}]`);
    }
  }

  optional(name: string, shape: number[]): tf.Tensor | null {
    return this.weights.has(name) ? this.tensor(name, shape) : null;
  }

  /** Marks a tensor as deliberately unused (e.g. an lm_head that duplicates tied embeddings). */
  skip(name: string): void {
    if (this.weights.has(name)) this.used.add(name);
  }

  /**
   * An nn.Linear weight stored [out, in], as a weight of logical shape [in, out]. A BF16/F16 one on a backend with
   * packed kernels (webgpu) stays 16-bit and [out, in] as stored, read transposed by the kernels (packedMatrix);
   * otherwise it is linearFloat32's tensor.
   */
  linear(name: string, inDim: number, outDim: number): Weight2D {
    return this.packedMatrix(name, [outDim, inDim], true) ?? this.linearFloat32(name, inDim, outDim);
  }

  /**
   * An nn.Linear weight stored [out, in], returned as a float32 [in, out] tensor (for converters that compute on
   * the weight: split, reorder, scale). Transposed on the host, so the backend holds only the result (a device-side
   * transpose would hold both orientations at once and leave a hole of that size).
   */
  linearFloat32(name: string, inDim: number, outDim: number): tf.Tensor2D {
    const target = this.transposeTarget(inDim * outDim);
    // BF16/F16 as stored: checked for NaN and Infinity as 16-bit values and widened while transposing, one pass
    // where widening, checking and transposing float32 values took three (a streamed block's rebuild is mostly this).
    if (!this.widenLinearInto(name, [outDim, inDim], target)) transposeInto(this.read(name, [outDim, inDim]), outDim, inDim, target);
    return tf.tensor2d(target, [inDim, outDim], "float32");
  }

  /**
   * A BF16/F16 nn.Linear weight (checked to have `shape` [out, in]) widened and transposed into `target` in one
   * pass that also checks for NaN and Infinity (NonFiniteWeightError, as read() would throw); false, with nothing
   * read, for other dtypes or sources without 16-bit values.
   */
  private widenLinearInto(name: string, shape: [number, number], target: Float32Array): boolean {
    this.checkShape(name, shape);
    const dtype = this.weights.info(name).dtype;
    if (!this.weights.readHalves || (dtype !== "BF16" && dtype !== "F16")) return false;
    const halves = this.weights.readHalves(name, true);
    if (!halves) return false;
    this.used.add(name);
    if (!widenTransposedInto(halves.bits, halves.format, shape[0], shape[1], target)) {
      throw new NonFiniteWeightError(this.weights.info(name).file, name, firstNonFiniteHalf(halves.bits, halves.format === "bf16" ? 0x7f80 : 0x7c00));
    }
    return true;
  }

  /**
   * A fused nn.Linear weight stored [Σ outs, in] (Phi-3's qkv_proj, gate_up_proj), cut into blocks of `outs` rows,
   * each returned as linear() returns one: packed blocks are cut from the 16-bit values on the host.
   */
  linearSplit(name: string, inDim: number, outs: number[]): Weight2D[] {
    const total = outs.reduce((a, b) => a + b, 0);
    const values = this.packable(name, [total, inDim]) ? this.halfValues(name) : null;
    if (!values) {
      const fused = this.linearFloat32(name, inDim, total);
      const parts = tf.split(fused, outs, 1) as tf.Tensor2D[];
      fused.dispose();
      return parts;
    }
    this.used.add(name);
    // Each block is a range of rows of the stored tensor: streamed to its own buffer as a whole tensor would be.
    let row = 0;
    return outs.map((n) => {
      const offset = row * inDim;
      row += n;
      const block: HalfValues = {
        read: (first, target) => values.read(offset + first, target),
        readSync: (first, target) => values.readSync(offset + first, target),
      };
      return packWeightLater(block, [n, inDim], values.format, true);
    });
  }

  /** A fused Conv1D weight stored [in, Σ outs] (GPT-2's c_attn), cut into column blocks of `outs`. */
  conv1dSplit(name: string, inDim: number, outs: number[]): Weight2D[] {
    const total = outs.reduce((a, b) => a + b, 0);
    const halves = this.halvesOf(name, [inDim, total]);
    if (!halves) {
      const fused = this.tensor(name, [inDim, total]) as tf.Tensor2D;
      const parts = tf.split(fused, outs, 1) as tf.Tensor2D[];
      fused.dispose();
      return parts;
    }
    let col = 0;
    return outs.map((n) => {
      const block = new Uint16Array(inDim * n);
      for (let r = 0; r < inDim; r++) block.set(halves.bits.subarray(r * total + col, r * total + col + n), r * n);
      col += n;
      return packWeight(block, [inDim, n], halves.format, false);
    });
  }

  /** A GPT-2 Conv1D weight, already stored [in, out] (packed where linear() would pack). */
  conv1d(name: string, inDim: number, outDim: number): Weight2D {
    return this.packedMatrix(name, [inDim, outDim], false) ?? (this.tensor(name, [inDim, outDim]) as tf.Tensor2D);
  }

  /** A matrix used as stored, [rows, cols]: an embedding (packed where linear() would pack). */
  matrix(name: string, rows: number, cols: number): Weight2D {
    return this.packedMatrix(name, [rows, cols], false) ?? (this.tensor(name, [rows, cols]) as tf.Tensor2D);
  }

  /**
   * The 16-bit values of a BF16/F16 matrix stored with `shape`, packed on the device (transposed: read as its
   * transpose), or null where weights are not packed: another backend, LMPROBE_PACKED_WEIGHTS=0, a float32 or
   * quantised tensor, or a source that cannot give 16-bit values. Read and uploaded one tensor at a time: the host
   * holds at most this tensor's 2 bytes per value.
   */
  private packedMatrix(name: string, shape: [number, number], transposed: boolean): Weight2D | null {
    if (!this.packable(name, shape)) return null;
    const source = this.weights;
    this.used.add(name);
    const values = this.halfValues(name);
    // Read when loadModel writes it (after the model is built, a slice at a time), or now outside loadModel.
    return packWeightLater(values, shape, values.format, transposed);
  }

  /** A packable tensor's values, read in ranges where the source can (halfRanges), else whole (readHalves). */
  private halfValues(name: string): HalfValues & { format: "bf16" | "f16" } {
    const source = this.weights;
    const ranges = source.halfRanges?.(name);
    if (ranges) return ranges;
    const format = source.info(name).dtype === "BF16" ? "bf16" : "f16";
    return { format, ...valuesInMemory(() => source.readHalves!(name)!.bits) };
  }

  /** Whether `name` (checked to have `shape`) is a BF16/F16 tensor this backend keeps packed. */
  private packable(name: string, shape: number[]): boolean {
    if (!packedWeightsEnabled() || !this.weights.readHalves || !this.weights.has(name)) return false;
    const dtype = this.weights.info(name).dtype;
    if (dtype !== "BF16" && dtype !== "F16") return false;
    this.checkShape(name, shape);
    return true;
  }

  /** The 16-bit values of `name` (checked to have `shape`) where weights are packed, else null. */
  private halvesOf(name: string, shape: number[]): { format: "bf16" | "f16"; bits: Uint16Array } | null {
    if (!this.packable(name, shape)) return null;
    const halves = this.weights.readHalves!(name);
    if (halves) this.used.add(name);
    return halves;
  }

  /**
   * Where linear() writes a transpose. tfjs-wasm copies a tensor's values into its own memory when the tensor is
   * made, so there one buffer serves every weight; other backends may keep the array itself, so each gets its own.
   */
  private transposeTarget(size: number): Float32Array {
    // A vocabulary-sized lm_head gets its own array, which is collected after use: kept as the shared buffer, it
    // would stay allocated for the rest of the load.
    if (!capability("copiesOnUpload") || size > SCRATCH_LIMIT) return new Float32Array(size);
    if (this.scratch.length < size) this.scratch = new Float32Array(size);
    return this.scratch.subarray(0, size);
  }

  bias(name: string, dim: number, required: boolean): tf.Tensor1D | null {
    return (required ? this.tensor(name, [dim]) : this.optional(name, [dim])) as tf.Tensor1D | null;
  }

  rmsNorm(name: string, dim: number, eps: number, weightOffset = 0): NormWeights {
    return { kind: "rms", weight: this.tensor(name, [dim]) as tf.Tensor1D, bias: null, eps, weightOffset };
  }

  layerNorm(prefix: string, dim: number, eps: number): NormWeights {
    return {
      kind: "layer",
      weight: this.tensor(`${prefix}.weight`, [dim]) as tf.Tensor1D,
      bias: this.tensor(`${prefix}.bias`, [dim]) as tf.Tensor1D,
      eps,
      weightOffset: 0,
    };
  }

  /**
   * Throws for any checkpoint tensor the conversion did not read (except buffers matching `ignorable`), since
   * dropping a parameter would give numbers that differ from the reference without saying so.
   */
  assertAllUsed(ignorable: RegExp[] = []): void {
    for (const name of this.weights.names()) {
      if (this.used.has(name) || ignorable.some((re) => re.test(name))) continue;
      throw new WeightShapeError(
        this.weights.info(name).file,
        name,
        `is in the checkpoint but lmprobe's ${this.architecture} conversion does not use it`,
        "the checkpoint has parameters this architecture's implementation lacks (a variant lmprobe does not support yet); check config.json's model_type",
      );
    }
  }
}

/**
 * transposeInto for 16-bit values: `bits` [rows, cols] (bfloat16 or float16 patterns) widened to float32 into
 * `target` [cols, rows], exactly as bfloat16ToFloat32 / float16ToFloat32 widen. Returns false when a value is NaN
 * or ±Infinity (all exponent bits set; the caller finds which), checked as the values pass, two per 32-bit word.
 * Even shapes (every model's) go 2 × 2 values at a time from 32-bit reads, in tiles of 256 rows × 8 columns. A
 * streamed block's rebuild (bench/cpu-streamed.mjs) is mostly this pass.
 */
export function widenTransposedInto(bits: Uint16Array, format: "bf16" | "f16", rows: number, cols: number, target: Float32Array): boolean {
  const mask = format === "bf16" ? 0x7f80 : 0x7c00;
  if (rows % 2 === 0 && cols % 2 === 0 && bits.byteOffset % 4 === 0) {
    const words = new Int32Array(bits.buffer, bits.byteOffset, (rows * cols) >>> 1);
    // One loop per format: a format test inside the loop cost the bf16 loop half its speed.
    const flags = format === "bf16" ? widenBf16Pairs(words, rows, cols, new Int32Array(target.buffer, target.byteOffset, rows * cols)) : widenF16Pairs(words, rows, cols, target);
    return flags === 0;
  }
  const lowest = mask & -mask;
  const table = format === "f16" ? float16Values() : null;
  const out32 = new Int32Array(target.buffer, target.byteOffset, rows * cols);
  let flags = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const b = bits[i * cols + j];
      flags |= ((b & mask) + lowest) & 0x8000;
      if (table) target[j * rows + i] = table[b];
      else out32[j * rows + i] = b << 16;
    }
  }
  return flags === 0;
}

// The 2 × 2 loops: `words` holds [rows, cols] values two per word (little-endian: column j in the low half); each
// step reads columns j, j+1 of rows i and i+1 and writes them to rows j, j+1 of the transpose. They return the
// non-finite flags: (half & mask) + lowest carries into the half's top bit only when every exponent bit is set
// (firstNonFiniteHalf's test, two halves per word).
// Tiles of 256 source rows × 8 columns: each output row is then written 1 KiB at a time. Square 16 × 16 tiles wrote
// 64 B per output row and page, and ran 1.2–2.6× slower on the 8B's matrices (0.24–0.46 G values/s against
// 0.30–0.77 for this shape, a scratch timing over its projections' shapes on a 2-core VM).
const PAIR_ROWS = 256;
const PAIR_COLS = 8;

function widenBf16Pairs(words: Int32Array, rows: number, cols: number, out32: Int32Array): number {
  const half = cols >>> 1;
  let flags = 0;
  for (let i0 = 0; i0 < rows; i0 += PAIR_ROWS) {
    const i1 = Math.min(i0 + PAIR_ROWS, rows);
    for (let j0 = 0; j0 < cols; j0 += PAIR_COLS) {
      const j1 = Math.min(j0 + PAIR_COLS, cols);
      for (let i = i0; i < i1; i += 2) {
        const r0 = i * half;
        const r1 = r0 + half;
        for (let j = j0; j < j1; j += 2) {
          const x = words[r0 + (j >>> 1)];
          const y = words[r1 + (j >>> 1)];
          flags |= (((x & 0x7f807f80) + 0x00800080) | ((y & 0x7f807f80) + 0x00800080)) & 0x80008000;
          const o = j * rows + i;
          out32[o] = x << 16;
          out32[o + 1] = y << 16;
          out32[o + rows] = x & -65536;
          out32[o + rows + 1] = y & -65536;
        }
      }
    }
  }
  return flags;
}

function widenF16Pairs(words: Int32Array, rows: number, cols: number, target: Float32Array): number {
  const table = float16Values();
  const half = cols >>> 1;
  let flags = 0;
  for (let i0 = 0; i0 < rows; i0 += PAIR_ROWS) {
    const i1 = Math.min(i0 + PAIR_ROWS, rows);
    for (let j0 = 0; j0 < cols; j0 += PAIR_COLS) {
      const j1 = Math.min(j0 + PAIR_COLS, cols);
      for (let i = i0; i < i1; i += 2) {
        const r0 = i * half;
        const r1 = r0 + half;
        for (let j = j0; j < j1; j += 2) {
          const x = words[r0 + (j >>> 1)];
          const y = words[r1 + (j >>> 1)];
          flags |= (((x & 0x7c007c00) + 0x04000400) | ((y & 0x7c007c00) + 0x04000400)) & 0x80008000;
          const o = j * rows + i;
          target[o] = table[x & 0xffff];
          target[o + 1] = table[y & 0xffff];
          target[o + rows] = table[x >>> 16];
          target[o + rows + 1] = table[y >>> 16];
        }
      }
    }
  }
  return flags;
}

/** target[j][i] = source[i][j] for source [rows, cols]; in tiles, so that both sides stay in cache. */
export function transposeInto(source: Float32Array, rows: number, cols: number, target: Float32Array): void {
  const TILE = 32;
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = Math.min(i0 + TILE, rows);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(j0 + TILE, cols);
      for (let i = i0; i < i1; i++) {
        const row = i * cols;
        for (let j = j0; j < j1; j++) target[j * rows + i] = source[row + j];
      }
    }
  }
}
