"""Allow ``python -m midimon``."""

from midimon.cli import main

raise SystemExit(main())
