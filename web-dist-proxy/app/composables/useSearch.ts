// A library's search (`GET /api/libraries/{library}/search`) for the search box's text: run
// 250 ms after the last key while typing, at once on Enter (`now`) and when the library
// changes; a search still running when another starts is cancelled. Results come a page at a
// time (`loadMore`). A bad query's 400 says what is wrong with it (`error`). The results (and
// where they were scrolled to) are kept when a file is opened from them (`keep`), for coming
// back from the viewer.

/** A file found, with its hits. */
export type SearchResult = ApiItem<ApiOk<'/api/libraries/{library}/search'>>

const DEBOUNCE_MS = 250

/** The results a file was opened from. */
interface KeptSearch {
  key: string
  items: SearchResult[]
  cursor: string | null
  scrollTop: number
}
let kept: KeptSearch | null = null

export function useSearch(libraryId: MaybeRefOrGetter<string>, text: MaybeRefOrGetter<string>) {
  const { $api } = useNuxtApp()
  const items = shallowRef<SearchResult[]>([])
  /** The next page's cursor; null on the last page. */
  const cursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** The text the results are for ('' before the first search). */
  const searched = ref('')
  /** Scroll position to come back to, when the results were kept rather than loaded. */
  const restoredTop = ref(0)
  /** The library and text of the search started last. */
  let started = ''
  /** The library of the results. */
  let library = ''
  let controller: AbortController | undefined
  let timer: ReturnType<typeof setTimeout> | undefined

  const key = () => `${toValue(libraryId)}:${toValue(text).trim()}`

  /** Loads the first page for `q` in library `lib`, or (`more`) the next page of the results. */
  async function load(lib: string, q: string, more: boolean) {
    controller?.abort()
    const run = (controller = new AbortController())
    loading.value = true
    error.value = null
    try {
      const page = await $api<ApiOk<'/api/libraries/{library}/search'>>(apiPath('/api/libraries/{library}/search', { library: lib }), {
        query: { q, cursor: more ? cursor.value : undefined, tz: timelineZone() },
        signal: run.signal,
      })
      items.value = more ? items.value.concat(page.items) : page.items
      cursor.value = page.nextCursor
      library = lib
      searched.value = q
    }
    catch (e) {
      if (run.signal.aborted) return
      error.value = apiError(e).message
      if (!more) {
        items.value = []
        cursor.value = null
        searched.value = q
      }
    }
    finally {
      if (controller === run) loading.value = false
    }
  }

  /** Searches for the text now; `again: false` skips it when it is the search started last. */
  function now(again = true) {
    clearTimeout(timer)
    if (!again && key() === started) return
    started = key()
    const q = toValue(text).trim()
    if (q) {
      load(toValue(libraryId), q, false)
      return
    }
    controller?.abort()
    items.value = []
    cursor.value = null
    error.value = null
    searched.value = ''
    loading.value = false
  }

  function loadMore() {
    if (cursor.value && !loading.value) load(library, searched.value, true)
  }

  /** Keeps the results (scrolled to `scrollTop`) for when the page comes back. */
  function keep(scrollTop: number) {
    kept = { key: `${library}:${searched.value}`, items: items.value, cursor: cursor.value, scrollTop }
  }

  /** Takes up the kept results, if they are this search's; else searches. */
  function start() {
    const k = kept
    kept = null
    if (k?.key !== key()) return now()
    started = k.key
    library = toValue(libraryId)
    searched.value = toValue(text).trim()
    items.value = k.items
    cursor.value = k.cursor
    restoredTop.value = k.scrollTop
  }

  watch(() => toValue(text), () => {
    clearTimeout(timer)
    timer = setTimeout(() => now(false), DEBOUNCE_MS)
  })
  watch(() => toValue(libraryId), () => now(false))
  onBeforeUnmount(() => {
    clearTimeout(timer)
    controller?.abort()
  })
  start()

  return { items, cursor, loading, error, searched, restoredTop, now, loadMore, keep }
}
