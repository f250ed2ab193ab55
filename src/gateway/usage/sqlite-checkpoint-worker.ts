// The SQLite usage database's WAL checkpoints, on a worker thread with its own connection. A
// checkpoint copies the WAL back into the database and syncs both files: 15-35 ms for SQLite's
// default 1000 pages (measured), which SQLite's automatic checkpoint would spend inside a
// router's COMMIT, on the event loop, once every few thousand requests. Here it runs beside it:
// PASSIVE never waits for the writer or readers. Messages out: { checkpointed, log } after each
// run, { error } when one fails. Message in: 'close' (the thread then ends by itself).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

interface CheckpointWorkerData {
  file: string;
  intervalMs: number;
}

const port = parentPort;
if (port) {
  const { file, intervalMs } = workerData as CheckpointWorkerData;
  const db = new Database(file, { fileMustExist: true, timeout: 5000 });
  const run = (): void => {
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      port.postMessage({ checkpointed: r?.checkpointed ?? 0, log: r?.log ?? 0 });
    } catch (err) {
      port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
  };
  const timer = setInterval(run, intervalMs);
  port.on('message', (m) => {
    if (m !== 'close') return;
    clearInterval(timer);
    db.close();
    port.close();
  });
}
