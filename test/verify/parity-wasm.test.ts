// The parity tests on plain tfjs-backend-wasm (XNNPACK, one thread): the fallback where onnxruntime cannot load.
import { setBackend } from "../../src/backend";
import { parityTests } from "./parity-suite";

parityTests("wasm", () => setBackend("wasm"));
