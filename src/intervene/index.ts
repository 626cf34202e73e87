// Public API of intervene/ (re-exported by src/index.ts).
export {};
