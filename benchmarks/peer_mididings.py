"""The mididings receiver of the peer benchmark, run by an interpreter that imports mididings.

``python peer_mididings.py CLIENT_NAME``: a mididings engine on JACK (the ``jack-rt`` backend,
mididings' real-time one: its JACK callback queues the event and a thread runs the Python
``Call``), one input port, whose patch is ``Filter(NOTEON) % Call(on_note)``. ``on_note``'s
first instruction reads CLOCK_MONOTONIC (``time.monotonic_ns``, the clock the plugins stamp
with). It prints ``ready`` once the engine runs; on stdin, ``dump`` prints the stamps taken
since the last dump as one JSON list (in arrival order) and end of input stops the engine.

This file imports only mididings and the standard library (it runs in mididings' own
environment, see benchmarks/peer_build.py), and is not a mididings script of the project:
just the smallest receiver the comparison needs.
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main(client_name: str) -> None:
    """Run the receiver until stdin closes."""
    from mididings import NOTEON, Call, Filter, config, engine, run

    stamps: list[int] = []

    def on_note(_event: object, _now=time.monotonic_ns, _put=stamps.append) -> None:  # type: ignore[no-untyped-def]
        _put(_now())  # first instruction: the stamp (defaults bind both, no global lookups)

    def control() -> None:
        while not engine.active():
            time.sleep(0.01)
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "dump":
                taken = stamps[:]
                del stamps[: len(taken)]
                print(json.dumps(taken), flush=True)
        engine.quit()

    config(backend="jack-rt", client_name=client_name, in_ports=["in"], out_ports=0)
    threading.Thread(target=control, daemon=True).start()
    run(Filter(NOTEON) % Call(on_note))


if __name__ == "__main__":
    main(sys.argv[1])
