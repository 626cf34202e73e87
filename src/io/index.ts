// Public API of io/ (re-exported by src/index.ts).
export {};
