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
