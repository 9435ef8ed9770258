// The end-to-end test: starts the real server (`ALCOVES_BIN`) on a fresh data dir with the
// built web UI behind its front door (`ALCOVES_WEB=start`), then drives Debian's Chromium through
// first-run setup → login → create library → upload 3 photos, a video and a WAV → thumbnails
// → viewer (photo, video playing, waveform, transcript seeking) → search (a name, a transcript
// line opening the viewer at its moment, a bad filter) → the map's marker of a photo with GPS
// listing it → a duplicate trashed and purged →
// photos selected, downloaded as a ZIP, trashed and restored → every main screen at
// laptop and phone sizes → the installable app (manifest, service worker, a photo shared to it
// and uploaded from the share page) → share links (a password-protected folder opened on a phone, a
// moment's clip, the page without JavaScript, link preview tags) → invite → a second user joins
// as viewer and cannot upload → logout.
// Fails if any request leaves the server. Screenshots go to e2e/screenshots/.
//   ALCOVES_BIN=…/debug/alcoves node e2e/run.mjs        (after `npm run build`)
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const REPO = resolve(WEB, '..')
const MODELS = process.env.ALCOVES_MODELS_DIR ?? resolve(REPO, '../shared/models')
const FIXTURES = join(MODELS, 'testdata')
const SHOTS = join(WEB, 'e2e', 'screenshots')
const VIEWPORTS = { laptop: { width: 1280, height: 800 }, phone: { width: 375, height: 740 } }
const SCREEN_PATHS = {
  timeline: lib => lib,
  folders: lib => `${lib}/folders`,
  people: lib => `${lib}/people`,
  labels: lib => `${lib}/labels`,
  map: lib => `${lib}/map`,
  activity: lib => `${lib}/activity`,
  trash: lib => `${lib}/trash`,
  settings: lib => `${lib}/settings`,
  profile: () => '/profile',
  admin: () => '/admin',
}
const T = { timeout: 180_000 }
const CHROMIUM = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
}
// A share link's recipient on a phone: a fresh browser, no session.
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }

function expect(ok, what) {
  if (!ok) throw new Error(`expectation failed: ${what}`)
}

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => done(port))
    }).on('error', fail)
  })
}

async function waitFor(url, deadlineMs) {
  const deadline = Date.now() + deadlineMs
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status === 200) return
    } catch {}
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error(`${url} did not answer 200`)
}

const bin = process.env.ALCOVES_BIN
if (!bin) throw new Error('set ALCOVES_BIN to the alcoves binary')
rmSync(SHOTS, { recursive: true, force: true })
mkdirSync(SHOTS, { recursive: true })
const work = mkdtempSync(join(tmpdir(), 'alcoves-e2e-'))
// The built UI runs from a copy outside this package, as a package installs it: nothing from
// node_modules can be found at run time.
cpSync(join(WEB, '.output'), join(work, 'web'), { recursive: true })
// The shared models and the place names (made by .ci/install-deps into the model cache).
const modelsDir = join(work, 'models')
mkdirSync(modelsDir)
for (const entry of readdirSync(MODELS)) symlinkSync(join(MODELS, entry), join(modelsDir, entry))
symlinkSync(join(process.env.ALCOVES_MODEL_CACHE ?? '/var/cache/alcoves-models', 'places'), join(modelsDir, 'places'))
// A street-map tile server of our own on another port (one plain PNG for every tile): the map
// must draw the tiles the owner configured, and the front door's CSP must let them in.
const tilePng = join(work, 'tile.png')
execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=0xeae6dc:s=256x256', '-frames:v', '1', tilePng])
const tileBytes = readFileSync(tilePng)
const tileRequests = []
const tileServer = createHttpServer((req, res) => {
  tileRequests.push(req.url)
  res.writeHead(200, { 'content-type': 'image/png' })
  res.end(tileBytes)
})
const tilePort = await freePort()
await new Promise(done => tileServer.listen(tilePort, '127.0.0.1', done))
tileServer.unref()
const [apiPort, webPort] = [await freePort(), await freePort()]
const BASE = `http://127.0.0.1:${apiPort}`
const server = spawn(bin, ['serve'], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    ALCOVES_DATA_DIR: join(work, 'data'),
    ALCOVES_LISTEN: `127.0.0.1:${apiPort}`,
    ALCOVES_PUBLIC_URL: BASE,
    ALCOVES_WEB: 'start',
    ALCOVES_WEB_DIR: join(work, 'web'),
    ALCOVES_WEB_LISTEN: `127.0.0.1:${webPort}`,
    ALCOVES_MODELS_DIR: modelsDir,
    ALCOVES_MAP_TILE_URL: `http://127.0.0.1:${tilePort}/{z}/{x}/{y}.png`,
    ALCOVES_MAP_TILE_ATTRIBUTION: 'Tiles of the e2e test',
    ALCOVES_JOB_POLL_MS: '200',
    ALCOVES_LOG: process.env.ALCOVES_LOG ?? 'warn',
  },
})
const exited = new Promise(done => server.on('exit', (code, signal) => done({ code, signal })))

const video = join(work, 'clip.mp4')
// The astronaut was photographed in Houston, says its EXIF (for the map).
const astronaut = join(work, 'astronaut.jpg')
cpSync(join(FIXTURES, 'astronaut.jpg'), astronaut)
execFileSync('exiftool', ['-q', '-overwrite_original', '-GPSLatitude=29.5593', '-GPSLatitudeRef=N', '-GPSLongitude=95.0900', '-GPSLongitudeRef=W', astronaut])
execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=3:size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', video])

let context
let browser
try {
  await waitFor(`${BASE}/api/health`, 60_000)
  await waitFor(`${BASE}/login`, 60_000)
  context = await chromium.launchPersistentContext(join(work, 'profile'), { ...CHROMIUM, viewport: VIEWPORTS.laptop })
  // Every request the pages make, wherever it goes: only this server may be asked, and the
  // tile server the owner configured for the map.
  const outside = []
  const errors = []
  const violations = []
  const watchContext = ctx => ctx.on('request', (r) => {
    const url = new URL(r.url())
    const allowed = [`127.0.0.1:${apiPort}`, `127.0.0.1:${tilePort}`]
    if (!['data:', 'blob:'].includes(url.protocol) && !allowed.includes(url.host)) outside.push(r.url())
  })
  const watchPage = (p) => {
    p.on('pageerror', e => errors.push(e.message))
    // The front door's Content Security Policy must hold on every screen: Chromium reports each
    // refused script, style or connection on the console.
    p.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) violations.push(m.text())
    })
    return p
  }
  watchContext(context)
  const page = watchPage(context.pages()[0] ?? await context.newPage())

  const shot = async (name, p = page) => p.screenshot({ path: join(SHOTS, `${name}.png`) })
  const step = name => console.log(`e2e: ${name}`)

  step('security headers')
  const headersOf = async path => (await fetch(new URL(path, BASE))).headers
  const home = await headersOf('/login')
  const csp = home.get('content-security-policy') ?? ''
  expect(csp.includes("frame-ancestors 'none'") && csp.includes("script-src 'self'"), `a strict CSP: ${csp}`)
  expect(!/script-src[^;]*unsafe-inline/.test(csp), `no inline script without its hash: ${csp}`)
  expect(home.get('x-content-type-options') === 'nosniff', 'nosniff')
  expect(home.get('referrer-policy') === 'same-origin', `referrer policy: ${home.get('referrer-policy')}`)
  expect(home.get('x-powered-by') === null, 'no x-powered-by')
  expect((home.get('cache-control') ?? '').includes('no-store'), 'pages are not cached')
  expect((await headersOf('/s/nothing')).get('referrer-policy') === 'no-referrer', 'share pages send no referrer')
  // Nitro has no way into the API of its own: an encoded /api path is no back door.
  const encoded = await (await fetch(`${BASE}/%61pi/health`)).text()
  expect(!encoded.includes('"database"'), `the API is reached through the front door only: ${encoded.slice(0, 200)}`)

  step('first-run setup')
  await page.goto(BASE)
  await page.waitForURL('**/setup')
  await shot('01-setup')
  await page.getByTestId('setup-username').fill('owner')
  await page.getByTestId('setup-display-name').fill('Olive Owner')
  await page.getByTestId('setup-password').fill('correct horse battery')
  await page.getByTestId('setup-submit').click()
  await page.waitForURL(/\/libraries\//)

  step('logout and login')
  await page.getByTestId('user-menu').click()
  await page.getByTestId('logout').click()
  await page.waitForURL('**/login')
  await shot('02-login')
  await page.getByTestId('login-username').fill('owner')
  await page.getByTestId('login-password').fill('correct horse battery')
  await page.getByTestId('login-submit').click()
  await page.waitForURL(/\/libraries\//)

  step('create library')
  await page.getByTestId('library-switcher').click()
  await page.getByTestId('create-library-open').click()
  await page.getByTestId('create-library-emoji').fill('🏔️')
  await page.getByTestId('create-library-name').fill('Holidays')
  await page.getByTestId('create-library-submit').click()
  await page.waitForFunction(() => document.querySelector('[data-testid=library-switcher]')?.textContent?.includes('Holidays'))
  const libraryUrl = page.url()

  step('turn on face recognition and object detection')
  await page.getByTestId('nav-settings').click()
  await page.getByTestId('library-faces').click()
  await page.getByTestId('library-objects').click()
  await Promise.all([
    page.waitForResponse(r => r.request().method() === 'PATCH' && r.url().includes('/api/libraries/') && r.ok()),
    page.getByTestId('library-save').click(),
  ])
  await page.getByTestId('nav-timeline').click()
  await page.waitForURL(libraryUrl)

  step('upload 3 photos, a video and a WAV')
  const files = ['dog.jpg', 'two_faces_ultraface13.jpg', 'jfk.wav'].map(f => join(FIXTURES, f)).concat(astronaut, video)
  await page.getByTestId('upload-input').setInputFiles(files)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload-item][data-status=done]').length === 5, null, T)
  await shot('03-uploaded')
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=thumb][data-ready=true]').length === 5, null, T)
  await page.getByTestId('upload-panel-close').click()
  await shot('04-timeline')

  step('photo viewer')
  await page.locator('[data-testid=thumb][data-kind=photo]').first().click()
  await page.waitForSelector('[data-testid=viewer-image][data-ready=true]', T)
  await shot('05-viewer-photo')
  await page.keyboard.press('ArrowRight')
  await page.getByTestId('viewer-info').click()
  await shot('06-viewer-info')
  await page.keyboard.press('Escape')
  await page.waitForURL(libraryUrl)

  step('faces and objects found by the real models')
  await page.getByTestId('nav-labels').click()
  const dogLabel = page.getByTestId('label').filter({ hasText: /^\s*dog\b/i }).first()
  await dogLabel.waitFor(T)
  await shot('06-labels')
  await dogLabel.click()
  await page.locator('[data-testid=thumb][data-kind=photo]').first().click()
  await page.waitForSelector('[data-testid=viewer-image][data-ready=true]', T)
  await page.getByTestId('object-box').filter({ hasText: /dog/ }).first().waitFor(T)
  expect(await page.getByTestId('object-box').filter({ hasText: /bicycle/ }).count() > 0, 'YOLOX also sees the bicycle')
  await shot('06-viewer-objects')
  await page.keyboard.press('Escape')
  await page.goto(`${libraryUrl}?q=two_faces`)
  await page.locator('[data-testid=thumb][data-kind=photo]').first().click()
  await page.waitForSelector('[data-testid=viewer-image][data-ready=true]', T)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=face-box]').length === 2, null, T)
  await shot('06-viewer-faces')
  await page.keyboard.press('Escape')
  await page.goto(libraryUrl)

  step('video plays')
  await page.locator('[data-testid=thumb][data-kind=video]').click()
  const videoEl = page.getByTestId('viewer-video')
  await videoEl.waitFor(T)
  await videoEl.evaluate(v => v.play())
  await page.waitForFunction(() => document.querySelector('[data-testid=viewer-video]')?.currentTime > 0.3, null, T)
  await shot('07-viewer-video')
  await page.keyboard.press('Escape')

  step('audio: waveform and transcript')
  await page.locator('[data-testid=thumb][data-kind=audio]').click()
  await page.waitForSelector('[data-testid=waveform][data-ready=true]', T)
  await page.waitForSelector('[data-testid=processing-badge]', { state: 'detached', ...T })
  await page.waitForTimeout(500)
  const transcript = (await page.getByTestId('transcript-line').allTextContents()).join(' ').toLowerCase()
  expect(transcript.includes('ask not what your country can do for you'), `transcript: ${transcript}`)
  const audio = page.getByTestId('viewer-audio')
  const lastLine = page.getByTestId('transcript-line').last()
  const seekTo = Number(await lastLine.getAttribute('data-start-ms')) / 1000
  await lastLine.click()
  await page.waitForFunction(t => document.querySelector('[data-testid=viewer-audio]')?.currentTime >= t - 0.1, seekTo, T)
  await page.waitForSelector('[data-testid=transcript-line][data-current=true]', T)
  expect(await audio.evaluate(a => a.duration > 10), 'the WAV plays in full')
  await shot('08-viewer-audio')
  await page.keyboard.press('Escape')

  step('search: a file by its name, a transcript line opens the viewer there and is saved as a moment, a bad filter')
  await page.getByTestId('search-input').fill('jfk')
  await page.getByTestId('search-input').press('Enter')
  await page.waitForURL(url => url.pathname.endsWith('/search') && url.searchParams.get('q') === 'jfk')
  const nameHit = page.locator('[data-testid=search-hit][data-field=name]', { hasText: 'jfk.wav' })
  await page.getByTestId('search-result').filter({ has: nameHit }).locator('[data-testid=thumb][data-kind=audio]').waitFor(T)
  await shot('22-search')
  const searchQuery = page.getByTestId('search-query')
  await searchQuery.fill('country')
  await searchQuery.press('Enter')
  const saidLink = page.locator('[data-testid=search-hit][data-field=transcript] a').first()
  await saidLink.waitFor(T)
  const saidAt = Number(new URL(await saidLink.getAttribute('href'), BASE).searchParams.get('t'))
  await saidLink.click()
  await page.waitForURL(/\/files\/[^/?]+\?t=\d+$/)
  await page.waitForFunction(t => document.querySelector('[data-testid=viewer-audio]')?.readyState >= 1 && document.querySelector('[data-testid=viewer-audio]').currentTime >= t, saidAt, T)
  await page.keyboard.press('Escape')
  await page.waitForURL(url => url.pathname.endsWith('/search') && url.searchParams.get('q') === 'country')
  const saidResult = page.getByTestId('search-result').filter({ has: page.locator('[data-testid=search-hit][data-field=transcript]') }).first()
  await saidResult.getByTestId('search-save-moment').first().click()
  await page.getByText('Moment saved', { exact: true }).waitFor(T)
  const savedMoments = await page.evaluate(async ([lib, file]) => (await (await fetch(`/api/libraries/${lib}/files/${file}/moments`)).json()).items,
    [new URL(libraryUrl, BASE).pathname.split('/')[2], await saidResult.getAttribute('data-file-id')])
  expect(savedMoments.some(m => /country/i.test(m.title) && m.end > m.start), `moment saved from a search hit: ${JSON.stringify(savedMoments)}`)
  await searchQuery.fill('colour:red')
  await searchQuery.press('Enter')
  await page.getByTestId('search-error').filter({ hasText: 'unknown filter `colour:`' }).waitFor(T)
  await shot('23-search-error')
  await page.goto(libraryUrl)

  step('map: the photo with a place is a marker over the configured tiles; the marker lists it; its place is named and found')
  await page.getByTestId('nav-map').click()
  const marker = page.locator('[data-testid=map-cluster][data-count="1"]')
  await marker.waitFor(T)
  // The configured tiles are drawn under the outlines, with their credit.
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=map-tile]')].length > 0, null, T)
  await page.getByTestId('map-attribution').filter({ hasText: 'Tiles of the e2e test' }).waitFor(T)
  for (let i = 0; i < 100 && !tileRequests.length; i++) await new Promise(done => setTimeout(done, 100))
  expect(tileRequests.length > 0 && tileRequests.every(u => /^\/\d+\/\d+\/\d+\.png$/.test(u)), `tiles asked for as {z}/{x}/{y}: ${tileRequests.slice(0, 5).join(', ')}`)
  await shot('24-map')
  // The wheel zooms in around the pointer, so the marker stays under it.
  await marker.hover()
  await page.mouse.wheel(0, -200)
  await page.waitForFunction(() => !document.querySelector('[data-testid=map-svg]')?.getAttribute('viewBox')?.startsWith('0 '), null, T)
  await marker.click()
  await page.waitForURL(url => url.pathname.endsWith('/search') && (url.searchParams.get('q') ?? '').startsWith('bbox:'))
  await page.getByTestId('search-result').first().waitFor(T)
  const placed = await page.getByTestId('search-result').count()
  expect(placed === 1, `the marker lists its one photo, not ${placed}`)
  // Its place is named offline, and found by name.
  await page.getByTestId('search-query').fill('texas')
  await page.getByTestId('search-query').press('Enter')
  await page.locator('[data-testid=search-hit][data-field=place]').filter({ hasText: 'Nassau Bay, Texas, United States' }).waitFor(T)
  await page.goto(libraryUrl)

  step('a duplicate is badged, trashed and deleted for good')
  await page.getByTestId('upload-input').setInputFiles([join(FIXTURES, 'dog.jpg')])
  await page.locator('[data-testid=upload-item][data-duplicate=true]').waitFor(T)
  await page.getByTestId('upload-panel-close').click()
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=thumb] [data-testid=duplicate-badge]').length === 2, null, T)
  await page.locator('[data-testid=thumb]').filter({ has: page.getByTestId('duplicate-badge') }).first().click()
  await page.getByTestId('viewer-trash').click()
  await page.getByText('Moved to the trash', { exact: true }).waitFor(T)
  await page.keyboard.press('Escape')
  await page.getByTestId('nav-trash').click()
  await page.locator('[data-testid=thumb]').first().click()
  await page.getByTestId('trash-purge').click()
  await page.getByTestId('trash-purge-confirm').click()
  await page.getByText('The trash is empty.').waitFor(T)
  await page.goto(libraryUrl)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=thumb]').length === 5 && !document.querySelector('[data-testid=duplicate-badge]'), null, T)

  step('select photos: download them as a ZIP, trash one and restore it')
  const photos = page.locator('[data-testid=thumb][data-kind=photo]')
  const thumbCount = count => page.waitForFunction(n => document.querySelectorAll('[data-testid=thumb]').length === n, count, T)
  await photos.nth(0).getByTestId('select-toggle').click()
  await photos.nth(1).getByTestId('select-toggle').click()
  await page.getByTestId('selection-count').filter({ hasText: /^\s*2 selected\s*$/ }).waitFor(T)
  await page.waitForTimeout(300) // the bar slides in
  await shot('screen-timeline-selection-laptop')
  await page.setViewportSize(VIEWPORTS.phone)
  await shot('screen-timeline-selection-phone')
  await page.setViewportSize(VIEWPORTS.laptop)
  // The archive is a form post the browser saves as it arrives.
  const [zip] = await Promise.all([page.waitForEvent('download', T), page.getByTestId('selection-download').click()])
  expect(zip.suggestedFilename() === 'alcoves.zip', `the download is alcoves.zip: ${zip.suggestedFilename()}`)
  const zipBytes = readFileSync(await zip.path())
  expect(zipBytes.subarray(0, 2).toString('latin1') === 'PK' && zipBytes.length > 10_000, `a ZIP of two photos: ${zipBytes.length} bytes`)
  await page.getByTestId('selection-clear').click()
  await page.getByTestId('selection-count').waitFor({ state: 'detached', ...T })
  const trashedId = await photos.first().getAttribute('data-file-id')
  await photos.first().getByTestId('select-toggle').click()
  await page.getByTestId('selection-trash').click()
  await page.getByText('Moved 1 to the trash', { exact: true }).waitFor(T)
  await thumbCount(4)
  await page.getByTestId('nav-trash').click()
  await page.locator(`[data-testid=thumb][data-file-id="${trashedId}"]`).click(T)
  await page.getByTestId('trash-restore').click()
  await page.getByText('The trash is empty.').waitFor(T)
  await page.getByTestId('nav-timeline').click()
  await page.waitForURL(libraryUrl)
  await thumbCount(5)

  step('nested folders keep their breadcrumb across a reload; the display name changes')
  await page.goto(new URL(SCREEN_PATHS.folders(libraryUrl), BASE).href)
  for (const name of ['Trips', 'Rome']) {
    await page.getByTestId('folder-create-open').click()
    await page.getByTestId('folder-name').fill(name)
    await page.getByTestId('folder-create-submit').click()
    const before = page.url()
    await page.locator('[data-testid=folder]', { hasText: name }).getByRole('button').first().click()
    // Into the new folder: the URL names another folder than before (Rome's, not Trips').
    await page.waitForURL(url => url.href !== before && url.searchParams.has('folder'))
  }
  await page.reload()
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=folder-crumb]')].map(e => e.textContent.trim()).join('/') === 'Trips/Rome', null, T)
  await page.goto(new URL(SCREEN_PATHS.profile(), BASE).href)
  await page.getByTestId('display-name').fill('Olivia the Owner')
  await page.getByTestId('display-name-submit').click()
  await page.getByText('Name changed', { exact: true }).waitFor(T)
  await page.reload()
  await page.getByRole('heading', { name: 'Olivia the Owner' }).waitFor(T)
  await page.goto(libraryUrl)

  step('main screens at laptop and phone sizes')
  for (const screen of ['timeline', 'folders', 'people', 'labels', 'map', 'activity', 'trash', 'settings', 'profile', 'admin']) {
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport)
      await page.goto(new URL(SCREEN_PATHS[screen](libraryUrl), BASE).href)
      await page.waitForLoadState('networkidle', { timeout: 15_000 }).catch(() => {})
      await shot(`screen-${screen}-${size}`)
    }
  }
  await page.setViewportSize(VIEWPORTS.laptop)
  await page.goto(libraryUrl)

  step('installable web app: manifest and share target')
  const libraryId = new URL(libraryUrl, BASE).pathname.split('/')[2]
  // A share that reaches the server before any service worker is asked for again.
  const early = await fetch(`${BASE}/share-target`, { method: 'POST', body: new FormData(), redirect: 'manual' })
  expect(early.status === 303 && early.headers.get('location') === '/share?missed=1', `a share without the worker: ${early.status} ${early.headers.get('location')}`)
  const manifestHref = await page.locator('link[rel=manifest]').getAttribute('href')
  const manifest = await (await fetch(new URL(manifestHref, BASE))).json()
  expect(manifest.name === 'Alcoves' && manifest.start_url === '/' && manifest.scope === '/' && manifest.display === 'standalone', `the manifest: ${JSON.stringify(manifest)}`)
  const iconSizes = await page.evaluate(srcs => Promise.all(srcs.map(async (src) => {
    const img = new Image()
    img.src = src
    await img.decode()
    return `${img.naturalWidth}x${img.naturalHeight}`
  })), manifest.icons.map(i => i.src))
  const pngs = manifest.icons.filter((icon, i) => icon.type === 'image/png' && icon.sizes === iconSizes[i])
  expect(['192x192', '512x512'].every(size => pngs.some(i => i.sizes === size)) && pngs.some(i => i.purpose === 'maskable'), `PNG icons of 192 and 512 pixels, one maskable: ${JSON.stringify(manifest.icons)} load as ${iconSizes}`)
  const target = manifest.share_target
  expect(target?.action === '/share-target' && target.method === 'POST' && target.enctype === 'multipart/form-data', `share_target: ${JSON.stringify(target)}`)
  expect(target.params?.files?.some(f => f.name === 'media' && ['image/*', 'video/*', 'audio/*'].every(t => f.accept.includes(t))), `shared media files: ${JSON.stringify(target.params)}`)
  // The worker registered on the first visit controls every page loaded since it started.
  await page.evaluate(() => Promise.race([
    navigator.serviceWorker.ready,
    new Promise((_, fail) => setTimeout(() => fail(new Error('no service worker within 60 s')), 60_000)),
  ]).then(() => true))
  await page.reload()
  const worker = await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)
  expect(worker === `${BASE}/sw.js`, `the service worker controls the page: ${worker}`)
  // "Share → Alcoves" on Android posts the files to the share target: a form in the page does too.
  await page.setViewportSize(VIEWPORTS.phone)
  await page.evaluate(() => {
    const form = Object.assign(document.createElement('form'), { method: 'post', enctype: 'multipart/form-data', action: '/share-target' })
    form.style.cssText = 'position: fixed; top: 0; left: 0; z-index: 10000; background: white'
    form.innerHTML = '<input name="title" value="A coffee"><input type="file" name="media" data-testid="e2e-share-file"><button data-testid="e2e-share-send">Share</button>'
    document.body.append(form)
  })
  await page.getByTestId('e2e-share-file').setInputFiles(join(FIXTURES, 'coffee.png'))
  await page.getByTestId('e2e-share-send').click()
  await page.waitForURL(`${BASE}/share`)
  await page.locator('[data-testid=share-file][data-status=waiting]', { hasText: 'coffee.png' }).waitFor(T)
  expect(await page.getByTestId('share-file').count() === 1, 'the one shared file waits')
  await page.getByTestId('share-library').getByText('Holidays').click()
  await shot('20-share-waiting')
  await page.getByTestId('share-upload').click()
  await page.locator('[data-testid=share-file][data-status=done]').waitFor(T)
  await page.getByTestId('share-done').waitFor(T)
  await shot('21-share-uploaded')
  const libraryNames = await page.evaluate(async id => (await (await fetch(`/api/libraries/${id}/files?limit=100`)).json()).items.map(f => f.name), libraryId)
  expect(libraryNames.includes('coffee.png'), `the shared file is in Holidays: ${libraryNames.join(', ')}`)
  const openLink = await page.getByTestId('share-open-library').getAttribute('href')
  expect(openLink === new URL(libraryUrl).pathname, `a link to the library: ${openLink}`)
  // Uploaded files leave the inbox.
  await page.goto(`${BASE}/share?missed=1`)
  await page.getByTestId('share-missed').waitFor(T)
  await page.getByTestId('share-empty').waitFor(T)
  await page.setViewportSize(VIEWPORTS.laptop)
  await page.goto(libraryUrl)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=thumb][data-ready=true]').length === 6, null, T)

  step('share links: a folder behind a password and a moment, made through the API')
  const call = async (method, path, data) => {
    const res = await page.request.fetch(new URL(path, BASE).href, { method, data })
    if (!res.ok()) throw new Error(`${method} ${path}: ${res.status()} ${await res.text()}`)
    return res.status() === 204 ? null : res.json()
  }
  await call('PATCH', `/api/libraries/${libraryId}`, { sharing: true })
  const listed = (await call('GET', `/api/libraries/${libraryId}/files?limit=100`)).items
  const named = name => listed.find(f => f.name === name)
  const sharedFiles = ['astronaut.jpg', 'dog.jpg', 'clip.mp4'].map(named)
  expect(sharedFiles.every(Boolean), `two photos and the video to share: ${listed.map(f => f.name).join(', ')}`)
  const sharedVideo = sharedFiles[2]
  const romeFolder = await call('POST', `/api/libraries/${libraryId}/folders`, { name: 'Rome trip' })
  for (const f of sharedFiles) await call('PATCH', `/api/libraries/${libraryId}/files/${f.id}`, { folderId: romeFolder.id })
  const SHARE_PASSWORD = 'share password 123'
  const folderShare = await call('POST', `/api/libraries/${libraryId}/shares`, { kind: 'folder', folderId: romeFolder.id, password: SHARE_PASSWORD, title: 'Rome' })
  const kickOff = await call('POST', `/api/libraries/${libraryId}/files/${sharedVideo.id}/moments`, { start: 0.5, end: 1.5, title: 'Kick-off' })
  const momentShare = await call('POST', `/api/libraries/${libraryId}/shares`, { kind: 'moment', momentId: kickOff.id })
  const [folderLink, momentLink] = [folderShare.url, momentShare.url]
  expect(folderLink?.startsWith(`${BASE}/s/`) && momentLink?.startsWith(`${BASE}/s/`), `share links on the public URL: ${folderLink} ${momentLink}`)
  // The server cuts the moment's clip in a job.
  const clipDeadline = Date.now() + 60_000
  for (;;) {
    const shared = await (await fetch(`${BASE}/api/share/${momentShare.token}`)).json()
    if (shared.moment?.clipUrl) break
    expect(Date.now() < clipDeadline, `the moment's clip is cut within 60 s: ${JSON.stringify(shared.moment ?? shared)}`)
    await new Promise(r => setTimeout(r, 500))
  }
  browser = await chromium.launch(CHROMIUM)

  step('share link on a phone: password, grid, photo, swipe')
  const phone = await browser.newContext(PHONE)
  watchContext(phone)
  const guest = watchPage(await phone.newPage())
  await guest.goto(folderLink)
  await guest.waitForSelector('[data-testid=share-password-form][data-ready=true]', T)
  expect(await guest.getByTestId('share-item').count() === 0, 'a locked share shows none of its items')
  await shot('14-share-locked', guest)
  await guest.getByTestId('share-password-input').fill(SHARE_PASSWORD)
  await guest.getByTestId('share-unlock').click()
  await guest.getByTestId('share-grid').waitFor(T)
  expect((await guest.getByTestId('share-title').textContent()).trim() === 'Rome', 'the share shows its title')
  expect(await guest.getByTestId('share-item').count() === 3, `the folder's three files: ${await guest.getByTestId('share-item').count()}`)
  await guest.waitForFunction(() => [...document.querySelectorAll('[data-testid=share-item] img')].filter(i => i.complete && i.naturalWidth > 0).length === 3, null, T)
  await shot('15-share-grid', guest)
  await guest.locator('[data-testid=share-item][data-kind=photo]').first().click()
  const shareViewer = guest.getByTestId('share-viewer')
  await guest.waitForSelector('[data-testid=share-photo][data-ready=true]', T)
  const firstSeen = await shareViewer.getAttribute('data-item-id')
  expect(new URL(guest.url()).searchParams.get('item') === firstSeen, 'the open item is in the address')
  await shot('16-share-photo', guest)
  // A finger swipes from right to left across the photo: the next item.
  const touch = await phone.newCDPSession(guest)
  const finger = (type, x) => touch.send('Input.dispatchTouchEvent', { type, touchPoints: x === undefined ? [] : [{ x, y: 420 }] })
  await finger('touchStart', 330)
  for (const x of [280, 220, 160, 100, 60]) await finger('touchMove', x)
  await finger('touchEnd')
  await guest.waitForFunction(id => document.querySelector('[data-testid=share-viewer]')?.dataset.itemId !== id, firstSeen, T)
  await guest.keyboard.press('ArrowLeft')
  await guest.waitForFunction(id => document.querySelector('[data-testid=share-viewer]')?.dataset.itemId === id, firstSeen, T)
  await guest.keyboard.press('ArrowRight')
  await guest.waitForFunction(id => document.querySelector('[data-testid=share-viewer]')?.dataset.itemId !== id, firstSeen, T)
  await guest.waitForFunction(() => {
    const photo = document.querySelector('[data-testid=share-viewer] [data-testid=share-photo]')
    return photo ? photo.dataset.ready === 'true' : document.querySelector('[data-testid=share-video]')?.readyState >= 1
  }, null, T)
  await shot('17-share-swiped', guest)
  await guest.keyboard.press('Escape')
  await shareViewer.waitFor({ state: 'detached', ...T })
  await guest.getByTestId('share-grid').waitFor(T)
  await phone.close()

  step('shared moment: the clip plays on a phone')
  const phone2 = await browser.newContext(PHONE)
  watchContext(phone2)
  const momentPage = watchPage(await phone2.newPage())
  await momentPage.goto(momentLink)
  const clipVideo = momentPage.getByTestId('share-video')
  await clipVideo.waitFor(T)
  expect((await momentPage.getByTestId('share-title').textContent()).trim() === 'Kick-off', 'the moment shows its title')
  await clipVideo.evaluate(v => v.play())
  await momentPage.waitForFunction(() => {
    const v = document.querySelector('[data-testid=share-video]')
    return v && v.readyState >= 2 && v.currentTime > 0
  }, null, T)
  expect(await clipVideo.evaluate(v => v.duration < 2.5), 'the clip is the moment, not the whole video')
  await clipVideo.evaluate(v => v.pause())
  await shot('18-share-moment', momentPage)
  await phone2.close()

  step('share link without JavaScript: the plain form unlocks it, the video has a source')
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: VIEWPORTS.laptop })
  watchContext(plain)
  const plainPage = await plain.newPage()
  await plainPage.goto(folderLink)
  await plainPage.getByTestId('share-password-input').fill('not the password')
  await plainPage.getByTestId('share-unlock').click()
  await plainPage.waitForURL(/[?&]error=password/)
  await plainPage.getByTestId('share-password-error').waitFor(T)
  await plainPage.getByTestId('share-password-input').fill(SHARE_PASSWORD)
  await plainPage.getByTestId('share-unlock').click()
  await plainPage.getByTestId('share-grid').waitFor(T)
  expect(!plainPage.url().includes('error='), `unlocked back to the share: ${plainPage.url()}`)
  await plainPage.locator('[data-testid=share-item][data-kind=video]').click()
  await plainPage.waitForURL(/[?&]item=/)
  const plainVideo = plainPage.getByTestId('share-video')
  await plainVideo.waitFor(T)
  const plainSrc = await plainVideo.getAttribute('src')
  expect(plainSrc && (await plainVideo.getAttribute('controls')) !== null, `a <video controls> with a source: ${plainSrc}`)
  const ranged = await plain.request.get(new URL(plainSrc, BASE).href, { headers: { Range: 'bytes=0-1023' } })
  expect([200, 206].includes(ranged.status()) && (ranged.headers()['content-type'] ?? '').startsWith('video/'), `the video answers a range: ${ranged.status()} ${ranged.headers()['content-type']}`)
  expect(await plainPage.getByTestId('share-viewer-close').getAttribute('href'), 'a link back to the grid')
  await shot('19-share-nojs', plainPage)
  await plain.close()

  step('share link previews: absolute Open Graph and Twitter tags in the server-rendered page')
  const metaOf = html => Object.fromEntries([...html.matchAll(/<meta\b[^>]*>/g)].map(([tag]) => [
    tag.match(/\b(?:property|name)="([^"]+)"/)?.[1],
    tag.match(/\bcontent="([^"]*)"/)?.[1]?.replaceAll('&amp;', '&'),
  ]))
  const momentMeta = metaOf(await (await fetch(momentLink)).text())
  expect(momentMeta['og:title'] === 'Kick-off', `og:title: ${momentMeta['og:title']}`)
  expect(momentMeta['twitter:card'] === 'player', `twitter:card: ${momentMeta['twitter:card']}`)
  for (const key of ['og:image', 'og:video', 'og:url', 'twitter:player']) {
    expect(/^https?:\/\//.test(momentMeta[key] ?? ''), `${key} is an absolute URL: ${momentMeta[key]}`)
  }
  const cover = await fetch(momentMeta['og:image'])
  expect(cover.ok && (cover.headers.get('content-type') ?? '').startsWith('image/'), `og:image answers a picture: ${cover.status}`)
  const lockedHtml = await (await fetch(folderLink)).text()
  const lockedMeta = metaOf(lockedHtml)
  expect(lockedMeta['og:title'] === 'Shared with you' && !lockedMeta['og:image'] && !lockedHtml.includes('/thumbnails/'), 'a locked share previews nothing of what it holds')
  const missing = await fetch(`${BASE}/s/no-such-share`)
  expect(missing.status === 404 && (await missing.text()).includes('share-missing'), `an unknown link says so: ${missing.status}`)

  step('invite link')
  await page.getByTestId('nav-settings').click()
  await page.getByTestId('invite-create').click()
  const inviteUrl = await page.getByTestId('invite-url').inputValue()
  console.log(`  invite: ${inviteUrl}`)
  // /invite/** is rendered by Nitro, which asked the API for the invite: the page arrives filled in.
  const ssr = await (await fetch(inviteUrl)).text()
  expect(ssr.includes('Holidays'), `the invite page is rendered on the server: ${ssr.slice(0, 300)}`)
  const shell = await (await fetch(new URL(libraryUrl, BASE))).text()
  expect(!shell.includes('Holidays'), 'other pages are rendered in the browser')
  await shot('09-settings')
  await page.getByTestId('user-menu').click()
  await page.getByTestId('logout').click()
  await page.waitForURL('**/login')

  step('second user joins as viewer')
  await page.goto(inviteUrl)
  await shot('10-invite')
  await page.getByTestId('invite-register').click()
  await page.getByTestId('register-username').fill('vera')
  await page.getByTestId('register-password').fill('another good password')
  await page.getByTestId('register-submit').click()
  await page.waitForURL(/\/libraries\//)
  await page.waitForFunction(() => document.querySelector('[data-testid=library-switcher]')?.textContent?.includes('Holidays'))
  await page.waitForSelector('[data-testid=thumb]')
  expect(!(await page.getByTestId('upload-input').count() || await page.getByTestId('upload-button').count()), 'a viewer sees upload controls')
  await shot('11-viewer-timeline')

  step('phone width')
  await page.setViewportSize({ width: 375, height: 740 })
  await shot('12-mobile-timeline')
  await page.locator('[data-testid=thumb][data-kind=photo]').first().click()
  await page.waitForSelector('[data-testid=viewer-image][data-ready=true]', T)
  await shot('13-mobile-viewer')
  await page.keyboard.press('Escape')

  step('logout')
  await page.getByTestId('user-menu').click()
  await page.getByTestId('logout').click()
  await page.waitForURL('**/login')

  expect(outside.length === 0, `requests left the server: ${[...new Set(outside)].join(', ')}`)
  expect(errors.length === 0, `errors in the page: ${errors.join('; ')}`)
  expect(violations.length === 0, `Content Security Policy violations: ${violations.join('; ')}`)
  console.log(`e2e: ok (screenshots in ${SHOTS})`)
} finally {
  await browser?.close()
  await context?.close()
  server.kill('SIGTERM')
  const { code, signal } = await exited
  rmSync(work, { recursive: true, force: true })
  if (code !== 0) {
    console.error(`e2e: the server exited with ${code ?? signal}`)
    process.exitCode = 1
  }
}
