// Plain TCP stand-ins for Server tasks where a test is about HAProxy, not RTMP: each greets a
// connection with its own address, so the client learns which Server it reached.
import net from 'node:net';

export interface TcpBackend {
  address: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startTcpBackend(address: string, port: number): Promise<TcpBackend> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.end(`${address}\n`);
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
    const socket = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no greeting within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => (data += d));
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
