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
  // An installable app (public/manifest.webmanifest, with "Share → Alcoves" on phones); the
  // theme colours are the page background's in each colour mode.
  app: {
    head: {
      title: 'Alcoves',
      meta: [
        { name: 'viewport', content: 'width=device-width, initial-scale=1, viewport-fit=cover' },
        { name: 'theme-color', content: '#ffffff', media: '(prefers-color-scheme: light)' },
        { name: 'theme-color', content: '#18181b', media: '(prefers-color-scheme: dark)' },
      ],
      link: [
        { rel: 'manifest', href: '/manifest.webmanifest' },
        { rel: 'icon', href: '/icon.svg', type: 'image/svg+xml' },
        { rel: 'apple-touch-icon', href: '/icon-192.png' },
      ],
    },
  },
  vite: {
    plugins: [{
      // The list of the browser's built files, for the service worker (public/sw.js) to cache.
      name: 'alcoves:built-files',
      apply: 'build',
      applyToEnvironment: environment => environment.name === 'client',
      generateBundle(_, bundle) {
        const files = Object.keys(bundle).filter(f => f.startsWith('_nuxt/') && !f.endsWith('.map'))
        this.emitFile({ type: 'asset', fileName: '_nuxt/built-files.json', source: JSON.stringify(files) })
      },
    }],
  },
  telemetry: false,
  devtools: { enabled: false },
})
