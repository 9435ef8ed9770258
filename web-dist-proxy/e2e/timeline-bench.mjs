// The timeline benchmark: is the timeline smooth with 50,000 files? Starts the real server
// (`ALCOVES_BIN`) on a fresh data dir with the built web UI behind its front door, as run.mjs
// does; signs up the owner, creates a library and uploads one real photo through the API, waits
// for its thumbnails, then copies it into BENCH_FILES - 1 more rows straight in the SQLite
// database (one transaction through the `sqlite3` CLI: dates spread unevenly over six years,
// mixed aspect ratios, done jobs, thumbnails symlinked to the real ones). Then Debian's Chromium
// opens the timeline at laptop (1280x800) and phone (375x740) size and measures: time to the
// first tile and the first picture, time until the day-bucket list is in, frame intervals
// (rAF) while scrolling 60 px a frame, 10 random jumps, a drag down the date scrubber and
// "flings" of 2000 px a frame; for each, main-thread time by kind, long tasks, thumbnail requests
// left pending and how long until the pictures in view show. Also DOM size, JS heap and the
// server's RSS. The summary goes to stdout and to e2e/screenshots/timeline-bench.json, with a
// screenshot of each size.
// Headless Chromium with --disable-gpu rasterises in software on the CPU: frame intervals are
// pessimistic, compare runs with each other rather than with a real laptop.
//   ALCOVES_BIN=/var/cache/alcoves-target/debug/alcoves npm run bench:timeline   (after `npm run build`)
//   BENCH_FILES=2000 … for a quick run; BENCH_PROFILE=1 also saves CPU profiles of the scroll runs.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const REPO = resolve(WEB, '..')
const MODELS = process.env.ALCOVES_MODELS_DIR ?? resolve(REPO, '../shared/models')
const PHOTO = join(MODELS, 'testdata', 'dog.jpg')
const SHOTS = join(WEB, 'e2e', 'screenshots')
const VIEWPORTS = { laptop: { width: 1280, height: 800 }, phone: { width: 375, height: 740 } }
const FILES = Number(process.env.BENCH_FILES ?? 50_000)
const YEARS = 6
const DAY = 86_400_000
const SCROLL_FRAMES = 600
const T = { timeout: 300_000 }

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

const sleep = ms => new Promise(r => setTimeout(r, ms))
const log = text => console.log(`bench: ${text}`)

/** A small seeded PRNG (mulberry32), so every run seeds the same library. */
function random(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** p50/p95/p99/max of frame intervals, and how many were over 50 ms. */
function frameStats(intervals) {
  const sorted = [...intervals].sort((a, b) => a - b)
  const at = p => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0
  const total = intervals.reduce((s, x) => s + x, 0)
  return {
    frames: intervals.length,
    p50: +at(50).toFixed(1),
    p95: +at(95).toFixed(1),
    p99: +at(99).toFixed(1),
    max: +(sorted.at(-1) ?? 0).toFixed(1),
    over50: intervals.filter(x => x > 50).length,
    fps: total ? +((1000 * intervals.length) / total).toFixed(1) : 0,
  }
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = key => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0)
  return { rssMb: +(kb('VmRSS') / 1024).toFixed(1), peakMb: +(kb('VmHWM') / 1024).toFixed(1) }
}

/**
 * Days with photos over the last YEARS years, unevenly: most days have none, many a handful,
 * a few (trips, parties) hundreds. Counts add up to `total`. Oldest day first.
 */
function photoDays(total, now) {
  const rand = random(42)
  const span = Math.round(YEARS * 365.25)
  const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate())
  const weights = []
  let trip = 0
  for (let d = span; d >= 1; d--) {
    if (trip > 0) {
      trip--
      weights.push({ d, w: 20 + rand() * 60 })
      continue
    }
    const r = rand()
    if (r < 0.01) {
      trip = 2 + Math.floor(rand() * 10)
      weights.push({ d, w: 30 + rand() * 80 })
    } else if (r < 0.4) {
      // Ordinary days: heavy-tailed, mostly 1-5 photos.
      weights.push({ d, w: Math.min(60, 1 / (rand() + 0.02)) })
    }
  }
  const sum = weights.reduce((s, x) => s + x.w, 0)
  const days = weights.map(({ d, w }) => ({ dayMs: today - d * DAY, count: Math.floor((w / sum) * total), frac: ((w / sum) * total) % 1 }))
  let left = total - days.reduce((s, x) => s + x.count, 0)
  for (const day of [...days].sort((a, b) => b.frac - a.frac)) {
    if (left-- <= 0) break
    day.count++
  }
  return days.filter(d => d.count > 0)
}

const seedId = i => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`

/** Copies `original` into `count` more files, in one transaction, and links their thumbnails. */
function seed(dataDir, library, original, count) {
  const started = performance.now()
  const days = photoDays(count, Date.now())
  let start = 1
  const dayRows = days.map((d) => {
    const row = `(${start}, ${d.count}, ${d.dayMs})`
    start += d.count
    return row
  })
  const chunks = []
  for (let i = 0; i < dayRows.length; i += 500) chunks.push(`INSERT INTO bench_days VALUES ${dayRows.slice(i, i + 500).join(',\n')};`)
  // A cheap integer hash of i, for aspect ratios and kinds.
  const mix = '((n.i * 2654435761) % 4294967291)'
  const sql = `.timeout 10000
.bail on
BEGIN IMMEDIATE;
CREATE TEMP TABLE bench_days (start INTEGER PRIMARY KEY, cnt INTEGER NOT NULL, day_ms INTEGER NOT NULL);
${chunks.join('\n')}
CREATE TEMP TABLE bench_seed AS
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
SELECT n.i AS i,
       printf('00000000-0000-4000-8000-%012d', n.i) AS id,
       -- spread over 07:00-21:00 of the day, with a few seconds of jitter
       d.day_ms + 25200000 + ((n.i - d.start) * 50400000) / d.cnt + (n.i * 7919) % 60000 AS ts,
       ${mix} % 100 AS shape,
       (${mix} / 1000) % 1000 AS r
FROM n JOIN bench_days d ON d.start = (SELECT max(start) FROM bench_days WHERE start <= n.i);
INSERT INTO files (id, library_id, folder_id, name, blob_key, sha256, size, mime, kind, uploaded_by,
                   source_file_id, created_at, updated_at, trashed_at, source_path, source_mtime,
                   captured_at, captured_at_source, width, height, duration_ms, media_info)
SELECT s.id, o.library_id, NULL,
       CASE WHEN s.r < 30 THEN printf('VID_%06d.mp4', s.i) ELSE printf('IMG_%06d.jpg', s.i) END,
       o.blob_key, printf('%064x', s.i), o.size,
       CASE WHEN s.r < 30 THEN 'video/mp4' ELSE o.mime END,
       CASE WHEN s.r < 30 THEN 'video' ELSE o.kind END,
       o.uploaded_by, NULL, s.ts, s.ts, NULL, NULL, NULL, s.ts, 'exif',
       CASE WHEN s.shape < 55 THEN 4032 WHEN s.shape < 75 THEN 3024 WHEN s.shape < 85 THEN 1920
            WHEN s.shape < 90 THEN 1080 WHEN s.shape < 95 THEN 3000 ELSE 8000 END,
       CASE WHEN s.shape < 55 THEN 3024 WHEN s.shape < 75 THEN 4032 WHEN s.shape < 85 THEN 1080
            WHEN s.shape < 90 THEN 1920 WHEN s.shape < 95 THEN 3000 ELSE 2000 END,
       CASE WHEN s.r < 30 THEN 3000 + s.r * 4000 END,
       o.media_info
FROM bench_seed s, files o WHERE o.id = '${original}';
INSERT INTO file_jobs (file_id, kind, status, progress, eta_ms, error, version, done_version, attempts,
                       run_after, lease_token, lease_until, created_at, updated_at)
SELECT s.id, j.kind, j.status, j.progress, j.eta_ms, j.error, j.version, j.done_version, j.attempts,
       j.run_after, NULL, NULL, j.created_at, j.updated_at
FROM bench_seed s, file_jobs j WHERE j.file_id = '${original}';
COMMIT;
SELECT count(*) FROM files WHERE library_id = '${library}';
`
  const out = execFileSync('sqlite3', [join(dataDir, 'alcoves.db')], { input: sql, encoding: 'utf8', maxBuffer: 1 << 26 })
  const sqlMs = performance.now() - started
  // Derived files: storage/cache/{library}/{file}/{variant}, each a link to the real one.
  const cache = join(dataDir, 'storage', 'cache', library)
  const variants = readdirSync(join(cache, original))
  for (let i = 1; i <= count; i++) {
    const dir = join(cache, seedId(i))
    mkdirSync(dir)
    for (const v of variants) symlinkSync(join('..', original, v), join(dir, v))
  }
  return { rows: Number(out.trim()), days: days.length, sqlMs: Math.round(sqlMs), totalMs: Math.round(performance.now() - started), variants }
}

// Runs in every page before its scripts: when the first tile and picture show, the timeline's
// height changes (the bucket list arriving) and long tasks, all in performance.now() time.
function pageProbe() {
  performance.setResourceTimingBufferSize(1_000_000)
  const b = (window.__bench = { firstTile: null, firstPicture: null, heights: 0, lastHeightAt: null, height: null, longTasks: [] })
  try {
    new PerformanceObserver(list => b.longTasks.push(...list.getEntries().map(e => [e.startTime, e.duration]))).observe({ type: 'longtask', buffered: true })
  } catch {}
  const tick = () => {
    if (b.firstTile === null && document.querySelector('[data-testid=thumb]')) b.firstTile = performance.now()
    if (b.firstPicture === null && document.querySelector('[data-testid=thumb][data-ready=true]')) b.firstPicture = performance.now()
    const h = document.querySelector('[data-testid=timeline]')?.firstElementChild?.style.height
    if (h && h !== b.height) {
      b.height = h
      b.heights++
      b.lastHeightAt = performance.now()
    }
    requestAnimationFrame(tick)
  }
  requestAnimationFrame(tick)
  // Tiles that intersect the timeline's viewport, and how many of them show their picture.
  window.__tilesInView = () => {
    const el = document.querySelector('[data-testid=timeline]')
    const box = el.getBoundingClientRect()
    let tiles = 0
    let ready = 0
    for (const t of el.querySelectorAll('[data-testid=thumb]')) {
      const r = t.getBoundingClientRect()
      if (r.bottom > box.top && r.top < box.bottom) {
        tiles++
        if (t.dataset.ready === 'true') ready++
      }
    }
    return { tiles, ready }
  }
}

/** In the page: scrolls the timeline by `step` px each frame for `frames` frames (bouncing off the ends), and returns the frame intervals. */
function scrollRun({ step, frames, from }) {
  const el = document.querySelector('[data-testid=timeline]')
  const max = el.scrollHeight - el.clientHeight
  // The position is kept here: reading scrollTop back could force a layout.
  let top = Math.round(from * max)
  el.scrollTop = top
  return new Promise((done) => {
    const intervals = []
    let last = null
    let dir = 1
    const tick = (ts) => {
      if (last !== null) intervals.push(ts - last)
      last = ts
      if (intervals.length >= frames) return done({ intervals })
      if (top + dir * step > max || top + dir * step < 0) dir = -dir
      top += dir * step
      el.scrollTop = top
      requestAnimationFrame(tick)
    }
    // Two frames to settle the first jump.
    requestAnimationFrame(() => requestAnimationFrame(tick))
  })
}

const bin = process.env.ALCOVES_BIN
if (!bin) throw new Error('set ALCOVES_BIN to the alcoves binary')
if (!(FILES >= 1)) throw new Error('BENCH_FILES must be at least 1')
mkdirSync(SHOTS, { recursive: true })
const work = mkdtempSync(join(tmpdir(), 'alcoves-bench-'))
cpSync(join(WEB, '.output'), join(work, 'web'), { recursive: true })
const dataDir = join(work, 'data')
const [apiPort, webPort] = [await freePort(), await freePort()]
const BASE = `http://127.0.0.1:${apiPort}`
const server = spawn(bin, ['serve'], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    ALCOVES_DATA_DIR: dataDir,
    ALCOVES_LISTEN: `127.0.0.1:${apiPort}`,
    ALCOVES_PUBLIC_URL: BASE,
    ALCOVES_WEB: 'start',
    ALCOVES_WEB_DIR: join(work, 'web'),
    ALCOVES_WEB_LISTEN: `127.0.0.1:${webPort}`,
    ALCOVES_MODELS_DIR: MODELS,
    ALCOVES_JOB_POLL_MS: '200',
    ALCOVES_LOG: process.env.ALCOVES_LOG ?? 'warn',
  },
})
const exited = new Promise(done => server.on('exit', (code, signal) => done({ code, signal })))

let cookie = ''
async function api(method, path, body, headers = {}) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { ...(cookie && { cookie }), ...(body && !Buffer.isBuffer(body) && { 'content-type': 'application/json' }), ...headers },
    body: body && !Buffer.isBuffer(body) ? JSON.stringify(body) : body,
  })
  const set = res.headers.getSetCookie().find(c => c.startsWith('alcoves-session='))
  if (set) cookie = set.split(';')[0]
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.status === 204 ? null : res.json()
}

let context
const report = { files: FILES, date: new Date().toISOString(), viewports: {} }
try {
  await waitFor(`${BASE}/api/health`, 60_000)
  await waitFor(`${BASE}/login`, 60_000)

  log('owner, library and one real photo')
  await api('POST', '/api/_auth/register', { username: 'owner', password: 'correct horse battery', displayName: 'Olive Owner' })
  const library = (await api('POST', '/api/libraries', { name: 'Bench', emoji: '📸' })).id
  const photo = await api('POST', `/api/libraries/${library}/files`, readFileSync(PHOTO), { 'x-upload-name': 'dog.jpg' })
  const deadline = Date.now() + T.timeout
  for (;;) {
    const file = await api('GET', `/api/libraries/${library}/files/${photo.id}`)
    const jobs = Object.values(file.jobs)
    if (file.jobs.thumbnails?.status === 'done' && jobs.every(j => !['queued', 'processing'].includes(j.status))) break
    if (file.jobs.thumbnails?.status === 'failed') throw new Error(`thumbnails failed: ${file.jobs.thumbnails.error}`)
    if (Date.now() > deadline) throw new Error(`the photo's jobs did not settle: ${JSON.stringify(file.jobs)}`)
    await sleep(250)
  }

  log(`seeding ${FILES - 1} more files`)
  const seeded = FILES > 1 ? seed(dataDir, library, photo.id, FILES - 1) : { rows: 1, days: 0, sqlMs: 0, totalMs: 0, variants: [] }
  if (seeded.rows !== FILES) throw new Error(`the library has ${seeded.rows} files, not ${FILES}`)
  report.seed = { ...seeded, serverAfterSeed: rss(server.pid) }
  log(`seeded ${seeded.rows} files over ${seeded.days} days in ${seeded.totalMs} ms (SQL ${seeded.sqlMs} ms, thumbnails ${seeded.variants.join(' ')})`)

  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-precise-memory-info'],
    viewport: VIEWPORTS.laptop,
  })
  await context.addCookies([{ name: 'alcoves-session', value: cookie.slice('alcoves-session='.length), url: BASE }])
  await context.addInitScript(pageProbe)
  const page = context.pages()[0] ?? await context.newPage()
  const cdp = await context.newCDPSession(page)
  const errors = []
  page.on('pageerror', e => errors.push(e.message))
  // Thumbnail requests: issued, and settled (loaded, or cancelled / failed).
  const thumbs = { issued: 0, finished: 0, failed: 0 }
  const isThumb = req => req.url().includes('/thumbnails/')
  page.on('request', q => isThumb(q) && thumbs.issued++)
  page.on('requestfinished', q => isThumb(q) && thumbs.finished++)
  page.on('requestfailed', q => isThumb(q) && thumbs.failed++)
  const timelineUrl = `${BASE}/libraries/${library}`
  // The timeline's list: its day buckets (one answer, with no next cursor).
  const listPath = `/api/libraries/${library}/timeline/buckets`

  const longTaskStats = tasks => ({
    n: tasks.length,
    maxMs: Math.round(Math.max(0, ...tasks.map(([, d]) => d))),
    totalMs: Math.round(tasks.reduce((sum, [, d]) => sum + d, 0)),
  })

  /**
   * Runs `fn` (in the loaded timeline) and adds what the main thread did meanwhile, by
   * Chromium's own counters (script, style, layout, all tasks), its long tasks and the
   * thumbnail requests made, with how many were still pending at the end.
   */
  async function measured(fn, profileAs) {
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map(m => [m.name, m.value]))
    await cdp.send('Performance.enable')
    if (profileAs) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.setSamplingInterval', { interval: 500 })
      await cdp.send('Profiler.start')
    }
    const [m0, t0, from] = [await metrics(), { ...thumbs }, await page.evaluate(() => performance.now())]
    const result = await fn()
    const [m1, to] = [await metrics(), await page.evaluate(() => performance.now())]
    if (profileAs) {
      const { profile } = await cdp.send('Profiler.stop')
      writeFileSync(join(SHOTS, `timeline-bench-${profileAs}.cpuprofile`), JSON.stringify(profile))
      result.profileTop = topFunctions(profile)
    }
    const ms = k => Math.round((m1[k] - m0[k]) * 1000)
    const tasks = (await page.evaluate(() => window.__bench.longTasks)).filter(([s]) => s >= from && s <= to)
    return {
      ...result,
      main: { scriptMs: ms('ScriptDuration'), styleMs: ms('RecalcStyleDuration'), layoutMs: ms('LayoutDuration'), taskMs: ms('TaskDuration'), wallMs: Math.round(to - from) },
      longTasks: longTaskStats(tasks),
      thumbs: { issued: thumbs.issued - t0.issued, cancelled: thumbs.failed - t0.failed, pendingAtEnd: thumbs.issued - thumbs.finished - thumbs.failed },
    }
  }

  /** The functions with the most self time in a CPU profile. */
  function topFunctions(profile) {
    const byNode = new Map(profile.nodes.map(n => [n.id, n]))
    const self = new Map()
    profile.samples.forEach((id, i) => {
      const { functionName, url, lineNumber, columnNumber } = byNode.get(id).callFrame
      const key = `${functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${lineNumber + 1}:${columnNumber + 1}` : ''}`.trim()
      self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
    })
    return [...self].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([fn, ms]) => ({ fn, ms: Math.round(ms) }))
  }

  /**
   * After a run: how long until every tile in view shows its picture, then until no thumbnail
   * request is pending any more (each at most two minutes; null if not by then).
   */
  async function settle(name) {
    const started = Date.now()
    const shown = await page.waitForFunction(() => {
      const { tiles, ready } = window.__tilesInView()
      return tiles > 0 && tiles === ready
    }, null, { timeout: 120_000, polling: 100 }).then(() => Date.now() - started).catch(() => null)
    while (thumbs.issued - thumbs.finished - thumbs.failed > 0 && Date.now() - started < 120_000) await sleep(100)
    const drained = thumbs.issued - thumbs.finished - thumbs.failed > 0 ? null : Date.now() - started
    if (name) Object.assign(report.viewports[currentSize][name], { picturesAfterMs: shown, drainedAfterMs: drained })
  }
  let currentSize

  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    log(`${size}: loading the timeline`)
    const r = {}
    currentSize = size
    report.viewports[size] = r
    await page.setViewportSize(viewport)
    await cdp.send('Network.clearBrowserCache')
    await page.goto('about:blank')

    // Every page of the list, until one has no next cursor.
    const pages = { count: 0, bytes: 0 }
    let listDone
    const listed = new Promise(done => (listDone = done))
    const onResponse = async (res) => {
      if (new URL(res.url()).pathname !== listPath || res.request().method() !== 'GET') return
      try {
        const body = await res.body()
        pages.count++
        pages.bytes += body.length
        if (!JSON.parse(body.toString('utf8')).nextCursor) listDone()
      } catch {}
    }
    page.on('response', onResponse)
    await page.goto(timelineUrl, { waitUntil: 'commit' })
    await page.waitForSelector('[data-testid=timeline]', { timeout: 60_000 })
    let timer
    await Promise.race([listed, new Promise((_, fail) => (timer = setTimeout(() => fail(new Error('the list did not finish loading')), T.timeout)))])
    clearTimeout(timer)
    // The last page is in; wait for the UI to say so and the layout to stop growing for 1.5 s.
    await page.waitForFunction(() => !document.querySelector('[data-testid=loading]') && window.__bench.lastHeightAt !== null && performance.now() - window.__bench.lastHeightAt > 1500, null, { ...T, polling: 250 })
    page.off('response', onResponse)
    const probe = await page.evaluate(listPath => ({
      ...window.__bench,
      // When each page of the list had arrived, in the page's time.
      lists: performance.getEntriesByType('resource').filter(e => new URL(e.name).pathname === listPath)
        .map(e => ({ start: e.startTime, requestStart: e.requestStart, end: e.responseEnd })).sort((a, b) => a.start - b.start),
    }), listPath)
    // Time the list spent on the server and the wire, and between one page and the next's request.
    const ends = probe.lists.map(l => l.end)
    r.load = {
      firstTileMs: Math.round(probe.firstTile),
      firstPictureMs: Math.round(probe.firstPicture),
      firstPageMs: Math.round(Math.min(...ends)),
      lastPageMs: Math.round(Math.max(...ends)),
      listRequestsMs: Math.round(probe.lists.reduce((sum, l) => sum + l.end - l.start, 0)),
      listGapsMs: Math.round(probe.lists.slice(1).reduce((sum, l, i) => sum + l.start - probe.lists[i].end, 0)),
      layoutSettledMs: Math.round(probe.lastHeightAt),
      pages: pages.count,
      listMb: +(pages.bytes / 1048576).toFixed(1),
      layoutUpdates: probe.heights,
      timelineHeightPx: Number.parseFloat(probe.height),
      longTasks: longTaskStats(probe.longTasks.filter(([s]) => s <= probe.lastHeightAt)),
    }
    const heap = await page.evaluate(() => performance.memory.usedJSHeapSize)
    await cdp.send('HeapProfiler.collectGarbage')
    const heapGc = await page.evaluate(() => performance.memory.usedJSHeapSize)
    r.memory = { jsHeapMb: +(heap / 1048576).toFixed(1), jsHeapAfterGcMb: +(heapGc / 1048576).toFixed(1), server: rss(server.pid) }
    log(`${size}: ${pages.count} pages in, layout settled at ${r.load.layoutSettledMs} ms`)

    // A scroll run: `step` px a frame for SCROLL_FRAMES frames, from 30% down.
    const scroll = async (name, step) => {
      const profileAs = process.env.BENCH_PROFILE && `${name}-${size}`
      r[name] = await measured(async () => {
        const { intervals } = await page.evaluate(scrollRun, { step, frames: SCROLL_FRAMES, from: 0.3 })
        return frameStats(intervals)
      }, profileAs)
      await settle(name)
      log(`${size}: ${name} p50 ${r[name].p50} / p95 ${r[name].p95} ms, ${r[name].thumbs.issued} thumbnails asked for, pictures in ${r[name].picturesAfterMs} ms after`)
    }

    // 60 px a frame: a wheel or touch scroll.
    await scroll('scroll60', 60)

    // Random jumps: time to the frame after, then until every picture in view has loaded.
    const rand = random(7)
    r.jumps = await measured(async () => {
      const jumps = []
      for (let i = 0; i < 10; i++) {
        const jump = await page.evaluate(async (fraction) => {
          const el = document.querySelector('[data-testid=timeline]')
          const frame = () => new Promise(r => requestAnimationFrame(r))
          await frame()
          const t = performance.now()
          el.scrollTop = fraction * (el.scrollHeight - el.clientHeight)
          await frame()
          await frame()
          return { frameMs: performance.now() - t, t }
        }, rand())
        const pictures = await page.waitForFunction(() => {
          const { tiles, ready } = window.__tilesInView()
          return tiles > 0 && tiles === ready && performance.now()
        }, null, { timeout: 15_000, polling: 'raf' }).then(h => h.jsonValue()).catch(() => null)
        jumps.push({ frameMs: jump.frameMs, picturesMs: pictures === null ? null : pictures - jump.t })
      }
      const frames = frameStats(jumps.map(j => j.frameMs))
      const pictures = frameStats(jumps.map(j => j.picturesMs).filter(x => x !== null))
      return {
        frameMsMedian: frames.p50,
        frameMsMax: frames.max,
        picturesMsMedian: Math.round(pictures.p50),
        picturesMsMax: Math.round(pictures.max),
        picturesTimedOut: jumps.filter(j => j.picturesMs === null).length,
      }
    })
    await settle('jumps')
    log(`${size}: jumps`)

    // The date scrubber: a pointer drag from its top to its bottom in 50 steps.
    const rail = await page.getByTestId('date-scrubber').boundingBox()
    if (rail) {
      const x = rail.x + rail.width / 2
      await page.evaluate(() => document.querySelector('[data-testid=timeline]').scrollTop = 0)
      await settle()
      await page.mouse.move(x, rail.y + 2)
      r.scrubber = await measured(async () => {
        await page.evaluate(() => {
          const rec = (window.__frames = { intervals: [], last: null, on: true })
          const tick = (ts) => {
            if (rec.last !== null) rec.intervals.push(ts - rec.last)
            rec.last = ts
            if (rec.on) requestAnimationFrame(tick)
          }
          requestAnimationFrame(tick)
        })
        const dragStart = Date.now()
        await page.mouse.down()
        await page.mouse.move(x, rail.y + rail.height - 2, { steps: 50 })
        await page.mouse.up()
        const dragMs = Date.now() - dragStart
        const rec = await page.evaluate(() => new Promise(r => requestAnimationFrame(() => {
          window.__frames.on = false
          const el = document.querySelector('[data-testid=timeline]')
          r({ intervals: window.__frames.intervals, at: el.scrollTop / (el.scrollHeight - el.clientHeight) })
        })))
        return { ...frameStats(rec.intervals), dragMs, endedAt: +rec.at.toFixed(2) }
      })
      await page.mouse.move(0, 0)
      await settle('scrubber')
      log(`${size}: scrubber p50 ${r.scrubber.p50} / p95 ${r.scrubber.p95} ms, pictures in ${r.scrubber.picturesAfterMs} ms after`)
    } else {
      r.scrubber = null
    }

    // DOM size in the middle of the timeline, and a screenshot there once its pictures are in.
    await page.evaluate(() => {
      const el = document.querySelector('[data-testid=timeline]')
      el.scrollTop = 0.5 * (el.scrollHeight - el.clientHeight)
    })
    await page.waitForFunction(() => {
      const { tiles, ready } = window.__tilesInView()
      return tiles > 0 && tiles === ready
    }, null, { timeout: 60_000 }).catch(() => {})
    await sleep(300)
    r.dom = await page.evaluate(() => {
      const el = document.querySelector('[data-testid=timeline]')
      return { inTimeline: el.querySelectorAll('*').length, tiles: el.querySelectorAll('[data-testid=thumb]').length, inDocument: document.querySelectorAll('*').length }
    })
    await page.screenshot({ path: join(SHOTS, `timeline-bench-${size}.png`) })

    // 2000 px a frame: flings, last, as they leave the most requests behind.
    await scroll('fling2000', 2000)
  }
  report.server = rss(server.pid)
  report.pageErrors = errors

  // The summary: one row per measure, one column per viewport.
  const v = report.viewports
  const sizes = Object.keys(v)
  const main = m => `${m.scriptMs} / ${m.styleMs} / ${m.layoutMs} / ${m.taskMs} of ${m.wallMs}`
  const rows = [
    ['first tile (ms)', r => r.load.firstTileMs],
    ['first picture (ms)', r => r.load.firstPictureMs],
    ['first / last bucket list (ms)', r => `${r.load.firstPageMs} / ${r.load.lastPageMs}`],
    ['layout settled (ms)', r => r.load.layoutSettledMs],
    ['list: in requests / between them (ms)', r => `${r.load.listRequestsMs} / ${r.load.listGapsMs}`],
    ['pages / list MB', r => `${r.load.pages} / ${r.load.listMb}`],
    ['timeline height (px)', r => Math.round(r.load.timelineHeightPx)],
    ['load long tasks n / max / sum (ms)', r => `${r.load.longTasks.n} / ${r.load.longTasks.maxMs} / ${r.load.longTasks.totalMs}`],
    ...['scroll60', 'jumps', 'scrubber', 'fling2000'].flatMap(run => run === 'jumps' ? [
      ['jumps: next frame med / max (ms)', r => `${r.jumps.frameMsMedian} / ${r.jumps.frameMsMax}`],
      ['jumps: pictures in med / max (ms)', r => `${r.jumps.picturesMsMedian} / ${r.jumps.picturesMsMax}${r.jumps.picturesTimedOut ? ` (${r.jumps.picturesTimedOut} timed out)` : ''}`],
    ] : [
      [`${run}: frame p50 / p95 / p99 (ms)`, r => r[run] ? `${r[run].p50} / ${r[run].p95} / ${r[run].p99}` : '-'],
      [`${run}: max (ms) / frames > 50 ms`, r => r[run] ? `${r[run].max} / ${r[run].over50} of ${r[run].frames}` : '-'],
      [`${run}: fps / long tasks n (max ms)`, r => r[run] ? `${r[run].fps} / ${r[run].longTasks.n} (${r[run].longTasks.maxMs})` : '-'],
      [`${run}: script/style/layout/all ms`, r => r[run] ? main(r[run].main) : '-'],
      [`${run}: thumbs asked / cancelled / pending`, r => r[run] ? `${r[run].thumbs.issued} / ${r[run].thumbs.cancelled} / ${r[run].thumbs.pendingAtEnd}` : '-'],
      [`${run}: after: pictures in / queue empty (ms)`, r => r[run] ? `${r[run].picturesAfterMs ?? '>120000'} / ${r[run].drainedAfterMs ?? '>120000'}` : '-'],
      ...(run === 'scrubber' ? [['scrubber: the 50 moves took (ms)', r => r.scrubber?.dragMs ?? '-']] : []),
    ]),
    ['DOM: timeline / tiles / document', r => `${r.dom.inTimeline} / ${r.dom.tiles} / ${r.dom.inDocument}`],
    ['JS heap / after GC (MB)', r => `${r.memory.jsHeapMb} / ${r.memory.jsHeapAfterGcMb}`],
    ['server RSS after load (MB)', r => r.memory.server.rssMb],
  ]
  const table = [['', ...sizes], ...rows.map(([label, f]) => [label, ...sizes.map(s => String(f(v[s])))])]
  const widths = table[0].map((_, c) => Math.max(...table.map(row => row[c].length)))
  console.log(`\ntimeline benchmark: ${FILES} files over ${report.seed.days} days, seeded in ${report.seed.totalMs} ms (SQL ${report.seed.sqlMs} ms, thumbnail links ${report.seed.totalMs - report.seed.sqlMs} ms)`)
  for (const [i, row] of table.entries()) {
    console.log(row.map((cell, c) => (c ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  '))
    if (!i) console.log(widths.map(w => '-'.repeat(w)).join('  '))
  }
  console.log(`server RSS at the end ${report.server.rssMb} MB (peak ${report.server.peakMb} MB)`)
  for (const [size, r] of Object.entries(v)) {
    for (const run of ['scroll60', 'fling2000']) {
      if (r[run].profileTop) console.log(`${run} ${size}, most self time: ${r[run].profileTop.slice(0, 8).map(f => `${f.fn} ${f.ms} ms`).join('; ')}`)
    }
  }
  if (errors.length) console.log(`page errors: ${errors.join('; ')}`)
  writeFileSync(join(SHOTS, 'timeline-bench.json'), `${JSON.stringify(report, null, 2)}\n`)
  console.log(`bench: ok (JSON and screenshots in ${SHOTS})`)
} finally {
  await context?.close()
  server.kill('SIGTERM')
  const { code, signal } = await exited
  rmSync(work, { recursive: true, force: true })
  if (code !== 0) {
    console.error(`bench: the server exited with ${code ?? signal}`)
    process.exitCode = 1
  }
}
