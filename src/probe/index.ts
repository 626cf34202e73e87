// Public API of probe/ (re-exported by src/index.ts).
export {};
