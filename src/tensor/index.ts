// Public API of tensor/ (re-exported by src/index.ts).
export {};
