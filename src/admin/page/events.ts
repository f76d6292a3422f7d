/**
 * The live event stream, `GET /api/v1/events` (server-sent events, one `change` message per
 * committed change set). `EventSource` cannot send the `Authorization` header, so the stream is
 * read with `fetch` and a reader, and re-opened with a growing delay (1 s doubling to 30 s) when it
 * ends or fails. A refused token (401) stops it: the page then asks for the new one.
 */
import { currentToken, tokenRefused } from './api.js';

/** One committed change set: the changed dot paths of the effective configuration. */
export interface ChangeEvent {
  changes: { path: string; type: string; oldValue?: unknown; newValue?: unknown }[];
  at: string;
}

/** Whether the stream is open. */
export type StreamState = 'connecting' | 'live' | 'offline';

/** Follows the stream until the returned function is called. */
export function followEvents(onChange: (e: ChangeEvent) => void, onState: (s: StreamState) => void): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let delay = 1000;
  const run = async (): Promise<void> => {
    while (!stopped) {
      controller = new AbortController();
      onState('connecting');
      try {
        const res = await fetch('/api/v1/events', { headers: { authorization: `Bearer ${currentToken()}` }, signal: controller.signal });
        if (res.status === 401) {
          // A restarted `serve` has a new token: retrying with the old one cannot succeed.
          tokenRefused();
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        onState('live');
        delay = 1000;
        await readMessages(res.body, onChange);
      } catch {
        // A failed or ended stream is retried below; the state shows the user it is not live.
      }
      if (stopped) return;
      onState('offline');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** Reads `event: change` / `data: …` messages separated by blank lines; comments (`: ping`) are skipped. */
async function readMessages(body: ReadableStream<Uint8Array>, onChange: (e: ChangeEvent) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = message.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data !== '' && /^event: ?change$/m.test(message)) onChange(JSON.parse(data) as ChangeEvent);
    }
  }
}
