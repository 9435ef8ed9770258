// The upload queue: two files at a time, each with its progress. Small files go up as one
// request body; files over TUS_THRESHOLD go by tus in chunks, so a dropped connection
// only loses the current chunk.
export type FileView = ApiItem<ApiOk<'/api/libraries/{library}/files'>>
export type UploadStatus = 'queued' | 'uploading' | 'done' | 'error'
export interface Upload {
  key: number
  libraryId: string
  file: File
  loaded: number
  status: UploadStatus
  error?: string
  result?: FileView
}

const TUS_THRESHOLD = 50 * 1024 * 1024
const TUS_CHUNK = 16 * 1024 * 1024
const PARALLEL = 2

const uploads = ref<Upload[]>([])
const listeners = new Set<(file: FileView) => void>()
let nextKey = 0

/** Sends `body` with XHR (for upload progress); resolves with the finished request. */
export function send(method: string, url: string, headers: Record<string, string>, body: Blob | null, onProgress: (loaded: number) => void): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, url)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = e => onProgress(e.loaded)
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr)
      let message = `${xhr.status} ${xhr.statusText}`
      try {
        message = JSON.parse(xhr.responseText).message ?? message
      }
      catch { /* not JSON */ }
      reject(new Error(message))
    }
    xhr.onerror = () => reject(new Error('network error'))
    xhr.send(body)
  })
}

async function uploadWhole(u: Upload): Promise<FileView> {
  const url = apiUrl('/api/libraries/{library}/files', { library: u.libraryId })
  const headers = { 'X-Upload-Name': encodeURIComponent(u.file.name), 'Content-Type': u.file.type || 'application/octet-stream' }
  const xhr = await send('POST', url, headers, u.file, loaded => (u.loaded = loaded))
  return JSON.parse(xhr.responseText)
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
}

async function uploadTus(u: Upload, api: ReturnType<typeof useApi>): Promise<FileView> {
  const tus = { 'Tus-Resumable': '1.0.0' }
  const created = await send('POST', apiUrl('/api/libraries/{library}/tus', { library: u.libraryId }), {
    ...tus,
    'Upload-Length': String(u.file.size),
    'Upload-Metadata': `filename ${base64(u.file.name)}`,
  }, null, () => {})
  const location = created.getResponseHeader('Location')!
  let offset = 0
  let last: XMLHttpRequest | undefined
  while (offset < u.file.size) {
    const chunk = u.file.slice(offset, offset + TUS_CHUNK)
    const start = offset
    last = await send('PATCH', location, { ...tus, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' }, chunk, loaded => (u.loaded = start + loaded))
    offset = Number(last.getResponseHeader('Upload-Offset'))
  }
  const file = last!.getResponseHeader('Alcoves-File-Id')!
  return api('/api/libraries/{library}/files/{file}', { params: { library: u.libraryId, file } })
}

/** How far `u` has got, in percent. */
export function uploadPercent(u: Pick<Upload, 'file' | 'loaded'>): number {
  return u.file.size ? Math.round((u.loaded / u.file.size) * 100) : 100
}

export function useUploads() {
  const api = useApi()

  async function pump() {
    while (uploads.value.filter(u => u.status === 'uploading').length < PARALLEL) {
      const next = uploads.value.find(u => u.status === 'queued')
      if (!next) return
      next.status = 'uploading'
      const run = next.file.size > TUS_THRESHOLD ? uploadTus(next, api) : uploadWhole(next)
      run.then((file) => {
        next.result = file
        next.loaded = next.file.size
        next.status = 'done'
        listeners.forEach(l => l(file))
      }).catch((e: Error) => {
        next.status = 'error'
        next.error = e.message
      }).finally(pump)
    }
  }

  /** Queues `files` for upload into `libraryId`; answers their uploads, to follow. */
  function add(libraryId: string, files: Iterable<File>): Upload[] {
    const start = uploads.value.length
    for (const file of files) {
      uploads.value.push({ key: nextKey++, libraryId, file, loaded: 0, status: 'queued' })
    }
    pump()
    return uploads.value.slice(start)
  }

  function retry(u: Upload) {
    u.status = 'queued'
    u.loaded = 0
    u.error = undefined
    pump()
  }

  /** Forgets finished uploads. */
  function clearFinished() {
    uploads.value = uploads.value.filter(u => u.status === 'queued' || u.status === 'uploading')
  }

  /** Calls `handler` with each stored file while the calling component is mounted. */
  function onUploaded(handler: (file: FileView) => void) {
    onMounted(() => listeners.add(handler))
    onBeforeUnmount(() => listeners.delete(handler))
  }

  return { uploads, add, retry, clearFinished, onUploaded }
}
