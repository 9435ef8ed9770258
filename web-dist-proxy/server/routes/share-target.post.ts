// "Share → Alcoves" that reached the server: no service worker was there yet to take the files
// (public/sw.js; the first visit installs it). The share page asks to share them again.
export default defineEventHandler(event => sendRedirect(event, '/share?missed=1', 303))
