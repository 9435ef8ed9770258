// A library's files for one filter as one list (a folder, the trash; the timeline loads by
// day instead, see useTimeline): loads every page in the background (newest first), keeps
// processing files fresh by polling and by live events. The list a file was opened from is
// what the viewer steps through, and what the grid comes back to (same files, same scroll
// position) when the viewer closes.
/** The kinds of file a list can be narrowed to. */
export type FileKind = NonNullable<ApiQueryOf<'/api/libraries/{library}/files', 'get'>['kind']>

export interface FileFilter {
  q?: string
  person?: string
  label?: string
  folder?: string
  kind?: FileKind
  trashed?: boolean
}

const PAGE = 500
const POLL_MS = 3000
const POLL_BATCH = 24

/** The list the user last opened a file from. */
interface OpenedList {
  key: string
  libraryId: string
  /** What the viewer steps through, in order. */
  items: { id: string }[]
  complete: boolean
  scrollTop: number
  /**
   * For a list that is only partly loaded (the timeline's days): loads the files after (1) or
   * before (-1) `items` into them, when the viewer comes near that end.
   */
  more?: (direction: 1 | -1) => void
}
const lastList = shallowRef<OpenedList | null>(null)

export function useViewerSequence() {
  return lastList
}

/** The query parameters of a filter that narrow a list (the file list's and the timeline's). */
export function filterQuery(f: FileFilter) {
  return {
    q: f.q || undefined,
    person: f.person || undefined,
    label: f.label || undefined,
    folder: f.folder || undefined,
    kind: f.kind || undefined,
  }
}

/**
 * Drops the remembered list once files change (a bulk trash, a restore, another list
 * loading): coming back to that list later must load it afresh, not show the old copy.
 */
function forgetOpened() {
  lastList.value = null
}

export function useFileList(libraryId: MaybeRefOrGetter<string>, filter: MaybeRefOrGetter<FileFilter>) {
  const api = useApi()
  const live = useLive()
  const items = shallowRef<FileView[]>([])
  const loading = ref(false)
  const complete = ref(false)
  const error = ref<string | null>(null)
  /** Scroll position to come back to, when the list was restored rather than loaded. */
  const restoredTop = ref(0)
  const key = () => `${toValue(libraryId)}:${JSON.stringify(toValue(filter))}`
  let generation = 0
  let poll: ReturnType<typeof setInterval> | undefined

  function query(f: FileFilter, cursor?: string) {
    return {
      ...filterQuery(f),
      limit: PAGE,
      cursor,
      trashed: f.trashed || undefined,
      order: f.trashed ? 'uploaded' as const : 'taken' as const,
    }
  }

  /** Loads the list afresh; `quiet` keeps showing the current files until the new list is whole. */
  async function reload({ quiet = false } = {}) {
    forgetOpened()
    const run = ++generation
    const library = toValue(libraryId)
    const f = { ...toValue(filter) }
    if (!quiet) {
      items.value = []
      complete.value = false
    }
    error.value = null
    loading.value = true
    let cursor: string | undefined
    let fresh: FileView[] = []
    try {
      do {
        const page = await api('/api/libraries/{library}/files', { params: { library }, query: query(f, cursor) })
        if (run !== generation) return
        if (quiet) fresh = fresh.concat(page.items)
        else items.value = items.value.concat(page.items)
        cursor = page.nextCursor ?? undefined
      } while (cursor)
      if (quiet) items.value = fresh
      complete.value = true
    }
    catch (e) {
      if (run === generation) error.value = apiError(e).message
    }
    finally {
      if (run === generation) loading.value = false
    }
  }

  function replace(file: FileView) {
    const i = items.value.findIndex(f => f.id === file.id)
    if (i < 0) return
    const next = items.value.slice()
    const moved = !toValue(filter).trashed && timelineDate(next[i]!) !== timelineDate(file)
    next[i] = file
    // Its metadata job found when it was taken: move it to that day, as the server orders it.
    if (moved) next.sort((a, b) => timelineDate(b) - timelineDate(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    items.value = next
  }

  function remove(ids: string | string[]) {
    forgetOpened()
    const gone = new Set(typeof ids === 'string' ? [ids] : ids)
    items.value = items.value.filter(f => !gone.has(f.id))
  }

  /** Adds a new file at the top, if this list shows every live file. */
  function prepend(file: FileView) {
    const f = toValue(filter)
    const unfiltered = !f.q && !f.person && !f.label && !f.folder && !f.kind && !f.trashed
    if (unfiltered && file.libraryId === toValue(libraryId) && !items.value.some(x => x.id === file.id)) {
      // A duplicate makes the copies already listed duplicates too.
      const others = file.isDuplicate && file.sha256
        ? items.value.map(f => (f.sha256 === file.sha256 ? { ...f, isDuplicate: true } : f))
        : items.value
      items.value = [file, ...others]
    }
  }

  async function refreshFile(id: string) {
    try {
      const file = await api('/api/libraries/{library}/files/{file}', { params: { library: toValue(libraryId), file: id } })
      if (Boolean(file.trashedAt) === Boolean(toValue(filter).trashed)) replace(file)
      else remove(id)
    }
    catch (e) {
      if (apiError(e).status === 404) remove(id)
    }
  }

  async function pollPending() {
    const pending = items.value.filter(f => processing(f).pending).slice(0, POLL_BATCH)
    await Promise.all(pending.map(f => refreshFile(f.id)))
  }

  /** Remembers this list (and where it was scrolled to) as the one the viewer steps through. */
  function openFrom(scrollTop: number) {
    lastList.value = { key: key(), libraryId: toValue(libraryId), items: items.value, complete: complete.value, scrollTop }
  }

  /** Takes up the list the viewer was opened from, if it is this one; else loads it. */
  function start() {
    const opened = lastList.value
    if (opened?.key === key() && opened.complete) {
      generation++
      // The timeline's keys differ: these are the files openFrom left (less any the viewer trashed).
      items.value = opened.items as FileView[]
      complete.value = true
      restoredTop.value = opened.scrollTop
      pollPending()
    }
    else {
      restoredTop.value = 0
      reload()
    }
  }

  live.onActivity(async (activity) => {
    if (activity.libraryId !== toValue(libraryId) || !activity.subjectId) return
    if (activity.kind === 'file.uploaded') {
      const file = await api('/api/libraries/{library}/files/{file}', { params: { library: activity.libraryId, file: activity.subjectId } })
      prepend(file)
    }
    else if (activity.kind.startsWith('file.') || activity.kind === 'system.processing_done') {
      refreshFile(activity.subjectId)
    }
  })
  // Progress moves in place; a settled job may have changed the file (size, date, thumbnails).
  live.onJob(({ libraryId: library, job }) => {
    if (library !== toValue(libraryId)) return
    const file = items.value.find(f => f.id === job.fileId)
    if (!file) return
    if (jobSettled(job)) refreshFile(job.fileId)
    else replace(withJob(file, job))
  })
  useUploads().onUploaded(prepend)

  onMounted(() => {
    // Polling is the fallback while the live socket is down.
    poll = setInterval(() => live.connected.value || pollPending(), POLL_MS)
  })
  onBeforeUnmount(() => clearInterval(poll))
  watch(key, start, { immediate: true })

  return { items, loading, complete, error, restoredTop, reload, replace, remove, openFrom }
}
