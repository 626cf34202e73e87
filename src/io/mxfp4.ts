// gpt-oss's MXFP4 experts (the only form gpt-oss ships in), dequantised as transformers' integrations/mxfp4.py
// does (convert_moe_packed_tensors): `<name>_blocks` uint8 [experts, rows, cols/32, 16] hold two e2m1 codes a
// byte (element 2j in the low nibble, 2j + 1 in the high one), `<name>_scales` uint8 [experts, rows, cols/32]
// the e8m0 exponent + 127 of each block of 32; the result [experts, rows, cols] is transposed to the
// [experts, cols, rows] of the unquantised `<name>` parameter. Every value is an e2m1 value times a power of
// two, exact in float32 (and in the bfloat16 transformers dequantises to).
import { UnsupportedDtypeError, WeightShapeError } from "../errors";
import type { SafetensorsWeights } from "./safetensors-weights";
import type { TensorInfo, WeightSource } from "./weight-source";

/** The e2m1 values of codes 0..15. */
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** Dequantises MXFP4 blocks/scales of shape [..., rows, groups, 16] / [..., rows, groups] into [..., rows, groups·32]. */
export function dequantizeMxfp4(blocks: Uint8Array, scales: Uint8Array): Float32Array {
  const out = new Float32Array(blocks.length * 2);
  for (let g = 0; g < scales.length; g++) {
    const scale = 2 ** (scales[g] - 127);
    for (let j = 0; j < 16; j++) {
      const byte = blocks[g * 16 + j];
      out[g * 32 + 2 * j] = E2M1[byte & 0x0f] * scale;
      out[g * 32 + 2 * j + 1] = E2M1[byte >> 4] * scale;
    }
  }
  return out;
}

/** A WeightSource that shows each `<name>_blocks` / `<name>_scales` pair as the float tensor `<name>`. */
export class Mxfp4Weights implements WeightSource {
  readonly origin: string;
  /** `<name>` → its blocks and scales tensor names. */
  private readonly packed = new Map<string, { blocks: string; scales: string }>();

  constructor(private readonly inner: SafetensorsWeights) {
    this.origin = inner.origin;
    for (const name of inner.names()) {
      if (!name.endsWith("_blocks")) continue;
      const base = name.slice(0, -"_blocks".length);
      const scales = `${base}_scales`;
      if (!inner.has(scales)) {
        throw new WeightShapeError(inner.info(name).file, scales, `is missing: MXFP4 tensor "${name}" needs its scales`, "re-download the checkpoint");
      }
      for (const part of [name, scales]) {
        const info = inner.info(part);
        if (info.dtype !== "U8") throw new UnsupportedDtypeError(info.file, part, info.dtype, "MXFP4 blocks and scales are stored as U8");
      }
      const b = inner.info(name).shape, s = inner.info(scales).shape;
      if (b.length < 3 || b[b.length - 1] !== 16 || s.length !== b.length - 1 || s.some((d, i) => d !== b[i])) {
        throw new WeightShapeError(inner.info(name).file, name, `has shape [${b}] but its scales [${s}]: MXFP4 needs blocks [..., groups, 16] and scales [..., groups]`);
      }
      this.packed.set(base, { blocks: name, scales });
    }
  }

  names(): string[] {
    return [...this.inner.names().filter((n) => !this.isPackedPart(n)), ...this.packed.keys()].sort();
  }

  has(name: string): boolean {
    return this.packed.has(name) || (this.inner.has(name) && !this.isPackedPart(name));
  }

  private isPackedPart(name: string): boolean {
    const base = name.replace(/_(blocks|scales)$/, "");
    return base !== name && this.packed.has(base);
  }

  info(name: string): TensorInfo {
    const p = this.packed.get(name);
    if (!p) return this.inner.info(name);
    const blocks = this.inner.info(p.blocks);
    const s = this.inner.info(p.scales).shape;
    const [rows, groups] = s.slice(-2);
    const bytes = blocks.shape.reduce((a, b) => a * b, 1) + s.reduce((a, b) => a * b, 1);
    return { name, dtype: "F32", shape: [...s.slice(0, -2), groups * 32, rows], file: blocks.file, quantisation: { type: "MXFP4", bytes } };
  }

  read(name: string): Float32Array {
    const p = this.packed.get(name);
    if (!p) return this.inner.read(name);
    const s = this.inner.info(p.scales).shape;
    const [rows, groups] = s.slice(-2);
    const cols = groups * 32;
    const matrices = s.slice(0, -2).reduce((a, b) => a * b, 1);
    const dense = dequantizeMxfp4(this.inner.readBytes(p.blocks), this.inner.readBytes(p.scales));
    // [..., rows, cols] → [..., cols, rows], as transformers' final transpose(1, 2).
    const out = new Float32Array(dense.length);
    for (let m = 0; m < matrices; m++) {
      const base = m * rows * cols;
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[base + c * rows + r] = dense[base + r * cols + c];
    }
    return out;
  }

  close(): void {
    this.inner.close();
  }
}
