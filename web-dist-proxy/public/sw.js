// The service worker (registered by app/plugins/service-worker.client.ts): the app shell offline,
// and the receiving end of "Share → Alcoves" (the manifest's share_target). The API (/api/**)
// and WebDAV (/dav/**) pass by it untouched, and never land in a cache.

// The shell page ("/": every page but a link's is the same one), the files of its build and the
// icons.
const SHELL = 'alcoves-shell'
// Shared files waiting for the share page (app/utils/shareInbox.ts), one entry each.
const INBOX = 'alcoves-share-inbox'
const STATIC = ['/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png']

self.addEventListener('install', (event) => {
  // Without the shell the worker still takes shares: a failed precache does not stop it.
  event.waitUntil(fetch('/').then(precache).catch(e => console.warn('alcoves: app shell not cached', e)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== SHELL && name !== INBOX) await caches.delete(name)
    }
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', (event) => {
  const { request } = event
  const url = new URL(request.url)
  if (url.origin !== location.origin || /^\/(api|dav)(\/|$)/.test(url.pathname)) return
  if (request.method === 'POST' && url.pathname === '/share-target') return event.respondWith(receiveShare(request))
  if (request.method !== 'GET') return
  if (request.mode === 'navigate') return event.respondWith(page(event, url))
  if (url.pathname.startsWith('/_nuxt/') && url.pathname !== '/_nuxt/builds/latest.json') return event.respondWith(builtFile(request))
  if (STATIC.includes(url.pathname)) event.respondWith(fetch(request).catch(() => fromShell(request)))
})

/** Caches `shell` as "/", with every built file of its build (nuxt.config.ts lists them). */
async function precache(shell) {
  if (!shell.ok) throw new Error(`/ answered ${shell.status}`)
  const built = await (await fetch('/_nuxt/built-files.json', { cache: 'no-cache' })).json()
  const cache = await caches.open(SHELL)
  await cache.put('/', shell)
  await cache.addAll([...built.map(f => `/${f}`), ...STATIC])
}

/** A page from the network, or offline the cached shell (whose router then shows the page). */
async function page(event, url) {
  try {
    const res = await fetch(event.request)
    if (res.ok && !/^\/(s|invite)(\/|$)/.test(url.pathname)) event.waitUntil(renew(res.clone()))
    return res
  }
  catch {
    return fromShell('/')
  }
}

/**
 * A shell other than the cached one comes from a new build: its files replace the old build's.
 * (Pages of links, /s/** and /invite/**, are rendered on the server with what the link holds.)
 */
async function renew(shell) {
  const cached = await caches.match('/', { cacheName: SHELL })
  if (cached && (await cached.text()) === (await shell.clone().text())) return
  await caches.delete(SHELL)
  await precache(shell)
}

/** A built file: its name changes with its content, so a cached copy is always right. */
async function builtFile(request) {
  const cache = await caches.open(SHELL)
  const hit = await cache.match(request)
  if (hit) return hit
  const res = await fetch(request)
  if (res.ok) await cache.put(request, res.clone())
  return res
}

async function fromShell(request) {
  return (await caches.match(request, { cacheName: SHELL })) ?? Response.error()
}

/**
 * "Share → Alcoves": the files (photos, videos, recordings) go into the inbox with their names
 * and types, and the share page (/share) uploads them into a library.
 */
async function receiveShare(request) {
  const form = await request.formData()
  const inbox = await caches.open(INBOX)
  const batch = Date.now()
  const files = form.getAll('media').filter(f => f instanceof File && f.size > 0)
  for (const [i, file] of files.entries()) {
    const headers = { 'Content-Type': file.type || 'application/octet-stream', 'X-Name': encodeURIComponent(file.name) }
    await inbox.put(`/share-inbox/${batch}-${i}`, new Response(file, { headers }))
  }
  return Response.redirect('/share', 303)
}
