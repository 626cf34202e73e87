// A minimal PNG encoder for palette images (colour type 3, 8 bits per pixel). Heatmaps are drawn as one pixel per
// cell through a 256-colour ramp, so an indexed image is both exact (every cell's colour is one palette entry) and
// small (one byte a cell before deflate). Written here rather than taken from a package because it is the few
// lines the PNG specification needs on top of Node's built-in zlib (signature, IHDR, PLTE, IDAT, IEND, CRC-32);
// pngjs and the like add a stream API and RGBA conversion that these rasters never use.
import { deflateSync } from "node:zlib";
import { DisplayError } from "../../errors";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, the one PNG chunks use). zlib.crc32 only exists from Node 20.15/22.2 on. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * Encodes a palette image: `pixels[y * width + x]` indexes `palette` (RGB triples, at most 256). Rows use filter
 * type 0: palette images gain little from the others (the PNG specification's own advice).
 */
export function encodePalettePng(width: number, height: number, pixels: Uint8Array, palette: Array<[number, number, number]>): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new DisplayError("PNG raster", `has size ${width} × ${height}`, "draw at least one cell");
  }
  if (pixels.length !== width * height) throw new DisplayError("PNG raster", `has ${pixels.length} pixels for ${width} × ${height}`, "pass one palette index per cell");
  if (palette.length < 1 || palette.length > 256) throw new DisplayError("PNG raster", `has a palette of ${palette.length} colours`, "use 1 to 256 colours");
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 3; // colour type: palette
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering (filter bytes per row)
  ihdr[12] = 0; // no interlace
  const plte = Buffer.alloc(palette.length * 3);
  palette.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0;
    raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  return Buffer.concat([SIGNATURE, chunk("IHDR", ihdr), chunk("PLTE", plte), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", new Uint8Array(0))]);
}

export function pngDataUrl(png: Buffer): string {
  return `data:image/png;base64,${png.toString("base64")}`;
}
