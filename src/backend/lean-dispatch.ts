// Cuts the CPU cost of each tfjs-webgpu dispatch, which bounds the forward pass on a large GPU: a transformer
// block is ~50 small dispatches, and through Dawn's Node bindings each one cost ~100 µs of native calls (a fresh
// uniform buffer and queue.writeBuffer, getBindGroupLayout, createBindGroup), far more than the GPU work.
//
// The replacement for WebGPUBackend.recordAndSubmit records the same dispatch with the same uniform bytes, but
//  - writes every dispatch's uniforms into one CPU arena, uploaded with one writeBuffer just before the batch is
//    submitted (queue operations run in order, so a single GPU arena can be reused by every batch);
//  - caches each pipeline's bind-group layout, and the bind groups themselves keyed by the exact buffers and
//    arena slice they bind: with the pool handing out buffers in creation order (poolInCreationOrder), a
//    repeated forward pass binds the same pooled buffers in the same order, so most bind groups are found rather
//    than created. tfjs's pool never destroys a storage buffer while the backend lives, so a cached bind group
//    never refers to a freed buffer.
//  - uploads small host tensors (the scalars of tf.mul(x, 0.5), eps, masks, ids) with one queue.writeBuffer into
//    a pooled buffer, where tfjs creates a mapped staging buffer, copies it inside the command encoder and so
//    ends the open compute pass: on Vulkan that cost ~200 µs per upload, and most ops of a block upload one.
//    The buffer is not in use by the unsubmitted encoder (tfjs returns a buffer to the pool only after the
//    submit that used it), and queue order puts the write after all earlier submitted work.
// Profiling runs (tf.profile with timestamp queries) and textures keep tfjs's own path.
import * as tf from "@tensorflow/tfjs-core";

interface BackendInternals {
  device: GPUDevice;
  bufferManager: BufferPool;
  uploadToGPU(dataId: object): void;
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  activeTimers: unknown;
  commandQueueOwnedIds: WeakSet<object>;
  tensorMap: { get(dataId: object): { resource?: unknown; values?: ArrayLike<number> | null; dtype: string; shape: number[] } };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  recordAndSubmit(program: DispatchProgram, output: tf.TensorInfo, inputs: tf.TensorInfo[], uniforms?: UniformField[]): void;
}

interface DispatchProgram {
  pipeline: GPUComputePipeline | Promise<GPUComputePipeline>;
  dispatch: [number, number, number];
  outputShape: number[];
  outputComponent?: number;
  size?: boolean;
  pixelsOpType?: unknown;
}

export interface UniformField {
  type: "int32" | "uint32" | "float32";
  data: number[];
}

/** Byte offsets and total size of a uniform struct, by WGSL's alignment rules as tfjs-webgpu declares it. */
export function uniformLayout(fields: UniformField[]): { offsets: number[]; size: number } {
  let offset = 0;
  let previousLength = 0;
  let maxAlign = 1;
  const offsets: number[] = [];
  for (const f of fields) {
    const length = Math.max(1, f.data.length);
    // scalar 4, vec2 8, vec3/vec4 16; tfjs declares 5- and 6-long shapes as arrays, 16-aligned, and so is
    // whatever follows one of them.
    let align = length === 1 ? 4 : length === 2 ? 8 : 16;
    if (previousLength === 5 || previousLength === 6) align = 16;
    maxAlign = Math.max(maxAlign, align);
    offset = Math.ceil(offset / align) * align;
    offsets.push(offset);
    offset += length * 4;
    previousLength = length;
  }
  return { offsets, size: Math.ceil(offset / maxAlign) * maxAlign };
}

/** The uniforms tfjs-webgpu gives every program: NaN, Infinity, each binding's shape and strides, size, then the program's own. */
export function programUniforms(program: DispatchProgram, output: tf.TensorInfo, inputs: tf.TensorInfo[], own?: UniformField[]): UniformField[] {
  const fields: UniformField[] = [];
  if (program.pixelsOpType == null) {
    fields.push({ type: "float32", data: [NaN] }, { type: "float32", data: [Infinity] });
    for (const t of [...inputs, output]) {
      fields.push({ type: "int32", data: t.shape }, { type: "int32", data: tf.util.computeStrides(t.shape) });
    }
  } else {
    fields.push({ type: "int32", data: tf.util.computeStrides(output.shape) });
  }
  if (program.size) {
    const size = tf.util.sizeFromShape(program.outputShape);
    fields.push({ type: "int32", data: [program.outputComponent ? size / program.outputComponent : size] });
  }
  if (own) fields.push(...own);
  return fields;
}

const ARENA_BYTES = 1 << 16;
const MAX_CACHED_BIND_GROUPS = 1 << 14;

/** Per-backend state of the lean path. */
class DispatchState {
  readonly staging = new ArrayBuffer(ARENA_BYTES);
  readonly i32 = new Int32Array(this.staging);
  readonly u32 = new Uint32Array(this.staging);
  readonly f32 = new Float32Array(this.staging);
  readonly arena: GPUBuffer;
  readonly align: number;
  used = 0;
  readonly layouts = new WeakMap<object, GPUBindGroupLayout>();
  readonly ids = new WeakMap<object, number>();
  nextId = 1;
  readonly bindGroups = new Map<string, GPUBindGroup>();
  hits = 0;
  misses = 0;

  constructor(device: GPUDevice) {
    this.arena = device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.align = Math.max(16, device.limits.minUniformBufferOffsetAlignment ?? 256);
  }

  id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** Writes the fields at the next aligned arena offset (null when the arena is full). */
  write(fields: UniformField[]): { offset: number; size: number } | null {
    const { offsets, size } = uniformLayout(fields);
    const offset = Math.ceil(this.used / this.align) * this.align;
    if (offset + size > ARENA_BYTES) return null;
    // Zero the slot first: padding bytes must not keep a previous dispatch's values (they are never read,
    // but identical bytes keep runs reproducible).
    this.u32.fill(0, offset / 4, (offset + size) / 4);
    fields.forEach((f, i) => {
      const view = f.type === "float32" ? this.f32 : f.type === "uint32" ? this.u32 : this.i32;
      const at = (offset + offsets[i]) / 4;
      if (f.data.length === 0) view[at] = 1;
      else for (let j = 0; j < f.data.length; j++) view[at + j] = f.data[j];
    });
    this.used = offset + size;
    return { offset, size };
  }

  /** Uploads the arena's used part; called just before the command buffer that reads it is submitted. */
  flush(queue: GPUQueue): void {
    if (this.used > 0) queue.writeBuffer(this.arena, 0, this.staging, 0, Math.ceil(this.used / 4) * 4);
    this.used = 0;
  }
}

const states = new WeakMap<object, DispatchState>();

function stateOf(backend: BackendInternals): DispatchState {
  let s = states.get(backend);
  if (!s) {
    states.set(backend, (s = new DispatchState(backend.device)));
    poolInCreationOrder(backend.bufferManager);
  }
  return s;
}

/** tfjs-webgpu's BufferManager as far as poolInCreationOrder needs it (private API of the pinned 4.22.0). */
interface BufferPool {
  freeBuffers?: unknown;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
}

/**
 * Makes the pool hand out, of the free buffers of the asked size and usage, the one created first. tfjs's pool is a
 * stack per size (the buffer freed last goes out first), so which buffer a dispatch gets depended on the order in
 * which the pass before freed its buffers, which varies from pass to pass: a repeated demo forward found only 1–20
 * of its 81 bind groups in the cache. By creation order, the choice depends only on which buffers are free, the
 * same at the same point of a repeated pass. Left as tfjs has it where the pool is not shaped as expected.
 */
function poolInCreationOrder(pool: BufferPool): void {
  const free = pool.freeBuffers;
  if (!(free instanceof Map) || typeof pool.acquireBuffer !== "function") return;
  const acquire = pool.acquireBuffer;
  const created = new WeakMap<GPUBuffer, number>();
  let next = 0;
  const rank = (b: GPUBuffer) => {
    let r = created.get(b);
    if (r === undefined) created.set(b, (r = next++));
    return r;
  };
  pool.acquireBuffer = function (this: BufferPool, size: number, usage: number, mappedAtCreation = false, reuse = true): GPUBuffer {
    // tfjs keys its free lists `${size}_${usage}` (getBufferKey) and pops the last entry: move the oldest there.
    const list = reuse ? (free.get(`${size}_${usage}`) as GPUBuffer[] | undefined) : undefined;
    if (Array.isArray(list) && list.length > 1) {
      let oldest = list.length - 1;
      for (let i = 0; i < list.length - 1; i++) if (rank(list[i]) < rank(list[oldest])) oldest = i;
      [list[oldest], list[list.length - 1]] = [list[list.length - 1], list[oldest]];
    }
    const buffer = acquire.call(this, size, usage, mappedAtCreation, reuse);
    rank(buffer);
    return buffer;
  };
}

function bufferOf(backend: BackendInternals, t: tf.TensorInfo): GPUBuffer | null {
  const resource = backend.tensorMap.get(t.dataId)?.resource;
  return resource instanceof GPUBuffer ? resource : null;
}

/** Bind group for (pipeline, buffers, arena slice), created on first use. */
function bindGroupFor(s: DispatchState, device: GPUDevice, pipeline: GPUComputePipeline, buffers: GPUBuffer[], slot: { offset: number; size: number }): GPUBindGroup {
  let key = `${s.id(pipeline)}`;
  for (const b of buffers) key += `,${s.id(b)}`;
  key += `|${slot.offset}:${slot.size}`;
  const cached = s.bindGroups.get(key);
  if (cached) {
    s.hits++;
    return cached;
  }
  s.misses++;
  let layout = s.layouts.get(pipeline);
  if (!layout) s.layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
  const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  entries.push({ binding: buffers.length, resource: { buffer: s.arena, offset: slot.offset, size: slot.size } });
  const group = device.createBindGroup({ layout, entries });
  if (s.bindGroups.size >= MAX_CACHED_BIND_GROUPS) s.bindGroups.clear();
  s.bindGroups.set(key, group);
  return group;
}

interface Originals {
  recordAndSubmit: BackendInternals["recordAndSubmit"];
  submitQueue: BackendInternals["submitQueue"];
  uploadToGPU: BackendInternals["uploadToGPU"];
}

/** Host tensors up to 16 MiB (scalars, ids, attention masks, most weights) are uploaded with queue.writeBuffer. */
const WRITE_BUFFER_MAX_BYTES = 1 << 24;
let originals: Originals | null = null;

let enabled = process.env.LMPROBE_WEBGPU_DISPATCH !== "tfjs";

/** Whether the lean path is on (LMPROBE_WEBGPU_DISPATCH=tfjs starts with it off, to compare). */
export function leanDispatchEnabled(): boolean {
  return enabled;
}

/** Turns the lean path on or off from the next dispatch on (the benchmark compares both in one process). */
export function setLeanDispatch(on: boolean): void {
  enabled = on;
}

/** Replaces recordAndSubmit and submitQueue on tfjs-webgpu's WebGPUBackend prototype (idempotent). */
export function installLeanDispatch(proto: object): void {
  if (originals) return;
  const p = proto as BackendInternals;
  originals = { recordAndSubmit: p.recordAndSubmit, submitQueue: p.submitQueue, uploadToGPU: p.uploadToGPU };
  const { recordAndSubmit: tfjsRecord, submitQueue: tfjsSubmit, uploadToGPU: tfjsUpload } = originals;

  p.uploadToGPU = function (this: BackendInternals, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const values = data?.values;
    const bytes = 4 * tf.util.sizeFromShape(data?.shape ?? []);
    if (!enabled || !data || data.resource != null || !values || bytes === 0 || bytes > WRITE_BUFFER_MAX_BYTES || !["float32", "int32", "bool"].includes(data.dtype)) {
      return tfjsUpload.call(this, dataId);
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = this.bufferManager.acquireBuffer(bytes, usage);
    const typed = data.dtype === "float32" ? (values instanceof Float32Array ? values : Float32Array.from(values)) : values instanceof Int32Array ? values : Int32Array.from(values);
    this.queue.writeBuffer(buffer, 0, typed.buffer, typed.byteOffset, bytes);
    data.values = null; // once uploaded, tfjs keeps no host copy
    data.resource = buffer;
  };

  p.submitQueue = function (this: BackendInternals) {
    stateOf(this).flush(this.queue);
    // tfjs ends the open compute pass before each of its own submits; a caller that forgets (packed-weight.ts's
    // uploadNow once did) would finish the command buffer around an open pass, and Dawn would reject the buffer with
    // every dispatch in it. Ending it here makes every submit safe (a no-op when no pass is open).
    this.endComputePassEncoder();
    tfjsSubmit.call(this);
  };

  p.recordAndSubmit = function (this: BackendInternals, program, output, inputs, own) {
    const pipeline = program.pipeline;
    if (!enabled || this.activeTimers != null || pipeline instanceof Promise || program.pixelsOpType != null) {
      return tfjsRecord.call(this, program, output, inputs, own);
    }
    const buffers: GPUBuffer[] = [];
    for (const t of [output, ...inputs]) {
      const b = bufferOf(this, t);
      if (!b) return tfjsRecord.call(this, program, output, inputs, own);
      buffers.push(b);
    }
    const s = stateOf(this);
    const fields = programUniforms(program, output, inputs, own);
    let slot = s.write(fields);
    if (!slot) {
      // Arena full: submit what was recorded (its uniforms are uploaded first) and start a fresh arena.
      this.ensureCommandEncoderReady();
      this.endComputePassEncoder();
      this.submitQueue();
      slot = s.write(fields);
      if (!slot) return tfjsRecord.call(this, program, output, inputs, own);
    }
    for (const t of inputs) this.commandQueueOwnedIds.add(t.dataId);
    this.commandQueueOwnedIds.add(output.dataId);
    const group = bindGroupFor(s, this.device, pipeline, buffers, slot);
    this.ensureCommandEncoderReady();
    if (!this.computePassEncoder) this.computePassEncoder = this.commandEncoder!.beginComputePass({});
    this.computePassEncoder.setPipeline(pipeline);
    this.computePassEncoder.setBindGroup(0, group);
    this.computePassEncoder.dispatchWorkgroups(program.dispatch[0], program.dispatch[1], program.dispatch[2]);
    this.dispatchCountInPass++;
    if ((tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number) <= this.dispatchCountInPass) {
      this.endComputePassEncoder();
      this.submitQueue();
    }
  };
}

/** Bind-group cache statistics of the active webgpu backend (for the benchmark). */
export function leanDispatchStats(): { hits: number; misses: number; cached: number } | null {
  if (tf.getBackend() !== "webgpu") return null;
  const s = states.get(tf.backend());
  return s ? { hits: s.hits, misses: s.misses, cached: s.bindGroups.size } : null;
}
