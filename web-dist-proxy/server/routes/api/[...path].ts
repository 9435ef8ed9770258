// Forwards /api/** to the Rust API, so this Nitro server also works on its own behind a
// reverse proxy that sends everything to it. (In production the Rust server answers /api/**
// itself and never forwards it here.)
export default defineEventHandler((event) => {
  const { apiBase } = useRuntimeConfig(event)
  const target = new URL(event.path, apiBase).toString()
  return proxyRequest(event, target)
})
