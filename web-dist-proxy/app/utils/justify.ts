// The timeline's layout: files grouped by day, each group packed into justified rows (every
// row fills the width, keeping each picture's aspect ratio). Computed once per width and list,
// so the grid only has to find the rows near the viewport.
export interface Tile {
  file: FileView
  left: number
  width: number
}
export type LayoutRow =
  /** A day's header; its files are `files.slice(from, to)`. */
  | { kind: 'header', top: number, height: number, date: number, from: number, to: number }
  | { kind: 'tiles', top: number, height: number, tiles: Tile[] }

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

function aspect(file: FileView): number {
  if (file.kind === 'audio' || !file.width || !file.height) return 1
  return Math.min(3, Math.max(0.5, file.width / file.height))
}

/** Local midnight of the day `ms` falls on. */
function dayStart(ms: number): number {
  return new Date(ms).setHours(0, 0, 0, 0)
}

export function justify(files: FileView[], width: number, rowHeight: number, byDay: boolean): Layout {
  const rows: LayoutRow[] = []
  let top = 0
  let row: FileView[] = []
  let rowAspect = 0

  function flush(last: boolean) {
    if (!row.length) return
    const space = width - GAP * (row.length - 1)
    const height = last ? Math.min(rowHeight, space / rowAspect) : space / rowAspect
    let left = 0
    const tiles = row.map((file) => {
      const w = aspect(file) * height
      const tile = { file, left, width: w }
      left += w + GAP
      return tile
    })
    rows.push({ kind: 'tiles', top, height, tiles })
    top += height + GAP
    row = []
    rowAspect = 0
  }

  let day = Number.NaN
  let dayEnd = Number.NaN
  let header: Extract<LayoutRow, { kind: 'header' }> | undefined
  files.forEach((file, i) => {
    const date = timelineDate(file)
    if (byDay && !(date >= day && date < dayEnd)) {
      flush(true)
      day = dayStart(date)
      dayEnd = new Date(day).setDate(new Date(day).getDate() + 1)
      if (header) header.to = i
      header = { kind: 'header', top, height: HEADER, date, from: i, to: files.length }
      rows.push(header)
      top += HEADER
    }
    row.push(file)
    rowAspect += aspect(file)
    if (rowAspect * rowHeight + GAP * (row.length - 1) >= width) flush(false)
  })
  flush(true)
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
