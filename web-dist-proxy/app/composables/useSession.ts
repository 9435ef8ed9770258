// The signed-in user and the instance's auth settings, shared by every page.
export type SessionInfo = ApiOk<'/api/_auth/session'>
export type AuthConfig = ApiOk<'/api/_auth/config'>

/** Routes anyone may open without signing in. */
export function isPublicRoute(path: string): boolean {
  return ['/login', '/register', '/setup'].includes(path) || path.startsWith('/s/') || path.startsWith('/invite/')
}

export function useSession() {
  const api = useApi()
  const session = useState<SessionInfo | null>('session', () => null)
  const loaded = useState('session-loaded', () => false)
  const config = useState<AuthConfig | null>('auth-config', () => null)

  /** Loads the session once (or again with `force`); null when nobody is signed in. */
  async function load(force = false): Promise<SessionInfo | null> {
    if (loaded.value && !force) return session.value
    try {
      session.value = await api('/api/_auth/session')
    }
    catch {
      session.value = null
    }
    loaded.value = true
    return session.value
  }

  async function loadConfig(): Promise<AuthConfig> {
    config.value = await api('/api/_auth/config')
    return config.value
  }

  async function login(body: ApiBody<'/api/_auth/login', 'post'>) {
    await api('/api/_auth/login', { method: 'post', body })
    return load(true)
  }

  async function register(body: ApiBody<'/api/_auth/register', 'post'>) {
    await api('/api/_auth/register', { method: 'post', body })
    return load(true)
  }

  function forget() {
    session.value = null
    useLibraries().reset()
    useLive().stop()
  }

  async function logout() {
    await api('/api/_auth/logout', { method: 'post' }).catch(() => {})
    forget()
    await navigateTo('/login')
  }

  const user = computed(() => session.value?.user ?? null)
  return { session, user, config, load, loadConfig, login, register, logout, forget }
}
