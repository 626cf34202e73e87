// Parity with the reference implementation on the backend named by LMPROBE_BACKEND, by default the native CPU
// path (cpu-native) with every elementwise op, softmax, transpose and reduction sent to onnxruntime whatever its
// size (the fixtures' tensors are below the size where the backend would otherwise keep them in JavaScript).
import { setBackend, type BackendName } from "../../src/backend";
import { nativeElementwise } from "../../src/backend/native/elementwise";
import { parityTests } from "./parity-suite";

const backend = (process.env.LMPROBE_BACKEND || "cpu-native") as BackendName;
if (backend === "cpu-native") nativeElementwise.minElements = 0;
parityTests(backend === "cpu-native" ? "cpu-native (all ops native)" : backend, () => setBackend(backend));
