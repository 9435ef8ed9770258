// A library's timeline by day, as Immich loads it: the bucket list (every day with its files'
// aspect ratios) lays out the whole grid at once, and a day's lean items load when the grid
// comes near it; a load the grid scrolls away from before it finishes is cancelled. Live
// events and uploads reload it quietly, at most once a second: days already loaded stay on
// screen until their fresh copies are in. What the viewer steps through is the loaded days
// around the file opened (more load as it nears either end), and coming back from the viewer
// shows the timeline as it was left.

/** The grid's range is followed at once, then at most this often (a fling asks for many). */
const RANGE_MS = 100
const REFRESH_MS = 1000
const POLL_MS = 3000
/** Days loaded at once for a selection across many. */
const PARALLEL = 4

/** A load of one day's items. */
interface DayLoad {
  controller: AbortController
  /** Asked for by a selection: not cancelled when the grid scrolls away. */
  pinned: boolean
  done: Promise<void>
}

/** The timeline a file was opened from, to come back to as it was. */
interface LeftTimeline {
  key: string
  buckets: TimelineBucket[]
  days: (TimelineItem[] | undefined)[]
  scrollTop: number
}
let leftTimeline: LeftTimeline | null = null

export function useTimeline(libraryId: MaybeRefOrGetter<string>, filter: MaybeRefOrGetter<FileFilter>) {
  const { $api } = useNuxtApp()
  const live = useLive()
  const sequence = useViewerSequence()
  const buckets = shallowRef<TimelineBucket[]>([])
  /** Each bucket's items once loaded, by bucket index (a new array on every change). */
  const days = shallowRef<(TimelineItem[] | undefined)[]>([])
  /** Counts the changes that may have taken files out of the loaded days. */
  const revision = ref(0)
  const loading = ref(false)
  const complete = ref(false)
  const error = ref<string | null>(null)
  /** Scroll position to come back to, when the timeline was restored rather than loaded. */
  const restoredTop = ref(0)
  const key = () => `timeline:${toValue(libraryId)}:${JSON.stringify(toValue(filter))}`

  /** Bucket index by day. */
  let index = new Map<string, number>()
  /** Days kept from before a quiet reload: shown until they are loaded again. */
  const stale = new Set<string>()
  const loads = new Map<string, DayLoad>()
  /** The grid's range of buckets in and near view. */
  let wanted: [number, number] = [0, -1]
  /** Bumps when the timeline is emptied for a full load: loads from before are dropped. */
  let generation = 0
  let reloads = 0
  let active = true
  let poll: ReturnType<typeof setInterval> | undefined

  /** GETs `…/timeline/{path}` with the timeline's filters and the client's time zone. */
  function request<T>(path: string, signal?: AbortSignal): Promise<T> {
    const url = `/api/libraries/${encodeURIComponent(toValue(libraryId))}/timeline/${path}`
    return $api<T>(url, { query: { ...filterQuery(toValue(filter)), tz: timelineZone() }, signal })
  }

  function dayItems(day: string, signal?: AbortSignal): Promise<TimelineItem[]> {
    return request<TimelineItems>(`bucket/${encodeURIComponent(day)}`, signal).then(r => r.items)
  }

  /** Shows `list` with the days loaded of it (by index). */
  function show(list: TimelineBucket[], loaded: (TimelineItem[] | undefined)[]) {
    index = new Map(list.map((b, i) => [b.day, i]))
    for (const day of stale) {
      if (!index.has(day)) stale.delete(day)
    }
    buckets.value = list
    days.value = loaded
    revision.value++
    // Once the grid has laid the list out and told its range.
    nextTick(fill)
  }

  /** Loads a day's items (one load per day at a time). */
  function load(day: string, pinned = false): Promise<void> {
    const running = loads.get(day)
    if (running) {
      running.pinned ||= pinned
      return running.done
    }
    const controller = new AbortController()
    const run = generation
    const done = dayItems(day, controller.signal)
      .then((items) => {
        const g = index.get(day)
        if (run !== generation || g === undefined) return
        const next = days.value.slice()
        next[g] = items
        days.value = next
        // A day loaded again may have lost files.
        if (stale.delete(day)) revision.value++
      })
      .catch(() => {
        // Cancelled, or failed: the day stays as it is and is asked for when next in range.
      })
      .finally(() => {
        if (loads.get(day)?.controller === controller) loads.delete(day)
      })
    loads.set(day, { controller, pinned, done })
    return done
  }

  /** Cancels the load of `day` (or of every day); it may be asked for again at once. */
  function cancel(day?: string) {
    for (const d of day === undefined ? [...loads.keys()] : [day]) {
      loads.get(d)?.controller.abort()
      loads.delete(d)
    }
  }

  /** Loads the wanted days not loaded yet (or stale), and cancels the loads that left the range. */
  function fill() {
    const [from, to] = wanted
    for (const [day, running] of loads) {
      const g = index.get(day)
      if (!running.pinned && (g === undefined || g < from || g > to)) cancel(day)
    }
    for (let g = Math.max(0, from); g <= Math.min(to, buckets.value.length - 1); g++) {
      const day = buckets.value[g]!.day
      if (!days.value[g] || stale.has(day)) load(day)
    }
  }

  let rangeTimer: ReturnType<typeof setTimeout> | undefined
  let rangeMoved = false
  /** The grid's range of buckets in and near view, from `from` to `to`. */
  function want(from: number, to: number) {
    wanted = [from, to]
    if (rangeTimer) {
      rangeMoved = true
      return
    }
    fill()
    rangeTimer = setTimeout(() => {
      rangeTimer = undefined
      if (rangeMoved) {
        rangeMoved = false
        want(...wanted)
      }
    }, RANGE_MS)
  }

  /** Loads every day from bucket `from` to `to` (a selection across them), a few at a time. */
  async function ensure(from: number, to: number) {
    const missing = buckets.value.slice(from, to + 1).filter((_, i) => !days.value[from + i]).map(b => b.day)
    const worker = async () => {
      for (let day = missing.shift(); day; day = missing.shift()) await load(day, true)
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
  }

  /** Where the days in view now are in `list` (a newer bucket list). */
  function inView(list: TimelineBucket[]): [number, number] {
    const [from, to] = wanted
    const newest = buckets.value[from]?.day
    const oldest = buckets.value[to]?.day
    if (!newest || !oldest) return [0, -1]
    // At the top, new days above it are in view too.
    const start = from === 0 ? 0 : list.findIndex(b => b.day <= newest)
    return start < 0 ? [0, -1] : [start, list.findLastIndex(b => b.day >= oldest)]
  }

  /**
   * Loads the bucket list afresh. `quiet` keeps the loaded days (stale, until loaded again) and
   * loads the days in view before showing the new list, so nothing in view flickers.
   */
  async function reload({ quiet = false } = {}) {
    sequence.value = null
    const run = ++reloads
    if (!quiet) {
      generation++
      cancel()
      stale.clear()
      show([], [])
      complete.value = false
      loading.value = true
      error.value = null
    }
    try {
      const { buckets: list } = await request<TimelineBuckets>('buckets')
      if (run !== reloads) return
      const [from, to] = quiet ? inView(list) : [0, -1]
      const fresh = await Promise.all(list.slice(from, to + 1).map(b => dayItems(b.day).catch(() => undefined)))
      if (run !== reloads) return
      const before = new Map(buckets.value.map((b, g) => [b.day, days.value[g]]))
      const loaded = list.map((b) => {
        const kept = before.get(b.day)
        if (kept) stale.add(b.day)
        return kept
      })
      fresh.forEach((items, i) => {
        if (!items) return
        loaded[from + i] = items
        stale.delete(list[from + i]!.day)
      })
      show(list, loaded)
      error.value = null
      complete.value = true
    }
    catch (e) {
      // A quiet reload that fails leaves the timeline as it is: the next change tries again.
      if (run === reloads && !quiet) error.value = apiError(e).message
    }
    finally {
      if (run === reloads) loading.value = false
    }
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  let refreshing = false
  let refreshAgain = false
  /** A quiet reload for a change the server told of: at most one a second, never two at once. */
  function refresh() {
    if (!active) return
    if (refreshing) {
      refreshAgain = true
      return
    }
    refreshTimer ??= setTimeout(async () => {
      refreshTimer = undefined
      refreshing = true
      await reload({ quiet: true })
      refreshing = false
      if (refreshAgain) {
        refreshAgain = false
        refresh()
      }
    }, REFRESH_MS)
  }

  /** Takes files out of the timeline at once (trashed from a selection), and days left empty. */
  function remove(ids: string[]) {
    sequence.value = null
    const gone = new Set(ids)
    const list: TimelineBucket[] = []
    const loaded: (TimelineItem[] | undefined)[] = []
    buckets.value.forEach((bucket, g) => {
      const day = days.value[g]
      const keep = day?.map(f => !gone.has(f.id))
      if (!day || !keep || keep.every(Boolean)) {
        list.push(bucket)
        loaded.push(day)
        return
      }
      const items = day.filter((_, j) => keep[j])
      if (!items.length) return
      list.push({ ...bucket, count: bucket.count - (day.length - items.length), ratios: bucket.ratios.filter((_, j) => keep[j] ?? true) })
      loaded.push(items)
    })
    show(list, loaded)
  }

  /**
   * Remembers the timeline to come back to, and gives the viewer the run of loaded days around
   * the file, in order; it loads the days beyond as the viewer nears either end.
   */
  function openFrom(scrollTop: number, fileId: string) {
    const k = key()
    const list = buckets.value
    const loaded = days.value
    let first = loaded.findIndex(d => d?.some(f => f.id === fileId))
    if (first < 0) {
      sequence.value = null
      return
    }
    let last = first
    while (first > 0 && loaded[first - 1]) first--
    while (last + 1 < list.length && loaded[last + 1]) last++
    leftTimeline = { key: k, buckets: list, days: loaded, scrollTop }
    /** The directions being loaded. */
    const busy = new Set<number>()
    const more = async (direction: 1 | -1) => {
      if (busy.has(direction)) return
      busy.add(direction)
      try {
        // The next day that still has files (one may have been emptied since the list loaded).
        for (let g = direction > 0 ? last + 1 : first - 1; list[g]; g += direction) {
          // Into the remembered days too: coming back shows them loaded.
          const items = (loaded[g] ??= await dayItems(list[g]!.day))
          if (direction > 0) last = g
          else first = g
          const current = sequence.value
          if (current?.key !== k) return
          if (!items.length) continue
          sequence.value = {
            ...current,
            items: direction > 0 ? [...current.items, ...items] : [...items, ...current.items],
            complete: first === 0 && last === list.length - 1,
          }
          return
        }
      }
      catch {
        // The viewer stops at the last file it has.
      }
      finally {
        busy.delete(direction)
      }
    }
    sequence.value = {
      key: k,
      libraryId: toValue(libraryId),
      items: loaded.slice(first, last + 1).flatMap(d => d ?? []),
      complete: first === 0 && last === list.length - 1,
      scrollTop,
      more,
    }
  }

  /** Takes up the timeline the viewer was opened from, if it is this one; else loads it. */
  function start() {
    const left = leftTimeline
    leftTimeline = null
    if (left?.key === key() && sequence.value?.key === left.key) {
      generation++
      cancel()
      stale.clear()
      show(left.buckets, left.days)
      complete.value = true
      restoredTop.value = left.scrollTop
      // The viewer may have changed files (trashed one, say).
      reload({ quiet: true })
    }
    else {
      restoredTop.value = 0
      reload()
    }
  }

  live.onActivity((activity) => {
    if (activity.libraryId !== toValue(libraryId)) return
    if (activity.kind.startsWith('file.') || activity.kind === 'system.processing_done') refresh()
  })
  // A settled job changed its file: thumbnails, the date it was taken, its shape.
  live.onJob(({ libraryId: library, job }) => {
    if (library === toValue(libraryId) && jobSettled(job)) refresh()
  })
  useUploads().onUploaded((file) => {
    if (file.libraryId === toValue(libraryId)) refresh()
  })

  onMounted(() => {
    // Polling is the fallback while the live socket is down.
    poll = setInterval(() => live.connected.value || !days.value.some(d => d?.some(f => f.processing)) || refresh(), POLL_MS)
  })
  onBeforeUnmount(() => {
    active = false
    clearInterval(poll)
    clearTimeout(rangeTimer)
    clearTimeout(refreshTimer)
    cancel()
  })
  watch(key, start, { immediate: true })

  return { buckets, days, revision, loading, complete, error, restoredTop, reload, remove, openFrom, want, ensure }
}
