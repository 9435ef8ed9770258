// The timeline by day: `GET /api/libraries/{library}/timeline/buckets` answers every day with
// its files' aspect ratios (enough to lay out the whole grid), `…/timeline/bucket/{day}` one
// day's lean items. Both take the file list's filters and `tz`. Not in the OpenAPI document
// (app/types/api.d.ts) yet, so their answers are declared here.

/** One day of the timeline, newest first. */
export interface TimelineBucket {
  /** `YYYY-MM-DD`, on the client's calendar. */
  day: string
  count: number
  /** Width over height of each file of the day (upright, 1 when unknown), in the order of its items. */
  ratios: number[]
}

export interface TimelineBuckets {
  buckets: TimelineBucket[]
}

/** A file as the timeline grid needs it. */
export interface TimelineItem {
  id: string
  kind: FileView['kind']
  width: number | null
  height: number | null
  durationMs: number | null
  /** When it was taken (when it arrived, until its metadata is read), in ms. */
  takenAt: number
  /** A ThumbHash of the picture (base64), to show while the thumbnail loads. */
  thumbhash: string | null
  /** The thumbnails' version (the thumbnail URL's `v`); null while there are none. */
  thumbVersion: number | null
  /** Some of its jobs are still to run. */
  processing: boolean
  isDuplicate: boolean
}

export interface TimelineItems {
  items: TimelineItem[]
}

/** What a tile shows: a timeline item; lists of full file views (folders, trash) add the name and progress. */
export type TileFile = TimelineItem & { name?: string, percent?: number }

/**
 * Whether the grid has stopped scrolling for a moment (provided by TimelineGrid): tiles ask for
 * their pictures then, not while flung past. Injected, so tiles are not rendered again each time
 * a scroll starts.
 */
export const gridSettled: InjectionKey<Readonly<Ref<boolean>>> = Symbol('grid settled')

/** A full file view as a tile. */
export function tileOf(file: FileView): TileFile {
  const state = processing(file)
  return {
    id: file.id,
    kind: file.kind,
    width: file.width,
    height: file.height,
    durationMs: file.durationMs,
    takenAt: timelineDate(file),
    thumbhash: null,
    thumbVersion: jobDone(file, 'thumbnails'),
    processing: state.pending,
    isDuplicate: file.isDuplicate,
    name: file.name,
    percent: state.percent,
  }
}

/** The client's offset from UTC in minutes east (the `tz` of timeline requests): days are its days. */
export function timelineZone(): number {
  return -new Date().getTimezoneOffset()
}

/** Local midnight of a bucket's day, for its header. */
export function bucketDate(day: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number]
  return new Date(y, m - 1, d).getTime()
}
