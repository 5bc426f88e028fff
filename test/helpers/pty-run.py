"""Runs `node bin/ca.cjs ARGS...` on a pseudo-terminal, answering prompts like a person at a keyboard.

argv[1]: JSON list of [expected text, keys to send] pairs, in order; argv[2:]: the CLI arguments.
Prints one JSON line: {"exit": code, "output": what the terminal showed}. No CA_PASSPHRASE, no CI.
"""
import json
import os
import pty
import select
import sys
import time

script = json.loads(sys.argv[1])
args = sys.argv[2:]
bin_path = os.path.join(os.path.dirname(__file__), '..', '..', 'bin', 'ca.cjs')
pid, fd = pty.fork()
if pid == 0:
    env = {k: v for k, v in os.environ.items() if k not in ('CA_PASSPHRASE', 'CI', 'VITEST', 'NODE_OPTIONS')}
    os.execvpe('node', ['node', bin_path] + args, env)
out = b''
step = 0
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if step < len(script) and out.count(script[step][0].encode()) > sum(1 for s in script[:step] if s[0] == script[step][0]):
        time.sleep(0.05)
        os.write(fd, script[step][1].encode())
        step += 1
# a child still running past the deadline is killed, so this script (and the test waiting on it) always ends
for _ in range(50):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
print(json.dumps({'exit': os.waitstatus_to_exitcode(status), 'output': out.decode(errors='replace')}))
