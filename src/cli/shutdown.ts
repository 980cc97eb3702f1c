/**
 * Long-running commands (`custos serve`, `custos cosigner start`): resolves once SIGINT or SIGTERM
 * arrived and the running service has closed (or failed to close), so the command can exit.
 */
export function closeOnSignal(running: { close(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      void running.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
