/**
 * The little protocol between the bench and a server child: the child prints one JSON line
 * `{"port":N}` when it listens, a `{"memory":{…}}` line on SIGUSR2 (process.memoryUsage(), to split
 * RSS into JS heap and native), and exits 0 on SIGTERM after `close` (so `--cpu-prof` is written).
 */
export function announce(port: number, close: () => Promise<void>): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.on('SIGUSR2', () => {
    process.stdout.write(`${JSON.stringify({ memory: process.memoryUsage() })}\n`);
  });
  process.once('SIGTERM', () => {
    const timer = setTimeout(() => process.exit(0), 3000);
    close().finally(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  });
}

/** `dir` argument of a child entry. */
export function dirArgument(): string {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node <entry> <fixtures dir>\n');
    process.exit(2);
  }
  return dir;
}
