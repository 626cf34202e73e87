// `lmprobe install-kernel`: to be implemented.
export async function run(_args: string[]): Promise<number> {
  throw new Error("lmprobe install-kernel is not implemented yet");
}
