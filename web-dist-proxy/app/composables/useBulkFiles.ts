// Trashes, restores or purges many files of a library at once: one request per 10,000 ids
// (the most the server takes). Answers which ids changed and which the server skipped (not in
// the state the change needs, or gone).
export type BulkAction = 'trash' | 'restore' | 'purge'

const BATCH = 10_000
const PATHS = {
  trash: '/api/libraries/{library}/files/trash',
  restore: '/api/libraries/{library}/files/restore',
  purge: '/api/libraries/{library}/files/purge',
} as const

export function useBulkFiles() {
  const api = useApi()
  return async function bulk(library: string, action: BulkAction, ids: string[]) {
    const changed: string[] = []
    const skipped: string[] = []
    for (let i = 0; i < ids.length; i += BATCH) {
      const fileIds = ids.slice(i, i + BATCH)
      const answer = await api(PATHS[action], { method: 'post', params: { library }, body: { fileIds } })
      const skip = new Set(answer.skipped)
      for (const id of fileIds) (skip.has(id) ? skipped : changed).push(id)
    }
    return { changed, skipped }
  }
}
