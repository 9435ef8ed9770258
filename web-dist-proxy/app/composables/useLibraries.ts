// The user's libraries and the one the current route is in.
export type Library = ApiItem<ApiOk<'/api/libraries'>>
export type Role = Library['role']

const LAST_KEY = 'alcoves:library'
const RANK: Record<string, number> = { viewer: 0, admin: 1, owner: 2 }

/** Whether `role` is at least `needed`. */
export function hasRole(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role]! >= RANK[needed]!
}

export function useLibraries() {
  const api = useApi()
  const libraries = useState<Library[] | null>('libraries', () => null)
  const route = useRoute()

  async function refresh(): Promise<Library[]> {
    libraries.value = await api('/api/libraries')
    return libraries.value
  }

  async function ensure(): Promise<Library[]> {
    return libraries.value ?? refresh()
  }

  async function create(body: ApiBody<'/api/libraries', 'post'>): Promise<Library> {
    const library = await api('/api/libraries', { method: 'post', body })
    await refresh()
    return library
  }

  /** Saves changed fields of a library and keeps the list in step. */
  async function update(id: string, body: ApiBody<'/api/libraries/{library}', 'patch'>): Promise<Library> {
    const library = await api('/api/libraries/{library}', { method: 'patch', params: { library: id }, body })
    libraries.value = (libraries.value ?? []).map(l => (l.id === id ? library : l))
    return library
  }

  /** Notes that `id` was opened (by the route middleware). */
  function remember(id: string) {
    lastId.value = id
    localStorage.setItem(LAST_KEY, id)
  }

  function reset() {
    libraries.value = null
  }

  /** The library opened last (kept across visits), for `/` and pages outside any library. */
  const lastId = useState<string | null>('last-library', () => (import.meta.client ? localStorage.getItem(LAST_KEY) : null))
  const currentId = computed(() => (route.params.id as string | undefined) ?? null)
  const recent = computed(() => libraries.value?.find(l => l.id === (currentId.value ?? lastId.value)) ?? null)
  const current = computed(() => libraries.value?.find(l => l.id === currentId.value) ?? null)
  const role = computed(() => current.value?.role)
  const canEdit = computed(() => hasRole(role.value, 'admin'))

  return { libraries, current, currentId, recent, role, canEdit, refresh, ensure, create, update, remember, reset }
}
