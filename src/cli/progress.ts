/**
 * A progress bar on stderr for long work, drawn only on a terminal (and not under CI or NO_COLOR=… dumb
 * terminals), so logs and pipes stay clean.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ((done: number, total: number) => void) & { end(): void } {
  const enabled = !!stream.isTTY && !process.env.CI && process.env.TERM !== 'dumb';
  let last = -1;
  let drawn = false;
  const draw = (done: number, total: number) => {
    if (!enabled || total <= 1) return;
    const pct = Math.floor((done / total) * 100);
    if (pct === last && done !== total) return;
    last = pct;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
    const fill = Math.round((done / total) * width);
    stream.write(`\r${label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${done}/${total} ${pct}%`);
    drawn = true;
  };
  return Object.assign(draw, {
    end() {
      if (drawn) stream.write('\n');
    },
  });
}
