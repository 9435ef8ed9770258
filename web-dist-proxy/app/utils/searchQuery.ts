// The search box's text split as the server reads it (src/search/query.rs): words and
// "quoted phrases", and `key:value` or `key:"two words"` filters. The search page shows the
// filters as chips; removing one joins the rest back into text.

/** A filter (`key:value`), or a word or phrase (no `key`). */
export interface SearchPart {
  key?: string
  value: string
}

/** A filter with a quoted or a bare value, a phrase (an unclosed quote runs to the end), a word. */
const TOKEN = /\s*(?:([a-z]+):(?:"([^"]*)"?|(\S*))|"([^"]*)"?|(\S+))/giy

/** The parts of `text`, in order. */
export function splitSearch(text: string): SearchPart[] {
  return [...text.matchAll(TOKEN)]
    .map(([, key, quoted, bare, phrase, word]) => ({ key, value: (key ? quoted ?? bare : phrase ?? word) ?? '' }))
    .filter(p => p.key || p.value.trim())
}

/** `parts` as search text again; values with spaces (and words with a colon) are quoted. */
export function joinSearch(parts: SearchPart[]): string {
  return parts.map(({ key, value }) => {
    const text = /\s/.test(value) || (!key && value.includes(':')) ? `"${value}"` : value
    return key ? `${key}:${text}` : text
  }).join(' ')
}
