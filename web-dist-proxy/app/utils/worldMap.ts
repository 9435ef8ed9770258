// The offline basemap: Natural Earth's 1:110m country outlines (world-atlas, bundled with the
// UI) drawn in the plate carrée projection, where x is the longitude + 180 and y is 90 − the
// latitude, in degrees: the world is a 360 × 180 box. No tile server is asked for anything.

import { feature } from 'topojson-client'
import type { GeometryObject, Topology } from 'topojson-specification'
import countries from 'world-atlas/countries-110m.json'

/** A point in map units (degrees, y down). */
export interface MapPoint { x: number, y: number }

export function project(longitude: number, latitude: number): MapPoint {
  return { x: longitude + 180, y: 90 - latitude }
}

export function unproject(p: MapPoint): { longitude: number, latitude: number } {
  return { longitude: p.x - 180, latitude: 90 - p.y }
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
