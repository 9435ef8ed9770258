// Alcoves web UI. Everything is rendered in the browser except the public pages that links
// lead to, which the server renders: share links (/s/**) and invite links (/invite/**). No
// fonts, icons or scripts come from the internet.
export default defineNuxtConfig({
  compatibilityDate: '2026-01-01',
  modules: ['@nuxt/ui'],
  css: ['~/assets/css/main.css'],
  components: [{ path: '~/components', pathPrefix: false }],
  routeRules: {
    '/**': { ssr: false },
    '/s/**': { ssr: true },
    '/invite/**': { ssr: true },
  },
  ui: { fonts: false },
  // Icons are bundled: the ones the app names go into the client bundle, the rest of lucide
  // is served by Nitro outside /api (which belongs to the Rust server). Never the Iconify API.
  icon: {
    provider: 'server',
    fallbackToApi: false,
    localApiEndpoint: '/_nuxt_icon',
    serverBundle: { collections: ['lucide'] },
    clientBundle: { scan: { globInclude: ['**/*.{vue,ts}'], globExclude: ['node_modules', '.nuxt', '.output'] }, sizeLimitKb: 512 },
  },
  colorMode: { preference: 'system', fallback: 'dark' },
  runtimeConfig: {
    apiBase: 'http://127.0.0.1:3001',
    // The public base URL (server only; NUXT_PUBLIC_URL, from the server's ALCOVES_PUBLIC_URL),
    // for the absolute links in share pages' link previews. Empty: the request's own origin.
    publicUrl: '',
  },
  app: {
    head: {
      title: 'Alcoves',
      meta: [{ name: 'viewport', content: 'width=device-width, initial-scale=1, viewport-fit=cover' }],
    },
  },
  telemetry: false,
  devtools: { enabled: false },
})
