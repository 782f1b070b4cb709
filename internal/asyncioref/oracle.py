# Runs asyncioref Cases through the real asyncio.StreamReader. Reads a JSON
# list of cases on stdin, prints a JSON list of outcomes. The feeding
# discipline is the package's: _wait_for_data is replaced so that it feeds
# the next piece (or EOF) exactly when asyncio would wait.
import asyncio
import base64
import json
import sys


def enc(b):
    return base64.b64encode(bytes(b)).decode()


def dec(s):
    return base64.b64decode(s) if s else b''


class Blocked(Exception):
    pass


async def run_case(c):
    r = asyncio.StreamReader(limit=c['limit'])
    chunks = [dec(x) for x in (c.get('chunks') or [])]
    state = {'pos': 0, 'eof': c.get('eof', False)}
    for _ in range(min(c.get('prefeed', 0), len(chunks))):
        r.feed_data(chunks[state['pos']])
        state['pos'] += 1

    async def wait(func_name):
        while state['pos'] < len(chunks):
            ch = chunks[state['pos']]
            state['pos'] += 1
            if ch:
                r.feed_data(ch)
                return
        if state['eof']:
            state['eof'] = False
            r.feed_eof()
            return
        raise Blocked()

    r._wait_for_data = wait
    results = []
    for op in c.get('ops') or []:
        kind = op['kind']
        try:
            if kind == 'read':
                res = {'kind': 'ok', 'data': enc(await r.read(op['n']))}
            elif kind == 'readline':
                res = {'kind': 'ok', 'data': enc(await r.readline())}
            elif kind == 'readuntil':
                seps = [dec(s) for s in op['seps']]
                sep = seps[0] if len(seps) == 1 else tuple(seps)
                res = {'kind': 'ok', 'data': enc(await r.readuntil(sep))}
            elif kind == 'readexactly':
                res = {'kind': 'ok', 'data': enc(await r.readexactly(op['n']))}
            elif kind == 'at_eof':
                res = {'kind': 'ok', 'bool': r.at_eof()}
            else:
                raise SystemExit('unknown op ' + kind)
        except Blocked:
            results.append({'kind': 'blocked'})
            break
        except asyncio.IncompleteReadError as e:
            res = {'kind': 'incomplete', 'partial': enc(e.partial),
                   'expected': -1 if e.expected is None else e.expected}
        except asyncio.LimitOverrunError as e:
            res = {'kind': 'limit', 'consumed': e.consumed}
        except ValueError:
            res = {'kind': 'value'}
        results.append(res)
    while state['pos'] < len(chunks):
        r.feed_data(chunks[state['pos']])
        state['pos'] += 1
    return {'results': results, 'rest': enc(r._buffer)}


async def main():
    cases = json.load(sys.stdin)
    out = [await run_case(c) for c in cases]
    json.dump(out, sys.stdout)


asyncio.run(main())
