// Moments: named time ranges of a video or audio file, and the range being marked in the viewer.

/** A moment as the API shows it; times in seconds. */
export type MomentView = ApiItem<ApiOk<'/api/libraries/{library}/files/{file}/moments'>>

/** The range being marked: in and out points in seconds, each unset until marked. */
export interface MomentMarks {
  start: number | null
  end: number | null
}

/** `seconds` as m:ss.s (h:mm:ss.s past an hour). */
export function formatTimecode(seconds: number): string {
  const tenths = Math.max(0, Math.round(seconds * 10))
  const h = Math.floor(tenths / 36000)
  const m = Math.floor((tenths % 36000) / 600)
  const s = ((tenths % 600) / 10).toFixed(1).padStart(4, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}
