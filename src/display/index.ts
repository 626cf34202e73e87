// Public API of display/ (re-exported by src/index.ts).
export {};
