// How an activity kind reads in the feed and the notification list.
const TEXT: Record<string, [one: string, many: string, icon: string]> = {
  'file.uploaded': ['added a file', 'added {n} files', 'i-lucide-upload'],
  'file.trashed': ['moved a file to the trash', 'moved {n} files to the trash', 'i-lucide-trash-2'],
  'file.restored': ['restored a file', 'restored {n} files', 'i-lucide-undo-2'],
  'system.processing_done': ['finished processing a file', 'finished processing {n} files', 'i-lucide-sparkles'],
  'folder.created': ['created a folder', 'created {n} folders', 'i-lucide-folder-plus'],
  'member.joined': ['joined', '{n} people joined', 'i-lucide-user-plus'],
  'member.removed': ['removed a member', 'removed {n} members', 'i-lucide-user-minus'],
  'member.left': ['left', '{n} people left', 'i-lucide-log-out'],
}

export function activityText(kind: string, count = 1): string {
  const [one, many] = TEXT[kind] ?? [kind, `${kind} ×{n}`]
  return count > 1 ? many.replace('{n}', String(count)) : one
}

export function activityIcon(kind: string): string {
  return TEXT[kind]?.[2] ?? 'i-lucide-activity'
}
