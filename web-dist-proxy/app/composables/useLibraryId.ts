/** The id of the library the current page is in (`/libraries/[id]/…`). */
export function useLibraryId() {
  const route = useRoute()
  return computed(() => route.params.id as string)
}
