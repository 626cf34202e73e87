// lmprobe's own fused kernels (backend/kernels/fused.ts's names) for the native CPU backend.
export function registerNativeRowKernels(_backendName: string): void {}
