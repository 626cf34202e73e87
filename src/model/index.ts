// Public API of model/ (re-exported by src/index.ts).
export {};
