"""Fuzz: 10 000 generated inputs against llm_node in its own process.

Inputs (seeded, ``--seed``): random Unicode from every plane (controls, format characters,
private use, noncharacters), lone surrogates (as JSON escapes, and as invalid UTF-8 bytes
where rclpy cannot encode them), invalid UTF-8 published as a serialized
``std_msgs/String``, huge strings (plain and in envelopes), JSON envelopes with wrong
types for every field, deep nesting, mixed scripts with bidi overrides and combining
marks, and a few real commands buried in noise. Checks: one record per input (envelopes
with a string id are matched by id, the rest counted), no action except for the inputs
holding a real command, the node stays up, its RSS (sampled every 1 000) stays bounded.

    .venv/bin/python bench/fuzz.py [--count 10000] [--rate 200] [--seed 14]
"""
import argparse
import json
import random
import sys
import time

from harness import Harness, Item
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from claudia_llm.core.understanding.inputs import ID_RECOVERY_MAX_BYTES

COMMANDS = ['座って', 'stand up', '伏せて', '坐下']
SCRIPTS = [(0x41, 0x7a), (0x3040, 0x30ff), (0x4e00, 0x9fff), (0x0600, 0x06ff),
           (0x0900, 0x097f), (0x0400, 0x04ff), (0xac00, 0xd7a3), (0x1f300, 0x1faff),
           (0x0300, 0x036f), (0x0e00, 0x0e7f)]
ODD = ['\u202e', '\u202d', '\u2066', '\u200b', '\u200d', '\ufeff', '\u00ad', '\u0085',
       '\u2028', '\u2029', '\ufffe', '\uffff', '\U0010ffff', '\ue000', '\x7f', '\x1b[31m']
WRONG = [None, True, False, 0, -1, 2 ** 70, 1.5, float('inf'), [], ['座って'], {},
         {'text': '座って'}, '', ' ' * 50]


def random_text(rng: random.Random, length: int) -> str:
    """Characters from anywhere in Unicode except surrogates (see ``surrogate_text``)."""
    chars = []
    for _ in range(length):
        pick = rng.random()
        if pick < 0.35:
            low, high = rng.choice(SCRIPTS)
            chars.append(chr(rng.randint(low, high)))
        elif pick < 0.5:
            chars.append(chr(rng.randint(0, 0x1f)))
        elif pick < 0.6:
            chars.append(rng.choice(ODD))
        else:
            code = rng.randint(0, 0x10ffff)
            chars.append(chr(code) if not 0xd800 <= code <= 0xdfff else '\ufffd')
    return ''.join(chars)


def surrogate_text(rng: random.Random) -> str:
    return 'a%sb%s' % (chr(rng.randint(0xd800, 0xdbff)), chr(rng.randint(0xdc00, 0xdfff)))


def envelope(rng: random.Random, request_id: str, text) -> str:
    body = {'text': text, 'id': request_id}
    if rng.random() < 0.3:
        body['priority'] = rng.choice(['high', 'normal', 'low', 'urgent', 3, None])
    if rng.random() < 0.3:
        body['source'] = rng.choice(['asr', {'x': 1}, 7, None, 'ü' * 300])
    if rng.random() < 0.3:
        body['seq'] = rng.choice([1, -5, '3', 1.5, 2 ** 80, True])
    return json.dumps(body, ensure_ascii=rng.random() < 0.5)


def sendable(text: str):
    """``text`` as rclpy can publish it: str, or the bytes of a serialized String."""
    try:
        serialize_message(String(data=text))
        return text
    except (UnicodeEncodeError, ValueError, TypeError):
        return text.encode('utf-8', 'surrogatepass')


def generate(rng: random.Random, index: int) -> Item:
    """One input whose id is kept only where the node can read it back.

    The node reads the id of a refused envelope up to ``ID_RECOVERY_MAX_BYTES`` and only
    from JSON that parses; beyond that its record has a fresh id, so such an input is
    counted rather than matched.
    """
    item = _generate(rng, index)
    if item.id and isinstance(item.raw, str) and not _id_readable(item.raw):
        item.id = ''
    return item


def _id_readable(raw: str) -> bool:
    if len(raw.encode('utf-8', 'surrogatepass')) > ID_RECOVERY_MAX_BYTES:
        return False
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _generate(rng: random.Random, index: int) -> Item:
    """One input; ``command`` marks the few that hold a real command."""
    request_id = 'fz-%d' % index
    kind = index % 10
    if kind == 0:
        return Item(raw=sendable(random_text(rng, rng.randint(1, 80))), tier='garbage')
    if kind == 1:  # invalid UTF-8 bytes, a serialized std_msgs/String
        data = bytes(rng.randint(0x80, 0xff) for _ in range(rng.randint(1, 40)))
        return Item(raw=rng.choice([data, b'ok ' + data, data + '座って'.encode()]),
                    tier='garbage')
    if kind == 2:  # lone surrogates: JSON escapes in an envelope, or bytes
        if rng.random() < 0.5:
            return Item(raw=json.dumps({'text': surrogate_text(rng), 'id': request_id}),
                        id=request_id, tier='garbage')
        return Item(raw=sendable(surrogate_text(rng)), tier='garbage')
    if kind == 3:  # huge
        size = rng.choice([5000, 70000, 200000])
        text = rng.choice(['x', '座', '😀', '{']) * size
        if rng.random() < 0.5:
            return Item(raw=envelope(rng, request_id, text), id=request_id, tier='garbage')
        return Item(raw=text, tier='garbage')
    if kind == 4:  # wrong types
        text = rng.choice(WRONG)
        return Item(raw=json.dumps({'text': text, 'id': request_id}), id=request_id,
                    tier='garbage')
    if kind == 5:  # wrong type of id (no predictable id: counted, not matched)
        return Item(raw=json.dumps({'text': random_text(rng, 5), 'id': rng.choice(WRONG)}),
                    tier='garbage')
    if kind == 6:  # deep nesting
        depth = rng.choice([50, 1000, 100000])
        opener = rng.choice(['[', '{"text": ', '{"a": '])
        closer = ']' if opener == '[' else '}'
        body = opener * depth + '1' + closer * depth
        if rng.random() < 0.5:
            body = '{"id": "%s", "text": "x", "extra": %s}' % (request_id, body)
            return Item(raw=body, id=request_id, tier='garbage')
        return Item(raw=body, tier='garbage')
    if kind == 7:  # mixed scripts in an envelope
        return Item(raw=envelope(rng, request_id, random_text(rng, rng.randint(1, 200))),
                    id=request_id, tier='garbage')
    if kind == 8 and index % 50 == 8:  # a real command in noise
        noise = ''.join(rng.choice(ODD[:7]) for _ in range(3))
        text = noise + rng.choice(COMMANDS) + noise
        return Item(raw=json.dumps({'text': text, 'id': request_id}, ensure_ascii=False),
                    id=request_id, tier='command', command=True)
    return Item(raw=sendable(random_text(rng, rng.randint(1, 30)) + rng.choice(
        ['', '?', '！', '...'])), tier='garbage')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=10000)
    parser.add_argument('--rate', type=float, default=200.0)
    parser.add_argument('--seed', type=int, default=14)
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args()
    rng = random.Random(args.seed)
    items = [generate(rng, i) for i in range(args.count)]
    rss = []
    started = time.monotonic()
    with Harness(overrides={'safety.cooldown_s': 0.0}, keep=args.keep) as h:
        rss.append(h.node.rss_kib())

        def sample(sent: int) -> None:
            if sent % 1000 == 0:
                rss.append(h.node.rss_kib())

        run = h.traffic(items, args.rate, on_sent=sample, settle_s=60.0)
        alive = h.node.alive()
        crashes = h.node.log_lines('Traceback')
        internal = h.node.log_lines('internal_error')
    report(args, items, run, rss, alive, crashes, internal, time.monotonic() - started)
    return 0


def report(args, items, run, rss, alive, crashes, internal, elapsed) -> None:
    summary = run.summary()
    commands = {s.id for s in run.sent if s.item.command}
    garbage_actions = sum(n for request_id, n in run.actions.items()
                          if request_id not in commands)
    command_actions = sum(1 for request_id in commands if run.actions.get(request_id))
    codes = {}
    for records in list(run.records.values()) + [[x] for x in run.unmatched]:
        for _t, record in records:
            code = record['error']['code'] if record.get('error') else record['source']
            codes[code] = codes.get(code, 0) + 1
    print('\nFuzz: %d inputs at %.0f/s, seed %d (%s), %.0f s wall'
          % (len(items), args.rate, args.seed,
             time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), elapsed))
    print('| inputs | records | missing (with id) | duplicate records | actions from garbage '
          '| commands in noise acted on | node up | tracebacks in log | RSS KiB start / max '
          '/ end |')
    print('|---|---|---|---|---|---|---|---|---|')
    print('| %d | %d | %d | %d | %d | %d / %d | %s | %d | %d / %d / %d |' % (
        summary['sent'], summary['records'], summary['missing'],
        summary['duplicate_records'], garbage_actions, command_actions, len(commands),
        'yes' if alive else 'NO', len(crashes), rss[0], max(rss), rss[-1]))
    print('RSS KiB every 1 000 inputs: ' + ' '.join(str(kib) for kib in rss))
    print('Record outcomes: ' + ', '.join('%s %d' % kv for kv in sorted(codes.items())))
    for line in (crashes + internal)[:5]:
        print('  log: ' + line[:200])
    if run.missing():
        print('missing ids (first 10): %s' % [s.id for s in run.missing()[:10]])


if __name__ == '__main__':
    sys.exit(main())
