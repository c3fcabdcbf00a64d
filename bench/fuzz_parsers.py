"""Coverage-guided fuzzing of every device-input parser with atheris (libFuzzer for Python).

The targets are those of ``tests/test_parser_fuzz.py`` (``tests/parser_targets.py``): a target
must return or raise ``DeviceDataError``; any other exception, or a broken invariant (a DTD kept,
multipart records that depend on chunking), is a finding. The hypothesis tests run a few hundred
structured inputs per parser in CI; this runs millions, guided by line coverage of ``connectors``
and ``topics``, from the captured-style payloads in ``tests/fixtures``.

Usage (atheris is in the ``fuzz`` extra: ``pip install atheris``):

    python bench/fuzz_parsers.py --list
    python bench/fuzz_parsers.py onvif_notification -max_total_time=300    # one target, libFuzzer flags
    python bench/fuzz_parsers.py --all --seconds 180                       # every target, then a table

One target stops at its first finding, as libFuzzer does (the input is written to
``crash-<sha1>``; rerun it with ``python bench/fuzz_parsers.py TARGET crash-<sha1>``). With
``--keep-going`` (used by ``--all``) it records each distinct finding (exception type and the
line that raised it) with its first input and goes on, so one run lists every bug it reaches.
The corpus grows in ``.tilik/fuzz/<target>/``; results go to ``.tilik/fuzz/<target>.json``.
Mutations draw on ``bench/fuzz_parsers.dict`` (device tokens, superscript digits, 1e400, times
at the ends of the calendar, byte-order marks), without which byte-level mutation rarely writes
a two-byte UTF-8 digit where a channel number belongs.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
WORK = ROOT / ".tilik" / "fuzz"
# Tokens of device input and the values that break number, time and encoding handling.
DICTIONARY = Path(__file__).with_suffix(".dict")
TARGET_NAMES = (
    "xml",
    "multipart",
    "keyvalue",
    "hikvision_alert",
    "hikvision_device",
    "dahua_event",
    "dahua_device",
    "onvif_notification",
    "onvif_device",
    "onvif_subscription",
)


def fuzz_one(name: str, keep_going: bool, libfuzzer_args: list[str]) -> None:
    import atheris  # only this mode needs it
    import structlog

    # Unknown-topic warnings would be most of the output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with atheris.instrument_imports(include=["connectors", "topics"]):
        from parser_targets import SEEDS, TARGETS

        from connectors.sdk.errors import DeviceDataError
    # The mutation helpers are the fuzzer's, not the code under test: not instrumented.
    from parser_targets import ENCODINGS, HOSTILE, STRUCTURE, mutate_text, mutate_xml

    target = TARGETS[name]
    corpus = WORK / name
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for index, seed in enumerate(SEEDS[name]):
            (corpus / f"seed-{index:03d}").write_bytes(seed)
    result: dict[str, Any] = {"target": name, "inputs": 0, "seconds": 0.0, "findings": {}}
    started = time.monotonic()

    def save() -> None:
        result["seconds"] = round(time.monotonic() - started, 1)
        (WORK / f"{name}.json").write_text(json.dumps(result, indent=1))

    # libFuzzer ends the process without running atexit handlers: save as we go.
    save()

    def test_one_input(data: bytes) -> None:
        result["inputs"] += 1
        if result["inputs"] % 10_000 == 0:
            save()
        try:
            target(data)
        except DeviceDataError:
            return
        except Exception as exc:
            if not keep_going:
                raise
            key = _signature(exc)
            finding = result["findings"].setdefault(
                key, {"message": str(exc)[:300], "input": data[:2000].hex(), "count": 0}
            )
            if finding["count"] == 0:
                print(f"FINDING {key}: {str(exc)[:120]}", flush=True)
                save()
            finding["count"] += 1

    structure = STRUCTURE[name]

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        """Half libFuzzer's byte mutations, half hostile values put where a device writes values."""
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return bytes(atheris.Mutate(data, max_size))
        edits = [
            (rng.randrange(1 << 16), _value(rng, atheris, HOSTILE))
            for _ in range(rng.randint(1, 4))
        ]
        try:
            if structure == "xml":
                doctype = rng.random() < 0.1
                mutated = mutate_xml(data, edits, rng.choice(ENCODINGS), doctype=doctype)
            else:
                mutated = mutate_text(data, edits)
        except (ValueError, SyntaxError):  # not XML (any more): mutate the bytes instead
            return bytes(atheris.Mutate(data, max_size))
        return mutated[:max_size]

    has_inputs = any(not arg.startswith("-") for arg in libfuzzer_args)
    has_dict = any(arg.startswith("-dict=") for arg in libfuzzer_args)
    argv = [
        sys.argv[0],
        *([] if has_dict else [f"-dict={DICTIONARY}"]),
        *libfuzzer_args,
        *([] if has_inputs else [str(corpus)]),
    ]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def _value(rng: random.Random, atheris: Any, hostile: list[str]) -> str:
    """A hostile value, or a byte-mutated one (libFuzzer's mutations also explore values)."""
    value = rng.choice(hostile)
    if rng.random() < 0.3:
        mutated = bytes(atheris.Mutate(value.encode()[:64], 64))
        value = mutated.decode("utf-8", "replace")
    return value


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost line of Tilik's code it passed through."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/connectors/" in f.filename or "/topics/" in f.filename]
    frame = (own or frames)[-1]
    where = (
        Path(frame.filename).relative_to(ROOT)
        if frame.filename.startswith(str(ROOT))
        else frame.filename
    )
    return f"{type(exc).__name__} at {where}:{frame.lineno} ({frame.name})"


def fuzz_all(seconds: int, targets: list[str]) -> None:
    rows = []
    for name in targets:
        print(f"fuzzing {name} for {seconds} s ...", flush=True)
        run = subprocess.run(
            [
                sys.executable,
                __file__,
                name,
                "--keep-going",
                f"-max_total_time={seconds}",
                "-max_len=8192",
                "-rss_limit_mb=3072",
                "-print_final_stats=0",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        result = json.loads((WORK / f"{name}.json").read_text())
        # libFuzzer's own count is exact; the harness saves its count only every 10,000 inputs.
        done = re.search(r"Done (\d+) runs in (\d+) second", run.stderr)
        if done:
            result["inputs"], result["seconds"] = int(done[1]), float(done[2])
        rows.append(result)
        print(f"  {result['inputs']} inputs, {len(result['findings'])} finding(s)", flush=True)
        for key in result["findings"]:
            print(f"    {key}", flush=True)
    print("\n| parser | seconds | inputs | findings |\n|---|---:|---:|---|")
    for row in rows:
        findings = "; ".join(row["findings"]) or "none"
        print(f"| {row['target']} | {row['seconds']:.0f} | {row['inputs']:,} | {findings} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=TARGET_NAMES)
    parser.add_argument("--list", action="store_true", help="name the targets and exit")
    parser.add_argument("--all", action="store_true", help="fuzz every target in turn")
    parser.add_argument("--seconds", type=int, default=120, help="per target, with --all")
    parser.add_argument("--keep-going", action="store_true", help="record findings, do not stop")
    args, libfuzzer_args = parser.parse_known_args()
    if args.list:
        print("\n".join(TARGET_NAMES))
    elif args.all:
        fuzz_all(args.seconds, [args.target] if args.target else list(TARGET_NAMES))
    elif args.target:
        fuzz_one(args.target, args.keep_going, libfuzzer_args)
    else:
        parser.error("name a target, or use --all or --list")


if __name__ == "__main__":
    main()
