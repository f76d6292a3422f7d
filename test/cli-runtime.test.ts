/**
 * The CLI runtime's terminal behaviour that spawned processes cannot show (their stdin is never a
 * terminal): the confirmation prompt and progress lines, with streams that claim to be a TTY.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Runtime, type Io } from '../src/cli/runtime.js';

function fakeIo(tty: boolean): { io: Io; stdin: PassThrough; err: () => string } {
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const stdout = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdin, stdout, stderr, env: {} }, stdin, err: () => err };
}

const opts = { dir: 'config', schemaDir: 'schemas' };

describe('CLI runtime: confirmation', () => {
  it('asks on a terminal and goes on after "y"', async () => {
    const { io, stdin, err } = fakeIo(true);
    const rt = new Runtime(opts, io);
    const answered = rt.confirm('delete profile "dev"', 'A backup is taken first');
    stdin.write('y\n');
    await expect(answered).resolves.toBeUndefined();
    expect(err()).toContain('Delete profile "dev"? A backup is taken first. [y/N]');
  });

  it('cancels on anything but yes (the default is no)', async () => {
    for (const answer of ['n\n', '\n', 'maybe\n']) {
      const { io, stdin } = fakeIo(true);
      const answered = new Runtime(opts, io).confirm('restore backup x');
      stdin.write(answer);
      await expect(answered).rejects.toMatchObject({ code: 'E_ABORTED', exitCode: 1 });
    }
  });

  it('never prompts without a terminal: refuses unless --yes', async () => {
    const { io, err } = fakeIo(false);
    await expect(new Runtime(opts, io).confirm('restore backup x')).rejects.toMatchObject({ code: 'E_CONFIRM', exitCode: 1 });
    expect(err()).toBe('');
    await expect(new Runtime({ ...opts, yes: true }, io).confirm('restore backup x')).resolves.toBeUndefined();
  });
});

describe('CLI runtime: progress', () => {
  it('draws a progress line on a terminal and clears it', () => {
    const { io, err } = fakeIo(true);
    const progress = new Runtime(opts, io).progress('verifying');
    progress.update(1, 3);
    progress.update(3, 3);
    progress.done();
    expect(err()).toContain('verifying 1/3');
    expect(err()).toContain('verifying 3/3');
    expect(err().endsWith('\r\u001b[K')).toBe(true);
  });

  it('prints nothing when stderr is not a terminal', async () => {
    const { io, err } = fakeIo(false);
    const rt = new Runtime(opts, io);
    const progress = rt.progress('verifying');
    progress.update(1, 3);
    progress.done();
    await rt.busy('working', new Promise((r) => setTimeout(r, 250)));
    expect(err()).toBe('');
  });

  it('shows a spinner with the elapsed time for work without progress of its own', async () => {
    const { io, err } = fakeIo(true);
    await new Runtime(opts, io).busy('exporting', new Promise((r) => setTimeout(r, 250)));
    expect(err()).toMatch(/exporting \d\.\d s/);
  });
});
