// Registers the service worker (public/sw.js) in production builds: the app shell offline and
// "Share → Alcoves" from a phone that installed the app. Not for the visitors of share and
// invite links (/s/**, /invite/**), who have no use for it.
export default defineNuxtPlugin(() => {
  if (import.meta.dev || !('serviceWorker' in navigator) || /^\/(s|invite)(\/|$)/.test(location.pathname)) return
  navigator.serviceWorker.register('/sw.js').catch(e => console.warn('service worker not registered:', e))
})
