// The offline basemap: Natural Earth's 1:110m country outlines (world-atlas, bundled with the
// UI) drawn in Web Mercator, the projection of street-map tiles, so a configured tile server's
// tiles fit under them. Map units: the world is a 360 × 360 box, x the longitude + 180, y down
// from 85.05° N (Mercator's edge) to 85.05° S. No tile server is asked for anything unless the
// owner configured one.

import { feature } from 'topojson-client'
import type { GeometryObject, Topology } from 'topojson-specification'
import countries from 'world-atlas/countries-110m.json'

/** A point in map units (y down). */
export interface MapPoint { x: number, y: number }

/** The latitude where Web Mercator's square world ends. */
export const MAX_LATITUDE = 85.0511

const RAD = Math.PI / 180

export function project(longitude: number, latitude: number): MapPoint {
  const lat = Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, latitude)) * RAD
  return { x: longitude + 180, y: 180 - Math.log(Math.tan(Math.PI / 4 + lat / 2)) / RAD }
}

export function unproject(p: MapPoint): { longitude: number, latitude: number } {
  return { longitude: p.x - 180, latitude: Math.atan(Math.sinh((180 - p.y) * RAD)) / RAD }
}

/** One tile of a tile server's grid, placed in map units. */
export interface MapTile { url: string, x: number, y: number, size: number }

/**
 * The tiles of `template` (`…/{z}/{x}/{y}.png`) at zoom `z` that cover the box (map units),
 * wrapping round in longitude.
 */
export function tilesFor(template: string, z: number, box: { x: number, y: number, w: number, h: number }): MapTile[] {
  const n = 2 ** z
  const size = 360 / n
  const tiles: MapTile[] = []
  const rows = [Math.max(0, Math.floor(box.y / size)), Math.min(n - 1, Math.floor((box.y + box.h) / size))]
  for (let tx = Math.floor(box.x / size); tx <= Math.floor((box.x + box.w) / size); tx++) {
    for (let ty = rows[0]!; ty <= rows[1]!; ty++) {
      const url = template
        .replace('{z}', String(z))
        .replace('{x}', String(((tx % n) + n) % n))
        .replace('{y}', String(ty))
      tiles.push({ url, x: tx * size, y: ty * size, size })
    }
  }
  return tiles
}

/** A ring as an SVG path in map units, shifted by `dx`. */
function ringPath(ring: number[][], dx = 0): string {
  return ring.map(([lon, lat], i) => {
    const { x, y } = project(lon!, lat!)
    return `${i ? 'L' : 'M'}${(x + dx).toFixed(2)},${y.toFixed(2)}`
  }).join('') + 'Z'
}

/**
 * A ring as SVG paths. One that crosses the 180th meridian (Chukotka, Fiji) is made whole
 * east of it and drawn twice, at each edge of the world, so its fill stays inside its outline.
 */
function ringPaths(ring: number[][]): string {
  const crosses = ring.some(([lon], i) => i > 0 && Math.abs(lon! - ring[i - 1]![0]!) > 180)
  // Antarctica runs along the whole edge of the world: drawn as it is, it is right.
  const polar = ring.some(([, lat]) => lat! < -80)
  if (!crosses || polar) return ringPath(ring)
  const whole = ring.map(([lon, lat]) => [lon! < 0 ? lon! + 360 : lon!, lat!])
  return ringPath(whole) + ringPath(whole, -360)
}

let outlines: string[] | undefined

/** Every country's outline as an SVG path in map units, made once. */
export function countryPaths(): string[] {
  if (outlines) return outlines
  const topology = countries as unknown as Topology
  const collection = feature(topology, topology.objects.countries as GeometryObject)
  const paths: string[] = []
  for (const country of 'features' in collection ? collection.features : [collection]) {
    const geometry = country.geometry
    if (!geometry) continue
    const polygons = geometry.type === 'Polygon'
      ? [geometry.coordinates]
      : geometry.type === 'MultiPolygon' ? geometry.coordinates : []
    paths.push(polygons.flatMap(rings => rings.map(ringPaths)).join(''))
  }
  outlines = paths
  return paths
}
