// The timeline's layout: groups of files (days, or one group for a plain list), each packed
// into justified rows (every row fills the width, keeping each picture's aspect ratio). It
// needs only the aspect ratios, so a timeline is laid out whole from its day buckets before
// any file has loaded. Computed once per width and list, so the grid only has to find the
// rows near the viewport.
export interface LayoutGroup {
  /** The day, for its header (local midnight, in ms). */
  date: number
  /** Width over height of each file of the group, in order. */
  ratios: readonly number[]
}

export interface Tile {
  /** The file's place in its group. */
  index: number
  left: number
  width: number
}

export type LayoutRow =
  | { kind: 'header', top: number, height: number, group: number, date: number }
  | { kind: 'tiles', top: number, height: number, group: number, tiles: Tile[] }

export interface Layout {
  rows: LayoutRow[]
  height: number
}

const HEADER = 48
const GAP = 4

/** The date a file sits under in the timeline: when it was taken (the list's `order=taken`). */
export function timelineDate(file: FileView): number {
  return file.capturedAt ?? file.createdAt
}

/** A file's width over height (1 when unknown; audio is drawn square). */
export function fileRatio(file: FileView): number {
  return file.kind === 'audio' || !file.width || !file.height ? 1 : file.width / file.height
}

/** Panoramas and slivers are drawn cropped, so that no tile is absurdly wide or narrow. */
function aspect(ratio: number): number {
  return Math.min(3, Math.max(0.5, ratio || 1))
}

/** Lays out `groups` in rows `width` wide, each with a header if `headers`. */
export function justify(groups: readonly LayoutGroup[], width: number, rowHeight: number, headers: boolean): Layout {
  const rows: LayoutRow[] = []
  let top = 0

  groups.forEach(({ date, ratios }, group) => {
    if (headers) {
      rows.push({ kind: 'header', top, height: HEADER, group, date })
      top += HEADER
    }
    let start = 0
    let rowAspect = 0
    // The row from `start` to `end` (exclusive): full width, or at most rowHeight high if it is the group's last.
    const flush = (end: number, last: boolean) => {
      const space = width - GAP * (end - start - 1)
      const height = last ? Math.min(rowHeight, space / rowAspect) : space / rowAspect
      const tiles: Tile[] = []
      let left = 0
      for (let index = start; index < end; index++) {
        const w = aspect(ratios[index]!) * height
        tiles.push({ index, left, width: w })
        left += w + GAP
      }
      rows.push({ kind: 'tiles', top, height, group, tiles })
      top += height + GAP
      start = end
      rowAspect = 0
    }
    for (let i = 0; i < ratios.length; i++) {
      rowAspect += aspect(ratios[i]!)
      if (rowAspect * rowHeight + GAP * (i - start) >= width) flush(i + 1, false)
    }
    if (start < ratios.length) flush(ratios.length, true)
  })
  return { rows, height: top }
}

/** Index of the first row whose bottom is below `y` (rows are sorted by top). */
export function firstRowBelow(rows: LayoutRow[], y: number): number {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (rows[mid]!.top + rows[mid]!.height < y) lo = mid + 1
    else hi = mid
  }
  return lo
}
