// Share links of a library (admins): what a link shows, its state, and copying it.

/** A share link as its managers see it. */
export type LibraryShare = ApiOk<'/api/libraries/{library}/shares', 'post'>

/** What a new share link shows. */
export type ShareTarget =
  | { kind: 'files', fileIds: string[] }
  | { kind: 'folder', folderId: string }
  | { kind: 'moment', momentId: string }

export const SHARE_KIND_ICONS: Record<string, string> = {
  files: 'i-lucide-images',
  folder: 'i-lucide-folder',
  moment: 'i-lucide-scissors',
}

export const SHARE_STATE_COLORS: Record<string, 'success' | 'warning' | 'neutral'> = {
  active: 'success',
  expired: 'warning',
  revoked: 'neutral',
}

/** The absolute address of a share page (the server's, else this origin's). */
export function shareLink(share: Pick<LibraryShare, 'url' | 'token'>): string | null {
  if (share.url) return share.url
  return share.token ? `${location.origin}/s/${share.token}` : null
}

/**
 * Copies `text`: the clipboard API where the page may use it (a secure context), else the
 * old way through a selected input (`input`, or a hidden one). Answers whether it worked; on
 * failure `input`'s text is left selected, so the user can copy it by hand.
 */
export async function copyToClipboard(text: string, input?: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  }
  catch {
    // Refused (no permission, no focus): fall back to the selection.
  }
  // No input to select: a hidden one for the moment.
  const own = input ? null : document.createElement('textarea')
  if (own) {
    own.value = text
    own.setAttribute('readonly', '')
    own.style.position = 'fixed'
    own.style.opacity = '0'
    document.body.appendChild(own)
  }
  const field = input ?? own!
  field.focus()
  field.select()
  try {
    return document.execCommand('copy')
  }
  catch {
    return false
  }
  finally {
    own?.remove()
  }
}
