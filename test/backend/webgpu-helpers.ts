// Shared by the WebGPU tests: they run where an adapter exists (a GPU, or the software one that
// webgpu-software.test.ts asks for) and elsewhere skip, saying why.
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
