// The parity tests on tfjs's cpu backend (pure JavaScript kernels: a different implementation of every op).
import { setBackend } from "../../src/backend";
import { parityTests } from "./parity-suite";

parityTests("cpu", () => setBackend("cpu"));
