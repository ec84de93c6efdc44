"""``midimon validate|status|reload|stop|monitor`` as the user sees them: validate offline with
counts, errors and warnings; control commands without a daemon say so; monitor's lines.
The same commands against a running daemon are in tests/daemon/test_foreground.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon

from midimon.cli.daemon_cmd import describe_event, for_people

VALID = """
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Shell", argv = ["true"] }
"""


def test_validate_counts_modes_and_mappings(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """A valid file: exit 0, one line with singular counts; --json gives modes and mappings."""
    config = tmp_path / "config.toml"
    config.write_text(VALID + '[[modes]]\nname = "Second"\n')
    done = run_midimon("validate", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{config}: OK (2 modes, 1 mapping)"
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert (data["ok"], data["modes"], data["mappings"]) == (True, ["Default", "Second"], 1)


def test_validate_lists_every_error(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """An invalid file: exit 1, INVALID on stderr with each error and warning on its own line
    naming the field, and the same in --json."""
    config = tmp_path / "config.toml"
    config.write_text(VALID.replace("note = 36", "note = 300") + "[bogus]\n")
    done = run_midimon("validate", config)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"{config}: INVALID"
    assert "trigger.note: note must be an integer in 0..127, got 300" in lines[1]
    assert "warning: " in lines[2] and "bogus: unknown key" in lines[2]
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert data["ok"] is False and len(data["errors"]) == len(data["warnings"]) == 1, data


def test_validate_a_missing_file(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """A file that is not there is named, not a traceback."""
    done = run_midimon("validate", tmp_path / "nope.toml")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert str(tmp_path / "nope.toml") in done.stderr


PADS = """
[[modes]]
name = "Default"
[[modes.mappings]]
description = "hook"
trigger = { type = "Note", note = 36 }
action = { type = "Plugin", plugin = "http_request", params = { HTTP } }
[[modes.mappings]]
trigger = { type = "Note", note = 37 }
action = { type = "Sequence", actions = [
  { type = "Delay", ms = 1 },
  { type = "Plugin", plugin = "midi_transpose", params = { TRANSPOSE } },
] }
[[global_mappings]]
trigger = { type = "Note", note = 38 }
action = { type = "Plugin", plugin = "file_log", params = { path = "~/pads.log", pad = 38 } }
"""


def pads(http: str = 'url = "http://127.0.0.1:9/x"', transpose: str = "semitones = 7") -> str:
    return PADS.replace("HTTP", http).replace("TRANSPOSE", transpose)


def test_validate_accepts_params_that_fit_the_bundled_schemas(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """Good params for the three bundled plugins (file_log's extra field included, as it
    declares additional_params): OK with no warning."""
    config = tmp_path / "config.toml"
    config.write_text(pads('url = "http://127.0.0.1:9/x", method = "POST", timeout_ms = 50, '
                           'headers = { A = "b" }, body = { n = 1 }',
                           "semitones = -12, note_off = false, cc = 1, cc_value = 2"))  # fmt: skip
    done = run_midimon("validate", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{config}: OK (1 mode, 3 mappings)\n"


@pytest.mark.parametrize(
    ("http", "transpose", "error"),
    [
        ('method = "GET"', "semitones = 7",
         'modes[0] "Default" mappings[0] ("hook"): action.params.url: is required by '
         'http_request: a string, e.g. "http://127.0.0.1:8080/pad?note={note}&velocity={velocity}"'),
        ('url = "http://x/", timeout_ms = "5s"', "semitones = 7",
         'modes[0] "Default" mappings[0] ("hook"): action.params.timeout_ms: must be an integer '
         'in 1..600000 for http_request, got "5s" (a string)'),
        ('url = "http://x/", method = "FETCH"', "semitones = 7",
         'action.params.method: must be one of "GET", "POST", "PUT", "DELETE" for http_request, '
         'got "FETCH"'),
        ('url = "http://x/"', "semitones = 200",
         'modes[0] "Default" mappings[1]: action.actions[1].params.semitones: must be an integer '
         "in -127..127 for midi_transpose, got 200"),
        ('url = "http://x/"', "note_off = 1",
         "action.actions[1].params.note_off: must be true or false for midi_transpose, got 1 "
         "(an integer)"),
    ],
    ids=["missing", "wrong-type", "not-in-enum", "out-of-range", "wrong-type-bool"],
)
def test_validate_refuses_a_bad_plugin_param(
    run_midimon: RunMidimon, tmp_path: Path, http: str, transpose: str, error: str
) -> None:
    """A missing required param, a wrong type, a value outside the enum or the range: exit 1,
    the error naming the mapping, the param and the expected form (text and --json)."""
    config = tmp_path / "config.toml"
    config.write_text(pads(http, transpose))
    done = run_midimon("validate", config)
    assert done.returncode == 1, done.stdout
    lines = done.stderr.splitlines()
    assert lines[0] == f"{config}: INVALID"
    assert len(lines) == 2 and lines[1].startswith(f"  {config}: ") and error in lines[1], lines
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert data["ok"] is False and len(data["errors"]) == 1 and error in data["errors"][0]


def test_validate_warns_about_an_unknown_param_with_did_you_mean(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """An undeclared param is a warning, not an error, naming the closest declared one."""
    config = tmp_path / "config.toml"
    config.write_text(pads('url = "http://x/", timout_ms = 50'))
    done = run_midimon("validate", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == (
        f'  warning: {config}: modes[0] "Default" mappings[0] ("hook"): action.params.timout_ms: '
        "is not a param of http_request (did you mean timeout_ms?); it is passed on, but the "
        "plugin may ignore or refuse it"
    )
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert data["ok"] is True and len(data["warnings"]) == 1


def test_validate_reads_the_schemas_of_the_plugins_in_plugins_dirs(
    run_midimon: RunMidimon, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """A plugin found through the config's [plugins] dirs is checked against its own
    plugin.toml; one without [plugin.params] keeps free-form params."""
    folder = make_plugin("probe_ok", root=tmp_path / "extra")
    make_plugin("free_form", root=tmp_path / "extra")
    with (folder / "plugin.toml").open("a") as manifest:
        manifest.write('[plugin.params.count]\ntype = "integer"\nmin = 1\nrequired = true\n')
    config = tmp_path / "config.toml"
    body = (
        f'[plugins]\ndirs = ["{tmp_path / "extra"}"]\n[[modes]]\nname = "Default"\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 36 }\n'
        'action = { type = "Plugin", plugin = "probe_ok", params = { count = COUNT } }\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 37 }\n'
        'action = { type = "Plugin", plugin = "free_form", params = { any = [1, "x"] } }\n'
    )
    config.write_text(body.replace("COUNT", "3"))
    done = run_midimon("validate", config)
    assert done.returncode == 0 and "warning" not in done.stdout, done.stdout + done.stderr
    config.write_text(body.replace("COUNT", "0"))
    done = run_midimon("validate", config)
    assert done.returncode == 1
    assert "action.params.count: must be an integer >= 1 for probe_ok, got 0" in done.stderr


@pytest.mark.parametrize("command", ["status", "reload", "stop", "monitor"])
def test_control_commands_without_a_daemon(run_midimon: RunMidimon, command: str) -> None:
    """With no daemon running each says so, how to start one, and exits 3."""
    done = run_midimon(command)
    assert done.returncode == 3, done.stderr
    assert "midimon is not running" in done.stderr and "midimon run" in done.stderr


def test_monitor_lines_for_people() -> None:
    """Channels print 1..16 (JSON keeps 0..15), lists comma-separated, nothing as '-'."""
    line = describe_event({"type": "note_on", "channel": 0, "note": 36, "velocity": 90})
    assert line == "note_on  channel=1 note=36 velocity=90"
    assert describe_event({"type": "mode", "mode": None}) == "mode     mode=-"
    assert for_people(["a", "b"]) == "a, b" and for_people([]) == "-" and for_people(3) == "3"
