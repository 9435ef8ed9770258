// The files "Share → Alcoves" brought, waiting to be uploaded: the service worker (public/sw.js)
// keeps each in Cache Storage with its name and type until the share page has uploaded it.
const INBOX = 'alcoves-share-inbox'

export interface InboxFile {
  key: string
  file: File
}

/** The files waiting, in the order they were shared. */
export async function loadShareInbox(): Promise<InboxFile[]> {
  if (!('caches' in window) || !(await caches.has(INBOX))) return []
  const inbox = await caches.open(INBOX)
  return Promise.all((await inbox.keys()).map(async (request) => {
    const res = (await inbox.match(request))!
    const blob = await res.blob()
    const name = decodeURIComponent(res.headers.get('X-Name') || 'shared file')
    return { key: request.url, file: new File([blob], name, { type: blob.type }) }
  }))
}

/** Drops a file from the inbox (it is in a library now). */
export async function removeFromShareInbox(key: string) {
  await (await caches.open(INBOX)).delete(key)
}
