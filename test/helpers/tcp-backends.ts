// Plain TCP stand-ins for Server tasks where a test is about HAProxy, not RTMP: each greets a
// connection with its own address, so the client learns which Server it reached. The clients open
// with what an RTMP client sends first (C0 + C1), so the Proxy's handshake gate lets them through.
import net from 'node:net';

/** RTMP's C0 (the version byte, 3) and C1 (1,536 bytes): what a streamer sends as it connects. */
export const RTMP_C0_C1 = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]);

/** Connects and sends C0 + C1 at once, as an RTMP client does. */
export function connectAsStreamer(host: string, port: number): net.Socket {
  const socket = net.connect({ host, port });
  socket.on('connect', () => socket.write(RTMP_C0_C1));
  return socket;
}

export interface TcpBackend {
  address: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now: two at once on one Server is a double-booking. */
  readonly open: number;
  /** The most connections it ever had open at once. */
  readonly peakOpen: number;
  close(): Promise<void>;
}

/**
 * A stand-in Server on address:port. It greets with its address; with `hold`, it then keeps the
 * connection open and echoes what it receives, like a live stream that lasts until the client ends it.
 */
export async function startTcpBackend(address: string, port: number, opts: { hold?: boolean } = {}): Promise<TcpBackend> {
  let accepted = 0;
  let peakOpen = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    peakOpen = Math.max(peakOpen, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (opts.hold) {
      socket.write(`${address}\n`);
      // Echoes what follows the client's C0 + C1 (HAProxy passes them on), like a live stream.
      let toSkip: number | undefined;
      socket.on('data', (chunk: Buffer) => {
        toSkip ??= chunk[0] === 3 ? RTMP_C0_C1.length : 0;
        const skip = Math.min(toSkip, chunk.length);
        toSkip -= skip;
        if (chunk.length > skip) socket.write(chunk.subarray(skip));
      });
    } else {
      socket.end(`${address}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return {
    address,
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    get peakOpen() {
      return peakOpen;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Connects through HAProxy and returns the greeting (the Server's address), or throws. */
export function greetingVia(host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectAsStreamer(host, port);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no greeting within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\n')) socket.destroy(); // a holding Server keeps the connection open: the greeting is enough
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (data.trim() !== '') resolve(data.trim());
      else reject(new Error('connection closed without a greeting'));
    });
  });
}

/** A loop of connects while `whileRunning` is pending; bounded by `maxAttempts`. Counts failures. */
export async function connectLoop(
  host: string,
  port: number,
  whileRunning: Promise<unknown>,
  maxAttempts = 20_000,
): Promise<{ attempts: number; failures: number; errors: string[] }> {
  let done = false;
  void whileRunning.finally(() => (done = true)).catch(() => undefined);
  let attempts = 0;
  let failures = 0;
  const errors: string[] = [];
  while (!done && attempts < maxAttempts) {
    attempts++;
    try {
      await greetingVia(host, port);
    } catch (e) {
      failures++;
      if (errors.length < 10) errors.push((e as Error).message);
    }
  }
  return { attempts, failures, errors };
}

/** A long-lived connection through HAProxy: knows which Server took it and whether it still flows. */
export interface HeldStream {
  server: string;
  /** Sends a line and waits for its echo: true while the stream is alive end to end. */
  alive(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function openHeldStream(host: string, port: number, timeoutMs = 3000): Promise<HeldStream> {
  return new Promise((resolve, reject) => {
    const socket = connectAsStreamer(host, port);
    let buffer = '';
    let closed = false;
    const waiters: Array<() => void> = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no greeting within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      reject(new Error('closed before the greeting'));
      for (const w of waiters.splice(0)) w();
    });
    socket.on('data', (d) => {
      buffer += d;
      for (const w of waiters.splice(0)) w();
    });
    const greeted = () => {
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.off('data', greeted);
      const server = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let seq = 0;
      resolve({
        server,
        alive: async (ms = 2000) => {
          if (closed) return false;
          const token = `ping-${++seq}\n`;
          socket.write(token);
          const deadline = Date.now() + ms;
          while (!buffer.includes(token) && !closed && Date.now() < deadline) {
            await new Promise<void>((r) => {
              waiters.push(r);
              setTimeout(r, Math.max(1, deadline - Date.now()));
            });
          }
          const ok = buffer.includes(token);
          buffer = buffer.replace(token, '');
          return ok;
        },
        close: () =>
          new Promise<void>((r) => {
            if (closed) return r();
            socket.once('close', () => r());
            socket.end();
          }),
      });
    };
    socket.on('data', greeted);
  });
}
