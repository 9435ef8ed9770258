// The signed-in user's notifications (others' activity), kept fresh by the live socket and,
// while the socket is down, by polling.
export function useNotifications() {
  const api = useApi()
  const data = useState<ApiOk<'/api/notifications'> | null>('notifications', () => null)
  const { user } = useSession()
  const live = useLive()

  async function refresh() {
    data.value = await api('/api/notifications')
  }

  async function dismiss(id: string) {
    await api('/api/notifications/{activity}/dismiss', { method: 'post', params: { activity: id } })
    await refresh()
  }

  async function clear() {
    await api('/api/notifications/clear', { method: 'post' })
    await refresh()
  }

  /** Keeps the list current while the calling component is mounted. */
  function watchLive() {
    live.onActivity((activity) => {
      if (activity.actorId !== user.value?.id) refresh()
    })
    let poll: ReturnType<typeof setInterval> | undefined
    onMounted(() => {
      refresh()
      poll = setInterval(() => live.connected.value || refresh(), 60_000)
    })
    onBeforeUnmount(() => clearInterval(poll))
  }

  const items = computed(() => data.value?.items ?? [])
  const unread = computed(() => data.value?.unread ?? 0)
  return { items, unread, refresh, dismiss, clear, watchLive }
}
