// A file's processing state from its job rows (`jobs` of the file view).
type Job = FileView['jobs'][string]

const PENDING = new Set(['queued', 'processing'])

/** A job kind the server knows. */
export type JobKind = Job['kind']

/**
 * Each stage's place in the pipeline; a kind the server adds and this table lacks fails the
 * type check. `null` for jobs that are not pipeline stages (asked for on their own, like a
 * moment's clip): they are not counted in a file's processing.
 */
const PIPELINE_ORDER: Record<JobKind, number | null> = {
  hash: 0, metadata: 1, thumbnails: 2, proxy: 3, waveform: 4, faces: 5, objects: 6, audio_events: 7, transcribe: 8,
  moment_export: null,
}

/** Whether `kind` is a pipeline stage (not a job of its own, nor one this table does not know). */
function isStage(kind: JobKind): boolean {
  return PIPELINE_ORDER[kind] != null
}

/** Every processing stage, in pipeline order (each queues the next when it settles). */
export const JOB_KINDS = (Object.keys(PIPELINE_ORDER) as JobKind[])
  .filter(isStage)
  .sort((a, b) => PIPELINE_ORDER[a]! - PIPELINE_ORDER[b]!)

export interface Processing {
  pending: boolean
  /** 0-100 over the whole pipeline. */
  percent: number
  /** The job running now, if any. */
  stage?: string
  failed: string[]
}

export function processing(file: Pick<FileView, 'jobs'>): Processing {
  const jobs = (Object.entries(file.jobs ?? {}) as [string, Job][]).filter(([, j]) => isStage(j.kind))
  const pending = jobs.filter(([, j]) => PENDING.has(j.status))
  const work = jobs.reduce((sum, [, j]) => sum + (PENDING.has(j.status) ? (j.progress ?? 0) / 100 : 1), 0)
  return {
    pending: pending.length > 0,
    percent: pending.length ? Math.min(99, Math.round((work / JOB_KINDS.length) * 100)) : 100,
    stage: (pending.find(([, j]) => j.status === 'processing') ?? pending[0])?.[0],
    failed: jobs.filter(([, j]) => j.status === 'failed').map(([k]) => k),
  }
}

/** `file` with one job row replaced by a newer one (a live job change); the same file if stale. */
export function withJob<F extends Pick<FileView, 'jobs'>>(file: F, job: Job): F {
  const old = file.jobs?.[job.kind]
  if (old && old.updatedAt > job.updatedAt) return file
  return { ...file, jobs: { ...file.jobs, [job.kind]: job } }
}

/** Whether a job has settled (its result, if any, is now in the file). */
export function jobSettled(job: Job): boolean {
  return !PENDING.has(job.status)
}

/** Whether `kind`'s job of the file has finished (done or skipped), and which run made it. */
export function jobDone(file: Pick<FileView, 'jobs'>, kind: string): number | null {
  const job = file.jobs?.[kind]
  return job && job.status === 'done' ? (job.doneVersion ?? job.version) : null
}
