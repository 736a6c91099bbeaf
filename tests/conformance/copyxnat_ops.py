"""Conformance: copyxnat 0.9.6 (PyPI, pyxnat backend) copies a project between two `ferry sim` servers.

Usage: python copyxnat_ops.py SOURCE_URL DESTINATION_URL PROJECT WORKDIR. Runs copyxnat's own copy
command through its Python API (passwords as arguments, so it never prompts), then prints `ok copy`.
The Rust test reads both servers back and compares them.

One accommodation, not an emulator gap: copyxnat 0.9.6 sleeps 30 s after creating each session
(`XnatExperiment.post_create`, "give XNAT a little buffer time to process the session"). The emulator
has no background processing to wait for, so that pause is shortened here to keep the suite fast.
"""
import sys

import copyxnat.xnat.xnat_interface as xnat_interface
from copyxnat.api.run_command import run_command
from copyxnat.commands.copy_command import CopyCommand
from copyxnat.config.app_settings import AppSettings
from copyxnat.config.server_params import XnatServerParams
from importlib.metadata import version


class _ShortPause:
    """Stands in for the `time` module inside copyxnat's interface module only."""

    def __getattr__(self, name):
        import time

        return getattr(time, name)

    @staticmethod
    def sleep(_seconds):
        return None


SRC, DST, PROJECT, WORK = sys.argv[1:5]
assert version("copyxnat") == "0.9.6", version("copyxnat")
xnat_interface.time = _ShortPause()

settings = AppSettings(data_dir=WORK)
result = run_command(
    CopyCommand,
    XnatServerParams(host=SRC, user="admin", pwd="admin"),
    XnatServerParams(host=DST, user="admin", pwd="admin"),
    [PROJECT],
    settings,
)
assert PROJECT in result, result
print("ok copy", flush=True)
