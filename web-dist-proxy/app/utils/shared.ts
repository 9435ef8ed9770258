// What a share link's recipient sees (the public /s/{token} page): the share as the API
// answers it, or why it cannot be seen, and the small helpers its components share.
export type SharedView = ApiOk<'/api/share/{token}'>
export type SharedItem = ApiItem<SharedView>
export type SharedMoment = NonNullable<SharedView['moment']>

/** The share, or why it cannot be shown. */
export type ShareAnswer =
  | { state: 'open', share: SharedView }
  | { state: 'locked' }
  | { state: 'expired', message: string }
  | { state: 'missing' }
  | { state: 'error', message: string }

/** Sorts an API answer or error into what the share page shows. */
export function shareAnswer(e: unknown): ShareAnswer {
  const err = apiError(e)
  if (err.status === 401 || err.code === 'password_required') return { state: 'locked' }
  if (err.status === 410 || err.code === 'expired') return { state: 'expired', message: err.message }
  if (err.status === 404 || err.code === 'not_found') return { state: 'missing' }
  return { state: 'error', message: err.message }
}

export type SharedThumbSize = 'timeline' | 'card' | 'preview'

/** The item's picture at `size` (the API gives the URL with a `{size}` placeholder). */
export function sharedThumb(item: SharedItem, size: SharedThumbSize): string {
  return item.thumbnailUrl.replace('{size}', size)
}

/** Whether the item has a picture (photos, and videos' frames). */
export function hasSharedPicture(item: SharedItem): boolean {
  return item.kind === 'photo' || item.kind === 'video'
}

const KIND_ICONS: Record<string, string> = {
  photo: 'i-lucide-image',
  video: 'i-lucide-film',
  audio: 'i-lucide-audio-lines',
  other: 'i-lucide-file',
}

export function sharedKindIcon(kind: string): string {
  return KIND_ICONS[kind] ?? 'i-lucide-file'
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`
}

/** "3 photos and 1 video", "2 photos, 1 video and 1 recording", "1 file". */
export function describeShared(items: SharedItem[]): string {
  const count = (k: string) => items.filter(i => i.kind === k).length
  const parts = [
    count('photo') && plural(count('photo'), 'photo', 'photos'),
    count('video') && plural(count('video'), 'video', 'videos'),
    count('audio') && plural(count('audio'), 'recording', 'recordings'),
    count('other') && plural(count('other'), 'file', 'files'),
  ].filter((p): p is string => !!p)
  if (!parts.length) return 'Nothing here (yet)'
  if (parts.length === 1) return parts[0]!
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`
}

/** A asSentence from the API's lower-case message ("this link has expired; …" → "This link…"). */
export function asSentence(text: string): string {
  const t = text.trim()
  return t ? t[0]!.toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.') : t
}
