// kube-proxy exits when the content of its --config file changes, so that its
// DaemonSet restarts it with the new file (a ConfigMap update swaps the mounted file
// through a symlink). Polling the path's stat follows that swap; a change of metadata
// alone (same content) is not a change.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';

/** Calls `onChange` once when the file's content differs from `initial` (or it goes away). */
export function watchConfigFile(path: string, initial: string, onChange: (why: string) => void, intervalMs = 1000): () => void {
  const check = () => {
    let now: string | undefined;
    try {
      now = readFileSync(path, 'utf8');
    } catch {
      now = undefined;
    }
    if (now === initial) return;
    unwatchFile(path, check);
    onChange(now === undefined ? 'the configuration file is gone' : 'the content of the configuration file changed');
  };
  watchFile(path, { interval: intervalMs, persistent: false }, check);
  return () => unwatchFile(path, check);
}
