// Public API of workshop/ (re-exported by src/index.ts): self-checking exercises on the demo model.
export { workshop, type Workshop } from "./workshop";
export { CheckResult, type Verdict } from "./check-result";
export { exerciseList, inductionAccuracy, INDUCTION_SEEDS, CAPITAL_PROMPT, type Exercise } from "./exercises";
export { initWorkshop, type InitWorkshopResult } from "./init";
