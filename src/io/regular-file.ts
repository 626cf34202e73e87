// Checkpoint files are opened only when they are regular files (after following symlinks). A FIFO named
// model.safetensors would block a read forever and a directory would fail with a bare EISDIR; both are refused
// with NotRegularFileError naming the file. The file is opened with O_NONBLOCK and checked with fstat on that
// descriptor, so the check and the read concern the same file and opening a FIFO does not wait for a writer.
import fs from "node:fs";
import { MissingFileError, NotRegularFileError } from "../errors";

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return "directory";
  if (stat.isFIFO()) return "FIFO (named pipe)";
  if (stat.isSocket()) return "socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "device";
  return "special file";
}

/** Opens `file` for reading; throws MissingFileError when absent, NotRegularFileError when not a regular file. */
export function openRegularFile(file: string, what: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new MissingFileError(file, what, "check the path, or download the checkpoint again");
    if (code === "EISDIR") throw new NotRegularFileError(file, what, "directory");
    if (code === "ENXIO") throw new NotRegularFileError(file, what, "socket or device");
    throw e;
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new NotRegularFileError(file, what, kindOf(stat));
  }
  return fd;
}

/** Reads a whole regular file as UTF-8 (see openRegularFile). */
export function readRegularFile(file: string, what: string): string {
  const fd = openRegularFile(file, what);
  try {
    return fs.readFileSync(fd, "utf8");
  } finally {
    fs.closeSync(fd);
  }
}
