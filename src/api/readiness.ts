/**
 * Liveness and readiness of one process. Live means the event loop runs. Ready means every part
 * this process runs can do its work now: each role registers a check (the database replies, the DICOM
 * listener listens, the job queue runs, the model is loaded). A stopping process is not ready, so a
 * load balancer or orchestrator stops sending it work before it exits.
 */

/** Throws, or resolves false, when the part cannot work now. */
export type ReadinessCheck = () => Promise<boolean | void> | boolean | void;

/** A check that takes longer than this counts as failed, so one slow dependency cannot hang the probe. */
const CHECK_TIMEOUT_MS = 2000;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, 'ok' | string>;
}

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private stopping = false;

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** From now on the process reports itself as not ready. */
  markStopping(): void {
    this.stopping = true;
  }

  async report(): Promise<ReadinessReport> {
    const checks: Record<string, string> = {};
    if (this.stopping) checks.process = 'stopping';
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        checks[name] = await runCheck(check);
      }),
    );
    return { ready: Object.values(checks).every((value) => value === 'ok'), checks };
  }
}

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  const outcome = (async () => {
    try {
      return (await check()) === false ? 'not ready' : 'ok';
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  })();
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
