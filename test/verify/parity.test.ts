// Parity with the reference implementation on the backend named by LMPROBE_BACKEND (wasm by default).
import { useBackend } from "../model/engine-helpers";
import { parityTests } from "./parity-suite";

parityTests(process.env.LMPROBE_BACKEND || "wasm", useBackend);
