// Shared by the WebGPU tests: they run where an adapter exists (a GPU, or the software one that
// webgpu-software.test.ts asks for) and elsewhere skip, saying why.
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { probeWebgpu } from "../../src/backend/probe-webgpu";

/** Switches to the webgpu backend and returns true, or skips the test with the reason and returns false. */
export async function webgpuOrSkip(t: { skip(msg: string): void }): Promise<boolean> {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) {
    t.skip(`no WebGPU adapter here: ${probe.reason}`);
    return false;
  }
  await setBackend("webgpu");
  return true;
}

/**
 * Counts the dispatches of the active webgpu backend whose program's shaderKey `matches`, until `stop()` puts
 * runWebGPUProgram back: which kernels a model or product actually ran.
 */
export function countDispatches(matches: (shaderKey: string) => boolean): { count(): number; stop(): void } {
  const backend = tf.backend() as unknown as { runWebGPUProgram(p: { shaderKey: string }, ...rest: unknown[]): unknown };
  const run = backend.runWebGPUProgram;
  let count = 0;
  backend.runWebGPUProgram = (p, ...rest) => {
    if (matches(p.shaderKey)) count++;
    return run.call(backend, p, ...rest);
  };
  return { count: () => count, stop: () => void (backend.runWebGPUProgram = run) };
}

/** Asserts every |got − want| is at most `relative` × the largest |want| (logits of two paths of the same model). */
export function assertWithinLargest(got: ArrayLike<number>, want: ArrayLike<number>, relative: number, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values against ${want.length}`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  if (!(worst <= relative * scale)) throw new Error(`${what}: largest difference ${worst} against a largest value of ${scale}`);
}

/** Saves environment variables; the returned function puts them back as they were (unset ones deleted). */
export function saveEnv(...names: string[]): () => void {
  const saved = names.map((n) => [n, process.env[n]] as const);
  return () => {
    for (const [n, v] of saved) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
  };
}
