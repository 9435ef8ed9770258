// The live event socket (`/api/ws`): one connection per tab, reconnecting with back-off.
// Components subscribe with `onActivity` (library events) and `onJob` (a file's processing
// status and progress); their handler is removed when they unmount.
export type Activity = ApiItem<ApiOk<'/api/notifications'>>
export type JobChange = { libraryId: string, job: FileView['jobs'][string] }
type LiveMessage = { type: 'activity', activity: Activity } | ({ type: 'job' } & JobChange)
type Listener = (activity: Activity) => void
type JobListener = (change: JobChange) => void

const listeners = new Set<Listener>()
const jobListeners = new Set<JobListener>()
let socket: WebSocket | null = null
let retry = 0
let timer: ReturnType<typeof setTimeout> | undefined

function connect(connected: Ref<boolean>) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`
  socket = new WebSocket(url)
  socket.onopen = () => {
    retry = 0
    connected.value = true
  }
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data) as LiveMessage
    if (message.type === 'activity') listeners.forEach(l => l(message.activity))
    else if (message.type === 'job') jobListeners.forEach(l => l(message))
  }
  socket.onclose = () => {
    connected.value = false
    socket = null
    timer = setTimeout(() => connect(connected), Math.min(30_000, 1000 * 2 ** retry++))
  }
}

export function useLive() {
  const connected = useState('live-connected', () => false)

  /** Opens the socket if it is not open (call once signed in). */
  function start() {
    if (import.meta.client && !socket && !timer) connect(connected)
  }

  /** Closes the socket (on sign-out). */
  function stop() {
    clearTimeout(timer)
    timer = undefined
    if (socket) {
      socket.onclose = null
      socket.close()
      socket = null
    }
    connected.value = false
  }

  /** Calls `handler` for each live activity while the calling component is mounted. */
  function onActivity(handler: Listener) {
    onMounted(() => listeners.add(handler))
    onBeforeUnmount(() => listeners.delete(handler))
  }

  /** Calls `handler` for each job change while the calling component is mounted. */
  function onJob(handler: JobListener) {
    onMounted(() => jobListeners.add(handler))
    onBeforeUnmount(() => jobListeners.delete(handler))
  }

  /**
   * Calls `refresh` (at most twice a second) when a job of one of `kinds` settles in the
   * library, e.g. to show what the object detector just found.
   */
  function onJobsSettled(kinds: string[], libraryId: MaybeRefOrGetter<string>, refresh: () => unknown) {
    let pending: ReturnType<typeof setTimeout> | undefined
    onJob(({ libraryId: library, job }) => {
      if (pending || library !== toValue(libraryId) || !kinds.includes(job.kind) || !jobSettled(job)) return
      pending = setTimeout(() => {
        pending = undefined
        refresh()
      }, 500)
    })
    onBeforeUnmount(() => clearTimeout(pending))
  }

  return { connected, start, stop, onActivity, onJob, onJobsSettled }
}
