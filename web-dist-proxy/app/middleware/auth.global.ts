// Signed-out visitors go to first-run setup or the login page; share pages are public.
export default defineNuxtRouteMiddleware(async (to) => {
  if (isPublicRoute(to.path)) return
  const { load, loadConfig } = useSession()
  if (await load()) {
    if (to.params.id) {
      const libraries = useLibraries()
      libraries.remember(to.params.id as string)
      await libraries.ensure()
    }
    return
  }
  const config = await loadConfig().catch(() => null)
  if (config?.needsSetup) return navigateTo('/setup')
  return navigateTo({ path: '/login', query: to.fullPath === '/' ? {} : { next: to.fullPath } })
})
