// ThumbHash placeholders (the format of https://github.com/evanw/thumbhash): a ~25-byte hash of
// a picture, decoded into a blurred image at most 32 px a side and drawn to a PNG data URL that
// a tile shows while its thumbnail loads. Each hash is decoded once; the latest MAX_CACHED stay.
//
// The hash: 24 bits of luma/chroma DC values, luma scale and an alpha flag; 16 bits of the
// luma coefficient count on the short side, chroma scales and a landscape flag; one byte of
// alpha DC and scale if there is alpha; then 4-bit AC coefficients (low nibble first) of L,
// P, Q (and A), each a triangle of a DCT (cx/nx + cy/ny < 1, DC left out).

const MAX_CACHED = 2000
const SIZE = 32
const cache = new Map<string, string | null>()
let canvas: HTMLCanvasElement | undefined

/** A decoded channel: its DC and its AC coefficients as an `nx` x `ny` matrix (zero outside the triangle). */
interface Channel {
  dc: number
  nx: number
  ny: number
  ac: Float32Array
}

/** `cos(π (i + ½) c / size)` for each coefficient `c < n` (row) and sample `i < size` (column). */
function cosines(n: number, size: number): Float32Array {
  const out = new Float32Array(n * size)
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < size; i++) out[c * size + i] = Math.cos((Math.PI / size) * (i + 0.5) * c)
  }
  return out
}

/** The channel's values over a `w` x `h` image: the inverse DCT, one row of coefficients at a time. */
function plane({ dc, nx, ny, ac }: Channel, w: number, h: number, cosX: Float32Array, cosY: Float32Array): Float32Array {
  const out = new Float32Array(w * h)
  const row = new Float32Array(nx)
  for (let y = 0; y < h; y++) {
    for (let cx = 0; cx < nx; cx++) {
      let sum = 0
      for (let cy = 0; cy < ny; cy++) sum += ac[cy * nx + cx]! * cosY[cy * h + y]!
      row[cx] = 2 * sum
    }
    for (let x = 0; x < w; x++) {
      let v = dc
      for (let cx = 0; cx < nx; cx++) v += row[cx]! * cosX[cx * w + x]!
      out[y * w + x] = v
    }
  }
  return out
}

/** The RGBA pixels a hash stands for, or undefined if it is cut short. */
function thumbHashToRGBA(hash: Uint8Array): { w: number, h: number, rgba: Uint8ClampedArray<ArrayBuffer> } | undefined {
  if (hash.length < 5) return undefined
  const head = hash[0]! | (hash[1]! << 8) | (hash[2]! << 16)
  const head2 = hash[3]! | (hash[4]! << 8)
  const hasAlpha = ((head >> 23) & 1) === 1
  const landscape = ((head2 >> 15) & 1) === 1
  const long = hasAlpha ? 5 : 7
  const short = head2 & 7
  if (hasAlpha && hash.length < 6) return undefined

  // The aspect ratio is the luma coefficient counts' (before they are raised to at least 3).
  const ratio = landscape ? long / Math.max(1, short) : short / long
  const w = Math.max(1, ratio > 1 ? SIZE : Math.round(SIZE * ratio))
  const h = Math.max(1, ratio > 1 ? Math.round(SIZE / ratio) : SIZE)

  let nibble = (hasAlpha ? 6 : 5) * 2
  let truncated = false
  const read = () => {
    const byte = hash[nibble >> 1]
    if (byte === undefined) truncated = true
    const bits = nibble & 1 ? (byte ?? 0) >> 4 : (byte ?? 0) & 15
    nibble++
    return bits
  }
  const channel = (dc: number, nx: number, ny: number, scale: number): Channel => {
    const ac = new Float32Array(nx * ny)
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) ac[cy * nx + cx] = (read() / 7.5 - 1) * scale
    }
    return { dc, nx, ny, ac }
  }
  const lx = Math.max(3, landscape ? long : short)
  const ly = Math.max(3, landscape ? short : long)
  // Chroma is stored a quarter less saturated than it was (quantisation): boosted back here.
  const l = channel((head & 63) / 63, lx, ly, ((head >> 18) & 31) / 31)
  const p = channel(((head >> 6) & 63) / 31.5 - 1, 3, 3, (((head2 >> 3) & 63) / 63) * 1.25)
  const q = channel(((head >> 12) & 63) / 31.5 - 1, 3, 3, (((head2 >> 9) & 63) / 63) * 1.25)
  const a = hasAlpha ? channel((hash[5]! & 15) / 15, 5, 5, (hash[5]! >> 4) / 15) : undefined
  if (truncated) return undefined

  const n = Math.max(lx, ly, a ? 5 : 3)
  const cosX = cosines(n, w)
  const cosY = cosines(n, h)
  const [L, P, Q] = [l, p, q].map(c => plane(c, w, h, cosX, cosY)) as [Float32Array, Float32Array, Float32Array]
  const A = a && plane(a, w, h, cosX, cosY)
  const rgba = new Uint8ClampedArray(w * h * 4)
  for (let i = 0; i < w * h; i++) {
    // L is luma, P yellow-blue and Q red-green: back to RGB.
    const b = L[i]! - (2 / 3) * P[i]!
    const r = (3 * L[i]! - b + Q[i]!) / 2
    rgba[i * 4] = r * 255
    rgba[i * 4 + 1] = (r - Q[i]!) * 255
    rgba[i * 4 + 2] = b * 255
    rgba[i * 4 + 3] = A ? A[i]! * 255 : 255
  }
  return { w, h, rgba }
}

/** A PNG data URL of a base64 ThumbHash, or undefined if it is not one. */
export function thumbHashToDataURL(base64: string): string | undefined {
  const cached = cache.get(base64)
  if (cached !== undefined) {
    // Most recently used last: the oldest go first.
    cache.delete(base64)
    cache.set(base64, cached)
    return cached ?? undefined
  }
  let url: string | null = null
  try {
    const image = thumbHashToRGBA(Uint8Array.from(atob(base64), c => c.charCodeAt(0)))
    if (image) {
      canvas ??= document.createElement('canvas')
      canvas.width = image.w
      canvas.height = image.h
      canvas.getContext('2d')!.putImageData(new ImageData(image.rgba, image.w, image.h), 0, 0)
      url = canvas.toDataURL()
    }
  }
  catch {
    // Not base64: no placeholder.
  }
  cache.set(base64, url)
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!)
  return url ?? undefined
}
