// The `$fetch` instance behind `useApi()`: API base and cookie forwarding on the server,
// same-origin requests in the browser, and a trip to the login page when a session ends.
// On the server (the pages rendered there: share and invite links) the plugin runs once per
// request, so the visitor's own `Cookie` (session, unlocked shares) goes with every API call
// of that render, with their browser and address (counted views, throttling behind a proxy).
export default defineNuxtPlugin((nuxtApp) => {
  const config = useRuntimeConfig()
  const router = useRouter()
  const api = $fetch.create({
    baseURL: import.meta.server ? config.apiBase : '',
    headers: import.meta.server ? useRequestHeaders(['cookie', 'user-agent', 'x-forwarded-for']) : {},
    onResponseError({ request, response }) {
      if (import.meta.server || response.status !== 401 || String(request).includes('/api/_auth/')) return
      const route = router.currentRoute.value
      if (isPublicRoute(route.path)) return
      nuxtApp.runWithContext(() => {
        useSession().forget()
        navigateTo({ path: '/login', query: { next: route.fullPath } })
      })
    },
  })
  return { provide: { api } }
})
