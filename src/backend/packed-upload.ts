// Writing packed weights to their device buffers a slice of rows at a time, so that host memory during a load is
// bounded by the slice size whatever the model's size (an 8B model's embedding alone is 1 GB of bf16).
//
// Little-endian 16-bit values of a row of even length are, byte for byte, the packed words (element 2i in the low
// half of word i): such a slice goes from the file to writeBuffer with no copy. A row of odd length ends in a
// word whose high half is zero, so its slices are re-laid out row by row into a padded buffer first.
//
// Dawn's writeBuffer copies the bytes into a staging buffer at once (so a host buffer may be reused as soon as it
// returns) and frees the staging buffers only when it processes completed work, which it does while JavaScript
// awaits: the writes wait for the device every WAIT_BYTES. The next slice is read from disk (on libuv's thread
// pool) while the current one is checked and written, so reading overlaps the uploads.

/** Ranges of a stored 16-bit matrix's values (flat, row-major), read into a caller's buffer and checked as read. */
export interface HalfValues {
  read(first: number, target: Uint16Array): Promise<void>;
  readSync(first: number, target: Uint16Array): void;
}

/** One weight to write: its device buffer (as words [rows, ceil(cols / 2)]) and where its values come from. */
export interface UploadJob {
  buffer(): GPUBuffer;
  readonly stored: readonly [number, number];
  readonly values: HalfValues;
  /** True when the weight no longer needs its values (written already, or disposed by its converter). */
  skip(): boolean;
  /** Called once its last slice is written. */
  done(): void;
}

/** Default bytes of values per slice (LMPROBE_UPLOAD_SLICE_BYTES overrides it; tests force tiny slices). */
const DEFAULT_SLICE_BYTES = 64 * 2 ** 20;
/** Bytes written between waits for the device (each wait lets Dawn free the staging copies of the writes before). */
const WAIT_BYTES = 256 * 2 ** 20;

/** Bytes of values per slice: whole rows of at most this many bytes (at least one row). */
export function uploadSliceBytes(): number {
  const raw = process.env.LMPROBE_UPLOAD_SLICE_BYTES;
  if (raw === undefined || raw === "") return DEFAULT_SLICE_BYTES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 2) throw new Error(`LMPROBE_UPLOAD_SLICE_BYTES is ${JSON.stringify(raw)}: set a whole number of bytes ≥ 2, or unset it`);
  return n;
}

interface Slice {
  job: UploadJob;
  firstRow: number;
  rows: number;
}

function slicesOf(job: UploadJob, sliceBytes: number): Slice[] {
  const [rows, cols] = job.stored;
  const perSlice = Math.max(1, Math.floor(sliceBytes / (2 * Math.max(cols, 1))));
  const out: Slice[] = [];
  for (let first = 0; first < rows; first += perSlice) out.push({ job, firstRow: first, rows: Math.min(perSlice, rows - first) });
  return out;
}

/** What the last uploadInSlices did (the load benchmark reports it). */
export interface UploadStats {
  weights: number;
  slices: number;
  /** Bytes written to the device (words, padding included). */
  bytesWritten: number;
  /** Host memory of the slice buffers (two for reading, one for padding odd rows). */
  hostBufferBytes: number;
  seconds: number;
  /** Time spent waiting for disk reads (not overlapped with uploads) and for the device. */
  readWaitSeconds: number;
  deviceWaitSeconds: number;
}

let lastStats: UploadStats | null = null;

export function lastUploadStats(): UploadStats | null {
  return lastStats;
}

/** Host buffers sized for the largest slice; `padded` only when some weight has rows of odd length. */
function sliceBuffers(slices: Slice[], count: number): { halves: Uint16Array[]; padded: Uint16Array | null } {
  let values = 0;
  let paddedValues = 0;
  for (const s of slices) {
    const cols = s.job.stored[1];
    values = Math.max(values, s.rows * cols);
    if (cols % 2 === 1) paddedValues = Math.max(paddedValues, s.rows * (cols + 1));
  }
  // Whole words, so that a view on each is 4-byte aligned for the two-at-a-time NaN test.
  const halves = Array.from({ length: count }, () => new Uint16Array(values + (values % 2)));
  return { halves, padded: paddedValues > 0 ? new Uint16Array(paddedValues) : null };
}

/** Writes one slice's values (`halves`: rows × cols) at its rows' place in the buffer; returns the bytes written. */
function writeSlice(queue: GPUQueue, slice: Slice, halves: Uint16Array, padded: Uint16Array | null): number {
  const cols = slice.job.stored[1];
  const buffer = slice.job.buffer();
  if (cols % 2 === 0) {
    queue.writeBuffer(buffer, slice.firstRow * cols * 2, halves.buffer, halves.byteOffset, slice.rows * cols * 2);
    return slice.rows * cols * 2;
  }
  const stride = cols + 1;
  const out = padded!.subarray(0, slice.rows * stride);
  for (let r = 0; r < slice.rows; r++) {
    out.set(halves.subarray(r * cols, (r + 1) * cols), r * stride);
    out[r * stride + cols] = 0;
  }
  queue.writeBuffer(buffer, slice.firstRow * stride * 2, out.buffer, out.byteOffset, out.byteLength);
  return out.byteLength;
}

/**
 * Writes every job's values, a slice at a time, reading the next slice while writing the current one. A read that
 * fails (a non-finite value: NonFiniteWeightError) stops the uploads and is thrown once no read is in flight.
 */
export async function uploadInSlices(jobs: UploadJob[], queue: GPUQueue): Promise<void> {
  const start = performance.now();
  const slices = jobs.flatMap((job) => slicesOf(job, uploadSliceBytes()));
  const { halves, padded } = sliceBuffers(slices, 2);
  const stats: UploadStats = {
    weights: jobs.length, slices: slices.length, bytesWritten: 0, seconds: 0, readWaitSeconds: 0, deviceWaitSeconds: 0,
    hostBufferBytes: halves.reduce((n, h) => n + h.byteLength, 0) + (padded?.byteLength ?? 0),
  };
  const read = (i: number): Promise<Uint16Array> | null => {
    const s = slices[i];
    if (s.job.skip()) return null;
    const cols = s.job.stored[1];
    const target = halves[i % 2].subarray(0, s.rows * cols);
    return s.job.values.read(s.firstRow * cols, target).then(() => target);
  };
  let next: Promise<Uint16Array> | null = slices.length > 0 ? read(0) : null;
  let sinceWait = 0;
  try {
    for (let i = 0; i < slices.length; i++) {
      const current = next;
      next = null;
      const t0 = performance.now();
      const values = current ? await current : null;
      stats.readWaitSeconds += (performance.now() - t0) / 1000;
      // The next slice goes into the other buffer, whose slice was written (copied by writeBuffer) already.
      if (i + 1 < slices.length) next = read(i + 1);
      if (!values) continue;
      const s = slices[i];
      const bytes = writeSlice(queue, s, values, padded);
      stats.bytesWritten += bytes;
      if (s.firstRow + s.rows === s.job.stored[0]) s.job.done();
      sinceWait += bytes;
      if (sinceWait >= WAIT_BYTES) {
        const t1 = performance.now();
        await queue.onSubmittedWorkDone();
        stats.deviceWaitSeconds += (performance.now() - t1) / 1000;
        sinceWait = 0;
      }
    }
    const t1 = performance.now();
    await queue.onSubmittedWorkDone();
    stats.deviceWaitSeconds += (performance.now() - t1) / 1000;
  } catch (e) {
    // Leave no read writing into the buffers (or using the file, which the caller closes next).
    await next?.catch(() => undefined);
    throw e;
  } finally {
    stats.seconds = (performance.now() - start) / 1000;
    lastStats = stats;
  }
}

/** uploadInSlices for one weight, synchronously (one a converter uses during the build); no waits for the device. */
export function uploadInSlicesSync(job: UploadJob, queue: GPUQueue): void {
  const slices = slicesOf(job, uploadSliceBytes());
  const { halves, padded } = sliceBuffers(slices, 1);
  const cols = job.stored[1];
  for (const s of slices) {
    const target = halves[0].subarray(0, s.rows * cols);
    job.values.readSync(s.firstRow * cols, target);
    writeSlice(queue, s, target, padded);
  }
  job.done();
}

/** HalfValues over values already in memory (a converter's own array). */
export function valuesInMemory(read: () => Uint16Array): HalfValues {
  let all: Uint16Array | null = null;
  const readSync = (first: number, target: Uint16Array) => {
    all ??= read();
    target.set(all.subarray(first, first + target.length));
  };
  return { readSync, read: async (first, target) => readSync(first, target) };
}
