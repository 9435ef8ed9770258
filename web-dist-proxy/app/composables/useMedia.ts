// Whether a CSS media query matches, kept up to date (false during server rendering).
export function useMedia(query: string) {
  const matches = ref(false)
  let list: MediaQueryList | undefined
  const update = () => (matches.value = list!.matches)
  onMounted(() => {
    list = window.matchMedia(query)
    update()
    list.addEventListener('change', update)
  })
  onBeforeUnmount(() => list?.removeEventListener('change', update))
  return matches
}
